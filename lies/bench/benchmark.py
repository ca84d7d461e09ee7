"""The paper's benchmark (IV-C, IV-D): LIES-61 x trials, the Table I ablations, and peers on the same samples.

`run_benchmark` runs the full pipeline once, then each ablation re-runs only the stages from the first skipped
one on, reusing every artifact upstream of it (what `dvc exp run -S ablation.skip=...` does with DVC's cache). An
ablation's formula stages get a per-task time limit of ``out_of_time_factor`` times the full pipeline's median
seconds per task (the paper's rule: five times the typical runtime); a task beyond it is recorded as out of time.
Peers (`lies.bench.peers`) fit the very same training samples and go through the same R^2 and symbolic check
(`lies.pipeline.evaluation.symbolic_flags`: SRBench's literal check as the headline SSR, the positive-symbols reading beside).
"""

from __future__ import annotations

import functools
import math
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from lies.bench.peers import BASELINES, PEERS, strip_abs
from lies.core.errors import LiesError
from lies.core.files import TEXT_COLUMNS, read_frame, write_frame, write_json
from lies.data.feynman import get_equation
from lies.data.tasks import TaskData, task_specs
from lies.params import NETWORK_KINDS as KINDS
from lies.params import OTHER_SECTIONS, FormulaStageParams, RuntimeParams, TasksParams, parse_params
from lies.pipeline.artifacts import TaskArtifact
from lies.pipeline.engine import call_in_worker
from lies.pipeline.evaluation import ssr_by_mechanism, summarize, symbolic_flags
from lies.pipeline.runner import Pipeline, PipelineResult, evaluation_rows, load_params
from lies.pipeline.stages import STAGES, run_stages
from lies.symbolic.formula import Formula
from lies.symbolic.metrics import r2_score

#: The four ablations of the paper's Table I and node pruning, which the paper counts as part of pruning
#: (plus none: the main pipeline).
TABLE_I = ("oversampling", "gradient_pruning", "node_pruning", "rounding_to_zero", "coefficient_optimization")


@dataclass
class BenchmarkResult:
    main: PipelineResult
    ablations: dict[str, list[dict]] = field(default_factory=dict)  # skipped stage -> task rows
    peers: dict[str, list[dict]] = field(default_factory=dict)  # peer name (or other network kind) -> task rows
    machine: str = ""
    network: str = "lies"  # the main pipeline's network.kind (runs before the switch had auto: lies)
    settings: str = ""  # the data settings that change what the numbers mean (noise, oversampling source)
    seconds: dict[str, float] = field(default_factory=dict)  # wall seconds: each stage, evaluation, main, ...


def machine_description() -> str:
    import os

    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, {gpu}, torch {torch.__version__}"


def run_ablation(
    main: PipelineResult, pipeline: Pipeline, stage: str, runtime: RuntimeParams, time_limit: float,
    evaluation_timeout: float = 10.0, equations: set[str] | None = None,
) -> list[dict]:
    """Re-run ``pipeline`` with ``stage`` skipped, from that stage on, reusing the main run's upstream artifacts.

    ``equations`` restricts the run to those formulas' tasks (Table I only scores formulas the main run solved).
    """
    return rerun_from(main, pipeline, stage, runtime, skip=stage, time_limit=time_limit,
                      evaluation_timeout=evaluation_timeout, equations=equations)


def rerun_from(
    main: PipelineResult, pipeline: Pipeline, first_stage: str, runtime: RuntimeParams, skip: str | None = None,
    time_limit: float | None = None, evaluation_timeout: float = 10.0, equations: set[str] | None = None,
) -> list[dict]:
    """Re-run ``pipeline`` (the main one, or one with other params) from ``first_stage`` on, reusing the main run's
    artifacts upstream of it; ``skip``: a stage passed through; ``time_limit``: the formula stages' limit."""
    keep = [i for i, t in enumerate(main.tasks) if equations is None or t.spec.equation in equations]
    tasks = [main.tasks[i] for i in keep]
    names = [s.name for s in pipeline.stages]
    first = names.index(first_stage)
    artifacts = {name: [main.artifacts[name][i] for i in keep] for name in names[:first]}
    inputs = artifacts[names[first - 1]] if first else [TaskArtifact(t) for t in tasks]
    params = {name: p.model_copy(update={"time_limit": time_limit})
              if isinstance(p, FormulaStageParams) and time_limit is not None else p
              for name, p in pipeline.params.items()}
    artifacts.update(run_stages(pipeline.stages[first:], inputs, tasks, params, runtime,
                                skip=(*pipeline.skipped, *([skip] if skip else []))))
    return evaluation_rows(tasks, artifacts, evaluation_timeout, runtime)


