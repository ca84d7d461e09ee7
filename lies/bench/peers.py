"""Peer symbolic-regression methods for the benchmark: Operon (pyoperon), gplearn, and a log-linear baseline.

Optional extras: ``pip install lies[peers]``. Nothing else in `lies` imports this module's peers; each fit
function imports its package lazily and raises `LiesError` when it is missing.

Every fit returns a `PeerResult` whose ``expr`` is a sympy expression over plain ``sympy.Symbol(name)`` of the
dataset's variable names (no assumptions, so ``I``, ``E``, ``gamma``, ``lambda`` stay symbols). That expression
is what an SRBench-style symbolic check consumes; it evaluates to the peer's own ``predict`` (tests prove it).

Budgets
-------
Each method has module-level budgets, one dict per name (``OPERON_BUDGETS``, ``GPLEARN_BUDGETS``), passed as
keyword arguments to the peer's scikit-learn estimator; only ``random_state`` is added (the ``seed``). All run
single-threaded so several fits can run side by side.

- ``"default"``: SRBench's tuned configuration (``experiment/methods/tuned/`` at v2.0) with the operator sets
  widened to sin/cos/exp/log/sqrt/div, and the evaluation budget cut far below SRBench's (1,000,000 evaluations,
  8 h) so that a benchmark of many formulas fits on a small machine. BENCHMARKS.md has the measured times and
  solution rates.
- ``"quick"``: the default search with a fifth of the evaluations, for side-by-side runs of many formulas.
- ``"smoke"``: tiny, for tests only.

Operon specifics: pyoperon 0.6 evaluates in float32 (inputs are cast to float32), so its ``predict`` and a float64
evaluation of ``expr`` agree to float32 rounding. Its ``log`` and ``sqrt`` are unprotected (NaN off the domain),
exactly like sympy's on the reals. The model string comes from ``InfixFormatter`` with 80 decimal places, enough
to recover every float32 coefficient exactly; coefficients become double-precision sympy Floats (integral ones,
such as Operon's unit variable weights, become Integers; values unchanged).

gplearn specifics: its functions are protected. The conversion keeps ``sqrt(|a|)``, ``log(|a|)`` and ``1/a``,
but writes protected division as plain division and drops the thresholds (gplearn returns 1 for ``a/b`` and 0 for
``log(a)`` or ``1/a`` when the argument is within 0.001 of zero). SRBench's own parser read gplearn's ``sqrt``
and ``log`` *without* the ``abs``; `strip_abs` gives that reading for positive data (e.g. Feynman's).
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import sympy

from lies.core.checks import check_finite, check_names, check_rows, check_shapes
from lies.core.errors import LiesError
from lies.symbolic.coefficients import log_linear_fit

__all__ = [
    "GPLEARN_BUDGETS",
    "OPERON_BUDGETS",
    "BASELINES",
    "PEERS",
    "PeerResult",
    "available_peers",
    "fit_gplearn",
    "fit_loglinear",
    "fit_operon",
    "gplearn_program_to_sympy",
    "operon_string_to_sympy",
    "strip_abs",
]

_INSTALL_HINT = "pip install lies[peers]"

# --- budgets ---------------------------------------------------------------------------------------------------

# SRBench v2.0 tuned Operon: population 500, pool 500, max_length 50, max_depth 10, tournament 5, basic offspring
# generator, keep-best reinserter, 5 local (Levenberg-Marquardt) iterations, R^2 objective with linear scaling,
# mutations {onepoint, changevar, changefunc, insertsubtree, replacesubtree, removesubtree}, 1,000,000
# evaluations, symbols add,mul,aq,exp,log,sin,tanh. Here: the same search, symbols widened to the plain operators a
# Feynman formula is written in (div instead of the analytic quotient, sqrt, cos), and 50,000 evaluations.
_OPERON_MUTATION = {
    "onepoint": 1.0,
    "changevar": 1.0,
    "changefunc": 1.0,
    "insertsubtree": 1.0,
    "replacesubtree": 1.0,
    "removesubtree": 1.0,
}
_OPERON_SYMBOLS = "add,sub,mul,div,sin,cos,exp,log,sqrt,constant,variable"

_OPERON_DEFAULT: dict[str, Any] = {
    "allowed_symbols": _OPERON_SYMBOLS,
    "population_size": 500,
    "pool_size": 500,
    "generations": 10_000,  # large: the evaluation budget is what stops the run
    "max_evaluations": 50_000,
    "max_length": 50,
    "max_depth": 10,
    "tournament_size": 5,
    "offspring_generator": "basic",
    "reinserter": "keep-best",
    "optimizer": "lm",
    "optimizer_iterations": 5,
    "local_search_probability": 1.0,
    "crossover_probability": 1.0,
    "crossover_internal_probability": 0.9,
    "mutation_probability": 0.25,
    "mutation": MappingProxyType(dict(_OPERON_MUTATION)),
    "objectives": ("r2",),
    "max_time": 600,  # safety cap in seconds; the evaluation budget ends a normal run far earlier
    "n_threads": 1,
}

OPERON_BUDGETS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "default": MappingProxyType(dict(_OPERON_DEFAULT)),
        # "quick": the default configuration with a fifth of the evaluations, for side-by-side runs of many
        # formulas. Far below SRBench's 1M evaluations / 8 h.
        "quick": MappingProxyType({**_OPERON_DEFAULT, "max_evaluations": 10_000, "max_time": 120}),
        "smoke": MappingProxyType(
            {
                "allowed_symbols": _OPERON_SYMBOLS,
                "population_size": 100,
                "pool_size": 100,
                "generations": 1_000,
                "max_evaluations": 6_000,
                "max_length": 20,
                "max_depth": 8,
                "tournament_size": 5,
                "offspring_generator": "basic",
                "reinserter": "keep-best",
                "optimizer": "lm",
                "optimizer_iterations": 5,
                "local_search_probability": 1.0,
                "mutation": MappingProxyType(dict(_OPERON_MUTATION)),
                "objectives": ("r2",),
                "max_time": 30,
                "n_threads": 1,
            }
        ),
    }
)

# SRBench v2.0 tuned gplearn: population 1000 and 500 generations, each multiplied by sqrt(2) ("double the evals"),
# tournament 20, half-and-half init of depth 2-6, mean absolute error, parsimony 0.001, crossover 0.9, subtree /
# hoist / point mutation 0.01 each, point replace 0.05, function set add,sub,mul,div,log,sqrt,sin,cos. Here: the
# same settings with population 1000 and 30 generations.
_GPLEARN_FUNCTIONS = ("add", "sub", "mul", "div", "sqrt", "log", "sin", "cos")

_GPLEARN_DEFAULT: dict[str, Any] = {
    "function_set": _GPLEARN_FUNCTIONS,
    "population_size": 1000,
    "generations": 30,
    "tournament_size": 20,
    "init_depth": (2, 6),
    "init_method": "half and half",
    "metric": "mean absolute error",
    "parsimony_coefficient": 0.001,
    "p_crossover": 0.9,
    "p_subtree_mutation": 0.01,
    "p_hoist_mutation": 0.01,
    "p_point_mutation": 0.01,
    "p_point_replace": 0.05,
    "max_samples": 1.0,
    "stopping_criteria": 0.0,
    "low_memory": True,
    "n_jobs": 1,
}

GPLEARN_BUDGETS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "default": MappingProxyType(dict(_GPLEARN_DEFAULT)),
        # "quick": the default with 10 generations, for side-by-side runs of all 61 formulas.
        "quick": MappingProxyType({**_GPLEARN_DEFAULT, "generations": 10}),
        "smoke": MappingProxyType({**_GPLEARN_DEFAULT, "population_size": 100, "generations": 10}),
    }
)


@dataclass(frozen=True)
class PeerResult:
    """One peer fit: the model as sympy, the wall time of the fit, and the budget it ran under."""

    method: str  # "operon" | "gplearn"
    expr: sympy.Expr  # over plain sympy.Symbol(name) of the dataset's variable names
    seconds: float  # wall time of the estimator's fit() alone (no conversion)
    budget: dict  # the estimator's keyword arguments from the named budget (random_state excluded)


# --- shared helpers --------------------------------------------------------------------------------------------


def _import_peer(module: str, method: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise LiesError(f"peer {method!r} needs the package for {module!r}: {_INSTALL_HINT} ({exc})") from None


def available_peers() -> list[str]:
    """The peers whose packages import here, in `PEERS` order (the log-linear baseline needs none)."""
    modules = {"operon": "pyoperon.sklearn", "gplearn": "gplearn.genetic", "loglinear": "numpy"}
    found = []
    for method, module in modules.items():
        try:
            importlib.import_module(module)
        except Exception:  # a broken install (missing shared library, ABI mismatch) counts as absent
            continue
        found.append(method)
    return found


def _unfrozen(value: Any) -> Any:
    """A budget value as plain Python (MappingProxyType -> dict, tuple kept) for the estimator and the record."""
    if isinstance(value, Mapping):
        return {k: _unfrozen(v) for k, v in value.items()}
    return value


def _budget(budgets: Mapping[str, Mapping[str, Any]], name: str, method: str) -> dict:
    if name not in budgets:
        raise LiesError(f"unknown {method} budget {name!r}; choose one of {sorted(budgets)}")
    return {k: _unfrozen(v) for k, v in budgets[name].items()}


def _symbols(variables: Sequence[str]) -> list[sympy.Symbol]:
    names = list(variables)
    if not all(isinstance(n, str) for n in names):
        raise LiesError(f"variable names must be strings, got {names!r}")
    check_names(names)
    return [sympy.Symbol(n) for n in names]


def _check_data(X: np.ndarray, y: np.ndarray, variables: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    check_shapes(X, y, variables)
    check_rows(X.shape[0], minimum=2)
    check_finite(X, y, variables, "y")
    return X, y


def _check_seed(seed: int) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**32:
        raise LiesError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    return int(seed)


def _tidy_numbers(expr: sympy.Expr) -> sympy.Expr:
    """Floats to double precision, and those with an integral value to Integers (same value, cleaner form)."""
    repl = {}
    for f in expr.atoms(sympy.Float):
        v = float(f)
        if math.isfinite(v) and v == int(v) and abs(v) < 2**53:
            repl[f] = sympy.Integer(int(v))
        else:
            repl[f] = sympy.Float(v)
    return expr.xreplace(repl) if repl else expr


def strip_abs(expr: sympy.Expr) -> sympy.Expr:
    """Replace every ``Abs(a)`` with ``a``: SRBench's reading of protected sqrt/log, valid where ``a > 0``."""
    return expr.replace(lambda e: isinstance(e, sympy.Abs), lambda e: e.args[0])


