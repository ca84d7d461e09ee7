"""Gradient-based rounding of a formula's constants (paper III-E, Theorem 2): one mechanism, two uses.

A Float constant c of f may become a rounder value r when the first-order bound of the change it causes,

    |f(c) - f(r)|  ~  |c - r| * max_x |df/dc (r; x)|              (III-E; derivative at r, as the paper does)

is below `tau * scale` on every sample. `round_to_zero` (before the III-F refit) proposes r = 0 for every
constant, which removes negligible terms. `final_round` (after the refit) uses another rule, because a bound
relative to the spread of f lets a snap cost R^2 a user sees (1.41 -> 1.4 cost 0.001): a constant snaps to a
simpler exact number (2.0 -> 2, 0.5 -> 1/2, 1.41421 -> sqrt(2)) only when the loss on the data stays within the
noise the formula leaves, so `x**2.0` becomes `x**2` and `x**0.5` `sqrt(x)`.

Decisions (documented because they differ from the reference code, spec section 8):
- **scale**. The paper's tau = 0.1 is absolute, in units of y, so the outcome changed with the user's units.
  Default `scale="std"`: tau is relative to the standard deviation of f over X (of the input formula). A change
  bounded by tau*std(f) everywhere costs at most about tau**2 of R^2, whatever the units. If f is constant on X,
  the RMS of f is used instead, and 1 if that is 0 too. `scale="rms"` uses the RMS of f; a number is an absolute
  scale, and `scale="absolute"` (= 1.0) is the paper's (and reference code's) absolute form, tau in y units.
- **df/dc** is a central finite difference in c (step 1e-6*max(1, |r|)), computed on all rows at once with the
  expression compiled once as f(X, theta) (`lies.symbolic.formula.parametrize`); no per-sample sympy work. Rows where
  the derivative is not finite are ignored; if no row is finite the constant is kept. With more than `max_rows`
  rows (default 20k) the bounds are taken on a fixed-seed subsample, to keep 100k-row data fast; the guard
  below still checks every row, so a maximum missed by the subsample cannot let a real change through.
- **Order and accumulation**. Constants are processed greedily, the smallest bound first, one at a time, and all
  bounds are recomputed after each accepted change (the other constants at their current, possibly already
  rounded, values). Each change must also keep the *actual* deviation from the input formula,
  max_x |f_new - f_input|, below tau*scale (rows where the input is not finite are ignored; a row that
  becomes non-finite counts as an infinite deviation), so several changes that are each negligible cannot add
  up to a non-negligible one.
- Constants are the Float leaves, each occurrence separately; Integers and Rationals are structure (the -1 of a
  division, the 2 of a square) and are never touched.
"""

from __future__ import annotations

import functools
import math
from typing import Sequence

import numpy as np
import sympy

from lies.core.seeding import sorted_row_subset
from lies.core.timeout import TIME_LIMIT_ERRORS, call_with_timeout
from lies.params import FinalRoundingParams, RoundingToZeroParams
from lies.symbolic.coefficients import optimize_coefficients, refit_parameters
from lies.symbolic.formula import Formula, Parametrized, check_X, count_nodes, evaluations_for, parametrize

_ZERO, _FINAL = RoundingToZeroParams(), FinalRoundingParams()  # the declared defaults (lies.params)

__all__ = ["round_to_zero", "final_round", "resolve_scale", "snap_candidates", "noise_floor", "scale_free",
           "description_length"]

_FD_REL_STEP = 1e-6


def resolve_scale(values: np.ndarray, scale: str | float) -> float:
    """The unit that tau multiplies: "std" (default) or "rms" of the finite `values`, "absolute" (1.0, the
    paper's form), or a positive number."""
    if scale == "absolute":
        return 1.0
    if not isinstance(scale, str):
        s = float(scale)
        if not (np.isfinite(s) and s > 0):
            raise ValueError(f"an absolute scale must be a positive number, got {scale!r}")
        return s
    v = values[np.isfinite(values)]
    if scale not in ("std", "rms"):
        raise ValueError(f"scale must be 'std', 'rms', 'absolute' or a positive number, got {scale!r}")
    with np.errstate(over="ignore"):  # finite values past 1e154 square to inf: then the unit is 1
        rms = float(np.sqrt(np.mean(v**2))) if v.size else 0.0
        std = float(np.std(v)) if v.size and scale == "std" else 0.0
    if scale == "std":
        # relative test: a std lost in floating-point noise means f is constant on X
        if np.isfinite(std) and std > 1e-12 * max(rms, 1e-300):
            return std
    if np.isfinite(rms) and rms > 0:
        return rms
    return 1.0


