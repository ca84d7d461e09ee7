"""Command line: ``lies run``, ``lies inspect``, ``lies stage``, and the entry point of the DVC stage shims.

    lies run --equation I.12.1 --out runs/demo          # the whole pipeline on one Feynman formula
    lies run data.csv --target y --out runs/mine        # ... or on a CSV file
    lies inspect runs/demo                              # every stage of every task, one line each
    lies inspect runs/demo --stage extract              # one artifact in full

A run folder has the layout of the DVC project (``params.yaml``, ``data/<stage>/<task>/``), so ``lies inspect``
reads both. A `LiesError` (a user mistake) is printed as one line ``lies: error: ...`` with exit code 2 and no
traceback; so is a command-line usage error.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence

from lies.errors import LiesError


def _guard(fn: Callable[[], int | None]) -> int:
    """Run ``fn``; a LiesError becomes one line on stderr and exit code 2."""
    try:
        return int(fn() or 0)
    except LiesError as exc:
        print(f"lies: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lies: interrupted", file=sys.stderr)
        return 130


def stage_main(name: str) -> None:
    """Entry point of ``stages/<name>.py``: run one stage in the current folder (params.yaml, data/)."""
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    from lies.pipeline import run_stage

    sys.exit(_guard(lambda: run_stage(name, ".")))


# ------------------------------------------------------------------------------------------------- lies run
def apply_override(params: dict, text: str) -> None:
    """Apply one ``-S section.key=value`` (value read as YAML, as ``dvc exp run -S`` does) to ``params`` in place."""
    import yaml

    from lies.errors import did_you_mean
    from lies.pipeline import SECTIONS

    key, sep, value = text.partition("=")
    path = [p.strip() for p in key.split(".")]
    if not sep or len(path) < 2 or not all(path):
        raise LiesError(f"-S {text!r}: expected section.key=value, e.g. -S weak_admm.epochs=10")
    if path[0] not in SECTIONS:
        raise LiesError(f"-S {text!r}: unknown section {path[0]!r}{did_you_mean(path[0], SECTIONS)}")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError as exc:
        raise LiesError(f"-S {text!r}: the value is not valid YAML ({str(exc).splitlines()[0]})") from None
    node = params
    for i, part in enumerate(path[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise LiesError(f"-S {text!r}: {'.'.join(path[: i + 1])} is a value, not a section")
        node = child
    node[path[-1]] = parsed


def nonpositive_column(data) -> tuple[str, int] | None:
    """The first column (inputs, then target) of a `Dataset` with values <= 0, and how many; None if all > 0."""
    import numpy as np

    for name, col in zip([*data.variables, data.target], np.column_stack([data.X, data.y]).T):
        n_bad = int((col <= 0).sum())
        if n_bad:
            return name, n_bad
    return None


def build_run_params(args: argparse.Namespace) -> dict:
    """params.yaml of a run: defaults < --params file < -S overrides < the dedicated flags; validated."""
    from lies.pipeline import check_params, default_params, load_params, merge_params

    if args.data is not None and args.equation is not None:
        raise LiesError("give either --equation or a CSV file, not both")
    if args.data is not None and not args.target:
        raise LiesError(f"{args.data}: a CSV file needs --target COLUMN (the column to predict)")
    if args.target and args.data is None:
        raise LiesError("--target needs a CSV file (lies run data.csv --target y --out DIR)")
    params = default_params()
    if args.params is not None:
        params = merge_params(params, load_params(args.params))
    for text in args.set or []:
        apply_override(params, text)
    tasks = params.setdefault("tasks", {})
    if args.equation is not None:
        from lies.datasets import get_equation

        tasks.update(set=[get_equation(args.equation).id], csv=None, target=None, variables=None)
    if args.data is not None:
        data = Path(args.data)
        if not data.is_file():
            raise LiesError(f"data file not found: {data}")
        tasks.update(csv=str(data.resolve()), target=args.target)
    if args.trials is not None:
        tasks["trials"] = args.trials
    if args.seed is not None:
        tasks["seed"] = args.seed
    if args.skip is not None:
        params.setdefault("ablation", {})["skip"] = list(args.skip)
    csv = (params.get("tasks") or {}).get("csv")
    if isinstance(csv, str) and csv:  # absolute: the run folder then works from anywhere (lies stage --root)
        params["tasks"]["csv"] = str(Path(csv).resolve())
    checked = check_params(params)
    return {name: model.model_dump(mode="json") for name, model in checked.items()}


def check_run_data(params: dict) -> None:
    """Prepare every task in memory and check it can be fitted (log space needs positive values)."""
    from lies.pipeline import SECTIONS
    from lies.tasks import prepare_task

    tasks = SECTIONS["tasks"].model_validate(params["tasks"])
    log = params["weak_admm"]["log"]
    for spec in tasks.specs():
        task = prepare_task(spec, tasks.n_train, tasks.n_test)
        bad = nonpositive_column(task.train) if log else None
        if bad is not None:
            source = spec.csv if spec.csv is not None else f"equation {spec.equation}"
            raise LiesError(f"{source}: column {bad[0]!r} has {bad[1]} non-positive values, but log space (the "
                            "default) needs every value > 0; fit in raw space with -S weak_admm.log=false")


def _write_params(out: Path, params: dict) -> None:
    """Write OUT/params.yaml whole or not at all (through a temporary name and a rename)."""
    import yaml

    text = ("# Written by `lies run`. Re-run one stage on this folder: lies stage <name> --root <this folder>\n"
            + yaml.safe_dump(params, sort_keys=False, default_flow_style=False))
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".params.yaml.tmp-{secrets.token_hex(4)}"
    try:
        tmp.write_text(text)
        os.replace(tmp, out / "params.yaml")
    finally:
        tmp.unlink(missing_ok=True)


def _prepare_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise LiesError(f"--out {out} is a file, not a folder")
    used = [p.name for p in (out / "params.yaml", out / "data") if p.exists()]
    if used and not force:
        raise LiesError(f"{out} already holds a run ({', '.join(used)}); choose another --out, or add --force to "
                        "replace it")


def _read_results(out: Path) -> list[dict]:
    from lies.artifacts import read_frame, read_json

    rows = read_frame(out / "data" / "evaluation" / "results.csv").to_dict("records")
    for row in rows:
        row["target"] = read_json(out / "data" / "prepare" / str(row["task"]) / "task.json")["target"]
    return rows


def _yes(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "1.0")


def _solution(row: dict) -> str:
    equation = row.get("equation")
    if not isinstance(equation, str) or not equation:
        return "- (no reference formula to compare with)"
    return "yes" if _yes(row.get("symbolic_solution")) else "no"


def format_results(rows: list[dict], metrics: dict | None = None) -> list[str]:
    """The lines ``lies run`` prints at the end: per task its formula, R^2 on held-out data, symbolic solution."""
    import math

    lines = []
    for row in rows:
        formula = row.get("formula")
        has_formula = isinstance(formula, str) and formula != ""
        r2 = float(row.get("r2_test", math.nan))
        lines += [
            "",
            f"task {row['task']}",
            f"  formula            {row['target']} = {formula}" if has_formula else
            "  formula            (none: out of time)",
            f"  R^2 test           {r2:.6f}" if math.isfinite(r2) else f"  R^2 test           {r2}",
            f"  symbolic solution  {_solution(row)}",
        ]
    if metrics and metrics.get("tasks", 0) > 1:
        lines += ["", f"all tasks: {metrics['solved']}/{metrics['tasks']} symbolic solutions "
                      f"(SSR {metrics['ssr']:.3f}), R^2 > 0.99 for {metrics['r2_gt_0.99']:.3f}, "
                      f"mean R^2 {metrics['mean_r2']:.4f}"]
    return lines


def cmd_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from lies.artifacts import read_json
    from lies.pipeline import DVC_STAGES, run_stage

    out = Path(args.out)
    # Everything that can be checked is checked before anything is written.
    params = build_run_params(args)
    check_run_data(params)
    _prepare_out(out, args.force)
    if args.force and (out / "data").exists():
        shutil.rmtree(out / "data")
    _write_params(out, params)

    start = time.perf_counter()
    disable = True if args.quiet or not params["runtime"]["progress"] else None  # None: only on a terminal
    width = max(map(len, DVC_STAGES))
    with tqdm(DVC_STAGES, desc=DVC_STAGES[0].ljust(width), disable=disable, file=sys.stderr, leave=False,
              dynamic_ncols=True, bar_format="{desc}  {n_fmt}/{total_fmt} stages |{bar}| {elapsed}") as bar:
        for name in bar:
            bar.set_description_str(name.ljust(width))  # the stage now running, at a fixed width
            try:
                run_stage(name, out, progress=False if args.quiet else None)
            except LiesError as exc:
                raise LiesError(f"stage {name!r} failed: {exc} (finished stages are kept in {out})") from None
    seconds = time.perf_counter() - start

    print(f"lies run: {len(DVC_STAGES)} stages in {seconds:.1f} s, outputs in {out}")
    metrics = read_json(out / "data" / "evaluation" / "metrics.json")
    for line in format_results(_read_results(out), metrics):
        print(line)
    print(f"\nevery stage of every task: lies inspect {out}")
    return 0


# --------------------------------------------------------------------------------------------- lies inspect
def cmd_inspect(args: argparse.Namespace) -> int:
    from lies.inspect import inspect_run

    try:
        text = inspect_run(args.path, task=args.task, stage=args.stage)
    except (KeyError, TypeError, ValueError) as exc:  # a hand-edited or truncated file under PATH
        raise LiesError(f"cannot read the run in {args.path}: {type(exc).__name__}: {exc}") from None
    print(text)
    return 0


def cmd_stage(args: argparse.Namespace) -> int:
    from lies.pipeline import run_stage

    run_stage(args.name, args.root)
    return 0


# ------------------------------------------------------------------------------------------------- parser
class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one ``lies: error:`` line, like every other error."""

    def error(self, message: str) -> NoReturn:
        print(f"lies: error: {message} (see: {self.prog} --help)", file=sys.stderr)
        self.exit(2)


