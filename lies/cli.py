"""Command line: ``lies run``, ``lies inspect``, ``lies stage``, and the entry point of the DVC stage shims.

    lies run --equation I.12.1 --out runs/demo          # the whole pipeline on one Feynman formula
    lies run data.csv --target y --out runs/mine        # ... or on a CSV file
    lies run --out runs/demo --resume                   # continue it: finished stages with unchanged params are kept
    lies inspect runs/demo                              # every stage of every task, one line each
    lies inspect runs/demo --stage extract              # one artifact in full

A run folder has the layout of the DVC project (``params.yaml``, ``data/<stage>/<task>/``), so ``lies inspect``
reads both. A `LiesError` (a user mistake) is printed as one line ``lies: error: ...`` with exit code 2 and no
traceback; so is a command-line usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence

from lies.core.errors import LiesError


def _guard(fn: Callable[[], int | None]) -> int:
    """Run ``fn``; a LiesError (or an OSError: a folder that cannot be written...) becomes one line on stderr and
    exit code 2. A closed stdout (``lies inspect ... | head``) ends the command quietly."""
    try:
        code = int(fn() or 0)
        sys.stdout.flush()
        return code
    except LiesError as exc:
        print(f"lies: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 141  # the shell's code for SIGPIPE
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        print(f"lies: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lies: interrupted", file=sys.stderr)
        return 130


def stage_main(name: str) -> None:
    """Entry point of ``stages/<name>.py``: run one stage in the current folder (params.yaml, data/)."""
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    from lies.pipeline.runner import run_stage

    sys.exit(_guard(lambda: run_stage(name, ".")))


# ------------------------------------------------------------------------------------------------- lies run
def apply_override(params: dict, text: str) -> None:
    """Apply one ``-S section.key=value`` (value read as YAML, as ``dvc exp run -S`` does) to ``params`` in place."""
    import yaml

    from lies.core.errors import did_you_mean
    from lies.params import SECTIONS

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


def build_run_params(args: argparse.Namespace) -> dict:
    """params.yaml of a run: defaults < --params file < -S overrides < the dedicated flags; validated."""
    from lies.data.tasks import task_specs
    from lies.params import check_params, default_params, merge_params
    from lies.pipeline.runner import load_params

    if args.data is not None and args.equation is not None:
        raise LiesError("give either --equation or a CSV file, not both")
    if args.data is not None and not args.target:
        raise LiesError(f"{args.data}: a CSV file needs --target COLUMN (the column to predict)")
    if args.target and args.data is None:
        raise LiesError("--target needs a CSV file (lies run data.csv --target y --out DIR)")
    if args.seed is not None and args.seed < 0:
        raise LiesError(f"--seed {args.seed}: a seed is a whole number >= 0")
    params = default_params()
    resumed = Path(args.out) / "params.yaml"
    if getattr(args, "resume", False) and resumed.is_file():  # continue the run as it was asked for, then the edits
        params = merge_params(params, load_params(resumed))
    if args.params is not None:
        params = merge_params(params, load_params(args.params))
    for text in args.set or []:
        apply_override(params, text)
    tasks = params.setdefault("tasks", {})
    if args.equation is not None:
        from lies.data.feynman import get_equation

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
    task_specs(checked["tasks"])  # unknown equation ids, a CSV without a target...
    return {name: model.model_dump(mode="json") for name, model in checked.items()}


def check_run_data(params: dict) -> list[str]:
    """Prepare every task in memory and check it can be fitted (log space needs positive values in every split).
    Returns the notes ``lies run`` prints about the data: the space each CSV task is fitted in, a few targets <= 0
    left out of log-space training, rows left unused."""
    import numpy as np

    from lies.core.checks import check_positive, log_space_problem
    from lies.data.csv_data import load_csv
    from lies.data.tasks import prepare_task, task_specs
    from lies.data.transforms import nonpositive_target_note, use_log
    from lies.params import SECTIONS

    tasks = SECTIONS["tasks"].model_validate(params["tasks"])
    log = params["weak_admm"]["log"]
    notes = []
    for spec in task_specs(tasks):
        task = prepare_task(spec, tasks.n_train, tasks.n_test)
        source = spec.csv if spec.csv is not None else f"equation {spec.equation}"
        X, y = np.concatenate([task.train.X, task.test.X]), np.concatenate([task.train.y, task.test.y])
        if log is True:
            check_positive(X, y, task.variables, task.train.target, source)
        if use_log(log, X, y):
            note = nonpositive_target_note(task.train.y, f"{source}, trial {spec.trial}")
            if note:
                notes.append(note)
        if spec.csv is None or spec.trial > 0:
            continue
        if log == "auto":
            problem = log_space_problem(X, y, task.variables, task.train.target)
            why = problem or ("every value > 0" if (y > 0).all() else "every value < 0, fitted as -y" if (y < 0).all()
                              else "a few targets of the other sign, left out of its training")
            notes.append(f"{source}: fitting in {'log' if problem is None else 'raw'} space ({why}; "
                         "weak_admm.log: auto)")
        n_rows = load_csv(spec.csv, spec.target, spec.variables).n_samples  # prepare_task keeps only n_train
        n_test, n_train = task.test.n_samples, task.train.n_samples
        if n_rows > n_test + n_train:
            notes.append(f"{source}: {n_rows} rows, {n_test} held out for testing, {n_train} used for training and "
                         f"{n_rows - n_test - n_train} left unused (tasks.n_train = {tasks.n_train}; use them all "
                         f"with -S tasks.n_train={n_rows - n_test})")
    return notes


MARKER = ".lies-run"
"""The file ``lies run`` writes first into its --out folder: ``--force`` replaces only a folder that holds it."""


def _write_params(out: Path, params: dict) -> None:
    """Write OUT/params.yaml whole or not at all (through a temporary name and a rename)."""
    import yaml

    text = ("# Written by `lies run`. Re-run one stage on this folder: lies stage <name> --root <this folder>\n"
            + yaml.safe_dump(params, sort_keys=False, default_flow_style=False))
    tmp = out / f".params.yaml.tmp-{secrets.token_hex(4)}"
    try:
        tmp.write_text(text)
        os.replace(tmp, out / "params.yaml")
    except BaseException:
        with contextlib.suppress(OSError):  # the write's own error is the one to report
            tmp.unlink(missing_ok=True)
        raise


def _check_backend(params: dict) -> None:
    """A Dask scheduler that cannot be reached fails here, in seconds, before anything is written."""
    from lies.params import RuntimeParams
    from lies.pipeline.engine import check_scheduler

    check_scheduler(RuntimeParams.model_validate(params["runtime"]))


def _prepare_out(out: Path) -> None:
    """Check that OUT can take a run (a folder, free or holding an earlier ``lies run``), before anything is written."""
    for folder in (out, *out.parents):
        if folder.exists() and not folder.is_dir():
            raise LiesError(f"--out {out}: {folder} is a file, not a folder")
        if folder.exists():
            break


def _claim_out(out: Path, force: bool, resume: bool = False, csv: str | None = None) -> None:
    """Make OUT ours: refuse a folder holding a run unless --force or --resume. --force deletes only what an earlier
    ``lies run`` wrote (the files it listed per stage folder). Both refuse, before deleting anything, when a stage
    folder holds a file lies run did not write or the input CSV lies in data/."""
    from lies.pipeline.runner import DVC_STAGES, TIMINGS, WRITTEN, foreign_files

    if force and resume:
        raise LiesError("give either --force (start over) or --resume (keep the finished stages), not both")
    used = [p.name for p in (out / "params.yaml", out / "data") if p.exists()]
    if used and not (force or resume):
        raise LiesError(f"{out} already holds a run ({', '.join(used)}); choose another --out, add --resume to "
                        "continue it, or --force to replace it")
    flag = "--force" if force else "--resume"
    if used and not (out / MARKER).is_file():
        raise LiesError(f"{flag}: {out} holds {' and '.join(used)} that lies run did not write (no {MARKER} "
                        "marker); they are left alone: choose another --out, or move them away yourself")
    data = out / "data"
    if csv and data.is_dir() and Path(csv).resolve().is_relative_to(data.resolve()):
        raise LiesError(f"{flag}: the input {csv} lies inside {data}, whose stage folders this run rewrites; "
                        f"move it out of {data} first")
    foreign = [f"{name}/{rel}" for name in DVC_STAGES for rel in foreign_files(data, name)] if used else []
    if foreign:  # a stage that re-runs replaces its whole folder: --resume would delete them as well
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise LiesError(f"{flag}: {data} holds files lies run did not write: {shown}; nothing was deleted: "
                        "move them out of the stage folders first")
    if data.is_dir() and force:
        for name in (*DVC_STAGES, TIMINGS, WRITTEN):
            for path in (data / name, *data.glob(f".{name}.tmp-*"), *data.glob(f".{name}.old-*")):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
        if not any(data.iterdir()):
            data.rmdir()
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / MARKER).write_text("This folder holds a run written by `lies run`; --force may replace it.\n")
    except OSError as exc:
        raise LiesError(f"cannot write into --out {out}: {exc.strerror}") from None


def _read_results(out: Path) -> list[dict]:
    from lies.core.files import TEXT_COLUMNS, read_frame, read_json

    rows = read_frame(out / "data" / "evaluation" / "results.csv", TEXT_COLUMNS).to_dict("records")
    for row in rows:
        row["target"] = read_json(out / "data" / "prepare" / str(row["task"]) / "task.json")["target"]
    return rows


def _yes(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "1.0")


def _solution(row: dict) -> str:
    equation = row.get("equation")
    if not isinstance(equation, str) or not equation:
        return "- (no reference formula to compare with)"
    literal = "yes" if _yes(row.get("symbolic_solution")) else "no"
    if "symbolic_solution_positive" not in row:
        return literal
    positive = "yes" if _yes(row.get("symbolic_solution_positive")) else "no"
    return f"{literal} (SRBench's check; with positive symbols: {positive})"


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
                      f"(SSR {metrics['ssr']:.3f}, SRBench's check; positive symbols "
                      f"{metrics.get('ssr_positive', metrics['ssr']):.3f}), "
                      f"R^2 > 0.99 for {metrics['r2_gt_0.99']:.3f}, "
                      f"mean R^2 {metrics['mean_r2']:.4f}"]
    return lines


def cmd_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from lies.core.files import read_json
    from lies.pipeline.runner import DVC_STAGES, run_stage, stage_is_current

    out = Path(args.out)
    # Everything that can be checked is checked before anything is written.
    params = build_run_params(args)
    _prepare_out(out)
    notes = check_run_data(params)
    _check_backend(params)
    _claim_out(out, args.force, args.resume, params["tasks"].get("csv"))
    _write_params(out, params)
    for note in notes:  # once, before the stages: what the run will do with the data
        print(f"lies run: {note}", flush=True)

    start = time.perf_counter()
    shown = not args.quiet and params["runtime"]["progress"]
    width = max(map(len, DVC_STAGES))
    reused = []
    with tqdm(DVC_STAGES, desc=DVC_STAGES[0].ljust(width), disable=None if shown else True, file=sys.stderr,
              leave=False, dynamic_ncols=True,
              bar_format="{desc}  {n_fmt}/{total_fmt} stages |{bar}| {elapsed}") as bar:  # None: only on a terminal
        for k, name in enumerate(bar):
            bar.set_description_str(name.ljust(width))  # the stage now running, at a fixed width
            if shown and bar.disable:  # no terminal (a log file, CI): one plain line per stage instead of a bar
                print(f"lies run: stage {k + 1}/{len(DVC_STAGES)} {name} ({time.perf_counter() - start:.0f} s)",
                      file=sys.stderr, flush=True)
            if args.resume and stage_is_current(name, out):
                reused.append(name)
                continue
            try:
                run_stage(name, out, progress=False if args.quiet else None)
            except LiesError as exc:
                raise LiesError(f"stage {name!r} failed: {exc} (finished stages are kept in {out}; "
                               "continue with the same command and --resume)") from None
    seconds = time.perf_counter() - start

    if reused:
        print(f"lies run: reused {len(reused)} finished stages (same params and inputs): {', '.join(reused)}")
    print(f"lies run: {len(DVC_STAGES) - len(reused)} stages in {seconds:.1f} s, outputs in {out}")
    metrics = read_json(out / "data" / "evaluation" / "metrics.json")
    for line in format_results(_read_results(out), metrics):
        print(line)
    print(f"\nevery stage of every task: lies inspect {out}")
    return 0


# --------------------------------------------------------------------------------------------- lies inspect
def cmd_inspect(args: argparse.Namespace) -> int:
    from lies.inspection import inspect_run

    try:
        text = inspect_run(args.path, task=args.task, stage=args.stage)
    except LiesError:
        raise
    except (KeyError, TypeError, ValueError) as exc:  # a hand-edited or truncated file under PATH
        raise LiesError(f"cannot read the run in {args.path}: {type(exc).__name__}: {exc}") from None
    print(text)
    return 0


def cmd_stage(args: argparse.Namespace) -> int:
    from lies.inspection import staleness, task_names
    from lies.pipeline.runner import DVC_STAGES, run_stage

    reads = args.name in DVC_STAGES and args.name not in ("prepare", "ablation")  # those two read no stage
    if reads and (Path(args.root) / "data" / "prepare").is_dir():
        _refuse_stale_inputs(args.name, Path(args.root))
    run_stage(args.name, args.root)
    data_dir = Path(args.root) / "data"
    stale = {stage for stage, _ in staleness(data_dir, task_names(data_dir))}
    if stale:
        names = [s for s in DVC_STAGES if s in stale]
        print(f"lies stage: the outputs of {', '.join(names)} were made from the old {args.name} and are stale now; "
              f"re-run them in this order (lies stage NAME --root {args.root})", file=sys.stderr)
    return 0


def _refuse_stale_inputs(name: str, root: Path) -> None:
    """``lies stage NAME`` on stale inputs would make outputs that follow from no params.yaml: refuse, and say where
    to re-run from (re-running upstream silently could throw away hours of training the user meant to keep)."""
    from lies.inspection import staleness, task_names
    from lies.pipeline.runner import DVC_STAGES

    data_dir = root / "data"
    stale = staleness(data_dir, task_names(data_dir))
    upstream = DVC_STAGES[: DVC_STAGES.index(name)]
    first = next(((s, why) for s in upstream for (st, _), why in stale.items() if st == s), None)
    if first is not None:
        stage, why = first
        raise LiesError(f"lies stage {name}: its inputs are stale from {stage} on ({why.removeprefix('stale: ')}); "
                        f"re-run {stage} and each stage after it in order first (lies stage NAME --root {root}), "
                        f"or all of them with: lies run --out {root} --resume")


# ------------------------------------------------------------------------------------------------- parser
class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one ``lies: error:`` line, like every other error."""

    def error(self, message: str) -> NoReturn:
        print(f"lies: error: {message} (see: {self.prog} --help)", file=sys.stderr)
        self.exit(2)