def _derivative_bound(par: Parametrized, X: np.ndarray, theta: np.ndarray, k: int, r: float) -> float:
    """max_x |df/dc_k| at c_k = r (others at theta), central difference over all rows at once."""
    h = _FD_REL_STEP * max(1.0, abs(r))
    up = theta.copy()
    up[k] = r + h
    down = theta.copy()
    down[k] = r - h
    with np.errstate(all="ignore"):
        d = np.abs(par.evaluate(X, up) - par.evaluate(X, down)) / (2.0 * h)
    d = d[np.isfinite(d)]
    return float(d.max()) if d.size else np.inf


def _max_deviation(new: np.ndarray, ref: np.ndarray, ref_ok: np.ndarray) -> float:
    n, r = new[ref_ok], ref[ref_ok]
    if not np.all(np.isfinite(n)):
        return np.inf
    return float(np.max(np.abs(n - r))) if n.size else 0.0


class _Evaluations:
    """Evaluations of f counted against a bound (None: no bound), kept in ``report`` as ``evaluations`` and
    ``stopped_by`` ("done", or "evaluations" once the bound stopped the work)."""

    def __init__(self, bound: int | None, report: dict):
        self.bound, self.report = bound, report
        report.update(evaluations=0, stopped_by="done")

    def left(self) -> float:
        return math.inf if self.bound is None else self.bound - self.report["evaluations"]

    def spend(self, count: int) -> bool:
        """Count ``count`` evaluations; False (stopped_by: evaluations) when they would pass the bound."""
        if count > self.left():
            self.stop()
            return False
        self.add(count)
        return True

    def add(self, count: int) -> None:
        """Count ``count`` evaluations already made under a bound of their own (a refit given `left`)."""
        self.report["evaluations"] += count

    def stop(self) -> None:
        self.report["stopped_by"] = "evaluations"

    @property
    def stopped(self) -> bool:
        return self.report["stopped_by"] != "done"


def _gradient_round(
    par: Parametrized,
    X: np.ndarray,
    targets: list[sympy.Expr | None],
    tau: float,
    scale: str | float,
    max_rows: int | None,
    max_evaluations: int | None = None,
    report: dict | None = None,
) -> tuple[list[sympy.Expr], float, np.ndarray]:
    """The shared mechanism: returns one sympy number per parameter (the rounded target or the original
    Float), the threshold tau*scale, and f of the input on X.

    Each round re-scores every undecided constant (two evaluations of f on the rows each) and accepts one, so a
    formula with k constants costs up to about k^2 evaluations; ``max_evaluations`` bounds them (the constants
    not decided when it is spent keep their values) and ``report`` gets ``evaluations`` and ``stopped_by``."""
    spent = _Evaluations(max_evaluations, report if report is not None else {})
    Xd = X  # rows for the derivative bounds; the actual-deviation guard always uses all of X
    idx = sorted_row_subset(X.shape[0], max_rows, seed=0) if max_rows is not None else None
    if idx is not None:
        Xd = X[idx]
    theta = par.values.copy()
    f_ref = par.evaluate(X, theta)
    ref_ok = np.isfinite(f_ref)
    numbers: list[sympy.Expr] = list(par.floats)
    threshold = tau * resolve_scale(f_ref, scale)
    if not ref_ok.any():
        return numbers, threshold, f_ref  # nothing to measure a change against: keep everything
    remaining = {k for k, t in enumerate(targets) if t is not None}
    while remaining:
        scored = []
        for k in sorted(remaining):
            r = float(targets[k])
            dist = abs(theta[k] - r)
            if dist != 0.0 and not spent.spend(2):
                return numbers, threshold, f_ref
            with np.errstate(over="ignore"):  # an infinite bound only rules the change out
                bound = 0.0 if dist == 0.0 else dist * _derivative_bound(par, Xd, theta, k, r)
            if bound < threshold:
                scored.append((bound, k, r))
        accepted = False
        for bound, k, r in sorted(scored):
            if not spent.spend(1):
                return numbers, threshold, f_ref
            trial = theta.copy()
            trial[k] = r
            if _max_deviation(par.evaluate(X, trial), f_ref, ref_ok) < threshold:
                theta = trial
                numbers[k] = targets[k]
                remaining.discard(k)
                accepted = True
                break  # re-evaluate every bound with this change in place
        if not accepted:
            break
    return numbers, threshold, f_ref


