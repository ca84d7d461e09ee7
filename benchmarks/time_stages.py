"""Seconds of node pruning and of the evaluation on fixed inputs, and the formulas they give (issue 11's
before/after check). The training stages run once and are cached in ``--cache``; then gradient pruning, the
formula stages and the evaluation are timed, ``--repeat`` times, on those very networks. Run it with another
checkout first on PYTHONPATH to time that code on the same inputs; the printed digest of the formulas and
verdicts must match. With ``--n-jobs 1`` it also prints CPU seconds, which a loaded machine distorts less.

    python benchmarks/time_stages.py --set I.6.2a,I.12.4 --cache /tmp/strong.pkl
"""

import argparse
import hashlib
import inspect
import pickle
import time
from pathlib import Path

from lies.params import RuntimeParams
from lies.pipeline.runner import Pipeline, evaluation_rows
from lies.pipeline.stages import STAGES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", required=True, help="comma-separated AI-Feynman ids")
    parser.add_argument("--trials", type=int, default=1)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--cache", type=Path, required=True, help="pickle of the tasks and strong ADMM networks")
    args = parser.parse_args()
    runtime = RuntimeParams(n_jobs=args.n_jobs, progress=False)
    pipeline = Pipeline()
    names = [s.name for s in pipeline.stages]
    upto = names.index("strong_admm") + 1
    if not args.cache.exists():
        head = Pipeline(stages=pipeline.stages[:upto]).run({"set": args.set.split(","), "trials": args.trials}, runtime)
        args.cache.write_bytes(pickle.dumps((head.tasks, {k: head.artifacts[k] for k in names[:upto]})))
    tasks, artifacts = pickle.loads(args.cache.read_bytes())
    parallel_evaluation = "runtime" in inspect.signature(evaluation_rows).parameters
    for _ in range(args.repeat):
        arts = dict(artifacts)
        current = arts["strong_admm"]
        seconds, cpu = {}, {}
        for stage in pipeline.stages[upto:]:
            start, start_cpu = time.perf_counter(), time.process_time()
            current = stage.run(current, tasks, pipeline.params[stage.name], runtime)
            arts[stage.name] = current
            seconds[stage.name], cpu[stage.name] = time.perf_counter() - start, time.process_time() - start_cpu
        start, start_cpu = time.perf_counter(), time.process_time()
        extra = (runtime,) if parallel_evaluation else ()
        rows = evaluation_rows(tasks, arts, 10.0, *extra)
        seconds["evaluation"], cpu["evaluation"] = time.perf_counter() - start, time.process_time() - start_cpu
        digest = hashlib.sha256(repr([(r["formula"], r["symbolic_solution"], r["symbolic_solution_positive"])
                                      for r in rows]).encode()).hexdigest()[:12]
        solved = sum(bool(r["symbolic_solution"]) for r in rows)
        pruning = ("gradient_pruning", "node_pruning")
        print(f"{len(rows)} tasks, {args.n_jobs} jobs: pruning {sum(seconds[k] for k in pruning):.1f} s, "
              f"formula stages {sum(v for k, v in seconds.items() if k in STAGES and k not in pruning):.1f} s, "
              f"evaluation {seconds['evaluation']:.1f} s; SSR {solved}/{len(rows)}; formulas {digest}", flush=True)
        if args.n_jobs == 1:  # all in this process: its CPU seconds, which other load on the machine inflates less
            print(f"  CPU seconds: pruning {sum(cpu[k] for k in pruning):.1f} s, "
                  f"evaluation {cpu['evaluation']:.1f} s", flush=True)


if __name__ == "__main__":
    main()
