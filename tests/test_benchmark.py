"""Smoke version of the benchmark: two formulas, one trial, tiny training (issue 5); the real one is BENCHMARKS.md."""

import math

import numpy as np
import pandas as pd
import pytest

from lies.bench.benchmark import (
    POSITIVE_ONLY,
    ablation_table,
    check_ceiling,
    failure_causes,
    markdown,
    mechanism_table,
    run_benchmark,
    summary_table,
    write_report,
)
from lies.params import RuntimeParams, TasksParams
from lies.pipeline.runner import Pipeline

TINY = {
    "weak_admm": {"epochs": 2},
    "oversampling": {"max_iter": 1, "retrain": {"epochs": 1}},
    "strong_admm": {"epochs": 2},
    "node_pruning": {"refit_iterations": 10},
}


#: What `run_benchmark` handed to ``on_result`` in the smoke run: the rows so far, after each step.
SNAPSHOTS: list[tuple[int, list[str], list[str]]] = []


@pytest.fixture(scope="module")
def smoke():
    tasks = TasksParams(set=["I.12.1", "II.8.31"], trials=1, n_train=500, n_test=200)

    def snapshot(result):
        SNAPSHOTS.append((len(result.main.rows), list(result.ablations), list(result.peers)))

    return run_benchmark(tasks, Pipeline(params=TINY), RuntimeParams(n_jobs=1, progress=False),
                         ablations=["oversampling", "node_pruning", "coefficient_optimization"], peers=["loglinear"],
                         variants={"no linear hypothesis": {"node_pruning": {"linear_hypothesis": False}}},
                         on_result=snapshot)


def test_results_are_handed_on_after_every_row(smoke):
    """A long benchmark writes its report after the main run and after each further row (`on_result`), so that a
    run stopped in its variants keeps the main figures."""
    assert SNAPSHOTS[0] == (2, [], [])  # the main run, before any other row
    assert [s[1] for s in SNAPSHOTS[1:4]] == [["oversampling"], ["oversampling", "node_pruning"],
                                              ["oversampling", "node_pruning", "coefficient_optimization"]]
    assert SNAPSHOTS[-1][2] == ["no linear hypothesis", "loglinear"] and len(SNAPSHOTS) == 6


def test_main_rows_and_summary(smoke):
    rows = smoke.main.rows
    assert [r["task"] for r in rows] == ["I.12.1-t0", "II.8.31-t0"]
    for r in rows:
        assert {"formula", "r2_test", "symbolic_solution", "seconds_total", "seconds_weak_admm",
                "wall_clock_caps", "mechanism"} <= set(r)
        assert isinstance(r["mechanism"], str) and r["mechanism"]
    table = summary_table(smoke)
    assert list(table.columns) == ["method", "tasks", "SSR %", "SSR % (positive symbols)", "SSR % prod. of powers",
                                   "SSR % other", "R2>0.99 %", "R2>0.999 %", "median s/task"]
    assert table.loc[0, "tasks"] == 2 and 0 <= table.loc[0, "SSR %"] <= 100


def test_ablations_reuse_upstream_and_mark_the_skipped_stage(smoke):
    solved = {r["equation"] for r in smoke.main.rows if r["symbolic_solution"]}
    assert solved  # I.12.1 (mu*Nn) is solved even by the tiny run; without it the table below tests nothing
    for stage, rows in smoke.ablations.items():
        assert {r["equation"] for r in rows} == solved  # only formulas the main run solved are re-run
    table = ablation_table(smoke)
    assert list(table["Components"]) == ["Main Pipeline", "w/o Oversampling", "w/o Node Pruning", "w/o Optimization"]
    for _, row in table.iterrows():
        parts = row["Sym Solution True"] + row["Sym Solution False"] + row["Out-of-Time Error"]
        assert math.isclose(parts, 100.0)