def _finish(
    formula: Formula, par: Parametrized, X: np.ndarray, numbers: list[sympy.Expr], threshold: float,
    f_ref: np.ndarray,
) -> Formula:
    """Rebuild symbolically and check that sympy's re-evaluation agrees with the numeric decision."""
    if all(n is f for n, f in zip(numbers, par.floats)):
        return formula
    new = par.rebuild(numbers)
    ok = np.isfinite(f_ref)
    if new.expr.has(sympy.nan, sympy.zoo) or _max_deviation(new(X), f_ref, ok) >= threshold:
        return formula  # e.g. 0*log(0) became nan symbolically: keep the input rather than a broken formula
    return new


def round_to_zero(
    formula: Formula, X: np.ndarray, tau: float = _ZERO.tau, *, scale: str | float = _ZERO.scale,
    max_rows: int | None = 20_000, max_evaluations: int | None = _ZERO.max_evaluations, report: dict | None = None,
) -> Formula:
    """Set to 0 every Float constant whose removal is negligible on X (III-E, first use; before III-F).

    Zeroed constants are exact Integer 0, so sympy drops the terms they multiply. See the module docstring for
    `scale`, the order of processing and the accumulation guard. X: (N, n) in `formula.variables` order.
    ``max_evaluations`` and ``report``: `_gradient_round`'s bound on the evaluations of f and what it spent; the
    bound counts evaluations of a formula of `lies.symbolic.formula.REFERENCE_NODES` nodes (`lies.symbolic.formula.evaluations_for`).
    """
    X = check_X(X, len(formula.variables))
    par = parametrize(formula)
    if not par.params or X.shape[0] == 0:
        return formula
    zeros = [sympy.Integer(0)] * len(par.params)
    numbers, threshold, f_ref = _gradient_round(par, X, zeros, tau, scale, max_rows,
                                                evaluations_for(max_evaluations, formula.expr), report)
    return _finish(formula, par, X, numbers, threshold, f_ref)


#: Numbers a constant may snap to, besides decimals and small rationals: multiples of these (pi, square roots).
_BASES = (sympy.pi, 1 / sympy.pi, sympy.sqrt(2), sympy.sqrt(3), sympy.sqrt(5), sympy.sqrt(sympy.pi),
          1 / sympy.sqrt(sympy.pi), sympy.sqrt(2 * sympy.pi), 1 / sympy.sqrt(2 * sympy.pi))
_MAX_DENOMINATOR = 12
_BASE_DENOMINATOR = 4
_NEAR = 1e-3  # relative distance to a simple value within which final_round first tries all snaps together
_REFIT_EVALUATIONS = 2000  # residual evaluations of the refit after those snaps


def _decimal_target(c: float, decimals: int, max_abs: float) -> sympy.Expr | None:
    if not np.isfinite(c) or abs(c) >= max_abs:
        return None
    q = 10**decimals
    return sympy.Rational(int(round(c * q)), q)  # exact: 0.5 -> 1/2, 2.0 -> 2, -0.04 -> 0


def snap_candidates(c: float, decimals: int = 1, max_abs: float = 5000.0, exponent: bool = False) -> list[sympy.Expr]:
    """Simpler values near ``c``, simplest first (fewest sympy nodes): the integer, ``decimals`` decimals, the
    nearest small rational (denominator <= 12), and p/q multiples (q <= 4, |p| <= 12) of pi, 1/pi and a few
    square roots. An ``exponent`` gets rationals only, 0 among them (a factor x**0.015 that noise left)."""
    from fractions import Fraction

    if not np.isfinite(c) or abs(c) >= max_abs or c == 0:
        return []
    out = {_decimal_target(c, d, max_abs) for d in range(decimals + 1)}
    out.add(sympy.Rational(Fraction(c).limit_denominator(_MAX_DENOMINATOR)))
    for base in () if exponent else _BASES:  # few, coarse multiples: a dense set would fit any constant
        r = Fraction(c / float(base)).limit_denominator(_BASE_DENOMINATOR)
        if r != 0 and abs(r.numerator) <= _MAX_DENOMINATOR:
            out.add(sympy.Rational(r) * base)  # exact already (nsimplify here was slow and could garble it)
    if exponent:
        out.add(sympy.Integer(0))
    elif abs(c) > _NEAR:
        out.discard(sympy.Integer(0))  # zero is rounding_to_zero's decision, but for a constant next to it
    return sorted(out, key=lambda e: (description_length(e), abs(float(e) - c)))


def description_length(expr: sympy.Basic) -> int:
    """Symbols to write ``expr``: its nodes, an integer or a fraction counted by its digits. Snaps are ranked by
    it, not by node count, which calls 30027 as simple as 1."""
    def cost(node: sympy.Basic) -> int:
        if isinstance(node, sympy.Rational):
            return len(str(abs(node.p))) + (len(str(node.q)) if node.q != 1 else 0)
        return 1
    return sum(cost(node) for node in sympy.preorder_traversal(expr))


