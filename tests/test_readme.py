"""README.md stays true: its first two blocks are the setup commands, and every ```python block runs as written.

The Python blocks run in order, in one namespace, in a fresh interpreter whose working folder holds what the
README's quick start makes (`runs/demo`, made here with tiny training settings so that this test stays fast).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import torch

from lies.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)

RUNNER = """
import json, sys
blocks = json.load(open(sys.argv[1]))
namespace = {"__name__": "__main__"}
for i, (line, code) in enumerate(blocks, 1):
    print(f"--- README.md python block {i} (line {line})", flush=True)
    exec(compile(code, f"README.md:{line}", "exec"), namespace)
"""


def _blocks() -> list[tuple[str, int, str]]:
    return [(m.group(1), README.count("\n", 0, m.start()) + 2, m.group(2)) for m in FENCE.finditer(README)]


def test_readme_starts_with_the_two_setup_commands():
    blocks = _blocks()
    assert [lang for lang, _, _ in blocks[:2]] == ["bash", "bash"]
    setup, tests = blocks[0][2], blocks[1][2]
    assert setup.strip().endswith("dvc repro && lies inspect data")
    assert tests.strip().endswith("pytest")


def test_readme_python_blocks_run(tmp_path):
    python = [(line, code) for lang, line, code in _blocks() if lang == "python"]
    assert len(python) >= 4
    quick_start = ["run", "--equation", "I.12.1", "--out", str(tmp_path / "runs" / "demo"), "-q",
                   "-S", "tasks.n_train=1000", "-S", "tasks.n_test=200", "-S", "weak_admm.epochs=10",
                   "-S", "strong_admm.epochs=10", "-S", "oversampling.max_iter=1",
                   "-S", "oversampling.retrain.epochs=1", "-S", "runtime.n_jobs=1"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # see the note on OMP_NUM_THREADS below
    try:
        assert main(quick_start) == 0
    finally:
        torch.set_num_threads(threads)
    (tmp_path / "blocks.json").write_text(json.dumps(python))
    (tmp_path / "runner.py").write_text(RUNNER)
    # One torch thread: lies.pipeline.engine.map_tasks does not apply runtime.torch_threads to work it runs in-process,
    # and torch's default (2 threads on 2 cores) makes these single-task examples ~9x slower.
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "runner.py", "blocks.json"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("--- README.md python block") == len(python)


def test_the_data_folder_ships_with_the_example_the_quick_start_runs():
    """A fresh clone has data/: its .gitignore for the DVC outputs, and the CSV that the quick start fits."""
    import yaml

    from lies.data.csv_data import load_csv

    ignored = {line for line in (ROOT / "data" / ".gitignore").read_text().splitlines() if line.startswith("/")}
    outs = [out for stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].values()
            for out in stage.get("outs", []) if isinstance(out, str)]
    assert outs and {"/" + out.removeprefix("data/") for out in outs} <= ignored
    quick_start = _blocks()[2][2]
    command = re.search(r"^lies run (data/\S+\.csv) --target (\S+) --out", quick_start, re.MULTILINE)
    assert command, "the quick start begins with a CSV of one's own"
    data = load_csv(ROOT / command.group(1), command.group(2))
    assert data.n_samples >= 100 and (data.X > 0).all() and (data.y > 0).all()