def test_baselines_and_variants_are_rows_of_the_same_run(smoke):
    """The log-linear baseline and a variant fit the very tasks of the main run, scored by the same check."""
    from lies.bench.benchmark import parse_variant

    assert not [r for r in smoke.peers if r == "lies-rows"]  # a baseline alone does not ask for the rows variant
    table = summary_table(smoke).set_index("method")
    assert {"loglinear", "no linear hypothesis"} <= set(table.index)
    assert table.loc["loglinear", "SSR % prod. of powers"] == 100.0  # both formulas are products of powers
    for name in ("loglinear", "no linear hypothesis"):
        assert [r["task"] for r in smoke.peers[name]] == [r["task"] for r in smoke.main.rows]
    assert parse_variant("no motifs:node_pruning.motif_terms=0") == ("no motifs", {"node_pruning": {"motif_terms": 0}})
    with pytest.raises(Exception, match="expected LABEL"):
        parse_variant("node_pruning.motif_terms=0")


def test_report_files(smoke, tmp_path):
    report = write_report(smoke, tmp_path, command="lies benchmark --set I.12.1,II.8.31 --trials 1")
    assert "| method |" in report and "Machine:" in report
    assert "SSR by mechanism" in report and "| mechanism | tasks | solved | SSR % | share of solved % |" in report
    assert (tmp_path / "report.md").read_text().strip() == report.strip()
    assert len(pd.read_csv(tmp_path / "results.csv")) == 2
    for stage in smoke.ablations:
        assert (tmp_path / f"results_without_{stage}.csv").exists()


def test_failure_causes_and_markdown():
    rows = [
        {"task": "a-t0", "equation": "a", "symbolic_solution": False, "out_of_time": True, "r2_test": math.nan,
         "formula": ""},
        {"task": "b-t0", "equation": "b", "symbolic_solution": False, "out_of_time": False, "r2_test": 0.9999,
         "formula": "x"},
        {"task": "c-t0", "equation": "c", "symbolic_solution": False, "out_of_time": False, "r2_test": 0.5,
         "formula": "y"},
        {"task": "d-t0", "equation": "d", "symbolic_solution": True, "out_of_time": False, "r2_test": 1.0,
         "formula": "z"},
        {"task": "e-t0", "equation": "e", "symbolic_solution": False, "symbolic_solution_positive": True,
         "out_of_time": False, "r2_test": 1.0, "formula": "sqrt(a)*sqrt(b)"},
    ]
    causes = failure_causes(rows)
    assert list(causes["cause"]) == ["time-out", "fits (R^2 > 0.999) but the structure differs", "structure wrong",
                                     POSITIVE_ONLY]
    md = markdown(pd.DataFrame({"a": [1.25, math.nan], "b": ["x", "y"]}))
    assert md.splitlines() == ["| a | b |", "|---|---|", "| 1.2 | x |", "| – | y |"]


def test_ssr_by_mechanism_counts_each_mechanism_and_its_share_of_the_solved():
    """Mechanisms are an open set ("decomposition" is no name of node pruning's); a row without one is "unknown"."""
    rows = [{"mechanism": m, "symbolic_solution": s} for m, s in [
        ("restart", True), ("restart", False), ("loglinear", True), ("loglinear", True), ("scan", False),
        ("decomposition", True), (math.nan, True), (None, False)]]
    table = mechanism_table(rows).set_index("mechanism")
    assert list(table.index) == ["decomposition", "loglinear", "restart", "scan", "unknown"]
    assert list(table["tasks"]) == [1, 2, 2, 1, 2] and list(table["solved"]) == [1, 2, 1, 0, 1]
    assert list(table["SSR %"]) == [100.0, 100.0, 50.0, 0.0, 50.0]
    assert list(table["share of solved %"]) == [20.0, 40.0, 20.0, 0.0, 20.0]
    # results.csv written before mechanisms were recorded: nothing to attribute, no table
    assert mechanism_table([{"symbolic_solution": True}, {"mechanism": math.nan, "symbolic_solution": False}]).empty


def test_products_of_powers_are_told_apart():
    from lies.data.feynman import get_equation

    assert get_equation("I.12.1").product_of_powers  # mu * Nn
    assert get_equation("II.8.31").product_of_powers  # epsilon * Ef**2 / 2
    assert get_equation("II.11.3").product_of_powers is False  # q Ef / (m (omega_0^2 - omega^2)): a difference
    assert not get_equation("I.6.2a").product_of_powers  # a Gaussian
    assert not get_equation("S.1").product_of_powers  # x1 - x2


