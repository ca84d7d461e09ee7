"""The pipeline in memory (skip, replace, insert a user stage) and on disk (run_stage: round trip, errors).

Tiny training params keep the whole file to a few seconds: one Feynman formula, 1,000 samples, 10 epochs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sympy
import torch
import yaml
from pydantic import Field

from lies.core.errors import LiesError
from lies.core.files import dumps_json, hash_path, read_json
from lies.params import (
    RuntimeParams,
    StageParams,
    TasksParams,
    check_params,
    check_skip,
    default_params,
    merge_params,
    parse_params,
)
from lies.pipeline.artifacts import FormulaArtifact, NetworkArtifact, TaskArtifact, read_meta
from lies.pipeline.runner import (
    DVC_STAGES,
    PIPELINE_STAGES,
    Pipeline,
    apply_stage,
    load_artifact,
    read_stage,
    read_tasks,
    run_stage,
    write_stage,
)
from lies.pipeline.stages import SKIPPABLE, STAGES, Stage

# On I.12.1 with seed 0 oversampling adds samples, so the on-disk round trip covers added.csv with rows in it
# (without rows: test_network_with_no_oversampled_rows_round_trips).
TASKS = {"set": ["I.12.1"], "n_train": 1000, "n_test": 200, "seed": 0}
TINY = {
    "weak_admm": {"epochs": 10},
    "strong_admm": {"epochs": 10},
    "oversampling": {"max_iter": 1, "retrain": {"epochs": 1}},
}
RUNTIME = {"n_jobs": 1}
TASK = "I.12.1-t0"


@pytest.fixture(scope="module")
def tasks():
    runtime = parse_params(RuntimeParams, RUNTIME, "runtime")
    return [a.data for a in STAGES["prepare"].run([], [], TasksParams(**TASKS), runtime)]


@pytest.fixture(scope="module")
def all_skipped(tasks):
    """Every skippable stage skipped: each passes its input through."""
    return Pipeline(params=TINY, skip=SKIPPABLE).run(tasks, RUNTIME)


@pytest.fixture(scope="module")
def disk_run(tmp_path_factory) -> Path:
    """A run folder made by run_stage for every dvc.yaml stage, as dvc repro and lies run do."""
    root = tmp_path_factory.mktemp("run")
    params = merge_params(default_params(), {**TINY, "tasks": TASKS, "runtime": RUNTIME})
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for name in DVC_STAGES:
        run_stage(name, root)
    return root


@pytest.fixture
def run_copy(disk_run, tmp_path) -> Path:
    """A copy of the run folder a test may damage."""
    return Path(shutil.copytree(disk_run, tmp_path / "run"))


def _same_network(a: NetworkArtifact, b: NetworkArtifact) -> None:
    ta, tb = a.net.tensors(), b.net.tensors()
    assert ta.keys() == tb.keys()
    for name in ta:
        assert torch.equal(ta[name], tb[name]), name
    assert a.transform == b.transform
    assert a.variables == b.variables and a.target == b.target


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


# ------------------------------------------------------------------------------------------- skip = identity
def test_skipped_network_stage_passes_its_input_through(all_skipped):
    arts = all_skipped.artifacts
    _same_network(arts["oversampling"][0], arts["weak_admm"][0])
    _same_network(arts["gradient_pruning"][0], arts["strong_admm"][0])
    _same_network(arts["node_pruning"][0], arts["strong_admm"][0])
    assert arts["oversampling"][0].history == arts["weak_admm"][0].history
    for name in ("oversampling", "gradient_pruning", "node_pruning"):
        summary = arts[name][0].summary
        assert summary["skipped"] is True and summary["stage"] == name and summary["seconds"] == 0.0


def test_skipped_formula_stages_pass_the_formula_through(all_skipped):
    arts = all_skipped.artifacts
    extracted = arts["extract"][0].formula
    for name in ("rounding_to_zero", "coefficient_optimization", "final_rounding"):
        assert arts[name][0].formula == extracted
        assert arts[name][0].summary["skipped"] is True
    assert all_skipped.rows[0]["formula"] == extracted.text
    assert all_skipped.formula(TASK) == extracted


def test_skip_accepts_a_bare_string_and_shows_in_repr():
    pipeline = Pipeline(skip="oversampling")
    assert pipeline.skipped == ("oversampling",)
    assert "oversampling (skipped)" in repr(Pipeline().skip("oversampling", "final_rounding"))


def test_a_stage_that_changes_kind_cannot_be_skipped():
    with pytest.raises(LiesError, match="cannot be skipped"):
        Pipeline().skip("extract")


# ------------------------------------------------------------------------------------- names and typos
@pytest.mark.parametrize(
    ("make", "hint"),
    [
        (lambda: Pipeline().skip("oversamplin"), "did you mean 'oversampling'"),
        (lambda: Pipeline(skip=["gradient_prunning"]), "did you mean 'gradient_pruning'"),
        (lambda: Pipeline(params={"weak_adm": {"epochs": 1}}), "did you mean 'weak_admm'"),
        (lambda: Pipeline(params={"weak_admm": {"epoch": 1}}), "did you mean 'epochs'"),
        (lambda: Pipeline(params={"oversampling": {"retrain": {"epoch": 1}}}), "did you mean 'epochs'"),
        (lambda: Pipeline().with_params("strong_admm", rhoo=0.1), "did you mean 'rho'"),
        (lambda: Pipeline().replace("gradient_prunin", Pipeline().stages[0]), "did you mean 'gradient_pruning'"),
        (lambda: apply_stage("rounding_to_zer", None, []), "did you mean 'rounding_to_zero'"),
    ],
)
def test_unknown_names_and_typos_suggest_the_right_one(make, hint):
    with pytest.raises(LiesError, match=hint):
        make()


def test_check_skip():
    assert check_skip(None) == ()
    assert check_skip("oversampling") == ("oversampling",)
    assert check_skip(["final_rounding", "oversampling", "oversampling"]) == ("oversampling", "final_rounding")
    assert check_skip([]) == ()
    with pytest.raises(LiesError, match="did you mean 'oversampling'"):
        check_skip("oversamplng")
    with pytest.raises(LiesError, match="not a stage that can be skipped"):
        check_skip(["weak_admm"])
    with pytest.raises(LiesError, match="not a stage that can be skipped"):
        check_skip("nonsense")


# ------------------------------------------------------------------------------------ user-defined stages
class MagnitudeParams(StageParams):
    threshold: float = Field(0.05, ge=0)


class MagnitudePruning(Stage):
    """Another pruning method: drop every weight below a magnitude."""

    name = "magnitude_pruning"
    Params = MagnitudeParams
    input_kind = output_kind = NetworkArtifact

    def run(self, inputs, tasks, params, runtime):
        out = []
        for art in inputs:
            net = art.net.select(range(art.net.n_models))  # every restart; node_pruning chooses
            net.prune(net.flat.detach().abs() > params.threshold)
            summary = {"stage": self.name, "skipped": False, "seconds": 0.0,
                       "nonzero": min(c["total"] for c in net.nonzero_counts()), "n_weights": net.n_weights()}
            out.append(NetworkArtifact(net, art.transform, art.variables, art.target, art.history, summary,
                                       art.added))
        return out


class RoundDigitsParams(StageParams):
    digits: int = Field(3, ge=1)


class RoundDigits(Stage):
    """A formula stage of one's own: keep ``digits`` significant digits of every constant."""

    name = "round_digits"
    Params = RoundDigitsParams
    input_kind = output_kind = FormulaArtifact

    def run(self, inputs, tasks, params, runtime):
        out = []
        for art in inputs:
            expr = art.formula.expr
            expr = expr.xreplace({f: sympy.Float(f, params.digits) for f in expr.atoms(sympy.Float)})
            out.append(FormulaArtifact(art.formula.with_expr(expr), {"stage": self.name, "skipped": False,
                                                                     "seconds": 0.0, "digits": params.digits}))
        return out