#: The name (in `BenchmarkResult.peers` and results_<name>.csv) of LIES with oversampling from the given rows only.
ROWS_VARIANT = "lies-rows"


def parse_variant(text: str) -> tuple[str, dict[str, dict[str, Any]]]:
    """``"LABEL:section.key=value,section.key=value"`` (``lies benchmark --variant``) -> (label, changes)."""
    import yaml

    label, sep, body = text.partition(":")
    changes: dict[str, dict[str, Any]] = {}
    for item in body.split(",") if sep else []:
        key, eq, value = item.strip().partition("=")
        section, dot, name = key.partition(".")
        if not (eq and dot and section and name):
            break
        changes.setdefault(section, {})[name] = yaml.safe_load(value)
    else:
        if label.strip() and changes:
            return label.strip(), changes
    raise LiesError(f"--variant {text!r}: expected LABEL:section.key=value[,section.key=value...]")


def run_peer(name: str, tasks: Sequence[TaskData], budget: str, n_jobs: int, timeout: float = 10.0) -> list[dict]:
    """Fit one peer on every task's training samples; rows shaped like the pipeline's evaluation rows."""
    from joblib import Parallel, delayed

    return Parallel(n_jobs=n_jobs)(delayed(call_in_worker)(os.getpid(), _peer_row, name, t, budget, timeout)
                                   for t in tasks)


def _peer_row(name: str, task: TaskData, budget: str, timeout: float) -> dict:
    import sympy

    result = PEERS[name](task.train.X, task.train.y, task.variables, seed=task.spec.seed % (2**31), budget=budget)
    expr = strip_abs(result.expr) if name == "gplearn" else result.expr
    formula = Formula(expr, [sympy.Symbol(v) for v in task.variables])
    r2 = r2_score(task.test.y, formula(task.test.X))
    solved, positive = symbolic_flags(formula, task.equation, r2, timeout)
    return {
        "task": task.name,
        "equation": task.spec.equation or "",
        "trial": task.spec.trial,
        "formula": formula.text,
        "out_of_time": False,
        "r2_test": r2,
        "symbolic_solution": bool(solved),
        "symbolic_solution_positive": bool(positive),
        "complexity": formula.complexity,
        "seconds_total": result.seconds,
    }