def test_other_networks_get_their_own_summary_row():
    from lies.bench.benchmark import BenchmarkResult
    from lies.pipeline.runner import PipelineResult

    row = {"task": "S.1-t0", "equation": "S.1", "trial": 0, "formula": "x1 - x2", "out_of_time": False,
           "r2_test": 1.0, "symbolic_solution": True, "symbolic_solution_positive": True, "complexity": 3,
           "seconds_total": 1.0}
    main = PipelineResult(tasks=[], rows=[{**row, "symbolic_solution": False, "r2_test": 0.5}])
    table = summary_table(BenchmarkResult(main=main, peers={"eql": [row]}))
    assert list(table["method"]) == ["LIES (this pipeline)", "EQL (this pipeline)"]
    assert list(table["SSR % other"]) == [0.0, 100.0] and np.isnan(table.loc[1, "SSR % prod. of powers"])


def test_peers_and_lies_are_scored_by_the_same_check(monkeypatch):
    """A peer's row and a LIES row for the same formula say the same: SRBench's plain symbols in
    ``symbolic_solution`` (the headline SSR), the positive-symbols reading in ``symbolic_solution_positive``."""
    import sympy

    import lies.bench.benchmark
    from lies.bench.benchmark import _peer_row
    from lies.bench.peers import PeerResult
    from lies.data.tasks import make_tasks, prepare_task
    from lies.pipeline.evaluation import evaluate_task
    from lies.symbolic.formula import Formula

    task = prepare_task(make_tasks(["I.12.1"])[0], n_train=200, n_test=100)
    mu, nn = sympy.symbols("mu Nn")
    expr = sympy.sqrt(mu**2 * nn**2)  # = mu*Nn only for positive symbols
    monkeypatch.setattr(lies.bench.benchmark, "PEERS", {"fake": lambda *a, **k: PeerResult("fake", expr, 0.0, {})})
    peer = _peer_row("fake", task, "default", 10.0)
    lies_row = evaluate_task(task, {}, Formula(expr, [mu, nn]))
    for row in (peer, lies_row):
        assert row["symbolic_solution"] is False and row["symbolic_solution_positive"] is True
    from lies.bench.benchmark import BenchmarkResult
    from lies.pipeline.runner import PipelineResult

    summary = summary_table(BenchmarkResult(main=PipelineResult(tasks=[], rows=[lies_row]), peers={"fake": [peer]}))
    assert list(summary["SSR %"]) == [0.0, 0.0] and list(summary["SSR % (positive symbols)"]) == [100.0, 100.0]


def test_noise_table_has_a_row_per_level_and_the_ssr_ratio(smoke, tmp_path):
    from lies.bench.benchmark import noise_table, write_noise_report

    table = noise_table({0.0: smoke, 0.01: smoke})
    assert list(table["noise"]) == ["0", "0.01"] and list(table["SSR / SSR at 0"]) == [1.0, 1.0]
    assert "| noise |" in write_noise_report({0.0: smoke, 0.01: smoke}, tmp_path)
    assert (tmp_path / "noise.csv").exists()


def test_the_report_names_the_code_the_run_started_from(monkeypatch):
    """The commit is read once: a commit made while a long benchmark runs does not relabel its report."""
    import subprocess

    from lies.bench.benchmark import code_version

    code_version.cache_clear()
    first = code_version()
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, "later-commit\n", ""))
    assert code_version() == first != "later-commit"
    code_version.cache_clear()
    assert code_version() == "later-commit"
    code_version.cache_clear()


def test_the_check_s_ceiling_names_the_formulas_whose_own_truth_it_rejects():
    """SRBench simplifies the model and not the truth: n_0/(e^a + e^-a) given as its own model becomes
    n_0/(2 cosh a), which plain symbols cannot equate to the truth (positive ones can); 3/(4 pi eps) p cos t sin t
    becomes 0.12 p sin(2t), whose folded constant no longer rounds to the truth's. A plain product of powers is
    credited. CSV tasks (no equation) are passed over."""
    rows = [{"equation": e} for e in ("II.35.18", "II.6.15b", "I.12.1", "I.12.1", "")]
    assert check_ceiling(rows) == {"plain": ["II.35.18", "II.6.15b"], "positive": ["II.6.15b"]}
    assert check_ceiling([{"equation": "I.12.1"}]) == {"plain": [], "positive": []}