# --- Operon ----------------------------------------------------------------------------------------------------

# Every function name pyoperon's InfixFormatter writes (0.6.2), as sympy. `max`/`min` and `cbrt` are listed for
# completeness; the budgets above use none of them.
_OPERON_FUNCTIONS: dict[str, Any] = {
    "sqrt": sympy.sqrt,
    "log": sympy.log,
    "exp": sympy.exp,
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "tanh": sympy.tanh,
    "sinh": sympy.sinh,
    "cosh": sympy.cosh,
    "asin": sympy.asin,
    "acos": sympy.acos,
    "atan": sympy.atan,
    "abs": sympy.Abs,
    "cbrt": sympy.cbrt,
    "floor": sympy.floor,
    "ceil": sympy.ceiling,
    "max": sympy.Max,
    "min": sympy.Min,
    "inf": sympy.oo,
    "nan": sympy.nan,
}
_OPERON_PRECISION = 80  # decimal places: exact for float32 coefficients down to ~1e-45


def _placeholder(i: int) -> str:
    return f"lies_var_{i}"


def operon_string_to_sympy(text: str, variables: Sequence[str]) -> sympy.Expr:
    """Parse an Operon infix string whose variables are written ``lies_var_<i>`` (the i-th of ``variables``).

    The placeholders keep any variable name safe (``I``, ``E``, ``lambda``, names with odd characters); the
    parser knows only the placeholders, Operon's function names and numbers, so anything else is an error.
    """
    from lies.symbolic.formula import parse_formula

    symbols = {_placeholder(i): s for i, s in enumerate(_symbols(variables))}
    try:
        expr = parse_formula(text, symbols, names=_OPERON_FUNCTIONS, xor=True)
    except LiesError as exc:
        raise LiesError(f"cannot parse Operon model {text!r}: {exc}") from None
    return _tidy_numbers(sympy.sympify(expr))


