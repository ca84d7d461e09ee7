"""Evaluation of a finished task set (paper IV-B): held-out R^2, SRBench's symbolic solution, seconds per stage.

A task's row gathers what every stage said about it; the metrics are the benchmark's headline numbers: the
symbolic solution rate (SSR, SRBench's check as SRBench defines it: plain symbols), beside it the positive-symbols
reading (``ssr_positive``: every AI-Feynman variable declared positive, so sqrt(a*b) = sqrt(a)*sqrt(b)), the share
of tasks with R^2 > 0.99 (the paper's Fig. 5) and > 0.999 (SRBench's
accuracy solution), and seconds per task. A task that ran out of time counts as not solved, and its R^2 as
missing (the paper's Table I reports such runs in their own column). A formula that is undefined on part of the
test data has R^2 = -inf (`lies.symbolic.metrics.r2_score`): it counts, as -1 in the mean (every R^2 is clipped to
[-1, 1] there, so one bad task cannot swamp the others) and as itself in the median.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from lies.data.tasks import TaskData
from lies.symbolic.metrics import r2_score, symbolic_check_details


def symbolic_flags(formula, equation, r2: float, timeout: float = 10.0,
                   timed_out: list | None = None) -> tuple[bool, bool]:
    """(solved, solved in the positive-symbols reading) for a formula against a Feynman equation (None: no truth).

    The first is SRBench's check with SRBench's plain symbols: the headline, for LIES and for every peer alike. The
    second declares the variables positive when every range of the equation is non-negative (then identities such
    as sqrt(a*b) = sqrt(a)*sqrt(b) hold), a labelled second reading. A check stopped by its ``timeout`` (a
    wall-clock safety net) counts as not solved, as in SRBench, and is appended to ``timed_out`` ("literal",
    "positive") when a list is given.
    """
    if equation is None:
        return False, False

    def check(positive: bool) -> bool:
        result = symbolic_check_details(formula, equation.expr, timeout=timeout, r2=r2, positive=positive)
        if result.reason == "timeout" and timed_out is not None:
            timed_out.append("positive" if positive else "literal")
        return result.solved

    literal = check(False)
    if literal or not all(v.low >= 0 for v in equation.variables):
        return literal, literal  # solved with plain symbols: solved with positive ones too, no second check
    return literal, check(True)


def wall_clock_caps(summaries: Mapping[str, dict]) -> list[str]:
    """The stages whose wall-clock safety net stopped their work on this task. The work is bounded by counts; a
    cap that is hit makes the result depend on the machine's load, so every row says where that happened."""
    caps = []
    for stage, summary in summaries.items():
        if "wall clock" in str(summary.get("stopped_by", "")) or "wall clock" in str(summary.get("simplify", "")):
            caps.append(stage)
    return caps


def evaluate_task(task: TaskData, summaries: Mapping[str, dict], formula, symbolic_timeout: float = 10.0) -> dict:
    """One row of results.csv. ``summaries``: stage name -> that stage's summary for this task, in DAG order."""
    out_of_time = any(s.get("out_of_time") for s in summaries.values())
    row: dict = {
        "task": task.name,
        "equation": task.spec.equation or "",
        "trial": task.spec.trial,
        "formula": formula.text if formula is not None and not out_of_time else "",
        "out_of_time": out_of_time,
        "space": summaries.get("weak_admm", {}).get("space", ""),  # log or raw (weak_admm.log: auto)
        # what produced the formula (`lies.training.pruning.MECHANISMS`, an open set): a later stage that replaced
        # it says so (decomposition); node pruning skipped or an artifact from before mechanisms were recorded: the
        # trained network as it is, "restart"
        "mechanism": next((s["mechanism"] for s in reversed(list(summaries.values())) if s.get("mechanism")),
                          "restart"),
    }
    tree = summaries.get("decomposition", {}).get("decomposition") or {}
    row["oracle"] = tree.get("oracle", "") if tree.get("chosen") == "decomposition" else ""  # what it read
    timed_out: list[str] = []  # the symbolic checks stopped by their timeout
    if formula is None or out_of_time:
        row.update(r2_test=math.nan, r2_train=math.nan, symbolic_solution=False, symbolic_solution_positive=False,
                   complexity=math.nan)
    else:
        r2_test = r2_score(task.test.y, formula(task.test.X))
        row["r2_test"] = r2_test
        row["r2_train"] = r2_score(task.train.y, formula(task.train.X))
        row["symbolic_solution"], row["symbolic_solution_positive"] = symbolic_flags(
            formula, task.equation, r2_test, symbolic_timeout, timed_out)
        row["complexity"] = formula.complexity
    caps = wall_clock_caps(summaries) + ([f"evaluation ({', '.join(timed_out)} check)"] if timed_out else [])
    row["wall_clock_caps"] = "; ".join(caps)  # empty: nothing here depends on the machine's load
    total = 0.0
    for stage, summary in summaries.items():
        seconds = float(summary.get("seconds", 0.0))
        row[f"seconds_{stage}"] = seconds
        total += seconds
    row["seconds_total"] = total
    return row


def ssr_by_mechanism(rows: Sequence[dict]) -> list[dict]:
    """SSR split by the mechanism that produced each formula (the rows' ``mechanism``, an open set of names): per
    mechanism, the tasks it produced the formula for, how many of them are solved (``symbolic_solution``, the
    headline check), that SSR in percent, and its share of all solved tasks in percent (NaN when none is solved).
    Rows without a mechanism count as "unknown"; when no row has one (results.csv written before mechanisms were
    recorded) there is nothing to attribute and the list is empty. Mechanisms in alphabetical order."""
    def name(r: dict) -> str | None:
        m = r.get("mechanism")
        return m if isinstance(m, str) and m else None  # NaN: an empty field of results.csv

    if not any(name(r) for r in rows):
        return []
    groups: dict[str, list[bool]] = {}
    for r in rows:
        groups.setdefault(name(r) or "unknown", []).append(bool(r["symbolic_solution"]))
    total = sum(sum(flags) for flags in groups.values())
    return [{"mechanism": m, "tasks": len(flags), "solved": sum(flags), "SSR %": 100 * sum(flags) / len(flags),
             "share of solved %": 100 * sum(flags) / total if total else math.nan}
            for m, flags in sorted(groups.items())]


def summarize(rows: Sequence[dict]) -> dict:
    """The benchmark's metrics over task rows (rates in [0, 1])."""
    n = len(rows)
    if n == 0:
        return {"tasks": 0}
    r2 = np.array([r["r2_test"] for r in rows], dtype=float)
    known = ~np.isnan(r2)  # NaN: out of time; -inf: a formula undefined on part of the test data
    seconds = np.array([r["seconds_total"] for r in rows], dtype=float)
    solved = sum(bool(r["symbolic_solution"]) for r in rows)
    return {
        "tasks": n,
        "ssr": solved / n,
        "solved": solved,
        "ssr_positive": sum(bool(r.get("symbolic_solution_positive", r["symbolic_solution"])) for r in rows) / n,
        "r2_gt_0.99": float((r2[known] > 0.99).sum() / n),
        "r2_gt_0.999": float((r2[known] > 0.999).sum() / n),
        "mean_r2": float(np.clip(r2[known], -1.0, 1.0).mean()) if known.any() else math.nan,
        "median_r2": float(np.median(r2[known])) if known.any() else math.nan,
        "out_of_time": sum(bool(r["out_of_time"]) for r in rows) / n,
        "mean_seconds_per_task": float(seconds.mean()),
        "median_seconds_per_task": float(np.median(seconds)),
    }
