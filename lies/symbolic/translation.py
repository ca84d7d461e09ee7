"""Translation invariance of a fitted function, tested through an oracle: does f depend on two of its variables only
through their difference x_i - x_j (or their sum x_i + x_j), so that the task has one variable fewer? AI Feynman's
symmetry tests (Udrescu & Tegmark, Sci. Adv. 6, eaay2631, 2020): f(x_i + a, x_j + a) = f(x_i, x_j) for every a
when f depends on x_i - x_j alone, f(x_i + a, x_j - a) = f(x_i, x_j) when it depends on x_i + x_j alone.

Unlike the scale invariance of `lies.symbolic.scaling` this holds for variables of any sign, and a difference of two
angles, positions or frequencies is where signed values come from: its sub-task is the pipeline's raw-space work.

A pair's test moves each of ``rows`` random rows of the data along (e_i + s e_j) by a shift drawn uniformly among
those that keep both variables inside the box of the rows, and compares the oracle at the two points. The RMS of
the differences must be at most ``error_multiple / 2`` times sqrt(2) sigma, the RMS an oracle error sigma gives two
independent points (the bound `lies.symbolic.scaling.pair_score` uses): the threshold follows the oracle's error.
A shift that is small against the variables' spread tests nothing, so only rows that can move by at least a tenth
of the narrower of the two ranges take part.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import sympy

from lies.symbolic.separability import DEFAULTS, ORACLE_FLOOR, Oracle

#: The smallest shift a pair's test uses, as a fraction of the narrower of the two variables' ranges.
MIN_SHIFT = 0.1


@dataclass(frozen=True)
class Translation:
    """f depends on the group's variables ``i`` and ``j`` only through x_i - x_j (``sign`` 1) or x_i + x_j (``sign``
    -1), for each (i, j, sign) of ``pairs`` (disjoint pairs, indices into the group): the sub-task's variables are
    the group's, each x_i replaced by the pair's difference or sum and each x_j dropped. ``scores`` the pairs' RMS
    differences in units of their threshold (at most 1: accepted)."""

    pairs: tuple[tuple[int, int, int], ...]
    scores: tuple[float, ...]

    def _dropped(self) -> set[int]:
        return {j for _, j, _ in self.pairs}

    def _renamed(self, names: Sequence[str]) -> dict[int, str]:
        """Each variable the sub-task keeps (its index in the group) -> its name there: a pair's x_i gets a name
        none of ``names`` has (u, u1, ...), the others keep theirs."""
        fresh = (n for n in ("u", *(f"u{k}" for k in range(1, len(names) + 2))) if n not in names)
        new = {i: next(fresh) for i, _, _ in self.pairs}
        return {k: new.get(k, n) for k, n in enumerate(names) if k not in self._dropped()}

    def variables(self, names: Sequence[str]) -> tuple[str, ...]:
        """The sub-task's variable names: the group's, each pair's x_i renamed (u, u1, ...), each x_j dropped."""
        return tuple(self._renamed(names).values())

    def rows(self, X: np.ndarray) -> np.ndarray:
        """The sub-task's inputs at the rows ``X`` (N, k) of the group's variables: (N, k - len(pairs))."""
        X = np.array(X, dtype=float)
        for i, j, sign in self.pairs:
            X[:, i] = X[:, i] - sign * X[:, j]
        keep = [k for k in range(X.shape[1]) if k not in self._dropped()]
        return X[:, keep]

    def target(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The sub-task's target: f itself (nothing factors out)."""
        return y

    def expression(self, expr: sympy.Expr, names: Sequence[str]) -> sympy.Expr:
        """A sub-task's formula ``expr`` as a function of the group's variables ``names``."""
        symbols, renamed = [sympy.Symbol(n) for n in names], self._renamed(names)
        return expr.subs({sympy.Symbol(renamed[i]): symbols[i] - sign * symbols[j] for i, j, sign in self.pairs},
                         simultaneous=True)

    def describe(self, names: Sequence[str]) -> dict:
        """The artifact's record: each new variable and what it stands for, and the scores."""
        renamed = self._renamed(names)
        return {"translation": {renamed[i]: f"{names[i]} {'-' if sign > 0 else '+'} {names[j]}"
                                for i, j, sign in self.pairs},
                "translation_scores": list(self.scores)}


def shift_score(oracle: Oracle, X: np.ndarray, i: int, j: int, sign: int, sigma: float, rng: np.random.Generator,
                rows: int, error_multiple: float) -> float:
    """The RMS change of f under shifts along (e_i + sign e_j) that stay inside the box of ``X`` (N, k), in units of
    its threshold (``error_multiple / 2`` times sqrt(2) ``sigma``); infinite when too few rows can move far enough."""
    low, high = X.min(axis=0), X.max(axis=0)
    start = X[rng.integers(0, X.shape[0], 4 * rows)]
    # a in [lo, hi]: x_i + a and x_j + sign a both inside the box
    lo = np.maximum(low[i] - start[:, i], (low[j] - start[:, j]) if sign > 0 else (start[:, j] - high[j]))
    hi = np.minimum(high[i] - start[:, i], (high[j] - start[:, j]) if sign > 0 else (start[:, j] - low[j]))
    shift = lo + (hi - lo) * rng.random(start.shape[0])
    narrower = min(high[i] - low[i], high[j] - low[j])
    ok = (hi >= lo) & (np.abs(shift) >= MIN_SHIFT * narrower)
    if narrower <= 0 or ok.sum() < min(16, rows):
        return math.inf
    start, shift = start[ok][:rows], shift[ok][:rows]
    moved = start.copy()
    moved[:, i] += shift
    moved[:, j] += sign * shift
    with np.errstate(all="ignore"):
        diff = oracle(moved) - oracle(start)
        score = float(np.sqrt(np.mean(diff**2)) / (0.5 * error_multiple * math.sqrt(2) * sigma))
    return score if math.isfinite(score) else math.inf


def find_translation(oracle: Oracle, X: np.ndarray, sigma: float, rng: np.random.Generator,
                     rows: int = DEFAULTS.test_rows, error_multiple: float = DEFAULTS.error_multiple
                     ) -> Translation | None:
    """The pairs of variables of ``X`` (N, k) through whose difference or sum alone f varies: every pair and sign is
    tested (`shift_score`), and the passing ones are taken best first while their variables are free (so f(x1 - x2,
    y1 - y2) gives both); None when no pair passes. ``sigma``: the oracle's RMS error (absolute)."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] < 2:
        return None
    with np.errstate(all="ignore"):
        scale = float(np.sqrt(np.mean(oracle(X[rng.integers(0, X.shape[0], rows)]) ** 2)))
    if not math.isfinite(scale) or scale == 0:
        return None
    sigma = max(float(sigma), ORACLE_FLOOR * scale)
    passed = []
    for i in range(X.shape[1]):
        for j in range(i + 1, X.shape[1]):
            for sign in (1, -1):
                score = shift_score(oracle, X, i, j, sign, sigma, rng, rows, error_multiple)
                if score <= 1.0:
                    passed.append((score, i, j, sign))
    pairs, scores, used = [], [], set()
    for score, i, j, sign in sorted(passed):
        if i not in used and j not in used:
            pairs.append((i, j, sign))
            scores.append(score)
            used |= {i, j}
    return Translation(tuple(pairs), tuple(scores)) if pairs else None