def fit_operon(
    X: np.ndarray, y: np.ndarray, variables: Sequence[str], seed: int, budget: str = "default"
) -> PeerResult:
    """Fit pyoperon's SymbolicRegressor under ``OPERON_BUDGETS[budget]`` and return its model as sympy."""
    sk = _import_peer("pyoperon.sklearn", "operon")
    params = _budget(OPERON_BUDGETS, budget, "operon")
    _symbols(variables)
    X, y = _check_data(X, y, variables)
    kwargs = dict(params)
    kwargs["objectives"] = list(kwargs["objectives"])
    est = sk.SymbolicRegressor(random_state=_check_seed(seed), **kwargs)
    start = time.perf_counter()
    est.fit(X, y)
    seconds = time.perf_counter() - start
    names = [_placeholder(i) for i in range(X.shape[1])]
    text = est.get_model_string(est.model_, _OPERON_PRECISION, names=names)
    expr = operon_string_to_sympy(text, variables)
    return PeerResult(method="operon", expr=expr, seconds=seconds, budget=params)


# --- gplearn ---------------------------------------------------------------------------------------------------


def _sigmoid(a: sympy.Expr) -> sympy.Expr:
    return 1 / (1 + sympy.exp(-a))


# gplearn 0.4 built-in functions (gplearn.functions._function_map) as sympy; protected ones as documented above.
_GPLEARN_FUNCTIONS_SYMPY: dict[str, tuple[int, Callable[..., sympy.Expr]]] = {
    "add": (2, lambda a, b: a + b),
    "sub": (2, lambda a, b: a - b),
    "mul": (2, lambda a, b: a * b),
    "div": (2, lambda a, b: a / b),  # protected: 1 where |b| <= 0.001
    "sqrt": (1, lambda a: sympy.sqrt(sympy.Abs(a))),
    "log": (1, lambda a: sympy.log(sympy.Abs(a))),  # protected: 0 where |a| <= 0.001
    "neg": (1, lambda a: -a),
    "inv": (1, lambda a: 1 / a),  # protected: 0 where |a| <= 0.001
    "abs": (1, sympy.Abs),
    "max": (2, sympy.Max),
    "min": (2, sympy.Min),
    "sin": (1, sympy.sin),
    "cos": (1, sympy.cos),
    "tan": (1, sympy.tan),
    "sig": (1, _sigmoid),
}