def test_replace_a_stage_and_insert_a_user_stage(tasks):
    pipeline = (
        Pipeline(params=TINY)
        .replace("gradient_pruning", MagnitudePruning(), {"threshold": 0.02})
        .insert_after("decomposition", RoundDigits(), {"digits": 2})
    )
    assert pipeline.params["magnitude_pruning"].threshold == 0.02
    assert pipeline.params["round_digits"] == RoundDigitsParams(digits=2)
    result = pipeline.run(tasks, RUNTIME)
    expected = [*PIPELINE_STAGES, "round_digits"]
    expected[expected.index("gradient_pruning")] = "magnitude_pruning"
    assert list(result.artifacts) == expected

    pruned = result.artifacts["magnitude_pruning"][0]
    assert pruned.net.n_models == result.artifacts["strong_admm"][0].net.n_models > 1  # every restart reaches extract
    weights = pruned.net.flat.detach() * pruned.net.mask
    assert bool(((weights == 0) | (weights.abs() > 0.02)).all())
    final = result.artifacts["round_digits"][0]
    assert final.summary == {"stage": "round_digits", "skipped": False, "seconds": 0.0, "digits": 2}
    constants = final.formula.expr.atoms(sympy.Float)
    assert all(len(str(abs(f)).replace(".", "").lstrip("0")) <= 2 for f in constants), constants
    assert result.rows[0]["formula"] == final.formula.text
    assert result.formula(0) == final.formula


