"""``lies inspect`` and the summary of ``lies run`` read a run folder as it is: a constant formula, artifacts made from
inputs that changed since, truncated weights are said as such, not shown as fine."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from test_cli import TINY, run_cli

from lies.core.errors import LiesError

TASK = "I.12.1-t0"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "run"
    code, _, err = run_cli("run", "--equation", "I.12.1", "--out", out, *TINY, "-S", "weak_admm.restarts=1", "-q")
    assert code == 0, err
    return out


def test_a_constant_formula_is_printed_as_such(run, tmp_path):
    from lies.cli import _read_results, format_results
    from lies.core.files import read_frame, write_frame

    out = tmp_path / "copy"
    shutil.copytree(run, out)
    results = out / "data" / "evaluation" / "results.csv"
    write_frame(results, read_frame(results).assign(formula="3"))
    lines = format_results(_read_results(out))
    assert "  formula            F = 3" in lines and "(none: out of time)" not in " ".join(lines)


# ------------------------------------------------------------------------------------ stale and corrupted
def test_inspect_says_which_artifacts_are_stale(run, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(run, out)
    code, text, _ = run_cli("inspect", out)
    assert code == 0 and "stale" not in text  # a finished run: everything follows from its inputs
    params = yaml.safe_load((out / "params.yaml").read_text())
    params["rounding_to_zero"]["tau"] = 0.05
    (out / "params.yaml").write_text(yaml.safe_dump(params))
    code, _, err = run_cli("stage", "rounding_to_zero", "--root", out)
    assert code == 0
    assert err.startswith("lies stage: the outputs of coefficient_optimization, final_rounding, structure_search, decomposition, evaluation were "
                          "made from the old rounding_to_zero and are stale now")
    code, text, _ = run_cli("inspect", out)
    status = {line.split()[0]: line for line in text.splitlines() if line.startswith("  ")}
    assert "stale" not in status["rounding_to_zero"] and "stale" not in status["extract"]
    assert "stale: rounding_to_zero changed since" in status["coefficient_optimization"]
    assert "stale: made from stale coefficient_optimization" in status["final_rounding"]
    assert "stale: made from stale coefficient_optimization" in status["evaluation"]


def _edit_params(out: Path, section: str, key: str, value) -> None:
    params = yaml.safe_load((out / "params.yaml").read_text())
    params[section][key] = value
    (out / "params.yaml").write_text(yaml.safe_dump(params))


def _status(out: Path) -> dict[str, str]:
    code, text, err = run_cli("inspect", out)
    assert code == 0, err
    return {line.split()[0]: line for line in text.splitlines() if line.startswith("  ")}


def test_editing_params_marks_stages_stale_and_lies_stage_refuses_stale_inputs(run, tmp_path):
    from lies.core.files import hash_path

    out = Path(shutil.copytree(run, tmp_path / "copy"))
    _edit_params(out, "rounding_to_zero", "tau", 0.05)  # nothing re-run: only params.yaml changed
    status = _status(out)
    assert "stale" not in status["extract"] and "stale" not in status["prepare"]
    assert "stale: params changed since" in status["rounding_to_zero"]
    for stage in ("coefficient_optimization", "final_rounding", "evaluation"):
        assert "stale: made from stale rounding_to_zero" in status[stage], stage

    before = hash_path(out / "data")
    code, stdout, err = run_cli("stage", "final_rounding", "--root", out)
    assert code == 2 and stdout == "" and err.count("\n") == 1
    assert err.startswith("lies: error: lies stage final_rounding: its inputs are stale from rounding_to_zero on "
                          "(params changed since); re-run rounding_to_zero and each stage after it in order first")
    assert hash_path(out / "data") == before  # nothing written

    assert run_cli("stage", "rounding_to_zero", "--root", out)[0] == 0  # from the first stale stage on: allowed
    status = _status(out)
    assert "stale" not in status["rounding_to_zero"]
    assert "stale: rounding_to_zero changed since" in status["coefficient_optimization"]


@pytest.mark.parametrize(("section", "key", "value", "first"), [
    ("evaluation", "symbolic_timeout", 3.0, "evaluation"),
    ("ablation", "skip", ["node_pruning"], "node_pruning"),
    ("tasks", "n_test", 150, "prepare"),
])
def test_a_params_edit_marks_its_stage_and_everything_after(run, tmp_path, section, key, value, first):
    from lies.pipeline.runner import DVC_STAGES

    out = Path(shutil.copytree(run, tmp_path / "copy"))
    assert not any("stale" in line for line in _status(out).values())
    _edit_params(out, section, key, value)
    status = _status(out)
    after = DVC_STAGES[DVC_STAGES.index(first) + 1:]
    assert "stale: params changed since" in status[first]
    assert all("stale" in status[s] for s in after if s != "ablation"), status
    assert not any("stale" in status[s] for s in DVC_STAGES[:DVC_STAGES.index(first)] if s != "ablation")


def test_inspect_still_reads_a_run_whose_params_yaml_is_broken(run, tmp_path):
    out = Path(shutil.copytree(run, tmp_path / "copy"))
    (out / "params.yaml").write_text("weak_admm:\n  epochs: -5\n")
    code, text, err = run_cli("inspect", out)
    assert code == 0, err
    assert f"params: not compared with {out / 'params.yaml'} (params: weak_admm.epochs: " in text
    assert "stale" not in text


def test_inspect_shows_truncated_weights(run, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(run, out)
    weights = out / "data" / "strong_admm" / TASK / "weights.safetensors"
    size = weights.stat().st_size
    weights.write_bytes(weights.read_bytes()[: size // 2])
    code, text, _ = run_cli("inspect", out)
    assert code == 0
    row = next(line for line in text.splitlines() if line.split()[:1] == ["strong_admm"])
    assert f"corrupted: weights.safetensors truncated ({size // 2} of {size} bytes)" in row
    assert "corrupted" not in next(line for line in text.splitlines() if line.split()[:1] == ["weak_admm"])


@pytest.mark.parametrize("code_text", ["__import__('os').system('touch {marker}')", "Symbol('x').__class__"])
def test_a_formula_file_holding_code_is_refused_and_never_run(run, tmp_path, code_text):
    """Opening someone's run folder must not run code: formula.json's srepr is read without eval."""
    import json

    from lies.pipeline.runner import load_artifact

    out, marker = tmp_path / "copy", tmp_path / "pwned"
    shutil.copytree(run, out)
    formula_file = out / "data" / "extract" / TASK / "formula.json"
    formula = json.loads(formula_file.read_text())
    formula["srepr"] = code_text.format(marker=marker)
    formula_file.write_text(json.dumps(formula))

    with pytest.raises(LiesError) as info:
        load_artifact(formula_file.parent)
    message = str(info.value)
    assert message.startswith(f"corrupted artifact file: {formula_file} (formula text ")
    assert "is not a formula expression: " in message and "\n" not in message
    code, text, err = run_cli("inspect", out, "--stage", "extract", "--task", TASK)  # shows the JSON, parses nothing
    assert code == 0 and "formula.json" in text
    code, _, err = run_cli("stage", "rounding_to_zero", "--root", out)  # a stage reading it: one line, exit 2
    assert code == 2 and err.startswith("lies: error: ") and err.count("\n") == 1
    assert "corrupted artifact file" in err and "is not a formula expression" in err
    assert not marker.exists()