def noise_floor(y: np.ndarray) -> float:
    """The smallest mean squared error a fit counts as noise: float64 round-off of a formula on y's scale."""
    return float((1e-9 * (np.std(y) if np.std(y) > 0 else max(np.sqrt(np.mean(y**2)), 1.0))) ** 2)


def final_round(
    formula: Formula,
    X: np.ndarray,
    y: np.ndarray | None = None,
    tolerance: float = _FINAL.tolerance,
    decimals: int = _FINAL.decimals,
    *,
    max_abs: float = 5000.0,
    simplify_timeout: float | None = _FINAL.simplify_seconds,
    max_nodes: int | None = _FINAL.max_nodes,
    simplify_max_degree: int | None = _FINAL.simplify_max_degree,
    max_rows: int | None = 20_000,
    max_evaluations: int | None = _FINAL.max_evaluations,
    report: dict | None = None,
) -> Formula:
    """Snap constants to simpler values where the data cannot tell them apart, then `sympy.simplify` (III-E).

    A formula of more than ``max_nodes`` nodes (None: no bound) is returned as it is (``simplify``: "too large"):
    a fit that size is not made readable by either step, and both cost time that grows with its size. Before and
    after the snaps the same bound holds. First the formula is brought to `scale_free`'s normal form (no scale
    that no datum fixes, so a ratio that should be 1 is a constant that can snap to 1). A constant snaps to the
    shortest (`description_length`) of `snap_candidates` (an integer, ``decimals`` decimals, a small rational, a
    multiple of pi or of a root) when
    the mean squared error on (X, y) grows by at most ``tolerance`` times the noise the formula leaves (its own
    mean squared error on the data, at least `noise_floor`): so a snap never costs more accuracy than the noise
    already in the data. All snaps together stay within that one allowance: first every constant within 0.1 % of
    a simple rational (0 included) snaps at once and the others are refitted (least squares, a bounded number of
    evaluations), which is how exponents of 1e-7 or 1.9999993 and the coefficients that compensate them are
    settled; then one constant at a time, the shortest snap first, its shortest value with the others refitted.
    Exponents snap to rationals only (0 included). ``y`` None: the formula's own values are the data (no noise:
    only exact snaps). Snapped values are exact sympy numbers (1.4142135 -> sqrt(2), 2.0 -> 2). Constants with
    |c| >= `max_abs` stay (a physical constant). Then `simplify_on_domain` (told which variables are positive on
    every row of X) runs, with each power of a sum whose exponent's numerator exceeds ``simplify_max_degree`` kept
    whole (`opaque_high_powers`; None: none), under ``simplify_timeout`` seconds, a wall-clock safety net
    (`lies.core.timeout`); on timeout or error, and if the simplified form does not evaluate like the unsimplified
    one on X (relative 1e-6), the unsimplified form is kept. ``report``, when given, receives ``snapped`` (number
    of constants), ``noise_mse``, ``simplify`` ("done", "unchanged", "too large", "timeout (wall clock)"),
    ``simplify_on_domain`` ("timeout (wall clock)" when the pass with positive variables, which has a safety net of
    its own, was stopped: the plain simplification stays), ``evaluations`` and ``stopped_by`` ("done", or
    "evaluations" when the snaps spent ``max_evaluations``: evaluations of f on the rows, refits included, counted
    as `lies.symbolic.formula.evaluations_for` says).
    """
    X = check_X(X, len(formula.variables))
    report = report if report is not None else {}
    if max_nodes is not None and formula.complexity > max_nodes:  # a fit, not a formula to read: kept as it is
        report.update(snapped=0, simplify="too large")
        return formula
    formula = _scale_free(formula, X)
    par = parametrize(formula)
    new = formula
    report["snapped"] = 0
    if par.params and X.shape[0] > 0:
        rows = X
        target = formula(X) if y is None else np.asarray(y, dtype=np.float64).ravel()
        idx = sorted_row_subset(X.shape[0], max_rows, seed=0) if max_rows is not None else None
        if idx is not None:
            rows, target = X[idx], target[idx]
        new = _snap(formula, par, rows, target, tolerance, decimals, max_abs,
                    evaluations_for(max_evaluations, formula.expr), report)
    return _simplified(new, X, simplify_timeout, max_nodes, simplify_max_degree, report)


