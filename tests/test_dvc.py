"""DVC end to end in a temporary git repository (slow: about three minutes on 2 CPU cores).

`dvc repro` runs the whole DAG; a second `dvc repro` does nothing; `dvc exp run -S ablation.skip=oversampling`
re-runs oversampling (as a pass-through) and what follows while reusing the weak ADMM; `dvc exp show` lists the
experiment with its metrics; going back to `ablation.skip=[]` comes from the run cache; a typo is one clear line;
the four Table I rows queued (`dvc exp run --queue`) run two at a time (`dvc queue start --jobs 2`) without
training the weak ADMM again, and `dvc exp show` lists them all.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from lies.bench.benchmark import TABLE_I
from lies.params import merge_params
from lies.pipeline.runner import PIPELINE_STAGES

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TINY = {
    "tasks": {"set": ["I.12.1"], "n_train": 1000, "n_test": 200, "seed": 0},
    "weak_admm": {"epochs": 10},
    "strong_admm": {"epochs": 10},
    "oversampling": {"max_iter": 1, "retrain": {"epochs": 1}},
    "runtime": {"n_jobs": 1},
}


def _env(repo: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # `python` in dvc.yaml = this interpreter
        "PYTHONPATH": str(repo),  # the stages import the copy of lies that dvc.yaml tracks
        "OMP_NUM_THREADS": "1",  # see test_readme.py: in-process training ignores runtime.torch_threads
        "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com",
    }


def _run(repo: Path, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    exe = str(BIN / "dvc") if cmd[0] == "dvc" else cmd[0]
    proc = subprocess.run([exe, *cmd[1:]], cwd=repo, env=_env(repo), capture_output=True, text=True, timeout=900)
    if check:
        assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("dvc") / "repo"
    repo.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "lies", repo / "lies", ignore=ignore)
    shutil.copytree(ROOT / "stages", repo / "stages", ignore=ignore)
    shutil.copy(ROOT / "dvc.yaml", repo / "dvc.yaml")
    shutil.copy(ROOT / ".gitignore", repo / ".gitignore")
    params = merge_params(yaml.safe_load((ROOT / "params.yaml").read_text()), TINY)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _run(repo, "git", "init", "-q")
    _run(repo, "dvc", "init", "-q")
    _run(repo, "dvc", "config", "core.analytics", "false")
    _run(repo, "dvc", "config", "core.check_update", "false")
    (repo / ".dvcignore").write_text("__pycache__/\n*.pyc\n")
    _run(repo, "git", "add", "-A")
    _run(repo, "git", "commit", "-q", "-m", "toy project")
    return repo


def _ran(output: str) -> list[str]:
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")]


def test_repro_then_nothing_to_do(repo):
    first = _run(repo, "dvc", "repro")
    assert _ran(first.stdout) == ["prepare", "ablation", *PIPELINE_STAGES, "evaluation"]
    metrics = json.loads((repo / "data" / "evaluation" / "metrics.json").read_text())
    assert metrics["tasks"] == 1 and "ssr" in metrics and "mean_r2" in metrics
    second = _run(repo, "dvc", "repro")
    assert _ran(second.stdout) == []
    assert "Data and pipelines are up to date." in second.stdout
    assert "Data and pipelines are up to date." in _run(repo, "dvc", "status").stdout
    _run(repo, "git", "add", "dvc.lock", "data/.gitignore", "data/evaluation")  # metrics live in git
    _run(repo, "git", "commit", "-q", "-m", "baseline")


def test_ablation_experiment_reuses_weak_admm(repo):
    proc = _run(repo, "dvc", "exp", "run", "-S", "ablation.skip=oversampling")
    out = proc.stdout
    assert "Stage 'weak_admm' didn't change, skipping" in out
    assert "Stage 'prepare' didn't change, skipping" in out
    assert _ran(out) == ["ablation", *PIPELINE_STAGES[1:], "evaluation"]  # oversampling onwards, not weak_admm
    data = repo / "data"
    meta = json.loads((data / "oversampling" / "I.12.1-t0" / "meta.json").read_text())
    assert meta["skipped"] is True
    weights = [(data / stage / "I.12.1-t0" / "weights.safetensors").read_bytes() for stage in ("weak_admm",
                                                                                                "oversampling")]
    assert weights[0] == weights[1]  # skipped = its input passed through
    assert "ssr" in json.loads((data / "evaluation" / "metrics.json").read_text())

    shown = json.loads(_run(repo, "dvc", "exp", "show", "--json").stdout)
    baseline = next(row for row in shown if row["rev"] != "workspace")
    experiments = [rev for exp in baseline["experiments"] or [] for rev in exp["revs"]]
    assert len(experiments) == 1
    for row in (baseline, experiments[0]):
        metrics = row["data"]["metrics"]["data/evaluation/metrics.json"]["data"]
        assert {"ssr", "mean_r2", "r2_gt_0.99", "tasks"} <= set(metrics)
    assert experiments[0]["data"]["params"]["params.yaml"]["data"]["ablation"]["skip"] == "oversampling"
    table = _run(repo, "dvc", "exp", "show", "--no-pager", "--csv").stdout
    assert "ssr" in table.splitlines()[0] and "mean_r2" in table.splitlines()[0]


def test_back_to_the_full_pipeline_from_the_run_cache(repo):
    proc = _run(repo, "dvc", "exp", "run", "-S", "ablation.skip=[]")
    # Every training and formula stage comes back from the run cache; only evaluation runs again, because its
    # outputs are kept in git (cache: false), where the run cache cannot restore them from.
    assert _ran(proc.stdout) == ["evaluation"]
    assert "is cached - skipping run, checking out outputs" in proc.stdout
    meta = json.loads((repo / "data" / "oversampling" / "I.12.1-t0" / "meta.json").read_text())
    assert meta["skipped"] is False


def test_unknown_stage_in_ablation_skip_is_one_clear_line(repo):
    proc = _run(repo, "dvc", "exp", "run", "-S", "ablation.skip=oversamplin", check=False)
    assert proc.returncode != 0
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("lies: error:")]
    assert len(lines) == 1 and "did you mean 'oversampling'?" in lines[0]
    assert "Traceback" not in proc.stdout + proc.stderr


def test_queued_table_i_rows_run_in_parallel_from_the_run_cache(repo):
    names = []
    for stage in TABLE_I:
        queued = _run(repo, "dvc", "exp", "run", "--queue", "-S", f"ablation.skip={stage}").stdout
        names.append(re.search(r"Queued experiment '([^']+)'", queued).group(1))
    _run(repo, "dvc", "queue", "start", "--jobs", "2")
    deadline = time.monotonic() + 1500
    while re.search(r"\b(Queued|Running)\b", status := _run(repo, "dvc", "queue", "status").stdout):
        assert time.monotonic() < deadline, status
        time.sleep(5)
    _run(repo, "dvc", "queue", "stop", check=False)
    for name in names:
        log = _run(repo, "dvc", "queue", "logs", name).stdout
        ran = _ran(log)
        assert "evaluation" in ran and not {"prepare", "weak_admm"} & set(ran), log[-3000:]
    shown = json.loads(_run(repo, "dvc", "exp", "show", "--json").stdout)
    rows = [rev for row in shown if row["rev"] != "workspace" for exp in row["experiments"] or []
            for rev in exp["revs"]]
    skips = {r["name"]: r["data"]["params"]["params.yaml"]["data"]["ablation"]["skip"] for r in rows}
    assert {skips[name] for name in names} == set(TABLE_I)
    for r in rows:
        if r["name"] in names:
            assert "ssr" in r["data"]["metrics"]["data/evaluation/metrics.json"]["data"]
