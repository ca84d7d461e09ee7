"""Gradient-based rounding of a formula's constants (paper III-E, Theorem 2): one mechanism, two uses.

A Float constant c of f may become a rounder value r when the first-order bound of the change it causes,

    |f(c) - f(r)|  ~  |c - r| * max_x |df/dc (r; x)|              (III-E; derivative at r, as the paper does)

is below `tau * scale` on every sample. `round_to_zero` (before the III-F refit) proposes r = 0 for every
constant, which removes negligible terms; `final_round` (after the refit) proposes c rounded to `decimals`
decimals as an exact sympy number (0.5 -> 1/2, 2.0 -> 2), so `x**2.0` becomes `x**2` and `x**0.5` `sqrt(x)`.

Decisions (documented because they differ from the reference code, spec section 8):
- **scale**. The paper's tau = 0.1 is absolute, in units of y, so the outcome changed with the user's units.
  Default `scale="std"`: tau is relative to the standard deviation of f over X (of the input formula). A change
  bounded by tau*std(f) everywhere costs at most about tau**2 of R^2, whatever the units. If f is constant on X,
  the RMS of f is used instead, and 1 if that is 0 too. `scale="rms"` uses the RMS of f; a number is an absolute
  scale, and `scale="absolute"` (= 1.0) is the paper's (and reference code's) absolute form, tau in y units.
- **df/dc** is a central finite difference in c (step 1e-6*max(1, |r|)), computed on all rows at once with the
  expression compiled once as f(X, theta) (`lies.formula.parametrize`); no per-sample sympy work. Rows where
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

from typing import Callable

import numpy as np
import sympy

from lies.formula import Formula, Parametrized, _check_X, parametrize
from lies.timeout import call_with_timeout

__all__ = ["round_to_zero", "final_round", "resolve_scale"]

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
    rms = float(np.sqrt(np.mean(v**2))) if v.size else 0.0
    if scale == "std":
        std = float(np.std(v)) if v.size else 0.0
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


def _gradient_round(
    par: Parametrized,
    X: np.ndarray,
    targets: list[sympy.Expr | None],
    tau: float,
    scale: str | float,
    max_rows: int | None,
) -> tuple[list[sympy.Expr], float, np.ndarray]:
    """The shared mechanism: returns one sympy number per parameter (the rounded target or the original
    Float), the threshold tau*scale, and f of the input on X."""
    Xd = X  # rows for the derivative bounds; the actual-deviation guard always uses all of X
    if max_rows is not None and X.shape[0] > max_rows:
        Xd = X[np.sort(np.random.default_rng(0).choice(X.shape[0], size=max_rows, replace=False))]
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
            bound = 0.0 if dist == 0.0 else dist * _derivative_bound(par, Xd, theta, k, r)
            if bound < threshold:
                scored.append((bound, k, r))
        accepted = False
        for bound, k, r in sorted(scored):
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
    formula: Formula, X: np.ndarray, tau: float = 0.1, *, scale: str | float = "std", max_rows: int | None = 20_000
) -> Formula:
    """Set to 0 every Float constant whose removal is negligible on X (III-E, first use; before III-F).

    Zeroed constants are exact Integer 0, so sympy drops the terms they multiply. See the module docstring for
    `scale`, the order of processing and the accumulation guard. X: (N, n) in `formula.variables` order.
    """
    X = _check_X(X, len(formula.variables))
    par = parametrize(formula)
    if not par.params or X.shape[0] == 0:
        return formula
    zeros = [sympy.Integer(0)] * len(par.params)
    numbers, threshold, f_ref = _gradient_round(par, X, zeros, tau, scale, max_rows)
    return _finish(formula, par, X, numbers, threshold, f_ref)


def _decimal_target(c: float, decimals: int, max_abs: float) -> sympy.Expr | None:
    if not np.isfinite(c) or abs(c) >= max_abs:
        return None
    q = 10**decimals
    return sympy.Rational(int(round(c * q)), q)  # exact: 0.5 -> 1/2, 2.0 -> 2, -0.04 -> 0


def final_round(
    formula: Formula,
    X: np.ndarray,
    tau: float = 0.1,
    decimals: int = 1,
    *,
    scale: str | float = "std",
    max_abs: float = 5000.0,
    simplify_timeout: float | None = 10.0,
    max_rows: int | None = 20_000,
) -> Formula:
    """Round constants to at most `decimals` decimals where negligible, then `sympy.simplify` (III-E, second use).

    The rounded value is an exact Rational/Integer. Constants with |c| >= `max_abs` are left alone (the reference
    code's threshold, 5000: rounding 8.9875e9 to one decimal would only make a huge fraction). `simplify` runs
    under `simplify_timeout` seconds (`lies.timeout`); on timeout or error, and if the simplified form does not
    evaluate like the unsimplified one on X (relative 1e-6), the unsimplified form is kept.
    With the default relative tau = 0.1 the rounding may cost up to about 0.01 of R^2 (tau**2); for SRBench's
    accuracy bar (R^2 > 0.999) use tau <= 0.03.
    """
    X = _check_X(X, len(formula.variables))
    par = parametrize(formula)
    new = formula
    if par.params and X.shape[0] > 0:
        targets = [_decimal_target(c, decimals, max_abs) for c in par.values]
        numbers, threshold, f_ref = _gradient_round(par, X, targets, tau, scale, max_rows)
        new = _finish(formula, par, X, numbers, threshold, f_ref)
    return _simplified(new, X, simplify_timeout)


def _simplified(formula: Formula, X: np.ndarray, timeout: float | None) -> Formula:
    simplify: Callable[[sympy.Expr], sympy.Expr] = sympy.simplify
    try:
        expr = call_with_timeout(simplify, timeout, formula.expr)
    except TimeoutError:
        return formula
    except Exception:  # sympy can fail in odd ways on odd input; the unsimplified form is still right
        return formula
    if expr == formula.expr or expr.has(sympy.nan, sympy.zoo):
        return formula
    candidate = formula.with_expr(expr)
    if X.shape[0]:
        a, b = formula(X), candidate(X)
        fa = np.abs(a[np.isfinite(a)])
        atol = 1e-12 * (float(fa.max()) if fa.size else 1.0)
        if not np.allclose(a, b, rtol=1e-6, atol=atol, equal_nan=True):
            return formula
    return candidate