def run_benchmark(
    tasks: TasksParams,
    pipeline: Pipeline | None = None,
    runtime: RuntimeParams | None = None,
    ablations: Sequence[str] = TABLE_I,
    peers: Sequence[str] = (),
    peer_budget: str = "default",
    out_of_time_factor: float = 5.0,
    on_progress: Callable[[str], None] | None = None,
    networks: Sequence[Pipeline] = (),
    rows_variant: bool | None = None,
    variants: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
    on_result: Callable[[BenchmarkResult], None] | None = None,
) -> BenchmarkResult:
    """The main pipeline, the ablations, the peers; ``networks``: pipelines of other ``network.kind`` values, run
    on the main run's very samples and reported beside it (``lies benchmark --network lies,eql``); with peers (or
    ``rows_variant``) also LIES with ``oversampling.source: rows`` (from the oversampling stage on), the data a
    peer gets: no new samples of the true formula. ``variants``: label -> params changes ({section: {key:
    value}}), each re-run from the first stage it changes on, reusing the main run's artifacts upstream (a lever
    measured alone, e.g. ``{"node_pruning": {"motif_terms": 0}}``), and reported as its own row. ``on_result``
    gets the result so far after the main run and after each further row (``lies benchmark`` writes its report
    then, so a long run that is stopped keeps what it measured)."""
    pipeline = pipeline or Pipeline()
    runtime = runtime or RuntimeParams()
    say = on_progress or (lambda message: None)
    done = on_result or (lambda result: None)
    start = time.perf_counter()
    code_version()  # read now: the report names the code the run started from, not a later commit
    seconds: dict[str, float] = {}

    def on_stage(name: str, s: float) -> None:
        seconds[name] = s
        say(f"{name}: {s:.1f} s")

    main = pipeline.run(tasks, runtime, on_stage=on_stage)
    seconds["main"] = time.perf_counter() - start
    say(f"main pipeline: {seconds['main']:.0f} s, SSR {main.metrics['ssr']:.3f}")
    source = pipeline.params["oversampling"].source if "oversampling" in pipeline.names else "-"
    result = BenchmarkResult(main=main, machine=machine_description(), network=pipeline.network.kind,
                             settings=f"noise {tasks.noise:g} (training targets), {tasks.n_train} training samples, "
                                      f"oversampling.source: {source}; SSR: SRBench's check (plain symbols)",
                             seconds=seconds)
    done(result)
    for other in networks:
        t0 = time.perf_counter()
        result.peers[other.network.kind] = other.run(main.tasks, runtime).rows
        seconds[f"network {other.network.kind}"] = time.perf_counter() - t0
        say(f"network {other.network.kind}: {seconds[f'network {other.network.kind}']:.0f} s")
        done(result)
    typical = float(np.median([r["seconds_total"] for r in main.rows])) if main.rows else 60.0
    solved = {r["equation"] for r in main.rows if r["symbolic_solution"]}
    for stage in ablations:
        t0 = time.perf_counter()
        result.ablations[stage] = run_ablation(main, pipeline, stage, runtime, out_of_time_factor * typical,
                                               equations=solved)
        seconds[f"without {stage}"] = time.perf_counter() - t0
        say(f"without {stage}: {seconds[f'without {stage}']:.0f} s")
        done(result)
    for label, changes in (variants or {}).items():
        t0 = time.perf_counter()
        variant = pipeline
        for section, values in changes.items():
            variant = variant.with_params(section, **values)
        first = min((section for section in changes), key=variant.names.index)
        result.peers[label] = rerun_from(main, variant, first, runtime)
        seconds[label] = time.perf_counter() - t0
        say(f"{label}: {seconds[label]:.0f} s")
        done(result)
    if rows_variant is None:
        rows_variant = any(p not in BASELINES for p in peers)
    if rows_variant and "oversampling" in pipeline.names and pipeline.params["oversampling"].source != "rows":
        t0 = time.perf_counter()
        variant = pipeline.with_params("oversampling", source="rows")
        result.peers[ROWS_VARIANT] = rerun_from(main, variant, "oversampling", runtime)
        seconds["oversampling from rows"] = time.perf_counter() - t0
        say(f"oversampling from rows: {seconds['oversampling from rows']:.0f} s")
        done(result)
    for name in peers:
        t0 = time.perf_counter()
        result.peers[name] = run_peer(name, main.tasks, peer_budget, runtime.n_jobs)
        say(f"peer {name}: {time.perf_counter() - t0:.0f} s")
        done(result)
    return result


# ------------------------------------------------------------------------------------------------ tables
def summary_table(result: BenchmarkResult) -> pd.DataFrame:
    """SSR, R^2 > 0.99 / 0.999 rates, median seconds per task: LIES and each peer, one row each."""

    def label(name: str) -> str:
        if name == ROWS_VARIANT:
            return "LIES, oversampling.source: rows"
        if name == "auto":
            return "LIES or EQL by space (this pipeline)"
        return f"{name.upper()} (this pipeline)" if name in KINDS else name

    rows = [{"method": label(result.network), **_summary(result.main.rows)}]
    raw = [r for r in result.main.rows if r.get("space") == "raw"]
    if raw:  # tasks whose data log space cannot take (values <= 0), fitted in raw space: their own row
        rows.append({"method": f"{label(result.network)}, tasks in raw space", **_summary(raw)})
    for name, peer_rows in result.peers.items():
        rows.append({"method": label(name), **_summary(peer_rows)})
    return pd.DataFrame(rows)


