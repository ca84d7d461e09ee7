"""Least-squares refit of a formula's constants with its structure fixed (paper III-F).

Every Float leaf, each occurrence separately, is a free parameter: coefficients, additive constants and Float
exponents (`x**1.4`); Integers and Rationals are structure and stay. The fit is on raw-unit data, y itself (not
ln y), with MINPACK's Levenberg-Marquardt (through `scipy.optimize.least_squares`, forward-difference Jacobian)
started at the current values.

Fixes against the reference code (spec section 8): the compiled function takes the data columns in the
formula's own variable order (bug B10 reversed it); the time limit really stops the run (bug B12 only
discarded the result): the residual function raises a private exception after the deadline and the best
parameters seen so far are returned; numerical trouble never raises (non-finite residuals at the start
return the formula unchanged instead of dropping the trial); the fit never depends on memory scipy's MINPACK reads
past its Jacobian (`_levenberg_marquardt`), so one seed gives one result in any process.
"""

from __future__ import annotations

import math
import time

import numpy as np
import sympy
from scipy.optimize import least_squares

from lies.core.seeding import sorted_row_subset
from lies.symbolic.formula import Formula, Parametrized, check_X, evaluations_for, parametrize

__all__ = ["optimize_coefficients", "refit_parameters", "log_linear_fit"]


class _Deadline(Exception):
    """Raised from inside the residual function when the time limit has passed or the evaluations are spent."""


def optimize_coefficients(
    formula: Formula,
    X: np.ndarray,
    y: np.ndarray,
    time_limit: float = 10.0,
    max_nfev: int | None = None,
    *,
    max_evaluations: int | None = None,
    max_rows: int = 20_000,
    seed: int = 0,
    report: dict | None = None,
    domain: np.ndarray | None = None,
) -> Formula:
    """Refit all Float constants of `formula` to (X, y) by least squares; return a new Formula (III-F).

    X: (N, n) in `formula.variables` order; y: (N,). Rows with a non-finite x or y are dropped; if more than
    `max_rows` remain, a seeded uniform subsample without replacement of `max_rows` rows is used (the fit of a
    handful of constants does not need 100k rows, and the time limit then buys more iterations).
    `max_evaluations` bounds the residual evaluations (Jacobian columns included), counted as evaluations of a
    formula of `lies.symbolic.formula.REFERENCE_NODES` nodes (`lies.symbolic.formula.evaluations_for`): the bound that should decide,
    since it does not depend on the machine's load; `time_limit` (seconds, wall clock, compilation included) is a
    safety net over the whole call; `max_nfev` bounds least_squares' own residual evaluations (None: 100 k for
    "lm" with k constants, each Jacobian k more). ``report``, when given, receives ``stopped_by``
    ("least_squares": it ended on its own, "evaluations" or "wall clock") and ``evaluations``. The returned
    constants are the best (lowest sum of squares) seen in any evaluation, so the result is never worse than the
    input on the rows used; if nothing improved, or the residuals are not finite at the start, or the formula has
    no Float constant, the input formula itself is returned.

    ``domain`` (P, n), e.g. `lies.data.dataset.box_points` of X: constants that make the formula non-finite at one of
    these points are never kept. Least squares on the rows alone will move a log's argument to just above 0 at
    the edge of the rows (a near-singular fit), where points between and beyond the rows make it negative.
    """
    deadline = time.monotonic() + time_limit
    X = check_X(X, len(formula.variables))
    y = np.asarray(y, dtype=np.float64).ravel()
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]}")
    keep = np.isfinite(y) & np.all(np.isfinite(X), axis=1)
    X, y = X[keep], y[keep]
    idx = sorted_row_subset(X.shape[0], max_rows, seed)
    if idx is not None:
        X, y = X[idx], y[idx]
    if formula.expr.has(sympy.nan, sympy.zoo):
        return formula  # undefined everywhere: nothing to fit (and numpy cannot compile zoo)
    par = parametrize(formula)
    if not par.params or X.shape[0] == 0:
        return formula
    theta = refit_parameters(par, X, y, par.values, max_evaluations=evaluations_for(max_evaluations, formula.expr),
                             deadline=deadline, max_nfev=max_nfev, report=report, domain=domain)
    if theta is None:
        return formula
    return par.rebuild([float(t) for t in theta])