def cmd_benchmark(args) -> int:
    from lies.bench.benchmark import main as benchmark_main

    return benchmark_main(args, "lies benchmark " + " ".join(sys.argv[2:]))


def add_benchmark_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``lies benchmark`` command line; here, not in `lies.bench.benchmark`, so that building the parser imports
    nothing heavy (that module imports torch, pandas and sympy: ``lies --help`` took seconds)."""
    parser.add_argument("--set", default="lies61", help="task set: lies61 (default), default, all, holdout, signed, eql-authors, literature, or ids a,b,c")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/benchmark", help="folder for results.csv, report.md, ...")
    parser.add_argument("--params", default=None, help="a params.yaml to take stage params from (default: built-in)")
    parser.add_argument("--ablations", default=None,
                        help="comma-separated stages to ablate, or 'none' (default: the five of Table I, "
                             "lies.bench.benchmark.TABLE_I)")
    parser.add_argument("--peers", default="loglinear",
                        help="comma-separated peers: loglinear (the least-squares baseline, the default), operon, "
                             "gplearn (those need lies[peers]); 'none' for none")
    parser.add_argument("--variant", action="append", metavar="LABEL:SECTION.KEY=VALUE,...",
                        help="also re-run the pipeline with these params from the first stage they change on, as "
                             "its own row (repeatable), e.g. 'no motifs:node_pruning.motif_terms=0'")
    parser.add_argument("--peer-budget", default="default", help="peer budget name (lies.bench.peers), e.g. default, smoke")
    parser.add_argument("--network", default="auto",
                        help="network.kind values, comma-separated (auto,lies,eql; auto: LIES on the tasks in log "
                             "space, EQL on those in raw space): the first is the main pipeline (with "
                             "its ablations), the others run on the same samples and get their own rows")
    parser.add_argument("--noise", default=None,
                        help="SRBench's target noise on the training rows (tasks.noise), e.g. 0.01; several "
                             "(0,0.001,0.01,0.1): one run each into OUT/noise-<level>/ and the noise table")
    parser.add_argument("--oversampling-source", choices=("formula", "rows"), default=None,
                        help="oversampling.source: new points from the formula, or resampled from the given rows")
    parser.add_argument("--rows-variant", action="store_true",
                        help="also run LIES with oversampling.source: rows (done anyway with --peers)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--n-jobs", type=int, default=2,
                        help="parallel CPU tasks: processes here, or Dask workers with --backend dask")
    parser.add_argument("--backend", choices=("loky", "dask"), default="loky",
                        help="loky: processes on this machine; dask: a Dask cluster (runtime.backend)")
    parser.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help="with --backend dask: tcp://host:port of a running `dask scheduler` "
                             "(default: a LocalCluster on this machine)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--rescore", metavar="DIR", default=None,
                        help="re-check the formulas of a finished benchmark folder and rewrite its report (no training)")


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
                     help="stages to pass through (ablation.skip), e.g. oversampling or decomposition; a name "
                          "that is not a skippable stage is refused with the list of those that are")
    run.add_argument("--params", type=Path, metavar="FILE", help="a params.yaml (whole or partial) over the defaults")
    run.add_argument("-S", "--set", action="append", metavar="SECTION.KEY=VALUE",
                     help="change one parameter, e.g. -S weak_admm.epochs=10 (repeatable)")
    run.add_argument("--force", action="store_true",
                     help="replace the run already in OUT (refused if its stage folders hold files it did not write)")
    run.add_argument("--resume", action="store_true",
                     help="continue the run in OUT (its params.yaml, then any flags given here): finished stages "
                          "whose params and inputs are unchanged are reused, the others re-run, as dvc repro does")
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
    add_benchmark_arguments(bench)
    bench.set_defaults(func=cmd_benchmark)

    stage = sub.add_parser("stage", help="run one pipeline stage in a folder (what dvc repro calls)",
                           description="Run one stage in ROOT. Refused (nothing written) when a stage before it is "
                                       "stale: made with params that params.yaml no longer holds, or from inputs "
                                       "changed since; re-run from the first stale stage, or use lies run --resume.")
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
