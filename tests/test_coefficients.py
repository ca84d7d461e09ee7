"""lies.symbolic.coefficients: least-squares refit of the constants (III-F), with fixed structure."""

import time
import warnings

import numpy as np
import sympy

from lies.symbolic.coefficients import optimize_coefficients, refit_parameters
from lies.symbolic.formula import Formula, parametrize

x, y = sympy.symbols("x y")
F = sympy.Float


def _data(n=3000, seed=0):
    # Columns in the formula's order ["y", "x"], which is not alphabetical: a reversed binding (bug B10) would
    # fit x**1.5*y with the roles of x and y swapped, and fail on these asymmetric ranges.
    rng = np.random.default_rng(seed)
    Y = rng.uniform(1.0, 2.0, n)
    Xc = rng.uniform(1.0, 5.0, n)
    return np.column_stack([Y, Xc])


def test_recovers_perturbed_constants_in_column_order():
    truth = Formula(F(2.5) * x ** F(1.5) * y + F(0.3), ["y", "x"])
    start = Formula(F(2.0) * x ** F(1.4) * y + F(0.1), ["y", "x"])
    X = _data()
    yv = 2.5 * X[:, 1] ** 1.5 * X[:, 0] + 0.3  # written out by column, independent of Formula's binding
    np.testing.assert_allclose(truth(X), yv)
    fit = optimize_coefficients(start, X, yv)
    assert fit.variables == start.variables
    got = sorted(parametrize(fit).values)
    np.testing.assert_allclose(got, [0.3, 1.5, 2.5], rtol=1e-6, atol=1e-8)
    assert fit.srepr.count("Float") == 3  # same structure, three fitted Floats


def test_result_is_never_worse_and_structure_is_kept():
    X = _data(seed=1)
    yv = np.sin(X[:, 1]) + X[:, 0]  # outside the model class
    start = Formula(F(1.0) * x + F(0.5) * y, ["y", "x"])
    fit = optimize_coefficients(start, X, yv)
    assert np.sum((fit(X) - yv) ** 2) <= np.sum((start(X) - yv) ** 2)
    assert fit.expr.free_symbols == start.expr.free_symbols and fit.n_constants == 2


def test_time_limit_really_bounds_the_run():
    rng = np.random.default_rng(2)
    X = rng.uniform(1.0, 5.0, size=(20_000, 2))
    yv = 3.0 * np.exp(-0.7 * X[:, 0]) * np.sin(1.3 * X[:, 1]) + 0.2
    start = Formula(F(1.0) * sympy.exp(F(-0.1) * x) * sympy.sin(F(1.0) * y) + F(0.0001), ["x", "y"])
    t0 = time.monotonic()
    fit = optimize_coefficients(start, X, yv, time_limit=0.05, max_nfev=100_000)
    assert time.monotonic() - t0 < 0.5
    assert np.sum((fit(X) - yv) ** 2) <= np.sum((start(X) - yv) ** 2)


def test_an_evaluation_bound_gives_the_same_fit_whatever_the_load():
    """The bound that decides is a count: a fit stopped by it is the same on a busy and an idle machine (a wall
    clock bound is not), and the report says what stopped it."""
    rng = np.random.default_rng(2)
    X = rng.uniform(1.0, 5.0, size=(5_000, 2))
    yv = 3.0 * np.exp(-0.7 * X[:, 0]) * np.sin(1.3 * X[:, 1]) + 0.2
    start = Formula(F(1.0) * sympy.exp(F(-0.1) * x) * sympy.sin(F(1.0) * y) + F(0.0001), ["x", "y"])
    fits, reports = [], []
    for _ in range(2):
        report = {}
        fits.append(optimize_coefficients(start, X, yv, time_limit=60.0, max_evaluations=30, report=report))
        reports.append(report)
    assert fits[0] == fits[1] and fits[0] != start
    assert reports[0] == reports[1] == {"stopped_by": "evaluations", "evaluations": 30}
    report = {}
    optimize_coefficients(start, X, yv, time_limit=1e-9, max_evaluations=30, report=report)
    assert report["stopped_by"] == "wall clock"  # the safety net, reported


def test_non_finite_start_returns_input_unchanged():
    X = _data()
    start = Formula(sympy.log(x - F(3.0)) * y, ["y", "x"])  # x in [1, 5]: nan on part of the rows
    assert optimize_coefficients(start, X, X[:, 0]) is start


def test_no_constants_returns_input():
    f = Formula("x*y", ["y", "x"])
    X = _data()
    assert optimize_coefficients(f, X, X[:, 0]) is f


def test_non_finite_rows_dropped_and_large_n_subsampled_deterministically():
    truth = Formula(F(1.7) * x + F(0.4) * y**2, ["y", "x"])
    X = _data(n=50_000, seed=3)
    yv = truth(X)
    yv[::97] = np.nan
    start = Formula(F(1.0) * x + F(1.0) * y**2, ["y", "x"])
    a = optimize_coefficients(start, X, yv, max_rows=2000, seed=7)
    b = optimize_coefficients(start, X, yv, max_rows=2000, seed=7)
    assert a == b
    np.testing.assert_allclose(sorted(parametrize(a).values), [0.4, 1.7], rtol=1e-6)