def test_user_stage_params_are_validated_with_a_hint():
    with pytest.raises(LiesError, match="did you mean 'threshold'"):
        Pipeline().replace("gradient_pruning", MagnitudePruning(), {"treshold": 0.1})
    with pytest.raises(LiesError, match="round_digits.digits"):
        Pipeline().insert_after("final_rounding", RoundDigits(), {"digits": 0})


def test_a_stage_params_hash_covers_the_sections_dvc_yaml_lists():
    from lies.pipeline.runner import STAGE_SECTIONS, params_hash

    dvc = yaml.safe_load((Path(__file__).resolve().parents[1] / "dvc.yaml").read_text())["stages"]
    assert {name: tuple(stage["params"]) for name, stage in dvc.items()} == STAGE_SECTIONS
    base = check_params(default_params())
    edits = {"rounding_to_zero": {"tau": 0.05}, "ablation": {"skip": ["node_pruning"]}, "runtime": {"n_jobs": 2}}
    edited = check_params(merge_params(default_params(), edits))
    changed = {name for name in DVC_STAGES if params_hash(name, base) != params_hash(name, edited)}
    # a skip switch is its stage's param too; the structure stages read the run before them (its params and skips)
    assert changed == {"rounding_to_zero", "ablation", "node_pruning", "structure_search", "decomposition"}


def test_an_empty_task_list_is_one_line():
    with pytest.raises(LiesError, match=r"^Pipeline.run: no tasks to run \(give TaskData"):
        Pipeline().run([])


@pytest.mark.parametrize(("stage", "wants"), [("extract", "network"), ("rounding_to_zero", "formula")])
def test_apply_stage_on_the_wrong_kind_of_artifact(tasks, stage, wants):
    task = tasks[0]
    with pytest.raises(LiesError) as info:
        apply_stage(stage, TaskArtifact(task), task)
    assert str(info.value).startswith(f"stage {stage!r} takes a {wants} artifact, got a 'task'")
    assert "\n" not in str(info.value)


def test_stage_kinds_must_chain():
    with pytest.raises(LiesError, match="takes a network"):
        Pipeline().insert_after("extract", MagnitudePruning())
    with pytest.raises(LiesError, match="twice"):
        Pipeline().insert_after("final_rounding", STAGES["extract"])


def test_apply_one_stage_to_one_loaded_artifact(disk_run):
    task = load_artifact(disk_run / "data" / "prepare" / TASK).data
    extracted = load_artifact(disk_run / "data" / "extract" / TASK)
    rounded = apply_stage("rounding_to_zero", extracted, task, {"tau": 0.5})
    assert isinstance(rounded, FormulaArtifact)
    assert rounded.summary["stage"] == "rounding_to_zero" and rounded.summary["skipped"] is False
    assert rounded.formula.variable_names == extracted.formula.variable_names
    with pytest.raises(LiesError, match="did you mean 'tau'"):
        apply_stage("rounding_to_zero", extracted, task, {"tua": 0.5})