def _summary(rows: Sequence[dict]) -> dict:
    m = summarize(rows)
    return {
        "tasks": m["tasks"],
        "SSR %": 100 * m["ssr"],
        "SSR % (positive symbols)": 100 * m["ssr_positive"],
        **_ssr_by_shape(rows),
        "R2>0.99 %": 100 * m["r2_gt_0.99"],
        "R2>0.999 %": 100 * m["r2_gt_0.999"],
        "median s/task": m["median_seconds_per_task"],
    }


def _ssr_by_shape(rows: Sequence[dict]) -> dict:
    """SSR split into formulas that are products of powers and the rest (NaN where a group is empty)."""

    groups: dict[str, list[bool]] = {"SSR % prod. of powers": [], "SSR % other": []}
    for r in rows:
        if r.get("equation"):
            shape = get_equation(r["equation"]).product_of_powers
            groups["SSR % prod. of powers" if shape else "SSR % other"].append(bool(r["symbolic_solution"]))
    return {k: 100 * float(np.mean(v)) if v else math.nan for k, v in groups.items()}


def mechanism_table(rows: Sequence[dict]) -> pd.DataFrame:
    """SSR by mechanism (`lies.pipeline.evaluation.ssr_by_mechanism`) of the main method's rows; empty (no columns)
    for rows written before mechanisms were recorded."""
    return pd.DataFrame(ssr_by_mechanism(rows))


def ablation_table(result: BenchmarkResult) -> pd.DataFrame:
    """Table I: on the formulas with at least one solved trial in the main run, per configuration the share of
    trials with a correct formula, a wrong one, out of time, and R^2 > 0.99 (percent)."""
    solved = {r["equation"] for r in result.main.rows if r["symbolic_solution"]}
    configs = {"Main Pipeline": result.main.rows}
    configs.update({f"w/o {_pretty(s)}": rows for s, rows in result.ablations.items()})
    table = []
    for label, rows in configs.items():
        rows = [r for r in rows if r["equation"] in solved]
        n = len(rows) or 1
        true = sum(bool(r["symbolic_solution"]) for r in rows)
        oot = sum(bool(r["out_of_time"]) for r in rows)
        r2 = [r["r2_test"] for r in rows if not r["out_of_time"]]
        table.append({
            "Components": label,
            "Sym Solution True": 100 * true / n,
            "Sym Solution False": 100 * (len(rows) - true - oot) / n,
            "Out-of-Time Error": 100 * oot / n,
            "R2 > 0.99": 100 * sum(v > 0.99 for v in r2 if math.isfinite(v)) / n if r2 else math.nan,
        })
    return pd.DataFrame(table)


def _pretty(stage: str) -> str:
    return {"oversampling": "Oversampling", "gradient_pruning": "Gradient Pruning",
            "node_pruning": "Node Pruning",
            "rounding_to_zero": "Gradient Rounding to Zero", "coefficient_optimization": "Optimization",
            "final_rounding": "Final Rounding"}.get(stage, stage)


#: The cause of an unsolved task whose formula the positive-symbols reading accepts (a notation of powers that
#: plain symbols cannot equate, such as sqrt(a)*sqrt(b) for sqrt(a*b)).
POSITIVE_ONLY = "equal to the truth for positive symbols (plain symbols reject it)"


def failure_causes(rows: Sequence[dict], main_artifacts: dict | None = None) -> pd.DataFrame:
    """Unsolved tasks grouped by cause: out of time, equal to the truth only for positive symbols, diverged, a
    close fit with another structure, or structure wrong."""
    out = []
    for r in rows:
        if r["symbolic_solution"]:
            continue
        if r["out_of_time"]:
            cause = "time-out"
        elif r.get("symbolic_solution_positive") is True:
            cause = POSITIVE_ONLY
        elif not math.isfinite(r.get("r2_test", math.nan)) or r.get("r2_test", -1) < 0:
            cause = "numerically broken (R^2 < 0 or NaN)"
        elif r.get("r2_test", 0) > 0.999:
            cause = "fits (R^2 > 0.999) but the structure differs"
        else:
            cause = "structure wrong"
        out.append({"task": r["task"], "equation": r["equation"], "cause": cause, "r2_test": r["r2_test"],
                    "formula": r["formula"]})
    return pd.DataFrame(out, columns=["task", "equation", "cause", "r2_test", "formula"])