def test_constants_that_break_the_formula_between_the_rows_are_not_kept():
    from lies.data.dataset import box_points

    # rows on the diagonal y = x, where log(c + x - y) = log(c); the target asks for c = 0.001, which makes the
    # formula undefined at the box's corner (x, y) = (1, 2): there c + x - y = c - 1 < 0
    t = np.linspace(1.0, 2.0, 200)
    X = np.column_stack([t, t])
    start = Formula(sympy.log(F(3.0) + x - y), ["y", "x"])
    target = np.full(200, np.log(0.001))
    free = parametrize(optimize_coefficients(start, X, target)).values
    assert abs(free[0] - 0.001) < 1e-4  # on the rows alone least squares gets there
    kept = optimize_coefficients(start, X, target, domain=box_points(X, 64))
    (c,) = parametrize(kept).values
    assert 1.0 < c < 3.0  # moved towards the target, and still defined over the whole box
    assert np.all(np.isfinite(kept(box_points(X, 64))))


def test_refit_parameters_holds_the_fixed_constants_and_fits_the_free_ones():
    rng = np.random.default_rng(1)
    X = rng.uniform(1, 5, size=(500, 2))
    y = 2.5 * X[:, 0] + 0.7 * X[:, 1] ** 2
    a, b = sympy.symbols("a b")
    par = parametrize(Formula(sympy.Float(1.0) * a + sympy.Float(0.5) * b ** sympy.Float(1.9), ["a", "b"]))
    k = int(np.flatnonzero(par.values == 1.9)[0])  # the exponent
    start = par.values.copy()
    start[k] = 2.0  # held at a snap, the coefficients refitted to it
    free = np.arange(3) != k
    theta = refit_parameters(par, X, y, start, free)
    assert theta is not None and theta[k] == 2.0
    assert np.allclose(sorted(theta[free]), [0.7, 2.5], rtol=1e-6)
    assert refit_parameters(par, X, y, theta, free) is None  # nothing left to improve: None, as documented


def test_a_formula_undefined_everywhere_comes_back_unchanged():
    f = Formula(x * sympy.zoo + F(0.5) * y, ["y", "x"])
    X = _data(50)
    assert optimize_coefficients(f, X, X[:, 0]) == f



#: Run in a fresh interpreter: the refits of tests/data/ill_conditioned_refits.json named on the command line, in
#: that order, each through the stage as the pipeline runs it; the srepr of each result is printed.
_REFITS = """
import json, sys, numpy as np, sympy
from lies.pipeline.artifacts import FormulaArtifact
from lies.symbolic.formula import Formula
from lies.params import CoefficientOptimizationParams
from lies.pipeline.stages import STAGES, _run_formula_task
from lies.data.tasks import TaskSpec, prepare_task
refits = {r["task"]["equation"]: r for r in json.load(open(sys.argv[1]))["refits"]}
if sys.argv[2] == "used heap":
    big = np.ones(2_000_000); del big  # glibc raises its mmap threshold: large buffers now come from the used heap
for name in sys.argv[3:]:
    r = refits[name]
    art = FormulaArtifact(Formula(sympy.sympify(r["formula"]), r["variables"]), {})
    out = _run_formula_task(STAGES["coefficient_optimization"], art, prepare_task(TaskSpec.from_dict(r["task"])),
                            CoefficientOptimizationParams())
    print(sympy.srepr(out.formula.expr))
"""


def test_an_ill_conditioned_fit_does_not_depend_on_what_the_process_did_before():
    """One seed, one fit, whatever the worker process ran before it. scipy's MINPACK read one element past its
    Jacobian's buffer (`lies.symbolic.coefficients._levenberg_marquardt`), so the I.8.14 refit ended elsewhere after the
    I.6.2b refit had left its numbers on a heap the Jacobian was then allocated from."""
    import subprocess
    import sys
    from pathlib import Path

    fixture = str(Path(__file__).parent / "data" / "ill_conditioned_refits.json")

    def run(heap: str, *names: str) -> list[str]:
        return subprocess.run([sys.executable, "-c", _REFITS, fixture, heap, *names], capture_output=True,
                              text=True, check=True).stdout.splitlines()

    alone = run("fresh", "I.8.14")
    after = run("used heap", *["I.6.2b", "I.8.14"] * 3)  # the heap's contents differ at each turn
    assert len(alone) == 1 and "Float" in alone[0]
    assert after[1::2] == alone * 3


def test_a_start_whose_cost_overflows_comes_back_without_warnings():
    # exp(100 x) on these rows: finite residuals, a sum of squares past float64. Least squares cannot improve on an
    # infinite cost, so the input comes back, and a user sees no RuntimeWarning from numpy or scipy on the way.
    X = np.random.default_rng(0).uniform(1.0, 5.0, (500, 1))
    start = Formula(F(1.0) * sympy.exp(F(100.0) * x), ["x"])
    with np.errstate(over="ignore"):
        assert np.all(np.isfinite(start(X))) and not np.isfinite(np.sum(start(X) ** 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = optimize_coefficients(start, X, np.exp(3 * X[:, 0]))
    assert fit == start
