"""Scale invariance of a fitted function, tested through an oracle: does f depend on a group of positive variables
only through one product of their powers, perhaps times another,

    f(x) = P(x) g(u(x)),    u = x_1^a_1 ... x_k^a_k,    P = x_1^p_1 ... x_k^p_k,

so that g is a function of one variable? AI Feynman's symmetry tests (Udrescu & Tegmark, Sci. Adv. 6, eaay2631,
2020) try x_i x_j and x_i / x_j; a product of powers of any of the variables is their general form, and the form
the Buckingham pi theorem gives every law of physics (exp(-m g x / (k T)), tanh(m B / (k T)), sin(E t / h)).

In log coordinates t = ln x the gradient of such an f is g'(u) u a when P = 1, and that of ln|f| is p + (g'/g) u a:
rank one, after the mean is removed in the second case. So the oracle's gradients propose a (their first
singular vector, its components snapped to small fractions), and p follows from their mean. A proposal is
accepted when f / P takes the same value at pairs of rows of equal u, up to the oracle's own error: each test
row is paired with another row moved along one variable until its u is the first's (pairs that leave the box of
the rows are dropped), and the RMS of the differences must be at most ``error_multiple / 2`` times the RMS the
oracle's error gives two independent points (the pair test of `lies.symbolic.separability` allows the same
factor). The threshold follows the oracle's error, not a constant chosen on a benchmark.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import numpy as np
import sympy

from lies.symbolic.separability import DEFAULTS, ORACLE_FLOOR, Oracle

#: Step of the central differences in log coordinates (relative change of a variable).
LOG_STEP = 1e-4


@dataclass(frozen=True)
class Reduction:
    """f = P(x) g(u(x)) on a group of positive variables: ``exponents`` a of u and ``prefactor`` p of P (all 0:
    P = 1), one per variable of the group; ``score`` the RMS difference of f / P at pairs of equal u in units of
    its threshold (at most 1: accepted)."""

    exponents: tuple[Fraction, ...]
    prefactor: tuple[Fraction, ...]
    score: float

    def u(self, X: np.ndarray) -> np.ndarray:
        """u at the rows ``X`` (N, k) of the group's variables: (N,)."""
        return _power_product(X, self.exponents)

    def P(self, X: np.ndarray) -> np.ndarray:
        """The prefactor at the rows ``X`` (N, k): (N,)."""
        return _power_product(X, self.prefactor)

    def expressions(self, names: Sequence[str]) -> tuple[sympy.Expr, sympy.Expr]:
        """(u, P) as sympy expressions of the group's variables ``names``."""
        symbols = [sympy.Symbol(n) for n in names]
        power = lambda e: sympy.Mul(*[s ** sympy.Rational(c.numerator, c.denominator)  # noqa: E731
                                      for s, c in zip(symbols, e) if c])
        return power(self.exponents), power(self.prefactor)

    # the sub-task a reduction makes, and back (`lies.symbolic.translation.Translation` has the same four)
    def variables(self, names: Sequence[str]) -> tuple[str, ...]:
        """The sub-task's one variable, u."""
        return ("u",)

    def rows(self, X: np.ndarray) -> np.ndarray:
        """The sub-task's inputs at the rows ``X`` (N, k) of the group's variables: u, (N, 1)."""
        return self.u(X)[:, None]

    def target(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The sub-task's target: g = f / P."""
        return y / self.P(X)

    def expression(self, expr: sympy.Expr, names: Sequence[str]) -> sympy.Expr:
        """A sub-task's formula g(u) as the group's P(x) g(u(x))."""
        u, prefactor = self.expressions(names)
        return prefactor * expr.subs(sympy.Symbol("u"), u)

    def describe(self, names: Sequence[str]) -> dict:
        """The artifact's record: u, P and the score."""
        u, prefactor = self.expressions(names)
        return {"u": str(u), "prefactor": str(prefactor), "scaling_score": self.score}


def _power_product(X: np.ndarray, exponents: Sequence[Fraction]) -> np.ndarray:
    return np.exp(np.log(np.asarray(X, dtype=float)) @ np.array([float(c) for c in exponents]))


def log_gradients(oracle: Oracle, X: np.ndarray) -> np.ndarray:
    """x_i df/dx_i (the gradient in t = ln x) at the rows ``X`` (N, k), by central differences: (N, k)."""
    out = np.empty_like(X, dtype=float)
    for i in range(X.shape[1]):
        up, down = X.copy(), X.copy()
        up[:, i] *= math.exp(LOG_STEP)
        down[:, i] *= math.exp(-LOG_STEP)
        with np.errstate(all="ignore"):
            out[:, i] = (oracle(up) - oracle(down)) / (2 * LOG_STEP)
    return out


def leading_direction(rows: np.ndarray) -> np.ndarray | None:
    """The unit vector closest to every finite, non-zero row of ``rows`` (N, k) up to sign, each row weighted the
    same: the first right singular vector of the rows scaled to unit length; None when no row is usable."""
    rows = rows[np.all(np.isfinite(rows), axis=1)]
    norms = np.linalg.norm(rows, axis=1)
    rows = rows[norms > 0] / norms[norms > 0, None]
    if rows.shape[0] < 2:
        return None
    return np.linalg.svd(rows, full_matrices=False)[2][0]


def snapped(vector: np.ndarray, max_denominator: int, scale_to_one: bool = True) -> list[tuple[Fraction, ...]]:
    """``vector`` rounded to fractions of denominator 1 .. ``max_denominator``, distinct, coarsest first; with
    ``scale_to_one`` (a direction: u and 1/u are one reduction) scaled so that its largest component is 1 in size
    and its first non-zero one positive."""
    v = np.asarray(vector, dtype=float)
    if scale_to_one:
        v = v / np.max(np.abs(v))
    out = []
    for q in range(1, max_denominator + 1):
        fractions = tuple(Fraction(int(round(c * q)), q) for c in v)
        if scale_to_one and next((c for c in fractions if c), 0) < 0:
            fractions = tuple(-c for c in fractions)
        if fractions not in out:
            out.append(fractions)
    return out


def _prefactors(mean_gradient: np.ndarray, a: Sequence[Fraction], max_denominator: int) -> list[tuple[Fraction, ...]]:
    """Candidates for p given a, from the mean gradient of ln|f|, which is p + c a for an unknown c: the p
    orthogonal to a and each p with one of its components made 0 (P and u can trade powers of u), snapped."""
    a = np.array([float(c) for c in a])
    shifts = [float(mean_gradient @ a / (a @ a))]
    shifts += [mean_gradient[i] / a[i] for i in range(a.size) if a[i] != 0]
    out = []
    for c in shifts:
        for p in snapped(mean_gradient - c * a, max_denominator, scale_to_one=False):
            if p not in out and any(p):
                out.append(p)
    return out


def _complexity(exponents: Sequence[Fraction]) -> int:
    return sum(abs(c.numerator) + c.denominator - 1 for c in exponents if c)


def pair_score(oracle: Oracle, X: np.ndarray, reduction: tuple[Sequence[Fraction], Sequence[Fraction]],
               sigma: float, rng: np.random.Generator, rows: int, error_multiple: float, relative: bool) -> float:
    """The RMS difference of f / P at ``rows`` pairs of points of equal u (of ln|f / P| when ``relative``), in
    units of its threshold (``error_multiple / 2`` times the RMS that an oracle error ``sigma``, absolute or
    relative, gives two points); the second point of each pair is a row of ``X`` moved along one variable (the
    first, by decreasing |a_i|, that keeps it inside the rows' box) until its u is the first point's. Infinite
    when too few pairs stay in the box."""
    a = np.array([float(c) for c in reduction[0]])
    low, high = X.min(axis=0), X.max(axis=0)
    first, second = X[rng.integers(0, X.shape[0], 4 * rows)], X[rng.integers(0, X.shape[0], 4 * rows)]
    log_gap = np.log(first) @ a - np.log(second) @ a  # ln u(first) - ln u(second)
    moved, ok = second.copy(), np.zeros(first.shape[0], dtype=bool)
    for i in np.argsort(-np.abs(a)):
        if a[i] == 0:
            break
        value = second[:, i] * np.exp(log_gap / a[i])
        take = ~ok & (value >= low[i]) & (value <= high[i])
        moved[take, i] = value[take]
        ok |= take
    if ok.sum() < min(16, rows):
        return math.inf
    first, moved = first[ok][:rows], moved[ok][:rows]
    with np.errstate(all="ignore"):
        p_first, p_moved = _power_product(first, reduction[1]), _power_product(moved, reduction[1])
        if relative:
            diff = np.log(np.abs(oracle(first) / p_first)) - np.log(np.abs(oracle(moved) / p_moved))
            expected = np.full(diff.shape, sigma * math.sqrt(2))
        else:
            diff = oracle(first) / p_first - oracle(moved) / p_moved
            expected = sigma * np.sqrt(1 / p_first**2 + 1 / p_moved**2)
        score = float(np.sqrt(np.mean(diff**2)) / (0.5 * error_multiple * np.sqrt(np.mean(expected**2))))
    return score if math.isfinite(score) else math.inf


def find_reduction(oracle: Oracle, X: np.ndarray, sigma: float, rng: np.random.Generator,
                   rows: int = DEFAULTS.test_rows, error_multiple: float = DEFAULTS.error_multiple,
                   max_denominator: int = 3, relative: bool = False) -> Reduction | None:
    """The simplest f = P g(u) (fewest and smallest powers, P = 1 first) whose pair score is within half a unit
    (the oracle's error alone) of the best score, when that is at most 1, on the rows ``X`` (N, k) of a group of
    at least two positive variables; else None. ``sigma``: the oracle's RMS error, relative to
    |f| when ``relative`` (then f must be of one sign: the test compares ln|f / P|, as fits in log space err)."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] < 2 or not np.all(X > 0):
        return None
    sample = X[rng.integers(0, X.shape[0], rows)]
    with np.errstate(all="ignore"):
        f = oracle(sample)
    scale = float(np.sqrt(np.mean(f**2)))
    if not math.isfinite(scale) or scale == 0:
        return None
    one_sign = bool(np.all(f > 0) or np.all(f < 0))
    if relative and not one_sign:
        return None
    sigma = max(float(sigma), ORACLE_FLOOR) if relative else max(float(sigma), ORACLE_FLOOR * scale)
    gradients = log_gradients(oracle, sample)  # (rows, k)
    zero = tuple(Fraction(0) for _ in range(X.shape[1]))
    proposals = []
    direction = leading_direction(gradients)  # f = g(u): every gradient is a multiple of a
    if direction is not None:
        proposals += [(a, zero) for a in snapped(direction, max_denominator)]
    # f = P g(u): the gradients of ln|f| less their mean are multiples of a; read on the rows of larger |f|
    # (where f is near 0 an oracle's absolute error is a large one in ln|f|, and may even flip its sign)
    large = np.abs(f) >= np.median(np.abs(f))
    if np.all(f[large] > 0) or np.all(f[large] < 0):
        log_gradient = gradients[large] / f[large, None]
        direction = leading_direction(log_gradient - log_gradient.mean(axis=0))
        if direction is not None:
            mean = log_gradient.mean(axis=0)
            proposals += [(a, p) for a in snapped(direction, max_denominator)
                          for p in _prefactors(mean, a, max_denominator)]
    proposals = [r for r in dict.fromkeys(proposals) if sum(1 for c in r[0] if c) >= 2]
    proposals.sort(key=lambda r: (any(r[1]), _complexity(r[0]) + _complexity(r[1])))
    scores = [pair_score(oracle, X, r, sigma, rng, rows, error_multiple, relative) for r in proposals]
    if not scores or min(scores) > 1.0:
        return None
    # the simplest proposal that the oracle's error cannot tell from the best (its expected RMS is half the unit)
    (a, p), score = next((r, s) for r, s in zip(proposals, scores) if s <= min(scores) + 0.5)
    return Reduction(a, p, score)
