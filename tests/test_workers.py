"""Worker processes end with their parent: a SIGKILL of `lies run` leaves no joblib worker behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Two jobs on two joblib workers; each says it started (a file), then sleeps far longer than the test waits.
PARENT = """
import sys, torch
from lies.pipeline.engine import map_tasks
from lies.params import RuntimeParams
job = "import pathlib, time; pathlib.Path(r'{folder}', 'started-%d' % __import__('os').getpid()).touch(); time.sleep(120)"
map_tasks(exec, [(job,), (job,)], RuntimeParams(n_jobs=2, device="cpu"), torch.device("cpu"))
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc (Linux)")
def test_workers_exit_when_the_parent_is_killed(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    parent = subprocess.Popen([sys.executable, "-c", PARENT.format(folder=tmp_path)], env=env)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while len(workers) < 2 and time.monotonic() < deadline:
            workers = [int(p.name.split("-")[1]) for p in tmp_path.glob("started-*")]
            time.sleep(0.2)
        assert len(workers) == 2, "the workers never started their jobs"
        assert parent.pid not in workers
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while any(map(_alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in workers if _alive(pid)], "workers outlived their parent"
    finally:
        parent.kill()
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