def released(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with the exact numbers final rounding leaves (integer and rational coefficients and constant terms,
    the fixed 1 of `scale_free`'s normal form included) made Floats again, exponents kept: the constants a refit
    may move. A formula rounded against one set of values (a decomposition's part, fitted to an inexact oracle)
    keeps the oracle's offsets in numbers no later refit would touch: ``sqrt(1756 u**2 + 1755 v**2 + 1)``."""
    if isinstance(expr, (sympy.Integer, sympy.Rational)) and not isinstance(expr, sympy.Float):
        return sympy.Float(expr) if expr != 0 else expr
    if expr.is_Atom:
        return expr
    if expr.is_Pow:
        return sympy.Pow(released(expr.base), expr.exp)
    return expr.func(*[released(a) for a in expr.args])


def fold_exp_constants(expr: sympy.Expr) -> sympy.Expr:
    """exp(c + g) -> C * exp(g), C = exp(c) as a Float, for the numeric terms c of an exponent: a constant inside
    an exp is a factor that merges into the coefficient, and SRBench's check only sees a constant factor as one."""

    def split(e: sympy.Expr) -> sympy.Expr:
        terms = e.args[0].args
        numeric = sympy.Add(*[t for t in terms if t.is_number])
        return sympy.Float(sympy.exp(numeric).evalf()) * sympy.exp(sympy.Add(*[t for t in terms if not t.is_number]))

    return expr.replace(lambda e: isinstance(e, sympy.exp) and isinstance(e.args[0], sympy.Add)
                        and any(t.is_number for t in e.args[0].args) and not e.args[0].is_number, split)


def positive_log_ratios(expr: sympy.Expr) -> sympy.Expr:
    """``-c*log(a/b)`` -> ``c*log(b/a)``: a product with a negative coefficient and one log of a ratio takes the
    sign into the log by turning the ratio over. Equal for a positive ratio, which the log needs anyway.

    A formula is written with a positive coefficient before a log of a ratio (the ratio is chosen that way round),
    and SRBench's check, with plain (complex) symbols, does not see ``-log(a/b)`` and ``log(b/a)`` as one formula.
    A log of no ratio (``-c*log(x)``) stays: ``log(1/x)`` is not the usual way to write it.
    """

    def turned(term: sympy.Expr) -> sympy.Expr:
        coef, rest = term.as_coeff_Mul()
        logs = [f for f in sympy.Mul.make_args(rest) if isinstance(f, sympy.log)]
        if not (coef.is_negative and len(logs) == 1):
            return term
        num, den = logs[0].args[0].as_numer_denom()
        if den == 1:
            return term
        others = [f for f in sympy.Mul.make_args(rest) if f is not logs[0]]
        return sympy.Mul(-coef, sympy.log(den / num), *others)

    return expr.replace(lambda e: e.is_Mul, turned)


def scale_free(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with every sum inside a product or a power brought to a normal form: its constant term's (else its
    largest term's) coefficient 1, the factor moved into the product's coefficient. Equal in value.

    ``a*x/(b*x + c*y)`` has a scale no datum fixes (multiply a, b and c by any k), and so has ``a*sqrt(b + c*u**2)``;
    a fit on noisy data drifts along it, and snapping the parts one at a time never makes the ratio that should be
    1 equal 1 (``30027/30026``). In the normal form the scale is gone: ``a/b*x/(x + c/b*y)``. A sum whose terms
    already hold an exact coefficient (``x - 0.3*y``) has its scale fixed and stays; sums at the top, as terms or
    inside a function are not factored (there is no coefficient to take the factor), their terms are.
    """
    if expr.is_Add:
        return sympy.Add(*[scale_free(t) for t in expr.args])
    scale, rest = _split_scale(expr)
    return rest if scale == 1.0 else sympy.Mul(sympy.Float(scale), rest)


def _scale_free(formula: Formula, X: np.ndarray) -> Formula:
    """`scale_free` applied to ``formula``, kept only when it evaluates like the input on X (relative 1e-9)."""
    new = formula.with_expr(scale_free(formula.expr))
    if new.expr == formula.expr or _evaluates_alike(formula, new, X, rtol=1e-9):
        return new
    return formula


def _evaluates_alike(a: Formula, b: Formula, X: np.ndarray, rtol: float) -> bool:
    """Whether two forms of one formula agree on X within ``rtol`` (NaN where both are NaN)."""
    if X.shape[0] == 0:
        return True
    with np.errstate(all="ignore"):
        fa, fb = a(X), b(X)
    finite = np.abs(fa[np.isfinite(fa)])
    atol = 1e-12 * (float(finite.max()) if finite.size else 1.0)
    return bool(np.allclose(fa, fb, rtol=rtol, atol=atol, equal_nan=True))


def _split_scale(expr: sympy.Expr) -> tuple[float, sympy.Expr]:
    """(s, g) with expr = s * g: s the Float scale `scale_free` moves out of ``expr``'s sums and products."""
    if expr.is_Atom or expr.is_number:
        return 1.0, expr
    if expr.is_Add:
        terms = [scale_free(t) for t in expr.args]
        coefs = [t.as_coeff_Mul() for t in terms]
        if not all(isinstance(c, sympy.Float) and c != 0 for c, _ in coefs):
            return 1.0, sympy.Add(*terms)  # an exact coefficient fixes the sum's scale
        constant = [i for i, (_, g) in enumerate(coefs) if g == 1]
        lead = constant[0] if constant else max(range(len(coefs)), key=lambda i: abs(float(coefs[i][0])))
        s = float(coefs[lead][0])
        return s, sympy.Add(*[g if i == lead else sympy.Float(float(c) / s) * g for i, (c, g) in enumerate(coefs)])
    if expr.is_Mul:
        coef, factors = expr.as_coeff_mul()
        scale, parts = (float(coef), []) if isinstance(coef, sympy.Float) else (1.0, [coef])
        for factor in factors:
            s, g = _split_scale(factor)
            scale *= s
            parts.append(g)
        return scale, sympy.Mul(*parts)
    if expr.is_Pow and expr.exp.is_number:
        s, base = _split_scale(expr.base)
        if s == 1.0:
            return 1.0, sympy.Pow(base, expr.exp)
        if s < 0 and not expr.exp.is_integer:
            s, base = -s, -base  # (|s| * (-g))**p: a positive scale comes out of any real power
        return float(s ** float(expr.exp)), sympy.Pow(base, expr.exp)
    return 1.0, expr.func(*[scale_free(a) for a in expr.args])


def _mean_square(r: np.ndarray) -> float:
    """Mean of ``r**2``, inf when a residual is not finite."""
    return float(np.mean(r**2)) if np.all(np.isfinite(r)) else np.inf


def _mse(formula: Formula, X: np.ndarray, y: np.ndarray) -> float:
    if formula.expr.has(sympy.nan, sympy.zoo):
        return np.inf
    with np.errstate(all="ignore"):
        return _mean_square(formula(X) - y)


def _candidates(par: Parametrized, decimals: int, max_abs: float) -> list[list[sympy.Expr]]:
    exponents = {n.exp for n in sympy.preorder_traversal(par.expr) if isinstance(n, sympy.Pow)}
    return [snap_candidates(float(v), decimals, max_abs, exponent=p in exponents)
            for p, v in zip(par.params, par.values)]


def _snap(formula: Formula, par: Parametrized, X: np.ndarray, y: np.ndarray, tolerance: float, decimals: int,
          max_abs: float, max_evaluations: int | None, report: dict) -> Formula:

    spent = _Evaluations(max_evaluations, report)
    ok = np.isfinite(y)
    X, y = X[ok], y[ok]

    def mse_of(values: np.ndarray) -> float:
        with np.errstate(all="ignore"):
            return _mean_square(par.evaluate(X, values) - y)

    def budget() -> int:
        return _REFIT_EVALUATIONS if max_evaluations is None else int(min(_REFIT_EVALUATIONS, spent.left()))

    def refit(f: Formula) -> Formula:
        fit: dict = {}
        new = optimize_coefficients(f, X, y, time_limit=math.inf, max_evaluations=budget(), report=fit)
        spent.add(fit.get("evaluations", 0))
        return new

    def refit_values(values: np.ndarray, k: int) -> np.ndarray:
        """The other constants refitted with constant k held at its snap, on the compiled formula."""
        fit: dict = {}
        free = np.ones(len(values), dtype=bool)
        free[k] = False
        theta = refit_parameters(par, X, y, values, free, max_evaluations=budget(), report=fit)
        spent.add(fit.get("evaluations", 0))
        return values if theta is None else theta

    if not spent.spend(1):
        return formula
    noise = max(_mse(formula, X, y), noise_floor(y))
    report["noise_mse"] = noise
    if not np.isfinite(noise):
        return formula
    limit = noise * (1.0 + tolerance)

    # First every constant that lies next to a simple value, all at once, the others refitted: an exponent of
    # 1e-7 or 1.9999993 is structure the fit did not quite reach, and the constants fitted with it compensate it.
    # Rationals only: among the many multiples of pi and roots, a noisy 0.4983 lies next to one of them
    # (5/(4*sqrt(2*pi)) = 0.4987), and the one-at-a-time snaps below would then never try the 1/2 it is.
    candidates = _candidates(par, decimals, max_abs)
    near = [next((c for c in cands if c.is_Rational and abs(float(c) - v) <= _NEAR * max(1.0, abs(v))), None)
            for cands, v in zip(candidates, par.values)]
    if any(c is not None for c in near) and spent.left() > 1:
        rebuilt = par.rebuild([c if c is not None else f for c, f in zip(near, par.floats)])
        if not rebuilt.expr.has(sympy.nan, sympy.zoo):  # a snap to 0 under a division makes zoo: no such snap
            snapped = refit(rebuilt)
            if spent.spend(1) and _mse(snapped, X, y) <= limit:
                report["snapped"] = sum(c is not None for c in near)
                formula = snapped.with_expr(fold_exp_constants(snapped.expr))
    # Then one constant at a time, the simplest snap first: its simplest value with the others refitted (noise
    # leaves fitted constants off together), else the simplest value within the allowance as they are (scored
    # numerically; only the chosen snap is rebuilt).
    while not spent.stopped:
        if par.formula is not formula:  # compiled anew only for a formula that changed
            par = parametrize(formula)
            candidates = _candidates(par, decimals, max_abs)
        best = None  # ((nodes, cost, k), the parameters, k, the snap)
        for k, cands in enumerate(candidates):
            for j, cand in enumerate(cands):
                values = par.values.copy()
                values[k] = float(cand)
                if j == 0 and len(values) > 1:  # the simplest snap, the other constants refitted to it
                    if spent.left() <= 1:
                        spent.stop()
                        break
                    values = refit_values(values, k)
                if not spent.spend(1):
                    break
                cost = mse_of(values)
                if cost <= limit:
                    key = (description_length(cand), cost, k)
                    if best is None or key < best[0]:
                        best = (key, values, k, cand)
                    break
            if spent.stopped:
                break
        if best is None:
            return formula
        _, values, k, cand = best
        trial = par.rebuild([cand if i == k else sympy.Float(float(v)) for i, v in enumerate(values)])
        if _mse(trial, X, y) > limit:  # sympy's exact number evaluated otherwise than its float: keep f
            return formula
        formula = trial
        report["snapped"] += 1
    return formula


def positive_columns(formula: Formula, X: np.ndarray) -> tuple[sympy.Symbol, ...]:
    """The formula's variables whose column of ``X`` (N, n) is positive on every row (none when X has no rows)."""
    if X.shape[0] == 0:
        return ()
    return tuple(v for v, column in zip(formula.variables, X.T) if np.all(column > 0))


def simplify_on_domain(expr: sympy.Expr, positive: Sequence[sympy.Symbol] = (),
                       simplified: sympy.Expr | None = None) -> sympy.Expr:
    """`sympy.simplify`, and where some variables are positive on all the data, the shorter forms that knowing it
    allows, in plain symbols.

    A formula fitted on positive data holds only there, and there sqrt(x**2) is x: simplify told so can cancel a
    variable against itself (``x*sqrt((x**2 + y**2)/x**2)`` -> ``sqrt(x**2 + y**2)``), which it cannot prove for
    any sign. That form is taken only when it has fewer variable occurrences than the plain one: one that only
    moves a factor across a root (``c**2/sqrt(1 - v**2/c**2)`` -> ``c**3/sqrt(c**2 - v**2)``) is no simpler to
    read and holds on less. Then `combine_roots` writes a product of roots as one root where that has fewer nodes.
    ``simplified``: ``sympy.simplify(expr)`` when the caller has it already."""
    form = sympy.simplify(expr) if simplified is None else simplified
    if not positive:
        return form
    assumed = {v: sympy.Symbol(v.name, positive=True) for v in positive}
    known = sympy.simplify(expr.xreplace(assumed)).xreplace({p: v for v, p in assumed.items()})
    if _occurrences(known) < _occurrences(form):
        form = known
    rooted = combine_roots(form, positive)
    return rooted if count_nodes(rooted) < count_nodes(form) else form


def _occurrences(expr: sympy.Expr) -> int:
    """How many times variables occur in ``expr`` (its Symbol leaves)."""
    return sum(1 for n in sympy.preorder_traversal(expr) if isinstance(n, sympy.Symbol))


def combine_roots(expr: sympy.Expr, positive: Sequence[sympy.Symbol]) -> sympy.Expr:
    """``expr`` with each product of roots of one degree q over bases positive on the domain (their variables among
    ``positive``) written as one root: sqrt(a) sqrt(b) / sqrt(c) -> sqrt(a b / c), a^(1/3) b^(2/3) -> (a b^2)^(1/3).
    True only where the bases are positive (for a = b = -1, sqrt(a) sqrt(b) = -1 and sqrt(a b) = 1)."""
    assumed = {v: sympy.Symbol(v.name, positive=True) for v in positive}

    def one_root(product: sympy.Expr) -> sympy.Expr:
        roots: dict[int, list[sympy.Expr]] = {}
        others = []
        for factor in product.args:
            e = factor.exp if factor.is_Pow else None
            if e is not None and e.is_Rational and not e.is_Integer and factor.base.xreplace(assumed).is_positive:
                roots.setdefault(int(e.q), []).append(factor)
            else:
                others.append(factor)
        for q, factors in roots.items():
            if len(factors) == 1:
                others += factors
            else:
                others.append(sympy.Pow(sympy.Mul(*[f.base ** (f.exp * q) for f in factors]), sympy.Rational(1, q)))
        return sympy.Mul(*others)

    return expr.replace(lambda e: e.is_Mul, one_root)


def _simplified(formula: Formula, X: np.ndarray, timeout: float | None, max_nodes: int | None = None,
                max_degree: int | None = None, report: dict | None = None) -> Formula:
    report = report if report is not None else {}
    if max_nodes is not None and formula.complexity > max_nodes:
        report["simplify"] = "too large"
        return formula
    report["simplify"] = "unchanged"
    expr, plain, on_domain = _simplify_work(formula.expr, tuple(positive_columns(formula, X)), timeout, max_degree)
    if plain is not None:
        report["simplify"] = plain
    if on_domain is not None:
        report["simplify_on_domain"] = on_domain
    if expr is None:
        return formula
    expr = positive_log_ratios(expr)
    if expr == formula.expr or expr.has(sympy.nan, sympy.zoo):
        return formula
    candidate = formula.with_expr(expr)
    if not _evaluates_alike(formula, candidate, X, rtol=1e-6):
        return formula
    report["simplify"] = "done"
    return candidate


def opaque_high_powers(expr: sympy.Expr, max_degree: int) -> tuple[sympy.Expr, dict[sympy.Dummy, sympy.Expr]]:
    """``expr`` with each power of a sum (any non-atomic base) whose rational exponent p/q has |p| > ``max_degree``
    replaced by a new symbol, and the replacements {symbol: power}, innermost first (`restore_powers` undoes it).

    sympy's simplify expands and cancels polynomials, work that grows with the degree, and a fit can hold a power
    like ``(1 - c x**a)**1352`` that no rewriting shortens. As one opaque factor it costs nothing, and the rest of
    the formula is simplified as before: an identity true for a free symbol stays true for the power put back."""
    hidden: dict[sympy.Dummy, sympy.Expr] = {}

    def hide(power: sympy.Expr) -> sympy.Dummy:
        symbol = sympy.Dummy(f"power{len(hidden)}")
        hidden[symbol] = power
        return symbol

    opaque = expr.replace(lambda e: e.is_Pow and not e.base.is_Atom and e.exp.is_Rational
                          and abs(e.exp.p) > max_degree, hide)
    return opaque, hidden


def restore_powers(expr: sympy.Expr, hidden: dict[sympy.Dummy, sympy.Expr]) -> sympy.Expr:
    """``expr`` with the symbols of `opaque_high_powers` replaced by their powers (outermost first, so a power
    hidden inside another comes back too)."""
    for symbol, power in reversed(hidden.items()):
        expr = expr.xreplace({symbol: power})
    return expr


@functools.lru_cache(maxsize=256)
def _simplify_work(expr: sympy.Expr, positive: tuple[sympy.Symbol, ...], timeout: float | None,
                   max_degree: int | None = None) -> tuple[sympy.Expr | None, str | None, str | None]:
    """sympy's share of `_simplified`, remembered per process: (the simplified expression, None when the plain
    pass did not finish; that pass's report state when it was stopped; the pass on the domain's when it was).
    Powers of a sum above ``max_degree`` are kept whole (`opaque_high_powers`; None: none).

    The same formula can reach final rounding more than once in a process (a decomposition runs the stages again
    on its sub-tasks and polishes what it recombines), and `sympy.simplify` is most of final rounding's time; a
    stopped pass is remembered too, so its safety net is spent once per formula, not once per call."""
    expr, hidden = opaque_high_powers(expr, max_degree) if max_degree is not None else (expr, {})
    try:
        form = call_with_timeout(sympy.simplify, timeout, expr)
    except TIME_LIMIT_ERRORS:
        return None, "timeout (wall clock)", None
    except Exception:  # sympy can fail in odd ways on odd input; the unsimplified form is still right
        return None, None, None
    on_domain = None
    if positive:
        try:  # a second pass with its own safety net, so that the plain one stops where it always did
            form = call_with_timeout(simplify_on_domain, timeout, expr, positive, form)
        except TIME_LIMIT_ERRORS:
            on_domain = "timeout (wall clock)"
        except Exception:  # as above: the plain simplification is still right
            pass
    return restore_powers(form, hidden), None, on_domain
