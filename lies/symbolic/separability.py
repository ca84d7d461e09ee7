"""Separability of a fitted function, tested through an oracle, and the parts recombined (AI Feynman's
decomposition: Udrescu & Tegmark, Sci. Adv. 6, eaay2631, 2020, section "Neural-network-based tests").

A function f whose variables split into groups A and B is *additively* separable when f(a, b) = g(a) + h(b):
then the four-point difference

    D+ = f(a, b) + f(a', b') - f(a, b') - f(a', b)

is zero for every a, a', b, b'. It is *multiplicatively* separable, f = g h, when

    Dx = f(a, b) f(a', b') - f(a, b') f(a', b)

is zero (for signed f too, which the log of f cannot handle). A product plus a constant, f = c + g h (what a sum
split hands each part: the other parts' value at the reference point), fails that test; but Dx of f - c is

    Dx - c D+,

linear in c, so the c that makes f - c most nearly a product has a closed form per pair of variables, and the
test of f - c needs no threshold of its own. Testing each pair of variables alone, the other
variables held at values shared by the four points, gives a graph whose edges are the pairs that interact; its
connected components are the finest split of the variables, since two variables of different parts never
interact. The oracle is any smooth fit of the data evaluated anywhere in the box: here, the formula the pipeline
fitted, whatever its structure.

An oracle is not the function. With an RMS error sigma at independent points, the four-point difference of a
separable function through the oracle has an RMS of about 2 sigma (and 2 sigma |f| for the product form); a pair
interacts when its difference is larger than ``error_multiple`` times sigma (resp. sigma times the RMS of f), so
the threshold follows the oracle's own error, not a constant chosen on a benchmark.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import sympy

from lies.params import DecompositionParams

#: The declared defaults (`lies.params`) the tests' keyword defaults read (here, `scaling`, `translation`).
DEFAULTS = DecompositionParams()

Oracle = Callable[[np.ndarray], np.ndarray]  # (N, n) rows -> (N,) values

#: Relative floor of an oracle's error: float64 evaluation of a formula is not exact either.
ORACLE_FLOOR = 1e-9


@dataclass(frozen=True)
class Split:
    """A separable split of the variables: ``kind`` "sum" (f = sum of parts), "product" (f = ``offset`` + product
    of parts; the parts are then those of f - offset) or "whole" (one part: all the variables); ``groups`` the
    variable indices of each part, in column order; ``interaction[i][j]`` the pair's four-point difference in units
    of its threshold (> 1: interacting)."""

    kind: str
    groups: tuple[tuple[int, ...], ...]
    interaction: tuple[tuple[float, ...], ...]
    offset: float = 0.0


def pair_interactions(oracle: Oracle, X: np.ndarray, sigma: float, rng: np.random.Generator,
                      rows: int = DEFAULTS.test_rows, error_multiple: float = DEFAULTS.error_multiple
                      ) -> dict[str, np.ndarray]:
    """Per kind ("sum", "product"), the (n, n) matrix of each pair's RMS four-point difference divided by its
    threshold (``error_multiple`` sigma, times the RMS of f for the product); ``X`` (N, n) are rows of the data,
    the four points of a test take their values from ``rows`` random rows of it. Under "offset", each pair's
    least-squares c for the product test of f - c (NaN where D+ vanishes: f is a sum along the pair)."""
    X = np.asarray(X, dtype=float)
    n = X.shape[1]
    pick = lambda: X[rng.integers(0, X.shape[0], rows)]  # noqa: E731  (one draw of rows, same shape each time)
    scale = float(np.sqrt(np.mean(oracle(pick()) ** 2)))
    sigma = max(float(sigma), ORACLE_FLOOR * scale)
    out = {"sum": np.zeros((n, n)), "product": np.zeros((n, n)), "offset": np.full((n, n), math.nan)}
    for i in range(n):
        for j in range(i + 1, n):
            base, other = pick(), pick()  # (rows, n): a and b from base, a' and b' from other
            f11 = oracle(base)
            p = base.copy()
            p[:, i] = other[:, i]
            f21 = oracle(p)
            p = base.copy()
            p[:, j] = other[:, j]
            f12 = oracle(p)
            p[:, i] = other[:, i]
            f22 = oracle(p)
            with np.errstate(all="ignore"):
                d_sum, d_product = f11 + f22 - f12 - f21, f11 * f22 - f12 * f21  # D+ and Dx, (rows,)
                add = float(np.sqrt(np.mean(d_sum**2))) / (error_multiple * sigma)
                mul = float(np.sqrt(np.mean(d_product**2))) / (error_multiple * sigma * max(scale, 1e-300))
                offset = float(np.sum(d_product * d_sum) / np.sum(d_sum**2))
            if math.isfinite(offset) and add > 1.0:  # where D+ is noise, f is a sum along the pair: no offset
                out["offset"][i, j] = out["offset"][j, i] = offset
            out["sum"][i, j] = out["sum"][j, i] = add if math.isfinite(add) else math.inf
            out["product"][i, j] = out["product"][j, i] = mul if math.isfinite(mul) else math.inf
    return out


def components(interacting: np.ndarray) -> list[tuple[int, ...]]:
    """Connected components of the graph whose adjacency is the bool (n, n) ``interacting``, each sorted, in order
    of their first variable."""
    n = interacting.shape[0]
    seen, parts = set(), []
    for start in range(n):
        if start in seen:
            continue
        stack, part = [start], []
        seen.add(start)
        while stack:
            v = stack.pop()
            part.append(v)
            for w in np.flatnonzero(interacting[v]):
                if int(w) not in seen:
                    seen.add(int(w))
                    stack.append(int(w))
        parts.append(tuple(sorted(part)))
    return parts


def find_split(oracle: Oracle, X: np.ndarray, sigma: float, rng: np.random.Generator,
               rows: int = DEFAULTS.test_rows, error_multiple: float = DEFAULTS.error_multiple,
               offset: bool = DEFAULTS.product_offset) -> Split | None:
    """The finest separable split the oracle shows (the kind with more parts; a sum on a tie, the simpler
    recombination), or None when every variable interacts with every other through some path. With ``offset``,
    also a product plus a constant: each pair's least-squares offset c is tried, and f - c's product split is
    kept where it has more parts than any split of f itself (the first such c, in pair order, on a tie)."""
    if X.shape[1] < 2:
        return None
    scores = pair_interactions(oracle, X, sigma, rng, rows, error_multiple)
    best = None
    for kind in ("sum", "product"):
        groups = components(scores[kind] > 1.0)
        if len(groups) >= 2 and (best is None or len(groups) > len(best.groups)):
            best = Split(kind, tuple(groups), _rows_of(scores[kind]))
    if offset:
        for c in dict.fromkeys(float(v) for v in scores["offset"][np.triu_indices(X.shape[1], 1)] if math.isfinite(v)):
            shifted = pair_interactions(lambda Z, c=c: oracle(Z) - c, X, sigma, rng, rows, error_multiple)
            groups = components(shifted["product"] > 1.0)
            if len(groups) > (len(best.groups) if best is not None else 1):
                best = Split("product", tuple(groups), _rows_of(shifted["product"]), offset=c)
    return best


def _rows_of(matrix: np.ndarray) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(float(v) for v in row) for row in matrix)


def reference_point(oracle: Oracle, X: np.ndarray) -> np.ndarray:
    """The point x0 at which a part's other variables are held: the median of the rows ``X`` (N, n), unless |f| there
    is below a tenth of the median of |f| over the rows; then the row nearest the median (each column in units of
    its spread) among those where |f| is at least that median. A part is f along its variables divided by f(x0) in
    a product, so x0 must not sit near a zero of f (the median of V1 and V2 is such a zero of ln(V2/V1))."""
    X = np.asarray(X, dtype=float)
    median = np.median(X, axis=0)
    with np.errstate(all="ignore"):
        size = np.abs(oracle(X))
        at_median = abs(float(oracle(median[None])[0]))
    typical = float(np.median(size[np.isfinite(size)])) if np.any(np.isfinite(size)) else 0.0
    if at_median >= 0.1 * typical or not math.isfinite(typical):
        return median
    spread = np.std(X, axis=0)
    distance = np.sum(((X - median) / np.where(spread > 0, spread, 1.0)) ** 2, axis=1)
    distance[~(size >= typical)] = np.inf
    return X[int(np.argmin(distance))].copy()


def part_rows(values: np.ndarray, group: Sequence[int], reference: np.ndarray) -> np.ndarray:
    """Full rows (N, n) for a part: its variables ``group`` take ``values`` (N, len(group)), every other variable
    the reference point."""
    rows = np.tile(np.asarray(reference, dtype=float), (values.shape[0], 1))
    rows[:, list(group)] = values
    return rows


def recombine(kind: str, parts: Sequence[sympy.Expr], at_reference: float, offset: float = 0.0) -> sympy.Expr:
    """The whole from its parts, each part being f with the other variables at the reference point x0:
    f = sum(parts) - (k - 1) f(x0) for a sum, f = prod(parts) / f(x0)^(k - 1) for a product; for a product with an
    ``offset`` c, the parts and f(x0) are those of f - c, and c is added back."""
    k = len(parts)
    c = sympy.Float(at_reference)
    if kind == "whole" and k == 1:
        return parts[0]
    if kind == "sum":
        return sympy.Add(*parts) - (k - 1) * c
    if kind == "product":
        return sympy.Mul(*parts) / c ** (k - 1) + (sympy.Float(offset) if offset else 0)
    raise ValueError(f"unknown split kind {kind!r}")


def description_length(y: np.ndarray, prediction: np.ndarray, complexity: int, floor: float) -> float:
    """A two-part description length in nats (the BIC form): n/2 ln(MSE) for the residuals plus complexity/2 ln n
    for the formula, its nodes counted as its parameters. MSE below ``floor`` (squared units of y) counts as the
    floor: differences below it are the arithmetic's, not the formula's. Infinite when a prediction is not finite."""
    y, prediction = np.asarray(y, dtype=float), np.asarray(prediction, dtype=float)
    if not np.all(np.isfinite(prediction)):
        return math.inf
    n = y.size
    mse = max(float(np.mean((y - prediction) ** 2)), floor, 1e-300)
    return 0.5 * n * math.log(mse) + 0.5 * complexity * math.log(n)