def gplearn_program_to_sympy(program: Sequence[Any], variables: Sequence[str]) -> sympy.Expr:
    """Convert a gplearn program (``est._program.program``: prefix list of functions, feature indices, floats).

    A function node is any object with ``name`` and ``arity`` (gplearn's ``_Function``); an ``int`` is the index
    of a column of X; a ``float`` is a constant.
    """
    symbols = _symbols(variables)
    if len(program) == 0:
        raise LiesError("empty gplearn program")
    pending: list[tuple[str, Callable[..., sympy.Expr], int, list[sympy.Expr]]] = []
    result: sympy.Expr | None = None
    for position, node in enumerate(program):
        if result is not None:
            raise LiesError(f"gplearn program has nodes after its end (position {position})")
        if hasattr(node, "name") and hasattr(node, "arity"):
            name = str(node.name)
            if name not in _GPLEARN_FUNCTIONS_SYMPY:
                raise LiesError(f"gplearn function {name!r} has no sympy form (custom function?)")
            arity, fn = _GPLEARN_FUNCTIONS_SYMPY[name]
            if int(node.arity) != arity:
                raise LiesError(f"gplearn function {name!r} has arity {node.arity}, expected {arity}")
            pending.append((name, fn, arity, []))
            continue
        if isinstance(node, (bool, np.bool_)):
            raise LiesError(f"gplearn program node {node!r} is neither a function, a feature index nor a constant")
        if isinstance(node, (int, np.integer)):
            if not 0 <= int(node) < len(symbols):
                raise LiesError(f"gplearn program uses feature {int(node)} but there are {len(symbols)} variables")
            term: sympy.Expr = symbols[int(node)]
        elif isinstance(node, (float, np.floating)):
            term = sympy.Float(float(node))
        else:
            raise LiesError(f"gplearn program node {node!r} is neither a function, a feature index nor a constant")
        # a finished term fills the innermost open function; completed functions fold upward
        while True:
            if not pending:
                result = term
                break
            name, fn, arity, args = pending[-1]
            args.append(term)
            if len(args) < arity:
                break
            pending.pop()
            term = fn(*args)
    if result is None:
        raise LiesError("gplearn program ends before all functions have their arguments")
    return _tidy_numbers(sympy.sympify(result))