#: Seconds each symbolic check of an equation's truth against itself may take (`check_ceiling`; a safety net).
CEILING_TIMEOUT = 60.0


@functools.cache
def _truth_credited(equation_id: str) -> tuple[bool, bool, tuple[str, ...]]:
    """(plain, positive, the readings whose check timed out): whether the check credits an equation's own ground
    truth as the model."""
    equation, timed_out = get_equation(equation_id), []  # once per equation: a longer safety net than a row's
    plain, positive = symbolic_flags(equation.expr, equation, 1.0, CEILING_TIMEOUT, timed_out)
    return plain, positive, tuple(timed_out)


def check_ceiling(rows: Sequence[dict]) -> dict[str, list[str]]:
    """The rows' equations whose own ground truth, given as the model, the symbolic check does not credit, per
    reading ("plain", "positive"): SRBench simplifies the model and not the truth, so a truth that simplify rewrites
    (exp(a) + exp(-a) -> 2 cosh(a)) or whose constant it folds before rounding differs from itself by more than the
    check's rounding. No method can be credited with those formulas; the report says so beside its SSR. A check
    stopped by its timeout (a wall-clock safety net) is named with "(timeout)"."""
    ids = sorted({str(r["equation"]) for r in rows if r.get("equation")})
    missed: dict[str, list[str]] = {"plain": [], "positive": []}
    for eq in ids:
        try:
            *credited, timed_out = _truth_credited(eq)
        except LiesError:  # a CSV task or an id outside the registries: no ground truth to check
            continue
        for reading, ok, check in zip(missed, credited, ("literal", "positive")):
            if not ok:
                missed[reading].append(eq + (" (timeout)" if check in timed_out else ""))
    return missed