def refit_parameters(
    par: Parametrized,
    X: np.ndarray,
    y: np.ndarray,
    theta0: np.ndarray,
    free: np.ndarray | None = None,
    *,
    max_evaluations: int | None = None,
    deadline: float = math.inf,
    max_nfev: int | None = None,
    report: dict | None = None,
    domain: np.ndarray | None = None,
) -> np.ndarray | None:
    """`optimize_coefficients` on a compiled formula: least squares of the ``free`` parameters (bool (k,); None:
    all), the others held at ``theta0``. Returns the best parameters seen (lowest sum of squares, defined on
    ``domain``), or None when nothing improved on ``theta0`` or its residuals are not finite. ``X``, ``y``: checked
    and finite; ``max_evaluations``: in evaluations of this formula; ``deadline``: `time.monotonic` seconds."""
    theta0 = np.asarray(theta0, dtype=np.float64)
    free = np.ones(theta0.shape, dtype=bool) if free is None else np.asarray(free, dtype=bool)
    report = report if report is not None else {}
    report.update(stopped_by="least_squares", evaluations=0)
    r0 = par.evaluate(X, theta0) - y
    if not free.any() or not np.all(np.isfinite(r0)):
        return None
    with np.errstate(over="ignore"):  # an overflowing cost is +inf
        best = {"theta": theta0, "cost": float(r0 @ r0)}
    start_cost = best["cost"]

    def defined(theta: np.ndarray) -> bool:
        if domain is None:
            return True
        with np.errstate(all="ignore"):
            return bool(np.all(np.isfinite(par.evaluate(domain, theta))))

    def full(values: np.ndarray) -> np.ndarray:
        theta = theta0.copy()
        theta[free] = values
        return theta

    def residuals(values: np.ndarray) -> np.ndarray:
        if max_evaluations is not None and report["evaluations"] >= max_evaluations:
            report["stopped_by"] = "evaluations"
            raise _Deadline
        if time.monotonic() > deadline:
            report["stopped_by"] = "wall clock"
            raise _Deadline
        report["evaluations"] += 1
        theta = full(values)
        r = par.evaluate(X, theta) - y
        if np.all(np.isfinite(r)):
            cost = float(r @ r)  # an overflowing cost is +inf: never the best (the solvers run under errstate)
            if cost < best["cost"] and defined(theta):
                best["theta"], best["cost"] = theta, cost
        return r

    if start_cost > 0.0:
        # A trial step may overflow: the solver rejects it and the best point stays; no warning for the user.
        with np.errstate(all="ignore"):
            try:
                # Levenberg-Marquardt (MINPACK, as curve_fit in the reference) needs rows >= constants; its QR is
                # plain C, while "trf" does a threaded-BLAS SVD per iteration that was 10x slower here.
                if X.shape[0] >= int(free.sum()):
                    _levenberg_marquardt(residuals, theta0[free], max_nfev)
                else:
                    least_squares(residuals, theta0[free], method="trf", x_scale="jac", max_nfev=max_nfev)
            except _Deadline:
                pass
            except (ValueError, ArithmeticError, np.linalg.LinAlgError):
                pass  # e.g. a non-finite Jacobian: keep the best point seen
    if not best["cost"] < start_cost:
        return None
    return best["theta"]


#: scipy's relative step for a forward difference, sqrt(float64 epsilon).
_STEP = float(np.finfo(np.float64).eps) ** 0.5


def _levenberg_marquardt(residuals, x0: np.ndarray, max_nfev: int | None) -> None:
    """Minimise ``sum(residuals(x)**2)`` from ``x0`` (k,) with MINPACK's Levenberg-Marquardt (scipy's "lm",
    ``x_scale="jac"``) and scipy's forward-difference Jacobian, plus one inert parameter whose Jacobian column is
    zero. The caller keeps the best point from inside ``residuals``; ``max_nfev`` (None: 100 k) bounds MINPACK's
    residual evaluations, as least_squares does for "lm".

    Why the inert column: scipy's C translation of MINPACK's ``qrfac`` (seen in scipy 1.17.1) recomputes a column
    norm that has lost precision over rows j+1..m, one past the column's end. For the physically last column that
    element lies past the Jacobian's buffer, so an ill-conditioned fit read whatever the heap held there, and one
    seed gave different constants in different processes. A zero column never has the largest norm, so column
    pivoting leaves it last, its own norm is never recomputed (it is 0), and the element read past the last real
    column is its 0. MINPACK sees the zero column as a rank deficiency: its step is exactly 0, and the Levenberg
    parameter's lower bound is 0 (``lmpar``): the path changes, the points where the method may stop do not.
    """
    k = x0.size
    last: dict = {}

    def fun(z: np.ndarray) -> np.ndarray:  # z: (k + 1,), z[k] the inert parameter, always 0
        r = residuals(z[:k])
        last["z"], last["r"] = z.copy(), r
        return r

    def jac(z: np.ndarray) -> np.ndarray:  # (N, k + 1), the last column 0
        x = z[:k]
        f0 = last["r"] if "z" in last and np.array_equal(last["z"], z) else fun(z)
        h = _STEP * np.where(x >= 0, 1.0, -1.0) * np.maximum(1.0, np.abs(x))
        J = np.zeros((f0.size, k + 1))
        for i in range(k):
            xi = x.copy()
            xi[i] = x[i] + h[i]
            J[:, i] = (residuals(xi) - f0) / (xi[i] - x[i])
        return J

    least_squares(fun, np.append(x0, 0.0), jac=jac, method="lm", x_scale="jac",
                  max_nfev=max_nfev if max_nfev is not None else 100 * k)


def log_linear_fit(X: np.ndarray, y: np.ndarray) -> tuple[int, np.ndarray, float] | None:
    """The log-linear hypothesis y = sign C prod x_k^a_k by least squares of ln(sign y) on [ln x, 1]: (sign, the
    exponents a (n,), ln C); None where an input is not positive or the target is not of one sign (0 included).
    X: (N, n), y: (N,)."""
    sign = -1 if (y < 0).all() else 1
    if (X <= 0).any() or (sign * y <= 0).any():
        return None
    design = np.column_stack([np.log(X), np.ones(len(y))])
    coef = np.linalg.lstsq(design, np.log(sign * y), rcond=None)[0]
    return sign, coef[:-1], float(coef[-1])