def fit_gplearn(
    X: np.ndarray, y: np.ndarray, variables: Sequence[str], seed: int, budget: str = "default"
) -> PeerResult:
    """Fit gplearn's SymbolicRegressor under ``GPLEARN_BUDGETS[budget]`` and return its program as sympy."""
    genetic = _import_peer("gplearn.genetic", "gplearn")
    params = _budget(GPLEARN_BUDGETS, budget, "gplearn")
    _symbols(variables)
    X, y = _check_data(X, y, variables)
    est = genetic.SymbolicRegressor(random_state=_check_seed(seed), **params)
    start = time.perf_counter()
    est.fit(X, y)
    seconds = time.perf_counter() - start
    expr = gplearn_program_to_sympy(est._program.program, variables)
    return PeerResult(method="gplearn", expr=expr, seconds=seconds, budget=params)


# --- log-linear least squares (a baseline, no search) -----------------------------------------------------------


def fit_loglinear(
    X: np.ndarray, y: np.ndarray, variables: Sequence[str], seed: int = 0, budget: str = "default"
) -> PeerResult:
    """The baseline a LIES network must beat: least squares of ``ln y`` on ``[ln x, 1]``, the exponents rounded to
    one decimal, the constant refitted: ``C prod v_k^a_k`` (of ``-y`` for a target below zero throughout, the sign
    kept). It solves every product of powers and nothing else; on other data with a non-positive value it returns
    the constant ``mean(y)``. ``seed`` and ``budget`` are accepted
    for the peers' common signature and not used (the fit is deterministic and takes no budget)."""
    symbols = _symbols(variables)
    X, y = _check_data(X, y, variables)
    start = time.perf_counter()
    fitted = log_linear_fit(X, y)  # a target of one sign is a product of powers with that sign
    if fitted is None:
        return PeerResult(method="loglinear", expr=sympy.Float(float(y.mean())),
                          seconds=time.perf_counter() - start, budget={})
    sign, exponents, _ = fitted
    exponents = np.round(exponents, 1)
    constant = float(np.mean(np.log(sign * y) - np.log(X) @ exponents))
    seconds = time.perf_counter() - start
    expr = sympy.Float(sign * math.exp(constant)) * sympy.Mul(
        *[s ** sympy.Rational(str(a)) for s, a in zip(symbols, exponents) if a != 0])
    return PeerResult(method="loglinear", expr=expr, seconds=seconds, budget={})


PEERS: Mapping[str, Callable[..., PeerResult]] = MappingProxyType(
    {"operon": fit_operon, "gplearn": fit_gplearn, "loglinear": fit_loglinear})

#: Peers that search nothing: reference points for what the network adds (``lies benchmark`` runs them by default).
BASELINES = ("loglinear",)