# ------------------------------------------------------------------------------------------------ on disk
def test_run_folder_layout(disk_run):
    data = disk_run / "data"
    for name in DVC_STAGES:
        assert (data / name).is_dir(), name
    for name in ("prepare", *PIPELINE_STAGES):
        assert [p.name for p in (data / name).iterdir()] == [TASK]
        assert read_meta(data / name / TASK).stage == name
    assert sorted(p.name for p in (data / "ablation").iterdir()) == sorted(f"{s}.json" for s in SKIPPABLE)
    metrics = read_json(data / "evaluation" / "metrics.json")
    assert metrics["tasks"] == 1 and {"ssr", "mean_r2", "r2_gt_0.99", "mean_seconds_per_task"} <= set(metrics)


def test_artifacts_read_back_and_rewrite_byte_identical(disk_run, tmp_path):
    """Read every stage's artifacts and write them again: same bytes, twice (DVC sees an unchanged output)."""
    data = disk_run / "data"
    tasks = read_tasks(data)
    for name in ("prepare", *PIPELINE_STAGES):
        arts = read_stage(data, name, tasks)
        meta = read_meta(data / name / TASK)
        params = parse_params(STAGES[name].Params, meta.params, name)
        for copy in ("first", "second"):
            write_stage(tmp_path / copy, name, arts, tasks, params, meta.inputs, meta.skipped, meta.params_hash)
        assert hash_path(tmp_path / "first" / name) == hash_path(data / name), name
        assert hash_path(tmp_path / "second" / name) == hash_path(data / name), name


def test_files_of_a_stage_killed_after_its_commit_do_not_look_foreign(all_skipped, tmp_path, monkeypatch):
    """--force deletes only the files a run listed: a kill between a stage's commit and its final list must not
    make the run's own new files look like a user's (nor the old list's, whichever folder survived)."""
    import lies.pipeline.runner as pipeline
    from lies.core.files import write_json

    tasks, arts = all_skipped.tasks, all_skipped.artifacts["extract"]
    pipeline.write_stage(tmp_path, "extract", arts, tasks, STAGES["extract"].Params(), {})
    (tmp_path / "extract" / "plot.png").write_bytes(b"a user's plot")
    assert pipeline.foreign_files(tmp_path, "extract") == ["plot.png"]
    (tmp_path / "extract" / "plot.png").unlink()
    write_json(tmp_path / pipeline.WRITTEN / "extract.json", ["old-task/meta.json"])  # an output of other files
    record = pipeline.record_written

    def killed_after_commit(data_dir, stage, built=None):
        if built is None:
            raise KeyboardInterrupt
        record(data_dir, stage, built)

    monkeypatch.setattr(pipeline, "record_written", killed_after_commit)
    with pytest.raises(KeyboardInterrupt):
        pipeline.write_stage(tmp_path, "extract", arts, tasks, STAGES["extract"].Params(), {})
    assert (tmp_path / "extract" / TASK / "meta.json").is_file()  # committed
    assert pipeline.foreign_files(tmp_path, "extract") == []
    assert "old-task/meta.json" in read_json(tmp_path / pipeline.WRITTEN / "extract.json")  # the list before the end


def test_in_memory_artifacts_survive_write_and_read(all_skipped, tmp_path):
    tasks = all_skipped.tasks
    for name in ("weak_admm", "extract"):
        arts = all_skipped.artifacts[name]
        write_stage(tmp_path, name, arts, tasks, STAGES[name].Params(), {})
        back = read_stage(tmp_path, name, tasks)[0]
        assert dumps_json(back.summary) == dumps_json(arts[0].summary)  # equal up to inf/nan written as text
        if name == "weak_admm":
            _same_network(back, arts[0])
            assert len(back.history) == len(arts[0].history)
        else:
            assert back.formula == arts[0].formula
    loaded = load_artifact(tmp_path / "extract" / TASK)
    assert isinstance(loaded, FormulaArtifact) and loaded.formula == all_skipped.artifacts["extract"][0].formula