def cmd_benchmark(args) -> int:
    from lies.benchmark import main as benchmark_main

    return benchmark_main(args, "lies benchmark " + " ".join(sys.argv[2:]))


def build_parser() -> argparse.ArgumentParser:
    from lies import __version__

    parser = _Parser(prog="lies", description="Symbolic regression with LIES networks.")
    parser.add_argument("--version", action="version", version=f"lies {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the whole pipeline into a folder, print the final formula(s)",
                         description="Run every stage (prepare ... final_rounding, evaluation) into OUT, which gets "
                                     "the layout of the DVC project: OUT/params.yaml and OUT/data/<stage>/<task>/. "
                                     "Without --equation or a CSV file the task set of the params is used "
                                     "(default: three easy Feynman formulas).")
    run.add_argument("data", nargs="?", help="a CSV file with a header row (needs --target)")
    run.add_argument("--target", help="the CSV column to predict")
    run.add_argument("--equation", metavar="ID", help="an AI-Feynman equation id, e.g. I.12.1")
    run.add_argument("--out", required=True, type=Path, help="output folder (params.yaml, data/)")
    run.add_argument("--trials", type=int, help="trials per formula, each with its own seed (tasks.trials)")
    run.add_argument("--seed", type=int, help="base seed (tasks.seed)")
    run.add_argument("--skip", nargs="+", metavar="STAGE",
                     help="stages to pass through (ablation.skip): oversampling, gradient_pruning, "
                          "rounding_to_zero, coefficient_optimization, final_rounding")
    run.add_argument("--params", type=Path, metavar="FILE", help="a params.yaml (whole or partial) over the defaults")
    run.add_argument("-S", "--set", action="append", metavar="SECTION.KEY=VALUE",
                     help="change one parameter, e.g. -S weak_admm.epochs=10 (repeatable)")
    run.add_argument("--force", action="store_true", help="replace the run already in OUT")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=cmd_run)

    inspect = sub.add_parser("inspect", help="show what each stage produced for each task",
                             description="PATH is a data/ folder, or a folder holding one (a run folder, the repo).")
    inspect.add_argument("path", type=Path, metavar="PATH")
    inspect.add_argument("--task", metavar="NAME", help="only this task, e.g. I.12.1-t0")
    inspect.add_argument("--stage", metavar="NAME", help="show this stage's artifact in full, e.g. extract")
    inspect.set_defaults(func=cmd_inspect)

    bench = sub.add_parser("benchmark", help="the paper's benchmark: LIES-61 x trials, Table I ablations, peers",
                           description="Run the pipeline on a task set (default: LIES-61 x 3 trials), then each "
                                       "Table I ablation reusing the upstream stages, and optional peers on the same "
                                       "samples; write results.csv and report.md into OUT and print the report.")
    from lies.benchmark import add_arguments

    add_arguments(bench)
    bench.set_defaults(func=cmd_benchmark)

    stage = sub.add_parser("stage", help="run one pipeline stage in a folder (what dvc repro calls)")
    stage.add_argument("name")
    stage.add_argument("--root", type=Path, default=Path("."), help="folder holding params.yaml and data/")
    stage.set_defaults(func=cmd_stage)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    return _guard(lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
