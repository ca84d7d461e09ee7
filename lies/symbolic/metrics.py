"""Evaluation metrics of paper IV-B: R^2, SRBench's symbolic-solution check, complexity.

`is_symbolic_solution` follows SRBench v2.0 (`experiment/assess_symbolic_model.py`, `symbolic_utils.py`; see
`srbench-protocol.md` 3.1) with fixed variable names: the reference code's leniency of accepting any variable
permutation (bug B11) is not copied, so `y/x` is not a solution of `x/y`. As in SRBench, "solved" means equal up
to an additive constant OR up to a multiplicative constant, after rounding floats to 3 decimals; both at once
(`2*x*y + 3` for `x*y`) is not a solution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import sympy

from lies.core.timeout import TIME_LIMIT_ERRORS, call_with_timeout
from lies.symbolic.formula import Formula, count_nodes, parse_formula

__all__ = [
    "r2_score",
    "unit_scale",
    "complexity",
    "round_floats",
    "SymbolicCheck",
    "symbolic_check_details",
    "is_symbolic_solution",
]

_PI = sympy.Float("3.1415926535")  # SRBench replaces `pi` by this literal before parsing


def unit_scale(y: np.ndarray) -> float:
    """The power of two at or just above max |y| (1.0 when y is all zero or not finite): dividing by it is exact
    in float64 and brings y to [-1, 1], where squares neither underflow nor overflow."""
    top = float(np.max(np.abs(y))) if np.size(y) else 0.0
    if not (np.isfinite(top) and top > 0):
        return 1.0
    return float(np.ldexp(1.0, int(np.frexp(top)[1])))


def r2_score(y: np.ndarray, y_pred: np.ndarray) -> float:
    """Coefficient of determination, 1 - SS_res / SS_tot (IV-B).

    A non-finite prediction on any row gives -inf: the formula is undefined on part of the data, and a number
    computed after dropping or imputing those rows (the reference code imputed the mean prediction) would hide
    that. A scalar prediction is broadcast. Constant y: 1.0 for a perfect prediction, else 0.0 (scikit-learn's
    convention). y must be finite. The sums run on y and y_pred divided by `unit_scale` (a power of two, so exact):
    squares of values near 1e-200 would underflow to 0/0 and near 1e160 overflow, the same R^2 otherwise.
    """
    y = np.asarray(y, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64)
    y_pred = np.broadcast_to(y_pred, y.shape) if y_pred.ndim == 0 else y_pred.ravel()
    if y_pred.shape != y.shape:
        raise ValueError(f"y has {y.shape[0]} values but y_pred has {y_pred.shape[0]}")
    if y.size == 0:
        raise ValueError("r2_score of no samples")
    if not np.all(np.isfinite(y)):
        raise ValueError("y contains non-finite values")
    if not np.all(np.isfinite(y_pred)):
        return -np.inf
    scale = unit_scale(y)
    y, y_pred = y / scale, y_pred / scale
    with np.errstate(over="ignore"):
        ss_res = float(np.sum((y - y_pred) ** 2))
        ss_tot = float(np.sum((y - y.mean()) ** 2))
    if not np.isfinite(ss_res):
        return -np.inf
    if ss_tot == 0.0:
        return 1.0 if ss_res == 0.0 else 0.0
    return 1.0 - ss_res / ss_tot


def complexity(expr: sympy.Basic | Formula | str) -> int:
    """Number of nodes in `sympy.preorder_traversal` (SRBench's `complexity`); text is read without eval."""
    if isinstance(expr, str):
        expr = parse_formula(expr, None)
    return count_nodes(expr.expr if isinstance(expr, Formula) else sympy.sympify(expr))


def round_floats(expr: sympy.Basic, decimals: int = 3, zero_below: float = 1e-4) -> sympy.Basic:
    """SRBench's `round_floats`: every Float with |x| < 1e-4 becomes 0, the others are rounded to 3 decimals.

    Like SRBench, the rounded value is a Float with 3 significant digits of precision (`Float(round(a, 3), 3)`),
    so huge physical constants compare at that precision too.
    """
    mapping: dict[sympy.Basic, sympy.Basic] = {}
    for a in expr.atoms(sympy.Float):
        if abs(a) < zero_below:
            mapping[a] = sympy.Integer(0)
        else:
            mapping[a] = sympy.Float(round(a, decimals), decimals)
    return expr.xreplace(mapping) if mapping else expr


@dataclass(frozen=True)
class SymbolicCheck:
    """Outcome of `symbolic_check_details`, with SRBench's three flags and the intermediate expressions.

    The flags are checked in SRBench's order and the check stops at the first that holds (the verdict is the
    same; a later flag is then left False)."""

    solved: bool
    reason: str  # "solved", "not solved", "r2 <= 0.5", "degenerate model", "timeout", or "sympy error: ..."
    error_is_zero: bool = False
    error_is_constant: bool = False
    fraction_is_constant: bool = False
    affine: bool = False  # model == k * truth + c with constants k != 0, c (only checked when asked for)
    simplified_model: str = ""
    symbolic_error: str = ""
    symbolic_fraction: str = ""


def _as_expr(obj: Formula | sympy.Basic | str, names: Sequence[str]) -> sympy.Expr:
    if isinstance(obj, Formula):
        expr = obj.expr
    elif isinstance(obj, str):
        # explicit symbol table when a Formula gave one: `gamma`, `E`, `I` are then variables if listed; read
        # without eval either way (`lies.symbolic.formula.parse_formula`), any other name a plain symbol
        expr = Formula(obj, names).expr if names else parse_formula(obj, None)
    else:
        expr = sympy.sympify(obj)
    # Fixed variable identity is by *name*: drop any assumptions so `x` (positive) and `x` compare equal.
    swap = {s: sympy.Symbol(s.name) for s in expr.free_symbols if isinstance(s, sympy.Symbol)}
    expr = expr.xreplace(swap)
    return expr.xreplace({sympy.pi: _PI}) if expr.has(sympy.pi) else expr


def _is_constant(expr: sympy.Expr) -> bool:
    value = expr.is_constant()
    return bool(value) if value is not None else False


def _affine_equivalent(model: sympy.Expr, truth: sympy.Expr) -> bool:
    """model == k * truth + c with constants k != 0 and c: the paper's "add *and* multiply a constant" reading.

    k is read off the derivatives with respect to one of the truth's variables; then model - k * truth must be
    constant (after the same 3-decimal rounding as SRBench's flags).
    """
    variables = sorted(truth.free_symbols, key=lambda s: s.name)
    if not variables:
        return False
    v = variables[0]
    k = round_floats(sympy.simplify(sympy.diff(model, v) / sympy.diff(truth, v), ratio=1))
    if not _is_constant(k) or k == 0:
        return False
    rest = round_floats(sympy.simplify(model - k * truth, ratio=1))
    return _is_constant(rest)


def _check(model: sympy.Expr, truth: sympy.Expr, affine: bool = False) -> SymbolicCheck:
    truth = round_floats(truth)
    model = sympy.simplify(round_floats(model), ratio=1)
    if model is sympy.nan or model == 0 or model.has(sympy.nan, sympy.zoo):
        return SymbolicCheck(False, "degenerate model", simplified_model=str(model))
    sym_diff = round_floats(truth - model)
    sym_frac = round_floats(model / truth)
    zero = str(sym_diff) == "0"
    diff_const = zero or _is_constant(sym_diff)
    frac_const = not diff_const and _is_constant(sym_frac)
    if not (diff_const or frac_const):  # the costly simplify only when no cheaper flag holds (same verdict)
        sym_diff = round_floats(sympy.simplify(sym_diff, ratio=1))
        zero = str(sym_diff) == "0"
        diff_const = _is_constant(sym_diff)
    solved = zero or diff_const or frac_const
    is_affine = affine and not solved and _affine_equivalent(model, truth)
    solved = solved or is_affine
    return SymbolicCheck(
        solved,
        "solved" if solved else "not solved",
        error_is_zero=zero,
        error_is_constant=diff_const,
        fraction_is_constant=frac_const,
        affine=is_affine,
        simplified_model=str(model),
        symbolic_error=str(sym_diff),
        symbolic_fraction=str(sym_frac),
    )


def symbolic_check_details(
    model: Formula | sympy.Basic | str,
    truth: Formula | sympy.Basic | str,
    timeout: float | None = 10.0,
    r2: float | None = None,
    affine: bool = False,
    positive: bool = False,
) -> SymbolicCheck:
    """SRBench's symbolic-solution check (srbench-protocol.md 3.1), with its flags.

    Steps: `pi` -> 3.1415926535 in both; truth = round_floats(truth); model = simplify(round_floats(model),
    ratio=1), rejected when it is nan, 0, or contains nan/zoo; sym_diff = round_floats(truth - model),
    sym_frac = round_floats(model / truth); sym_diff is simplified again (ratio=1, then rounded) unless it is
    already 0 or constant; solved = str(sym_diff) == '0' or sym_diff.is_constant() or sym_frac.is_constant().
    Variables are matched by name, never permuted. SRBench only checks models with test R^2 > 0.5: pass `r2`
    to apply that gate (r2 <= 0.5 -> not solved). ``affine=True`` also accepts ``k * truth + c`` (both a factor
    and an offset, e.g. ``2*x*y + 3`` for ``x*y``), which SRBench's three flags reject but the paper's prose
    ("add or multiply a constant") arguably allows; the benchmark uses SRBench's rule (the default).
    ``positive=True`` declares every variable positive (true of every AI-Feynman range), so that identities such
    as sqrt(a*b) = sqrt(a)*sqrt(b) hold; SRBench's plain symbols reject ``sqrt(g)*sqrt(p)`` for ``sqrt(g*p)``.
    The whole sympy part runs under `timeout` seconds
    (`lies.core.timeout`); a timeout or a sympy exception counts as not solved, as in SRBench.
    """
    if r2 is not None and not r2 > 0.5:
        return SymbolicCheck(False, "r2 <= 0.5")
    names: list[str] = []
    for obj in (model, truth):
        if isinstance(obj, Formula):
            names += [n for n in obj.variable_names if n not in names]
    try:
        m = _as_expr(model, names)
        t = _as_expr(truth, names)
        if positive:
            pos = {v: sympy.Symbol(v.name, positive=True) for v in m.free_symbols | t.free_symbols
                   if isinstance(v, sympy.Symbol)}
            m, t = m.xreplace(pos), t.xreplace(pos)
        return call_with_timeout(_check, timeout, m, t, affine)
    except TIME_LIMIT_ERRORS:
        return SymbolicCheck(False, "timeout")
    except Exception as exc:  # as SRBench: any sympy failure means "not a symbolic solution"
        return SymbolicCheck(False, f"sympy error: {type(exc).__name__}: {exc}")


def is_symbolic_solution(
    model: Formula | sympy.Basic | str,
    truth: Formula | sympy.Basic | str,
    timeout: float | None = 10.0,
    r2: float | None = None,
    affine: bool = False,
    positive: bool = False,
) -> bool:
    """True when `model` is SRBench-equivalent to `truth`; see `symbolic_check_details`."""
    return symbolic_check_details(model, truth, timeout=timeout, r2=r2, affine=affine, positive=positive).solved
