"""``lies run`` and ``lies inspect`` end to end, and every bad input as one ``lies: error:`` line with exit code 2."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from lies.cli import main
from lies.params import check_params
from lies.pipeline.runner import DVC_STAGES, PIPELINE_STAGES

# Tiny training on one formula.
TINY = [
    "-S", "tasks.n_train=1000", "-S", "tasks.n_test=200",
    "-S", "weak_admm.epochs=10", "-S", "strong_admm.epochs=10",
    "-S", "oversampling.max_iter=1", "-S", "oversampling.retrain.epochs=1",
    "-S", "runtime.n_jobs=1",
]
TASK = "I.12.1-t0"
assert TINY[2:4] == ["-S", "tasks.n_test=200"]
# ... on a CSV, whose held-out rows are 20 % unless tasks.n_test says otherwise.
TINY_CSV = TINY[:2] + TINY[4:]


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, str, str]:
    out = tmp_path_factory.mktemp("runs") / "demo"
    code, stdout, stderr = run_cli("run", "--equation", "I.12.1", "--out", out, *TINY)
    assert code == 0, stderr
    return out, stdout, stderr


@pytest.fixture(scope="module")
def square_csv(tmp_path_factory) -> Path:
    x = np.random.default_rng(0).uniform(1, 5, size=600)
    path = tmp_path_factory.mktemp("csv") / "square.csv"
    pd.DataFrame({"x": x, "y": 2 * x**2}).to_csv(path, index=False)
    return path


# ------------------------------------------------------------------------------------------------ lies run
def test_run_prints_the_final_formula(demo):
    out, stdout, _ = demo
    lines = stdout.splitlines()
    assert lines[0].startswith(f"lies run: {len(DVC_STAGES)} stages in ")
    assert f"task {TASK}" in lines
    formula = [line for line in lines if line.strip().startswith("formula")]
    assert len(formula) == 1 and formula[0].split(None, 1)[1].startswith("F = ")
    assert any(line.split()[:2] == ["R^2", "test"] for line in lines)
    assert any(line.split()[:2] == ["symbolic", "solution"] for line in lines)
    assert stdout.rstrip().endswith(f"lies inspect {out}")


def test_run_off_a_terminal_says_each_stage_on_stderr(demo):
    """stderr is not a terminal here (a log file, CI): no bar, but one plain line per stage, in order."""
    _, stdout, stderr = demo
    lines = [line for line in stderr.splitlines() if line.startswith("lies run: stage ")]
    pattern = re.compile(rf"lies run: stage (\d+)/{len(DVC_STAGES)} (\w+) \(\d+ s\)")
    matches = [pattern.fullmatch(line) for line in lines]
    assert all(matches), lines
    assert [(int(m[1]), m[2]) for m in matches] == list(enumerate(DVC_STAGES, start=1))
    assert "lies run: stage" not in stdout  # stdout keeps only the results


def test_run_folder_has_the_dvc_layout(demo):
    out, _, _ = demo
    assert sorted(p.name for p in out.iterdir()) == [".lies-run", "data", "params.yaml"]
    assert sorted(p.name for p in (out / "data").iterdir() if not p.name.startswith(".")) == sorted(DVC_STAGES)
    assert (out / "data" / ".timings" / "weak_admm.json").exists()  # seconds live beside the outputs
    for name in ("prepare", *PIPELINE_STAGES):
        assert [p.name for p in (out / "data" / name).iterdir()] == [TASK]
    for name in ("metrics.json", "results.csv", "curves.csv"):
        assert (out / "data" / "evaluation" / name).is_file()
    params = yaml.safe_load((out / "params.yaml").read_text())
    checked = check_params(params)  # a complete, valid params.yaml: `lies stage NAME --root OUT` re-runs a stage
    assert checked["tasks"].set == ["I.12.1"] and checked["tasks"].n_train == 1000
    assert checked["weak_admm"].epochs == 10 and checked["oversampling"].retrain.epochs == 1


def test_inspect_lists_every_stage_in_dag_order(demo):
    out, stdout, _ = demo
    code, text, err = run_cli("inspect", out)
    assert code == 0, err
    lines = text.splitlines()
    rows = [line.split()[0] for line in lines if line.startswith("  ") and line.split()[0] in DVC_STAGES]
    assert rows == list(DVC_STAGES)
    final = next(line for line in stdout.splitlines() if line.strip().startswith("formula")).split(" = ", 1)[1]
    evaluation = next(line for line in lines if line.split()[:1] == ["evaluation"])
    assert final[:40] in evaluation
    assert f"task {TASK}" in lines
    pruning = next(line for line in lines if line.split()[:1] == ["node_pruning"])
    assert re.search(r"kept restart \d of 4 \((restart|loglinear)\)", pruning)  # the default: 4 restarts, one kept
    assert run_cli("inspect", out / "data", "--task", TASK)[1] == text  # PATH may be the data/ folder itself


def test_inspect_one_artifact_in_full(demo):
    out, _, _ = demo
    code, text, err = run_cli("inspect", out, "--stage", "extract")
    assert code == 0, err
    for word in ("meta.json", "kind", "formula", "summary.json", "r2_train", "formula.json", "text", "latex"):
        assert word in text, word
    code, text, err = run_cli("inspect", out, "--stage", "strong_admm", "--task", TASK)
    assert code == 0, err
    for word in ("network.json", "non-zero weights per tensor", "layer0", "gates", "output", "history.csv"):
        assert word in text, word
    for stage in ("prepare", "ablation", "evaluation"):
        code, text, err = run_cli("inspect", out, "--stage", stage)
        assert code == 0 and text, (stage, err)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--task", "I.12.1-t9"], "no task 'I.12.1-t9' in this run; did you mean 'I.12.1-t0'?"),
        (["--stage", "extrct"], "did you mean 'extract'?"),
    ],
)
def test_inspect_bad_names(demo, argv, message):
    code, out, err = run_cli("inspect", demo[0], *argv)
    assert code == 2 and out == ""
    assert err.startswith("lies: error:") and message in err and err.count("\n") == 1


def test_inspect_a_folder_without_a_run(tmp_path):
    code, _, err = run_cli("inspect", tmp_path)
    assert code == 2 and err.startswith("lies: error:") and "no pipeline outputs" in err


def test_run_refuses_to_overwrite_without_force(demo):
    out, _, _ = demo
    before = (out / "params.yaml").read_bytes()
    code, _, err = run_cli("run", "--equation", "I.6.2a", "--out", out, *TINY)
    assert code == 2 and "--force" in err and "--resume" in err
    assert (out / "params.yaml").read_bytes() == before


def test_run_on_a_csv(square_csv, tmp_path):
    # Oversampling skipped and the formula stages' time bounds lowered: a CSV run in a few seconds, whatever the
    # current training defaults make of this data.
    out = tmp_path / "mine"
    code, stdout, err = run_cli("run", square_csv, "--target", "y", "--out", out, "--skip", "oversampling",
                                "--seed", "4", "-S", "runtime.n_jobs=1", "-S", "final_rounding.simplify_seconds=1",
                                "-S", "coefficient_optimization.fit_seconds=1")
    assert code == 0, err
    assert "task square-t0" in stdout and "  formula            y = " in stdout
    assert "no reference formula" in stdout
    params = yaml.safe_load((out / "params.yaml").read_text())
    assert params["tasks"]["csv"] == str(square_csv.resolve()) and params["tasks"]["seed"] == 4
    assert params["ablation"]["skip"] == ["oversampling"]
    code, text, _ = run_cli("inspect", out)
    row = next(line for line in text.splitlines() if line.split()[:1] == ["oversampling"])
    assert "skipped" in row


def test_force_replaces_only_what_lies_run_wrote(tmp_path):
    out = tmp_path / "again"
    old_stage, notes = out / "data" / "weak_admm" / "old-task", out / "data" / "notes.txt"
    old_stage.mkdir(parents=True)
    notes.write_text("the user's own file")
    (out / "params.yaml").write_text("tasks: {}\n")
    (out / ".lies-run").write_text("")  # an earlier `lies run` made this folder
    code, _, err = run_cli("run", "--equation", "I.12.1", "--out", out, "--force", *TINY,
                           "-S", "evaluation.symbolic_timeout=5", "--quiet")
    assert code == 0, err
    assert "lies run: stage" not in err  # --quiet: no progress of any kind
    assert not old_stage.exists() and (out / "data" / "weak_admm" / TASK).is_dir()
    assert notes.read_text() == "the user's own file"
    assert yaml.safe_load((out / "params.yaml").read_text())["evaluation"] == {"symbolic_timeout": 5.0}


def test_force_leaves_a_folder_lies_run_did_not_write_alone(tmp_path, square_csv):
    out = tmp_path / "project"
    data = out / "data"
    data.mkdir(parents=True)
    own = data / "measurements.csv"
    own.write_bytes(square_csv.read_bytes())
    code, stdout, err = run_cli("run", own, "--target", "y", "--out", out, "--force", *TINY_CSV)
    assert code == 2 and stdout == ""
    assert err.startswith("lies: error: --force: ") and "did not write" in err and err.count("\n") == 1
    assert sorted(p.name for p in out.rglob("*")) == ["data", "measurements.csv"]
    assert own.read_bytes() == square_csv.read_bytes()


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_force_refuses_an_input_csv_inside_the_folder_it_replaces(tmp_path, square_csv):
    out = tmp_path / "run"
    own = out / "data" / "evaluation" / "input.csv"
    own.parent.mkdir(parents=True)
    own.write_bytes(square_csv.read_bytes())
    (out / "params.yaml").write_text("tasks: {}\n")
    (out / ".lies-run").write_text("")  # an earlier `lies run` made this folder
    before = _files(out)
    code, stdout, err = run_cli("run", own, "--target", "y", "--out", out, "--force", *TINY)
    assert code == 2 and stdout == ""
    assert err == (f"lies: error: --force: the input {own.resolve()} lies inside {out / 'data'}, whose stage folders "
                   f"this run rewrites; move it out of {out / 'data'} first\n")
    assert _files(out) == before  # nothing deleted, nothing written


def test_force_refuses_to_delete_files_it_did_not_write(demo, tmp_path):
    out = Path(shutil.copytree(demo[0], tmp_path / "copy"))
    (out / "data" / "weak_admm" / "plot.png").write_bytes(b"\x89PNG a plot")
    (out / "data" / "evaluation" / TASK / "notes.csv").parent.mkdir()
    (out / "data" / "evaluation" / TASK / "notes.csv").write_text("a,b\n1,2\n")
    before = _files(out)
    code, stdout, err = run_cli("run", "--equation", "I.12.1", "--out", out, "--force", *TINY)
    assert code == 2 and stdout == "" and err.count("\n") == 1
    assert err.startswith(f"lies: error: --force: {out / 'data'} holds files lies run did not write: "
                          f"weak_admm/plot.png, evaluation/{TASK}/notes.csv; nothing was deleted")
    assert _files(out) == before
    code, stdout, err = run_cli("run", "--out", out, "--resume")  # a stage that re-runs would replace its folder
    assert code == 2 and err.startswith(f"lies: error: --resume: {out / 'data'} holds files lies run did not write")
    assert _files(out) == before


def test_resume_reuses_finished_stages_and_reruns_the_rest(demo, tmp_path):
    out = Path(shutil.copytree(demo[0], tmp_path / "copy"))
    data = out / "data"
    shutil.rmtree(data / "evaluation")  # interrupted during the evaluation: the folder is written whole or not at all
    kept = {name: _files(data / name) for name in DVC_STAGES[:DVC_STAGES.index("rounding_to_zero")]}
    inode = {name: (data / name).stat().st_ino for name in DVC_STAGES if (data / name).is_dir()}
    # No training flags: the run's own params.yaml is the base, -S changes one stage's params on top.
    code, stdout, err = run_cli("run", "--out", out, "--resume", "-S", "rounding_to_zero.tau=0.05", "-q")
    assert code == 0, err
    reused = "weak_admm, oversampling, strong_admm, gradient_pruning, node_pruning, extract"
    assert f"lies run: reused 6 finished stages (same params and inputs): {reused}" in stdout.splitlines()
    for name in ("weak_admm", "extract"):  # the same folder, never rewritten
        assert (data / name).stat().st_ino == inode[name] and _files(data / name) == kept[name]
    for name in ("rounding_to_zero", "coefficient_optimization", "final_rounding"):
        assert (data / name).stat().st_ino != inode[name], name
    assert (data / "evaluation" / "metrics.json").is_file()
    params = yaml.safe_load((out / "params.yaml").read_text())
    assert params["rounding_to_zero"]["tau"] == 0.05 and params["weak_admm"]["epochs"] == 10
    assert "stale" not in run_cli("inspect", out)[1]
    code, stdout, err = run_cli("run", "--out", out, "--resume", "-q")  # all finished: nothing trains again
    assert code == 0, err
    assert stdout.splitlines()[0].startswith(f"lies run: reused {len(PIPELINE_STAGES) + 1} finished stages")  # + evaluation


def test_force_and_resume_together_is_one_line(demo):
    code, stdout, err = run_cli("run", "--out", demo[0], "--force", "--resume")
    assert code == 2 and stdout == ""
    assert err == "lies: error: give either --force (start over) or --resume (keep the finished stages), not both\n"


# ---------------------------------------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def bad_csvs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad")
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=50)
    pd.DataFrame({"x": x, "y": 2 * x}).to_csv(root / "negative.csv", index=False)
    pd.DataFrame({"x": x + 2, "z": 2 * x + 4}).to_csv(root / "no_y.csv", index=False)
    files = {"negative": root / "negative.csv", "no_y": root / "no_y.csv"}
    signed = np.r_[-np.ones(10), np.ones(40)]  # 10 of 50 rows <= 0, however the split falls
    pd.DataFrame({"x": signed + 1.5, "y": signed}).to_csv(files.setdefault("some_negative", root / "some.csv"),
                                                          index=False)
    texts = {
        "header_only": ("header.csv", "x,y\n"),
        "semicolons": ("semicolons.csv", "x;y\n" + "".join(f"{i};{2 * i}\n" for i in range(1, 20))),
        "numeric_header": ("numbers.csv", "1.5,b,y\n" + "".join(f"{i},{i},{i}\n" for i in range(1, 20))),
        "repeated_header": ("repeated.csv", "a,a,y\n" + "".join(f"{i},{i},{i}\n" for i in range(1, 20))),
        "repeated_key": ("repeated.yaml", "weak_admm:\n  epochs: 3\n  epochs: 5\n"),
    }
    for name, (file, text) in texts.items():
        files[name] = root / file
        files[name].write_text(text)
    files["latin1"] = root / "latin1.yaml"
    files["latin1"].write_bytes("# param\xe8tres\ntasks: {}\n".encode("latin-1"))
    files["folder"] = root
    return files


BAD = {
    "unknown equation": (["--equation", "I.12.99"], "unknown Feynman equation 'I.12.99'"),
    "csv without the target column": (["{no_y}", "--target", "y"], "target column 'y' not found"),
    "non-positive values in log mode": (["{negative}", "--target", "y", "-S", "weak_admm.log=true"],
                                        "log space needs every value > 0"),
    "non-positive values counted in every split": (["{some_negative}", "--target", "y", "-S", "weak_admm.log=true"],
                                                   "column 'y' has 10 of 50 values <= 0"),
    "weak_admm.epochs=0": (["--equation", "I.12.1", "-S", "weak_admm.epochs=0"], "weak_admm.epochs: Input should"),
    "device this machine lacks": (["--equation", "I.12.1", "-S", "runtime.device=cuda:99"], "runtime.device: "),
    "device that does not exist": (["--equation", "I.12.1", "-S", "runtime.device=gpu"], "unknown device 'gpu'"),
    "header-only csv": (["{header_only}", "--target", "y"], "has a header row but no data rows"),
    "semicolon-separated csv": (["{semicolons}", "--target", "y"], "seems separated by ';'"),
    "numeric column name": (["{numeric_header}", "--target", "y"], "'1.5' look like numbers"),
    "repeated column name": (["{repeated_header}", "--target", "y"], "repeated column names: a;"),
    "repeated key in params": (["--params", "{repeated_key}"], "key 'epochs' is given twice (again on line 3)"),
    "params file not UTF-8": (["--params", "{latin1}"], "is not UTF-8 text"),
    "params file that is a folder": (["--params", "{folder}"], "is a folder, not a file"),
    "typo in -S key": (["--equation", "I.12.1", "-S", "weak_admm.epoch=2"], "did you mean 'epochs'?"),
    "typo in -S section": (["--equation", "I.12.1", "-S", "weak_adm.epochs=2"], "did you mean 'weak_admm'?"),
    "unknown stage to skip": (["--equation", "I.12.1", "--skip", "oversamplin"], "did you mean 'oversampling'?"),
    "stage that cannot be skipped": (["--equation", "I.12.1", "--skip", "weak_admm"], "not a stage that can be"),
    "bad -S value": (["--equation", "I.12.1", "-S", "weak_admm.epochs=many"], "weak_admm.epochs"),
    "-S without value": (["--equation", "I.12.1", "-S", "weak_admm"], "expected section.key=value"),
    "csv without --target": (["{no_y}"], "needs --target"),
    "missing csv": (["{no_y}.missing", "--target", "y"], "data file not found"),
    "csv and equation": (["{no_y}", "--target", "z", "--equation", "I.12.1"], "not both"),
    "missing params file": (["--params", "nowhere.yaml"], "missing params file"),
    "usage error": (["--equation"], "expected one argument"),
    "negative seed": (["--equation", "I.12.1", "--seed", "-1"], "--seed -1: a seed is a whole number >= 0"),
    "negative seed in -S": (["--equation", "I.12.1", "-S", "tasks.seed=-3"],
                            "params: tasks.seed: Input should be greater than or equal to 0"),
    "infinite noise": (["--equation", "I.12.1", "-S", "tasks.noise=.inf"],
                       "params: tasks.noise: Input should be a finite number, got inf"),
    "infinite learning rate": (["--equation", "I.12.1", "-S", "weak_admm.lr=.inf"],
                               "params: weak_admm.lr: Input should be a finite number, got inf"),
    "NaN in a nested section": (["--equation", "I.12.1", "-S", "oversampling.retrain.rho=.nan"],
                                "params: oversampling.retrain.rho: Input should be a finite number, got nan"),
    "NaN in an optional number": (["--equation", "I.12.1", "-S", "strong_admm.lam=.nan"],
                                  "params: strong_admm.lam: Input should be a finite number"),
    "minus infinity time limit": (["--equation", "I.12.1", "-S", "extract.time_limit=-.inf"],
                                  "params: extract.time_limit: Input should be a finite number, got -inf"),
    "target without a CSV": (["-S", "tasks.target=y"], "params: tasks: target name(s) columns of a CSV, but "
                             "tasks.csv is not set"),
    "variables without a CSV": (["-S", "tasks.variables=[a, b]"], "variables name(s) columns of a CSV"),
    "task set with a CSV": (["{no_y}", "--target", "z", "-S", "tasks.set=[I.12.1]"],
                            "params: tasks: set ['I.12.1'] is not used with a CSV"),
    "n_test leaving too few CSV rows": (["{no_y}", "--target", "z", "-S", "tasks.n_test=45"],
                                        "tasks.n_test = 45 leaves 5 of the 50 rows of"),
    "log neither boolean nor auto": (["--equation", "I.12.1", "-S", "weak_admm.log=maybe"],
                                     "params: weak_admm.log: expected true, false or auto, got 'maybe'"),
    "scheduler without a port": (["--equation", "I.12.1", "-S", "runtime.backend=dask",
                                  "-S", "runtime.scheduler=tcp://host"],
                                 "params: runtime.scheduler: scheduler address 'tcp://host' has no port"),
    "scheduler without dask": (["--equation", "I.12.1", "-S", "runtime.scheduler=tcp://host:8786"],
                               "is used only with backend: dask"),
    "unreachable scheduler": (["--equation", "I.12.1", "-S", "runtime.backend=dask",
                               "-S", "runtime.scheduler=tcp://127.0.0.1:{closed_port}"],
                              "runtime.scheduler: cannot reach the Dask scheduler at tcp://127.0.0.1:"),
}


@pytest.fixture(scope="module")
def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_exit_2_nothing_written(case, bad_csvs, closed_port, tmp_path):
    argv, message = BAD[case]
    argv = [a.format(**bad_csvs, closed_port=closed_port) for a in argv]
    out = tmp_path / "out"
    start = time.perf_counter()
    code, stdout, stderr = run_cli("run", *argv, "--out", out)
    assert time.perf_counter() - start < 20  # refused up front, not after a stage or a 30 s connect timeout
    assert code == 2
    assert stderr.startswith("lies: error: ") and stderr.count("\n") == 1, stderr
    assert message in stderr
    assert "Traceback" not in stderr and stdout == ""
    assert not out.exists()


def test_error_in_a_subprocess_has_no_traceback(tmp_path):
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "lies.cli", "run", "--equation", "I.12.1", "--out", str(tmp_path / "x"),
         "-S", "weak_admm.epoch=2"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "lies: error: params: weak_admm: unknown key 'epoch'; did you mean 'epochs'?"
    ]
    assert proc.stdout == ""
    assert not (tmp_path / "x").exists()


def test_stage_shim_error_in_a_subprocess(tmp_path):
    """What `dvc repro` shows when params.yaml has a typo: one line from the stage, exit code 2."""
    (tmp_path / "params.yaml").write_text("ablation:\n  skip: oversamplin\n")
    shim = Path(__file__).resolve().parents[1] / "stages" / "ablation.py"
    proc = subprocess.run([sys.executable, str(shim)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1 and "did you mean 'oversampling'?" in proc.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--backend", "dask", "--scheduler", "tcp://host"], "scheduler address 'tcp://host' has no port"),
        (["--backend", "dask", "--scheduler", "tcp://127.0.0.1:{closed_port}"], "cannot reach the Dask scheduler"),
        (["--scheduler", "tcp://127.0.0.1:8786"], "is used only with backend: dask"),
    ],
)
def test_benchmark_refuses_a_bad_scheduler_up_front(argv, message, closed_port, tmp_path):
    out = tmp_path / "bench"
    argv = [a.format(closed_port=closed_port) for a in argv]
    start = time.perf_counter()
    code, stdout, stderr = run_cli("benchmark", "--set", "I.12.1", "--trials", "1", "--ablations", "none",
                                   "--peers", "none", "--out", out, "-q", *argv)
    assert time.perf_counter() - start < 20
    assert (code, stdout) == (2, "") and stderr.startswith("lies: error: ") and stderr.count("\n") == 1, stderr
    assert message in stderr and not out.exists()


def test_building_the_parser_imports_nothing_heavy():
    """``lies --help`` took seconds: building the parser imported torch through lies.bench.benchmark."""
    code = ("import sys; from lies.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'sympy', 'scipy', 'pandas', 'dask') if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    proc = subprocess.run([sys.executable, "-m", "lies.cli", "benchmark", "--help"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0 and "--scheduler" in proc.stdout and "--ablations" in proc.stdout


def test_help_and_version():
    assert run_cli("--version")[0] == 0
    code, out, _ = run_cli("run", "--help")
    assert code == 0 and "--equation" in out and "-S SECTION.KEY=VALUE" in out
    assert "--resume" in out and "continue the run in OUT" in out


# ------------------------------------------------------------------------------------------ writing errors
def test_out_under_a_file_is_one_line(tmp_path):
    (tmp_path / "file.txt").write_text("")
    code, stdout, err = run_cli("run", "--equation", "I.12.1", "--out", tmp_path / "file.txt" / "run", *TINY)
    assert code == 2 and stdout == ""
    assert err == f"lies: error: --out {tmp_path / 'file.txt' / 'run'}: {tmp_path / 'file.txt'} is a file, not a folder\n"


def test_unwritable_out_is_one_line(tmp_path, monkeypatch):
    out = tmp_path / "read-only"
    write_text = Path.write_text

    def refuse(self, *args, **kwargs):  # what a read-only folder does (permissions do not bind root: tests run so)
        if out in self.parents:
            raise PermissionError(13, "Permission denied", str(self))
        return write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", refuse)
    code, stdout, err = run_cli("run", "--equation", "I.12.1", "--out", out, *TINY)
    assert code == 2 and stdout == ""
    assert err == f"lies: error: cannot write into --out {out}: Permission denied\n"
    assert not (out / "params.yaml").exists() and not (out / "data").exists()


def test_inspect_into_a_closed_pipe_is_quiet(demo):
    out, _, _ = demo
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "lies.cli", "inspect", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    proc.stdout.close()  # `| head -1` that has read its line: the rest of the output has nowhere to go
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert err == ""


# ---------------------------------------------------------------------------------------- data from CSVs
def test_signed_csv_runs_in_raw_space_and_says_so(tmp_path, bad_csvs):
    code, stdout, err = run_cli("run", bad_csvs["negative"], "--target", "y", "--out", tmp_path / "run", *TINY_CSV,
                                "-S", "weak_admm.restarts=1")
    assert code == 0, err
    assert f"lies run: {bad_csvs['negative']}: fitting in raw space (column 'x' has " in stdout
    network = yaml.safe_load((tmp_path / "run" / "data" / "weak_admm" / "negative-t0" / "network.json").read_text())
    assert network["transform"]["log"] is False


def test_unused_rows_are_said(tmp_path):
    path = tmp_path / "many.csv"
    x = np.random.default_rng(2).uniform(1, 2, size=500)
    pd.DataFrame({"x": x, "y": 3 * x}).to_csv(path, index=False)
    code, stdout, err = run_cli("run", path, "--target", "y", "--out", tmp_path / "run", *TINY_CSV,
                                "-S", "tasks.n_train=100", "-S", "weak_admm.restarts=1")
    assert code == 0, err
    assert (f"lies run: {path}: 500 rows, 100 held out for testing, 100 used for training and 300 left unused "
            "(tasks.n_train = 100; use them all with -S tasks.n_train=400)") in stdout.splitlines()
    assert f"{path}: fitting in log space (every value > 0; weak_admm.log: auto)" in stdout
    for note in ("fitting in log space", "left unused"):
        assert stdout.count(note) == 1, note  # each note once, not again after the results


def test_n_test_holds_out_that_many_csv_rows(tmp_path):
    """tasks.n_test was ignored for a CSV (20 % held out always): now it is the held-out rows (null: 20 %)."""
    from lies.data.tasks import prepare_task, task_specs
    from lies.params import TasksParams

    path = tmp_path / "many.csv"
    x = np.random.default_rng(2).uniform(1, 2, size=500)
    pd.DataFrame({"x": x, "y": 3 * x}).to_csv(path, index=False)
    for n_test, held_out in ((37, 37), (None, 100), (490, 490)):
        tasks = TasksParams(csv=str(path), target="y", n_test=n_test)
        task = prepare_task(task_specs(tasks)[0], tasks.n_train, tasks.n_test)
        assert (task.test.n_samples, task.train.n_samples) == (held_out, 500 - held_out)
        rows = np.concatenate([task.train.X[:, 0], task.test.X[:, 0]])
        assert sorted(rows) == sorted(x)  # a split: every row once
    code, stdout, err = run_cli("run", path, "--target", "y", "--out", tmp_path / "run", *TINY_CSV,
                                "-S", "tasks.n_train=100", "-S", "tasks.n_test=60", "--skip", "oversampling",
                                "-S", "weak_admm.restarts=1", "-S", "weak_admm.epochs=1", "-S", "strong_admm.epochs=1")
    assert code == 0, err
    assert f"lies run: {path}: 500 rows, 60 held out for testing, 100 used for training and 340 left unused" in stdout