def test_ablation_switch_files_and_skip_on_disk(run_copy):
    params = yaml.safe_load((run_copy / "params.yaml").read_text())
    params["ablation"]["skip"] = "oversampling"  # what `dvc exp run -S ablation.skip=oversampling` writes
    (run_copy / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run_stage("ablation", run_copy)
    data = run_copy / "data"
    switches = {p.stem: read_json(p) for p in (data / "ablation").glob("*.json")}
    assert switches == {s: {"skip": s == "oversampling"} for s in SKIPPABLE}
    run_stage("oversampling", run_copy)
    folder = data / "oversampling" / TASK
    assert read_meta(folder).skipped is True
    assert read_json(folder / "summary.json")["skipped"] is True
    for file in ("weights.safetensors", "network.json", "history.csv"):
        assert (folder / file).read_bytes() == (data / "weak_admm" / TASK / file).read_bytes(), file


def _write_params(root: Path, change: dict) -> None:
    params = merge_params(yaml.safe_load((root / "params.yaml").read_text()), change)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.mark.parametrize(
    ("stage", "change", "hint"),
    [
        ("weak_admm", {"weak_admm": {"epoch": 1}}, "weak_admm: unknown key 'epoch'; did you mean 'epochs'"),
        ("ablation", {"ablation": {"skip": ["oversamplin"]}}, "did you mean 'oversampling'"),
        ("ablation", {"ablation": {"skipp": []}}, "did you mean 'skip'"),
        ("evaluation", {"evaluation": {"symbolic_timeot": 1}}, "did you mean 'symbolic_timeout'"),
        ("extract", {"extrakt": {}}, "unknown section 'extrakt'; did you mean 'extract'"),
        ("prepare", {"final_rounding": {"tolerence": 0.1}},
         "final_rounding: unknown key 'tolerence'; did you mean 'tolerance'"),
    ],
)
def test_params_mistakes_are_one_line_errors(run_copy, stage, change, hint):
    _write_params(run_copy, change)
    before = hash_path(run_copy / "data" / stage)
    with pytest.raises(LiesError, match=hint) as info:
        run_stage(stage, run_copy)
    assert "\n" not in str(info.value)
    assert hash_path(run_copy / "data" / stage) == before


def test_unknown_stage_name(tmp_path):
    with pytest.raises(LiesError, match="did you mean 'extract'"):
        run_stage("extrct", tmp_path)


def _damage_missing(folder: Path) -> None:
    shutil.rmtree(folder)


def _damage_formula(folder: Path) -> None:
    (folder / "formula.json").write_text('{"text": "x", "srepr": ')


def _damage_meta(folder: Path) -> None:
    (folder / "meta.json").write_text("not json")


def _damage_meta_missing(folder: Path) -> None:
    (folder / "meta.json").unlink()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_damage_missing, "missing artifact folder"),
        (_damage_formula, "corrupted artifact file"),
        (_damage_meta, "corrupted artifact folder"),
        (_damage_meta_missing, "incomplete artifact folder"),
    ],
)
def test_missing_or_corrupted_formula_artifact(run_copy, damage, message):
    data = run_copy / "data"
    damage(data / "extract" / TASK)
    before = hash_path(data / "rounding_to_zero")
    with pytest.raises(LiesError, match=message) as info:
        run_stage("rounding_to_zero", run_copy)
    assert str(data / "extract" / TASK) in str(info.value)
    assert hash_path(data / "rounding_to_zero") == before
    assert _leftovers(data) == []


def _truncate_weights(folder: Path) -> None:
    path = folder / "weights.safetensors"
    path.write_bytes(path.read_bytes()[:40])


def _drop_transform(folder: Path) -> None:
    info = read_json(folder / "network.json")
    del info["transform"]
    (folder / "network.json").write_text(yaml.safe_dump(info))  # YAML is not the JSON it should be, either way


def _drop_history(folder: Path) -> None:
    (folder / "history.csv").unlink()


@pytest.mark.parametrize("damage", [_truncate_weights, _drop_transform, _drop_history])
def test_corrupted_network_artifact(run_copy, damage):
    data = run_copy / "data"
    damage(data / "strong_admm" / TASK)
    before = hash_path(data / "gradient_pruning")
    with pytest.raises(LiesError) as info:
        run_stage("gradient_pruning", run_copy)
    assert str(data / "strong_admm" / TASK) in str(info.value)
    assert hash_path(data / "gradient_pruning") == before
    assert _leftovers(data) == []


