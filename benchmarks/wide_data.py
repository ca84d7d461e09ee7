"""Peak memory and seconds of every stage on wide data (issue 30): y = x1 * x2 / x3 beside unused columns.

Each column count runs in a child process of its own (so that ru_maxrss is that case's peak): the child writes a
CSV of positive inputs U(1, 5), runs the whole pipeline on it through the Python API (`lies.pipeline.runner.Pipeline`,
a CSV task) with small budgets, and reports the seconds of each stage and the process's peak resident memory
after it. Before issue 30, oversampling alone allocated 8 ** n floats (1 GiB at 9 columns, killed at 10).

    python benchmarks/wide_data.py                                # 5, 10, 20, 50 columns, 100,000 rows
    python benchmarks/wide_data.py --columns 5 10 20 50 --rows 20000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Small budgets: the point is how the cost grows with the columns, not the formula found.
BUDGET = {
    "weak_admm": {"epochs": 2, "restarts": 2},
    "oversampling": {"max_iter": 1, "retrain": {"epochs": 1}},
    "strong_admm": {"epochs": 2},
}


def _peak_mb() -> float:
    """This process's peak resident memory so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def child(columns: int, rows: int, seed: int) -> dict:
    """One case, in this process: the CSV, the pipeline, and per stage (seconds, peak MB after it)."""
    import numpy as np

    from lies.pipeline.runner import Pipeline

    rng = np.random.default_rng(seed)
    X = rng.uniform(1.0, 5.0, (rows, columns))
    y = X[:, 0] * X[:, 1] / X[:, 2]
    stages: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"wide{columns}.csv"
        header = ",".join([f"x{k + 1}" for k in range(columns)] + ["y"])
        np.savetxt(path, np.column_stack([X, y]), delimiter=",", header=header, comments="", fmt="%.17g")
        start = time.perf_counter()
        tasks = {"csv": str(path), "target": "y", "n_train": rows, "seed": seed}

        def on_stage(name: str, seconds: float) -> None:
            stages[name] = [seconds, _peak_mb()]

        result = Pipeline(params=BUDGET).run(tasks, {"n_jobs": 1, "progress": False}, on_stage=on_stage)
        total = time.perf_counter() - start
    row = result.rows[0]
    return {"columns": columns, "rows": rows, "stages": stages, "total_s": total, "peak_mb": _peak_mb(),
            "formula": str(row.get("formula")), "r2": row.get("r2_test", row.get("r2"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--columns", type=int, nargs="+", default=[5, 10, 20, 50], help="input column counts")
    parser.add_argument("--rows", type=int, default=100_000, help="rows of every case")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.rows, args.seed)))
        return
    results = []
    for columns in args.columns:
        cmd = [sys.executable, "-m", "benchmarks.wide_data", "--child", str(columns), "--rows", str(args.rows),
               "--seed", str(args.seed)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                            os.environ.get("PYTHONPATH", "")])}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            print(f"{columns} columns: failed (exit {done.returncode}): {tail}", flush=True)
            continue
        res = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(res)
        print(f"{columns} columns, {args.rows} rows: {res['total_s']:.1f} s, peak {res['peak_mb']:.0f} MB, "
              f"R^2 {res['r2']}, {res['formula']}", flush=True)
    if not results:
        return
    names = list(results[0]["stages"])
    width = max(len(n) for n in names + ["total", "peak MB"])
    print(f"\nseconds per stage (peak MB after the stage), {args.rows} rows")
    print(" " * width + "".join(f"{r['columns']:>18} col" for r in results))
    for name in names:
        cells = []
        for r in results:
            s = r["stages"].get(name)
            cells.append(f"{s[0]:9.2f} s ({s[1]:5.0f})" if s else " " * 21)
        print(f"{name:<{width}}" + "".join(cells))
    print(f"{'total':<{width}}" + "".join(f"{r['total_s']:9.2f} s        " for r in results))
    print(f"{'peak MB':<{width}}" + "".join(f"{r['peak_mb']:13.0f} MB     " for r in results))


if __name__ == "__main__":
    main()
