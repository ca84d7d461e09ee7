"""Contract tests: dvc.yaml, params.yaml, the params models, stages/*.py and the package defaults agree.

One stage name is used everywhere (dvc.yaml stage, params.yaml section, stages/<name>.py, data/<name>/,
ablation.skip); these tests fail as soon as one place drifts from the others.
"""

from __future__ import annotations

import ast
import configparser
from pathlib import Path

import pydantic
import pytest
import yaml

from lies.params import SECTIONS, default_params, meaning, params_yaml, section_of
from lies.pipeline.runner import DVC_STAGES, PIPELINE_STAGES
from lies.pipeline.stages import SKIPPABLE, STAGES

ROOT = Path(__file__).resolve().parents[1]
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def _dep_paths(stage: dict) -> list[str]:
    return [d if isinstance(d, str) else next(iter(d)) for d in stage.get("deps", [])]


def _out_paths(stage: dict, key: str = "outs") -> list[str]:
    return [o if isinstance(o, str) else next(iter(o)) for o in stage.get(key, [])]


def test_dvc_stages_in_dag_order():
    expected = ["prepare", "ablation", *[name for name in STAGES if name != "prepare"], "evaluation"]
    assert list(DVC) == expected
    assert list(DVC_STAGES) == expected
    assert list(PIPELINE_STAGES) == expected[2:-1]


@pytest.mark.parametrize("name", list(DVC))
def test_stage_command_and_shim(name):
    stage = DVC[name]
    assert stage["cmd"] == f"python stages/{name}.py"
    shim = ROOT / "stages" / f"{name}.py"
    assert shim.is_file()
    calls = [
        node for node in ast.walk(ast.parse(shim.read_text()))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "stage_main"
    ]
    assert [[a.value for a in c.args] for c in calls] == [[name]], f"{shim} must call stage_main({name!r})"


def test_no_stray_shims():
    assert sorted(p.stem for p in (ROOT / "stages").glob("*.py")) == sorted(DVC)


@pytest.mark.parametrize("name", list(DVC))
def test_stage_deps_include_script_and_package(name):
    deps = _dep_paths(DVC[name])
    assert f"stages/{name}.py" in deps
    assert "lies" in deps


@pytest.mark.parametrize("name", list(DVC))
def test_stage_tracks_its_own_params_section(name):
    extra = ["network", "eql"] if section_of(name, "eql") == "eql" else []  # the network switch and EQL's section
    if getattr(STAGES.get(name), "uses_upstream", False):  # it runs the stages before it: their sections too
        names = [n for n in STAGES if n != "prepare"]
        extra = ["network", "eql", *names[: names.index(name)], "ablation"]
    assert DVC[name].get("params") == [section_of(name), *extra]
    assert section_of(name) in PARAMS


@pytest.mark.parametrize("name", list(DVC))
def test_ablation_switch_dependencies(name):
    """A skippable stage depends on its own switch file only, so changing ablation.skip re-runs only what it touches."""
    switches = [d for d in _dep_paths(DVC[name]) if d.startswith("data/ablation")]
    if name in SKIPPABLE:
        assert switches == [f"data/ablation/{name}.json"]
    else:
        assert switches == []


@pytest.mark.parametrize("name", PIPELINE_STAGES)
def test_stage_reads_prepare_and_its_predecessor(name):
    deps = _dep_paths(DVC[name])
    names = list(STAGES)
    assert "data/prepare" in deps
    assert f"data/{names[names.index(name) - 1]}" in deps


@pytest.mark.parametrize("name", [n for n in DVC if n != "evaluation"])
def test_stage_outs(name):
    assert _out_paths(DVC[name]) == [f"data/{name}"]


def test_evaluation_outputs_metrics_and_plots():
    evaluation = DVC["evaluation"]
    assert sorted(_dep_paths(evaluation)) == sorted(
        ["stages/evaluation.py", "lies", *[f"data/{n}" for n in ("prepare", *PIPELINE_STAGES)]]
    )
    assert _out_paths(evaluation) == ["data/evaluation/results.csv"]
    assert _out_paths(evaluation, "metrics") == ["data/evaluation/metrics.json"]
    assert _out_paths(evaluation, "plots") == ["data/evaluation/curves.csv"]


def test_params_sections_in_order():
    assert list(PARAMS) == list(SECTIONS)


@pytest.mark.parametrize("section", list(SECTIONS))
def test_params_section_matches_its_model(section):
    """Every key of the model is in params.yaml and nothing else (nested models too), and it validates."""
    model = SECTIONS[section]

    def compare(model: type[pydantic.BaseModel], data: dict, where: str) -> None:
        assert set(data) == set(model.model_fields), f"{where}: keys differ from {model.__name__}"
        for key, info in model.model_fields.items():
            sub = info.annotation
            if isinstance(sub, type) and issubclass(sub, pydantic.BaseModel):
                compare(sub, data[key], f"{where}.{key}")

    compare(model, PARAMS[section], section)
    model.model_validate(PARAMS[section])


def test_params_yaml_equals_package_defaults():
    """`lies run` and `Pipeline()` use the models' defaults: they must be what params.yaml says."""
    assert default_params() == PARAMS


def test_params_yaml_is_written_from_the_declarations():
    """Each parameter is declared once (lies/params.py): params.yaml, its comments included, is that declaration
    written out; regenerate it with `python -m lies.params > params.yaml`."""
    assert (ROOT / "params.yaml").read_text(encoding="utf-8") == params_yaml()


@pytest.mark.parametrize("section", list(SECTIONS))
def test_every_parameter_has_a_meaning(section):
    model = SECTIONS[section]
    assert [name for name in model.model_fields if not meaning(model, name)] == []


def test_skippable_stages_are_table_one_final_rounding_and_the_structure_stages():
    assert SKIPPABLE == ("oversampling", "gradient_pruning", "node_pruning", "rounding_to_zero",
                         "coefficient_optimization", "final_rounding", "structure_search", "decomposition")
    for name in SKIPPABLE:
        assert STAGES[name].input_kind == STAGES[name].output_kind  # skipping = passing the input through


def test_dvc_config_has_no_analytics_and_ignores_caches():
    config = configparser.ConfigParser()
    config.read(ROOT / ".dvc" / "config")
    assert config["core"]["analytics"] == "false"
    assert config["core"]["check_update"] == "false"
    assert "__pycache__/" in (ROOT / ".dvcignore").read_text().split()


def test_console_script_points_at_cli():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["lies"] == "lies.cli:main"
    assert any(dep.startswith("tqdm") for dep in project["dependencies"])