def test_interrupted_stage_leaves_the_previous_output(run_copy, monkeypatch):
    data = run_copy / "data"
    before = hash_path(data / "final_rounding")

    def interrupted(self, folder):
        (folder / "formula.json").write_text("{")  # half a file, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(FormulaArtifact, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_stage("final_rounding", run_copy)
    assert hash_path(data / "final_rounding") == before
    assert _leftovers(data) == []


def test_network_with_no_oversampled_rows_round_trips(all_skipped, tmp_path):
    """Oversampling that adds no sample (every round rejected) writes a header-only added.csv; the next stage must
    read it back (a header-only CSV used to read back as text columns)."""
    from lies.data.dataset import Dataset

    art = all_skipped.artifacts["weak_admm"][0]
    task = all_skipped.tasks[0]
    empty = Dataset(task.train.X[:0], task.train.y[:0], task.variables, task.train.target)
    added = [empty] * art.net.n_models
    with_empty = NetworkArtifact(art.net, art.transform, art.variables, art.target, art.history, art.summary, added)
    write_stage(tmp_path, "oversampling", [with_empty], [task], STAGES["oversampling"].Params(), {})
    back = read_stage(tmp_path, "oversampling", [task])[0]
    assert back.added is not None and [d.n_samples for d in back.added] == [0] * art.net.n_models


def test_metrics_count_undefined_formulas_and_leave_out_timeouts():
    from lies.pipeline.evaluation import summarize

    def row(r2, solved=False, late=False):
        return {"r2_test": r2, "symbolic_solution": solved, "out_of_time": late, "seconds_total": 2.0}

    metrics = summarize([row(1.0, solved=True), row(float("-inf")), row(float("nan"), late=True), row(0.995)])
    assert metrics["tasks"] == 4 and metrics["solved"] == 1 and metrics["ssr"] == 0.25
    assert metrics["r2_gt_0.99"] == 0.5 and metrics["r2_gt_0.999"] == 0.25
    assert metrics["mean_r2"] == pytest.approx((1.0 - 1.0 + 0.995) / 3)  # -inf counts as -1, the timeout not at all
    assert metrics["out_of_time"] == 0.25 and metrics["mean_seconds_per_task"] == 2.0


def test_stage_outputs_are_byte_stable_when_re_run(tmp_path):
    """Re-running a stage that gives the same artifacts writes the same bytes (timings live outside the output)."""
    import shutil

    from lies.core.files import hash_path
    from lies.pipeline.runner import read_timings, run_stage

    root = tmp_path / "run"
    root.mkdir()
    (root / "params.yaml").write_text(
        "tasks: {set: [I.12.1], n_train: 300, n_test: 50}\n"
        "weak_admm: {epochs: 1}\n"
        "runtime: {n_jobs: 1, progress: false}\n"
    )
    run_stage("ablation", root)
    run_stage("prepare", root)
    run_stage("weak_admm", root)
    first = hash_path(root / "data" / "weak_admm")
    shutil.copytree(root / "data" / "weak_admm", tmp_path / "copy")
    run_stage("weak_admm", root)
    assert hash_path(root / "data" / "weak_admm") == first
    assert set(read_timings(root / "data", "weak_admm")) == {"I.12.1-t0"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"weak_admm": {"epochs": 0}}, "params: weak_admm.epochs: Input should be greater than or equal to 1"),
        ({"runtime": {"device": "gpu"}}, "params: runtime.device: unknown device 'gpu'"),
        ({"runtime": {"device": "cuda:99"}}, "params: runtime.device: 'cuda:99' "),
        # a renamed key names its new name, not the closest spelling (simplify_max_degree)
        ({"final_rounding": {"simplify_max_nodes": 60}},
         "params: final_rounding: unknown key 'simplify_max_nodes'; it was renamed 'max_nodes'"),
    ],
)
def test_params_that_would_fail_mid_run_fail_in_check_params(params, message):
    """Checked with the params, before the first stage writes: not half a run later."""
    with pytest.raises(LiesError) as info:
        check_params(params)
    assert str(info.value).startswith(message)
