"""Tests for lies.bench.peers: the optional Operon / gplearn peers and their conversion to sympy.

Each peer's tests skip when its package is absent (``pip install lies[peers]``). The end-to-end tests fit with the
"smoke" budget on y = x0 * x1 and check that the sympy expression reproduces the peer's own predict(): that is
what proves the converters right.
"""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest
import sympy

from lies.bench import peers
from lies.bench.peers import PEERS, PeerResult, available_peers, gplearn_program_to_sympy, operon_string_to_sympy
from lies.core.errors import LiesError

NAMES = ["I", "lambd"]  # `I` must stay a symbol, never the imaginary unit


def _data(rows: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # float32-exact inputs: Operon casts X to float32, so this keeps its inputs and ours identical
    X = rng.uniform(1.0, 5.0, size=(rows, 2)).astype(np.float32).astype(np.float64)
    return X, X[:, 0] * X[:, 1]


def _evaluate(expr: sympy.Expr, names: list[str], X: np.ndarray) -> np.ndarray:
    f = sympy.lambdify([sympy.Symbol(n) for n in names], expr, "numpy")
    return np.broadcast_to(np.asarray(f(*X.T), dtype=np.float64), (X.shape[0],))


def _assert_plain_expr(expr: object, names: list[str]) -> None:
    assert isinstance(expr, sympy.Expr)
    assert expr.free_symbols <= {sympy.Symbol(n) for n in names}
    assert all(s.assumptions0 == sympy.Symbol("z").assumptions0 for s in expr.free_symbols)
    assert not expr.has(sympy.I)


# --- registry and errors -----------------------------------------------------------------------------------------


def test_registry_and_budgets_are_documented():
    assert set(PEERS) == {"operon", "gplearn", "loglinear"}
    assert "loglinear" in available_peers() and set(available_peers()) <= set(PEERS)
    for budgets in (peers.OPERON_BUDGETS, peers.GPLEARN_BUDGETS):
        assert {"default", "smoke"} <= set(budgets)
    assert peers.OPERON_BUDGETS["default"]["n_threads"] == 1
    assert peers.GPLEARN_BUDGETS["default"]["n_jobs"] == 1
    for symbol in ("div", "sin", "cos", "exp", "log", "sqrt"):
        assert symbol in peers.OPERON_BUDGETS["default"]["allowed_symbols"].split(",")
    for function in ("div", "sin", "cos", "log", "sqrt"):
        assert function in peers.GPLEARN_BUDGETS["default"]["function_set"]


@pytest.mark.parametrize("method, module", [("operon", "pyoperon"), ("gplearn", "gplearn")])
def test_missing_package_raises_lies_error(monkeypatch, method, module):
    # a None entry in sys.modules makes `import module` (and its submodules) raise ImportError
    monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.setitem(sys.modules, f"{module}.sklearn" if method == "operon" else f"{module}.genetic", None)
    X, y = _data(20)
    with pytest.raises(LiesError, match=r"pip install lies\[peers\]"):
        PEERS[method](X, y, NAMES, seed=0, budget="smoke")
    assert method not in available_peers()


def test_bad_inputs_raise_lies_error():
    pytest.importorskip("gplearn")
    X, y = _data(20)
    with pytest.raises(LiesError, match="budget"):
        peers.fit_gplearn(X, y, NAMES, seed=0, budget="huge")
    with pytest.raises(LiesError, match="columns"):
        peers.fit_gplearn(X, y, ["a"], seed=0, budget="smoke")
    with pytest.raises(LiesError, match="repeated column names: a"):
        peers.fit_gplearn(X, y, ["a", "a"], seed=0, budget="smoke")
    with pytest.raises(LiesError, match="seed"):
        peers.fit_gplearn(X, y, NAMES, seed=-1, budget="smoke")
    with pytest.raises(LiesError, match="finite"):
        peers.fit_gplearn(X, np.where(y > 10, np.nan, y), NAMES, seed=0, budget="smoke")


# --- gplearn converter on hand-built programs ----------------------------------------------------------------------


def _gp_function(name: str):
    functions = importlib.import_module("gplearn.functions")
    if name == "sig":  # built in (sig1) but absent from gplearn's name map
        return functions.sig1
    return functions._function_map[name]


def _gp_execute(program: list, X: np.ndarray) -> np.ndarray:
    from gplearn._program import _Program

    prog = _Program(
        function_set=[n for n in program if not isinstance(n, (int, float))],
        arities={},
        init_depth=(2, 6),
        init_method="half and half",
        n_features=X.shape[1],
        const_range=(-1.0, 1.0),
        metric=None,
        p_point_replace=0.05,
        parsimony_coefficient=0.001,
        random_state=np.random.RandomState(0),
        program=program,
    )
    return prog.execute(X)


def test_gplearn_converter_hand_built_programs():
    pytest.importorskip("gplearn")
    f = _gp_function
    I, lambd, E_n = sympy.symbols("I lambd E_n")  # plain symbols
    names = ["I", "lambd", "E_n"]
    cases = [
        # mul(I, lambd)
        ([f("mul"), 0, 1], I * lambd),
        # div(sub(I, 0.5), lambd): protected division becomes plain division
        ([f("div"), f("sub"), 0, 0.5, 1], (I - sympy.Float(0.5)) / lambd),
        # sqrt(neg(E_n)): protected sqrt is sqrt(|.|)
        ([f("sqrt"), f("neg"), 2], sympy.sqrt(sympy.Abs(E_n))),
        # log(mul(-2.5, I)): protected log is log(|.|)
        ([f("log"), f("mul"), -2.5, 0], sympy.log(sympy.Abs(sympy.Float(-2.5) * I))),
        # add(inv(lambd), max(cos(I), sin(E_n)))
        ([f("add"), f("inv"), 1, f("max"), f("cos"), 0, f("sin"), 2],
         1 / lambd + sympy.Max(sympy.cos(I), sympy.sin(E_n))),
        # min(abs(sub(I, E_n)), tan(lambd)) and sig(I)
        ([f("min"), f("abs"), f("sub"), 0, 2, f("tan"), 1], sympy.Min(sympy.Abs(I - E_n), sympy.tan(lambd))),
        ([f("sig"), 0], 1 / (1 + sympy.exp(-I))),
        # a lone constant and a lone variable
        ([3.25], sympy.Float(3.25)),
        ([1], lambd),
    ]
    rng = np.random.default_rng(1)
    # negative and positive values, all far from gplearn's 0.001 protection thresholds
    X = rng.uniform(0.5, 3.0, size=(50, 3)) * rng.choice([-1.0, 1.0], size=(50, 3))
    for program, expected in cases:
        expr = gplearn_program_to_sympy(program, names)
        _assert_plain_expr(expr, names)
        assert sympy.simplify(expr - expected) == 0, (program, expr)
        got = _evaluate(expr, names, X)
        want = _gp_execute(program, X)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_strip_abs_gives_srbench_reading():
    I, lambd = sympy.symbols("I lambd")
    expr = sympy.sqrt(sympy.Abs(I * lambd)) + sympy.log(sympy.Abs(lambd))
    assert peers.strip_abs(expr) == sympy.sqrt(I * lambd) + sympy.log(lambd)


def test_gplearn_converter_rejects_malformed_programs():
    pytest.importorskip("gplearn")
    f = _gp_function
    with pytest.raises(LiesError, match="ends before"):
        gplearn_program_to_sympy([f("add"), 0], NAMES)
    with pytest.raises(LiesError, match="after its end"):
        gplearn_program_to_sympy([0, 1], NAMES)
    with pytest.raises(LiesError, match="feature 5"):
        gplearn_program_to_sympy([f("add"), 0, 5], NAMES)
    with pytest.raises(LiesError, match="empty"):
        gplearn_program_to_sympy([], NAMES)


# --- Operon string parser -------------------------------------------------------------------------------------------


def test_operon_parser_keeps_names_plain_and_numbers_exact():
    names = ["I", "lambda", "gamma", "E"]
    text = ("((1.000000 * lies_var_0) * (sqrt((2.500000 * lies_var_1)) / (lies_var_2 ^ 2))) + "
            "(log((-0.125000 * lies_var_3)) - exp(sin(cos((-3.000000)))))")
    expr = operon_string_to_sympy(text, names)
    _assert_plain_expr(expr, names)
    I, lam, gam, E = (sympy.Symbol(n) for n in names)
    expected = (I * sympy.sqrt(2.5 * lam) / gam**2 + sympy.log(-0.125 * E)
                - sympy.exp(sympy.sin(sympy.cos(-3))))
    x = {I: 1.3, lam: 2.1, gam: 0.7, E: -4.0}
    assert complex(expr.evalf(subs=x)) == pytest.approx(complex(expected.evalf(subs=x)), rel=1e-14)
    with pytest.raises(LiesError, match="cannot parse"):
        operon_string_to_sympy("foo(lies_var_0)", names)


# --- end to end with the smoke budget --------------------------------------------------------------------------------


def _capture_estimators(monkeypatch, module_name: str) -> list:
    """Make ``module.SymbolicRegressor.fit`` record each fitted instance, so a test can call its own predict()."""
    cls = importlib.import_module(module_name).SymbolicRegressor
    original = cls.fit
    fitted: list = []

    def fit(self, X, y, *args, **kwargs):
        fitted.append(self)
        return original(self, X, y, *args, **kwargs)

    monkeypatch.setattr(cls, "fit", fit)
    return fitted


def test_operon_smoke_fit_matches_its_predict(monkeypatch):
    pytest.importorskip("pyoperon")
    fitted = _capture_estimators(monkeypatch, "pyoperon.sklearn")

    X, y = _data()
    result = peers.fit_operon(X, y, NAMES, seed=3, budget="smoke")
    assert isinstance(result, PeerResult) and result.method == "operon"
    assert result.seconds > 0 and result.budget["n_threads"] == 1
    assert result.budget["max_evaluations"] == peers.OPERON_BUDGETS["smoke"]["max_evaluations"]
    _assert_plain_expr(result.expr, NAMES)
    (est,) = fitted
    own = est.predict(X).astype(np.float64)
    ours = _evaluate(result.expr, NAMES, X)
    # Operon evaluates in float32 (float64 sympy vs its own predict: ~3e-7 relative at worst over 15 seeds)
    np.testing.assert_allclose(ours, own, rtol=1e-6, atol=0)
    assert np.corrcoef(ours, y)[0, 1] > 0.99


def test_gplearn_smoke_fit_matches_its_predict(monkeypatch):
    pytest.importorskip("gplearn")
    fitted = _capture_estimators(monkeypatch, "gplearn.genetic")

    X, y = _data()
    result = peers.fit_gplearn(X, y, NAMES, seed=3, budget="smoke")
    assert isinstance(result, PeerResult) and result.method == "gplearn"
    assert result.seconds > 0 and result.budget["n_jobs"] == 1
    _assert_plain_expr(result.expr, NAMES)
    (est,) = fitted
    own = est.predict(X)
    ours = _evaluate(result.expr, NAMES, X)
    np.testing.assert_allclose(ours, own, rtol=1e-6, atol=0)


def test_loglinear_baseline_solves_products_of_powers_and_only_them():
    from lies.data.feynman import get_equation
    from lies.symbolic.metrics import is_symbolic_solution

    rng = np.random.default_rng(0)
    for eq_id, solvable in (("I.12.1", True), ("II.8.31", True), ("I.10.7", False)):
        eq = get_equation(eq_id)
        data = eq.sample(2000, rng)
        result = peers.fit_loglinear(data.X, data.y, eq.variable_names)
        assert result.method == "loglinear" and result.budget == {}
        assert is_symbolic_solution(sympy.sympify(result.expr), eq.expr) is solvable, (eq_id, result.expr)
    X = rng.uniform(-1, 1, (50, 2))
    signed = peers.fit_loglinear(X, X[:, 0] + 3, ["a", "b"])
    assert signed.expr.is_Number  # no log of a non-positive value: the mean