def markdown(df: pd.DataFrame, floatfmt: str = ".1f") -> str:
    """A GitHub-flavoured markdown table without extra dependencies; a share of no tasks (NaN) reads "–"."""
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, row in df.iterrows():
        cells = [("–" if math.isnan(v) else format(v, floatfmt)) if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


__all__ = ["run_benchmark", "run_ablation", "rerun_from", "run_peer", "summary_table", "ablation_table",
           "mechanism_table", "failure_causes", "check_ceiling",
           "markdown", "TABLE_I", "STAGES"]


@functools.cache
def code_version() -> str:
    """The commit the library was run from (``-dirty`` when its files differ from it), or "unknown" outside git;
    read once per process (a long run's report keeps the commit it started at)."""
    import subprocess

    try:
        done = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=7"], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"


def write_report(result: BenchmarkResult, out: str | Path, command: str = "", running: bool = False) -> str:
    """Write the benchmark's tables into ``out`` (CSV + JSON + report.md) and return the markdown report;
    ``running``: the run goes on, and the report says so (`run_benchmark`'s ``on_result``)."""

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_frame(out / "results.csv", pd.DataFrame(result.main.rows))
    write_json(out / "summary.json", result.main.metrics)
    for stage, rows in result.ablations.items():
        write_frame(out / f"results_without_{stage}.csv", pd.DataFrame(rows))
    for name, rows in result.peers.items():
        write_frame(out / f"results_{name}.csv", pd.DataFrame(rows))
    summary = summary_table(result)
    lines = [
        "**Still running**: the rows so far (the report is written again after each further row)." if running else None,
        f"Command: `{command}`" if command else "",
        f"Machine: {result.machine}",
        f"Settings: {result.settings}" if result.settings else "",
        f"Date: {time.strftime('%Y-%m-%d')}",
        f"Code: {code_version()}",
        "Wall seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in result.seconds.items()) if result.seconds else None,
        "",
        markdown(summary),
        "",
    ]
    mechanisms = mechanism_table(result.main.rows)
    if len(mechanisms):
        lines += ["SSR by mechanism (what produced each formula of the main run; share: of all solved tasks):", "",
                  markdown(mechanisms), ""]
    if result.ablations:
        lines += ["Ablations (Table I; formulas with at least one solved trial in the main run, percent of trials):",
                  "", markdown(ablation_table(result)), ""]
    ceiling = check_ceiling(result.main.rows)
    if any(ceiling.values()):
        lines += [f"The check's ceiling: its own ground truth, as the model, is not credited for "
                  + "; ".join(f"{len(ids)} formula(s) with {reading} symbols ({', '.join(ids)})"
                              for reading, ids in ceiling.items() if ids)
                  + " (SRBench simplifies the model, not the truth); no method can solve those.", ""]
    causes = failure_causes(result.main.rows)
    if len(causes):
        counts = causes.groupby("cause").size().rename("tasks").reset_index()
        lines += ["Unsolved tasks by cause:", "", markdown(counts), ""]
    report = "\n".join(line for line in lines if line is not None)
    (out / "report.md").write_text(report + "\n")
    write_frame(out / "failures.csv", causes)
    return report


def main(args, argv_text: str = "") -> int:
    """Run the benchmark from parsed ``lies benchmark`` arguments; print the report."""
    from tqdm import tqdm

    if args.rescore:
        result = rescore(args.rescore)
        print(write_report(result, args.rescore, command=argv_text))
        return 0


    params = load_params(args.params) if args.params else {}
    stage_params = {k: v for k, v in params.items() if k not in OTHER_SECTIONS and k != "prepare"}
    if args.oversampling_source is not None:
        stage_params["oversampling"] = {**(stage_params.get("oversampling") or {}), "source": args.oversampling_source}
    skip = (params.get("ablation") or {}).get("skip") or []
    kinds = [k.strip() for k in args.network.split(",") if k.strip()] or ["auto"]
    pipelines = [Pipeline(params={**stage_params, "network": {"kind": kind}, "eql": params.get("eql")},
                          skip=[skip] if isinstance(skip, str) else skip) for kind in kinds]
    pipeline = pipelines[0]
    selection = args.set.split(",") if "," in args.set else args.set
    tasks_section = dict(params.get("tasks") or {})
    tasks_section.update({"set": selection, "trials": args.trials, "seed": args.seed, "csv": None, "target": None})
    levels = [None] if args.noise is None else [float(v) for v in str(args.noise).split(",") if v.strip()]
    if args.noise is not None:
        tasks_section["noise"] = levels[0]
    tasks = parse_params(TasksParams, tasks_section, "tasks")
    task_specs(tasks)  # unknown ids or sets fail here, before any work or progress bar
    runtime = parse_params(RuntimeParams, {"device": args.device, "n_jobs": args.n_jobs, "backend": args.backend,
                                           "scheduler": args.scheduler, "progress": not args.quiet}, "runtime")
    from lies.pipeline.engine import check_scheduler

    check_scheduler(runtime)  # in seconds, before any work: the client would wait 30 s, mid-run
    ablations = (list(TABLE_I) if args.ablations is None else [] if args.ablations in ("", "none")
                 else [s.strip() for s in args.ablations.split(",") if s.strip()])
    for stage in ablations:
        if stage not in STAGES or not STAGES[stage].skippable:

            raise LiesError(f"--ablations: {stage!r} is not a stage that can be skipped")
    peers = [p.strip() for p in args.peers.split(",") if p.strip() and p.strip() != "none"]
    rows_variant = any(p not in BASELINES for p in peers) or args.rows_variant
    variants = dict(parse_variant(text) for text in args.variant or ())
    # the stages, the evaluation, the main summary, other networks, ablations, peers and variants
    steps = len(pipeline.stages) + 1 + len(pipelines) + len(ablations) + len(peers) + rows_variant + len(variants)
    results = {}
    for level in levels:
        level_tasks = tasks if level is None else tasks.model_copy(update={"noise": level})
        out = Path(args.out) if len(levels) == 1 else Path(args.out) / f"noise-{level:g}"
        with tqdm(total=steps, desc="benchmark" if level is None else f"noise {level:g}", unit="step",
                  disable=True if args.quiet else None) as bar:
            def progress(message: str) -> None:
                bar.set_postfix_str(message[:60])
                bar.update(1)
                if bar.disable and not args.quiet:  # no terminal (a log file): one line per step
                    print(f"benchmark: {message}", file=sys.stderr, flush=True)

            def partial(result: BenchmarkResult, out: Path = out) -> None:
                write_report(result, out, command=argv_text, running=True)

            result = run_benchmark(level_tasks, pipeline, runtime, ablations, peers, args.peer_budget,
                                   on_progress=progress, networks=pipelines[1:], rows_variant=rows_variant,
                                   variants=variants, on_result=partial)
        results[level] = result
        report = write_report(result, out, command=argv_text)
    if len(levels) > 1:
        report = write_noise_report(results, args.out, command=argv_text)
    print(report)
    return 0


def noise_table(results: dict[float, BenchmarkResult]) -> pd.DataFrame:
    """SSR and R^2 rates of the main pipeline per noise level, and SSR against the noiseless run's."""
    base = results.get(0.0)
    rows = []
    for level, result in results.items():
        row = {"noise": f"{level:g}", **_summary(result.main.rows)}
        if base is not None and base.main.rows:
            ssr0 = summarize(base.main.rows)["ssr"]
            row["SSR / SSR at 0"] = summarize(result.main.rows)["ssr"] / ssr0 if ssr0 else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def write_noise_report(results: dict[float, BenchmarkResult], out: str | Path, command: str = "") -> str:
    """OUT/noise.md and noise.csv: the noise table over the runs in OUT/noise-<level>/."""

    out = Path(out)
    table = noise_table(results)
    write_frame(out / "noise.csv", table)
    first = next(iter(results.values()))
    lines = [f"Command: `{command}`" if command else "", f"Machine: {first.machine}",
             f"Date: {time.strftime('%Y-%m-%d')}", "",
             "SRBench's target noise, N(0, (noise * RMS(y))^2) on the training rows; test rows clean.", "",
             markdown(table, floatfmt=".3f"), ""]
    report = "\n".join(lines)
    (out / "noise.md").write_text(report + "\n")
    return report


def rescore(out: str | Path, timeout: float = 10.0) -> BenchmarkResult:
    """Re-check every stored formula of a finished benchmark folder with the current symbolic check and rewrite
    its tables (no training is repeated: only the scoring changes). Returns the re-scored result."""

    out = Path(out)

    def load(path: Path) -> list[dict]:
        frame = read_frame(path, TEXT_COLUMNS)
        rows = frame.to_dict("records")
        for r in rows:
            r["out_of_time"] = bool(r["out_of_time"])
            r["r2_test"] = float(r["r2_test"]) if r["r2_test"] == r["r2_test"] else math.nan
            formula = r.get("formula")
            eq = get_equation(r["equation"]) if r.get("equation") else None
            solved = positive = False
            if eq is not None and isinstance(formula, str) and formula and not r["out_of_time"]:
                solved, positive = symbolic_flags(Formula(formula, eq.variable_names), eq, r["r2_test"], timeout)
            r["symbolic_solution"], r["symbolic_solution_positive"] = bool(solved), bool(positive)
            r.pop("symbolic_solution_srbench", None)  # a folder scored before SRBench's check was the headline
        return rows

    main_rows = load(out / "results.csv")
    main = PipelineResult(tasks=[], rows=main_rows, metrics=summarize(main_rows))
    result = BenchmarkResult(main=main, machine=machine_description())
    order = {stage: i for i, stage in enumerate(STAGES)}
    for path in sorted(out.glob("results_without_*.csv"), key=lambda p: order.get(p.stem[16:], 99)):
        result.ablations[path.stem.removeprefix("results_without_")] = load(path)
    for path in sorted(out.glob("results_*.csv")):
        if not path.stem.startswith("results_without_"):
            result.peers[path.stem.removeprefix("results_")] = load(path)
    return result
