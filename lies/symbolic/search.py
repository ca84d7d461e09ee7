"""Structure search: a sparse sum of library terms, its size chosen by description length (not in the paper).

The network's units, applied to monomials of the inputs, make a library of terms; a candidate formula is

    y = c_0 + c_1 g_1(x) + ... + c_k g_k(x),    g_j in the library, c fitted by least squares,

with the terms chosen by a beam search over additions (orthogonal matching pursuit, several paths at once) and
then improved by swapping one term at a time, one candidate per k. Which k is kept is not a threshold: it is the candidate of shortest description length
(`lies.symbolic.separability.description_length`) on validation rows the fit never saw, so a longer formula has to
pay for its nodes with a smaller error. Every candidate is kept as the error-complexity front (PySR's hall of fame).

The library is fixed by the units and the inputs' ranges, not by any benchmark's formulas:

- monomials x_i^a x_j^b of at most two variables, each exponent in {-2, -1, -1/2, 1/2, 1, 2, 3, 4} (negative ones
  only for a variable that stays away from 0, halves only for a positive one), total degree |a| + |b| at most
  ``max_degree``;
- the Identity unit on each monomial, the Sine unit (sin and its shift by pi/2, cos), the Exp unit (exp(m) and
  exp(-m)) on each monomial of total degree at most ``unit_degree``, the Log unit on each positive variable;
- a unit of a one-variable monomial times a variable or its inverse (x sin y, x e^(-x), cos(z) / y);
- with ``products`` (one more layer of the network: the Exp unit of a sum of two Log units), a unit of a variable
  or its root or inverse times a monomial of two variables (sqrt(a b) cos d, B v sin t), and the product of two
  such units (sin^2 t, sin t cos t, e^(-t) cos w): the library grows with the square of the variables.

A candidate may also have an outer function, y = outer(sum), the sum fitted to its inverse of y (`OUTERS`): 1/y
(ratios such as 1 / (a^2 - b^2)), y^2 (the power 1/2, a Log and an Exp unit at the output: lengths and magnitudes,
sqrt(a^2 + b^2)) and ln |y| (the Exp unit at the output: products of powers times exponentials).
Products of such sums are what the decomposition stage (product splits) finds, its parts searched again.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import sympy

from lies.core.checks import target_sign
from lies.symbolic.formula import Formula, count_nodes
from lies.symbolic.separability import description_length

#: The exponents a monomial's variables may carry (before the range rules of the module docstring).
EXPONENTS: tuple[sympy.Rational, ...] = tuple(sympy.Rational(p) for p in ("-2", "-1", "-1/2", "1/2", "1", "2", "3", "4"))

#: A term whose values exceed this on the fit rows is left out (an overflow, not a shape).
_MAX_TERM_SCALE = 1e8


@dataclass
class Candidate:
    """One point of the front: ``terms`` (indices into the library), the fitted formula, its complexity (nodes),
    its validation MSE and description length."""

    terms: tuple[int, ...]
    formula: Formula
    complexity: int
    mse: float
    description_length: float
    outer: str = "identity"  # y = outer(sum): `OUTERS`

    def to_dict(self) -> dict:
        finite = {k: (v if math.isfinite(v) else None) for k, v in
                  (("mse", self.mse), ("description_length", self.description_length))}
        return {"outer": self.outer, "terms": len(self.terms), "formula": self.formula.text,
                "complexity": self.complexity, **finite}


@dataclass
class SearchResult:
    """The front (one candidate per outer function and number of terms, 0 = the mean) and the index of the chosen
    one."""

    front: list[Candidate] = field(default_factory=list)
    chosen: int = 0
    library_size: int = 0

    @property
    def best(self) -> Candidate:
        return self.front[self.chosen]


def monomials(variables: Sequence[sympy.Symbol], X: np.ndarray, max_degree: int) -> list[sympy.Expr]:
    """Monomials of at most two variables with `EXPONENTS` allowed by each variable's range, total degree at most
    ``max_degree``, in a fixed order."""
    X = np.asarray(X, dtype=float)
    allowed = []
    for k in range(len(variables)):
        column = X[:, k]
        positive, away = bool(np.all(column > 0)), bool(np.all(column > 0) or np.all(column < 0))
        allowed.append([p for p in EXPONENTS if (p > 0 or away) and (p.q == 1 or positive)])
    out: list[sympy.Expr] = []
    for k, v in enumerate(variables):
        out += [v**p for p in allowed[k] if abs(p) <= max_degree]
    for i, j in itertools.combinations(range(len(variables)), 2):
        for p, q in itertools.product(allowed[i], allowed[j]):
            if abs(p) + abs(q) <= max_degree:
                out.append(variables[i] ** p * variables[j] ** q)
    return out


def library(variables: Sequence[sympy.Symbol], X: np.ndarray, max_degree: int, unit_degree: int,
            products: bool = False) -> list[sympy.Expr]:
    """The terms of the module docstring, duplicates removed, in a fixed order."""
    monos = monomials(variables, X, max_degree)
    low = [m for m in monos if _degree(m) <= unit_degree]
    units = [unit(m) for unit in _UNITS for m in low]
    terms = list(monos) + units
    terms += [sympy.log(v) for k, v in enumerate(variables) if np.all(np.asarray(X, dtype=float)[:, k] > 0)]
    # a unit of one variable times a variable or its inverse (x sin y, U cos(k) / k): one more layer of the network
    factors = [m for m in monos if len(m.free_symbols) == 1 and _degree(m) == 1]
    terms += [f * u for f in factors for u in units if len(u.free_symbols) == 1]
    if products:  # that layer's other products: a unit of x^p (|p| <= 1) times a two-variable monomial or a unit
        simple = [unit(m) for unit in _UNITS for m in low if len(m.free_symbols) == 1 and _degree(m) <= 1]
        terms += [m * u for m in low if len(m.free_symbols) == 2 for u in simple]
        terms += [u * w for u, w in itertools.combinations_with_replacement(simple, 2)]
    return list(dict.fromkeys(terms))


#: The units a library term applies to a monomial: Sine (and its shift, cos), Exp (of m and of -m).
_UNITS = (sympy.sin, sympy.cos, sympy.exp, lambda m: sympy.exp(-m))


def _degree(monomial: sympy.Expr) -> sympy.Rational:
    return sum((abs(e) for _, e in monomial.as_powers_dict().items()), sympy.Integer(0))


def term_values(terms: Sequence[sympy.Expr], variables: Sequence[sympy.Symbol], X: np.ndarray) -> np.ndarray:
    """(N, L): each term evaluated on the rows (NaN where it is undefined or overflows). Terms share factors (the
    units in the products), so each sub-expression is evaluated once."""
    X = np.asarray(X, dtype=float)
    memo: dict[sympy.Expr, np.ndarray] = {v: X[:, k] for k, v in enumerate(variables)}
    functions = {sympy.sin: np.sin, sympy.cos: np.cos, sympy.exp: np.exp, sympy.log: np.log}

    def value(e: sympy.Expr) -> np.ndarray:
        if e not in memo:
            if e.is_Number:
                memo[e] = np.full(X.shape[0], float(e))
            elif e.is_Mul:
                memo[e] = math.prod((value(a) for a in e.args[1:]), start=value(e.args[0]))
            elif e.is_Pow:
                memo[e] = np.power(value(e.base), float(e.exp))
            elif e.func in functions:
                memo[e] = functions[e.func](value(e.args[0]))
            else:
                memo[e] = np.broadcast_to(sympy.lambdify(variables, e, "numpy")(*X.T), (X.shape[0],))
        return memo[e]

    out = np.empty((X.shape[0], len(terms)))
    with np.errstate(all="ignore"):
        for j, term in enumerate(terms):
            out[:, j] = value(term)
    return out


def _fit(A: np.ndarray, y: np.ndarray, columns: Sequence[int]) -> tuple[np.ndarray, float]:
    """Least squares of y on a constant and ``columns`` of A: (coefficients, constant first; the SSE)."""
    design = np.column_stack([np.ones(len(y)), A[:, list(columns)]])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return coef, float(np.sum((design @ coef - y) ** 2))


def _additions(A: np.ndarray, y: np.ndarray, columns: Sequence[int], count: int, norms: np.ndarray) -> list[int]:
    """The ``count`` columns whose addition to ``columns`` (and the constant) lowers the SSE most, best first: the
    squared projection of the residual r on the part of column a that the chosen ones (orthonormal basis Q) do not
    span, (a'r)^2 / (|a|^2 - |Q'a|^2), from two products with A (``norms``: |a|^2 per column)."""
    basis, _ = np.linalg.qr(np.column_stack([np.ones(len(y)), A[:, list(columns)]]))
    residual = y - basis @ (basis.T @ y)
    spanned = basis.T @ A  # (k + 1, L)
    rest = norms - np.einsum("ij,ij->j", spanned, spanned)
    usable = rest > 1e-10 * norms
    usable[list(columns)] = False
    gain = np.where(usable, (A.T @ residual) ** 2 / np.where(usable, rest, 1.0), -np.inf)
    order = np.argsort(-gain, kind="stable")[:count]
    return [int(j) for j in order if np.isfinite(gain[j])]


def select_terms(A: np.ndarray, y: np.ndarray, max_terms: int, beam: int, swap_rounds: int = 2) -> list[tuple[int, ...]]:
    """The best set of columns found per size 1..max_terms (A: (N, L), finite columns).

    A beam search grows sets one column at a time: the ``beam`` sets of each size with the smallest SSE grow by each
    one's ``beam`` best additions (orthogonal matching pursuit is ``beam`` 1), on to twice ``max_terms``; each set
    of the last size is then shrunk one column at a time, the column whose removal costs least (backward
    elimination); and the best set of each size is improved by replacing one member at a time with the best other
    column while the SSE drops (``swap_rounds`` passes at most). Growing alone gets stuck where terms are nearly
    collinear over the data (x, x^2, sin x and e^x on a small interval): the subsets of the true sum need not fit
    best at the sizes on the way; a larger set that contains it fits almost exactly, and elimination finds it."""
    norms = np.einsum("ij,ij->j", A, A)
    sse = lambda c: _fit(A, y, c)[1]  # noqa: E731
    found: dict[int, list[tuple[int, ...]]] = {}
    frontier: list[tuple[int, ...]] = [()]
    for size in range(1, min(2 * max_terms, A.shape[1]) + 1):
        grown = {tuple(sorted(c + (j,))) for c in frontier for j in _additions(A, y, c, beam, norms)}
        if not grown:
            break
        frontier = sorted(grown, key=lambda c: (sse(c), c))[:beam]
        found[size] = [frontier[0]]
    for start in frontier:  # backward elimination from each of the largest sets
        current = start
        while len(current) > 1:
            current = min((current[:i] + current[i + 1:] for i in range(len(current))), key=lambda c: (sse(c), c))
            found.setdefault(len(current), []).append(current)
    best = []
    for size in range(1, min(max_terms, len(found)) + 1):
        chosen = min(found[size], key=lambda c: (sse(c), c))
        best.append(_swapped(A, y, list(chosen), swap_rounds, norms))
    return best


def _swapped(A: np.ndarray, y: np.ndarray, chosen: list[int], rounds: int, norms: np.ndarray) -> tuple[int, ...]:
    """``chosen`` with members replaced, one at a time, by the column that lowers the SSE most, while it drops."""
    sse = _fit(A, y, chosen)[1]
    for _ in range(rounds):
        improved = False
        for position in range(len(chosen)):
            others = chosen[:position] + chosen[position + 1:]
            swap = _additions(A, y, others, 1, norms)
            if not swap or swap[0] == chosen[position]:
                continue
            trial = others[:position] + swap + others[position:]
            trial_sse = _fit(A, y, trial)[1]
            if trial_sse < sse * (1 - 1e-9):
                chosen, sse, improved = trial, trial_sse, True
        if not improved:
            break
    return tuple(chosen)


@dataclass(frozen=True)
class Outer:
    """An outer function of a candidate, y = outer(sum, sign): the sum is fitted to ``inverse(y)`` where
    ``applies(y)``; ``sign`` is the target's (`lies.core.checks.target_sign`)."""

    name: str
    inverse: Callable[[np.ndarray], np.ndarray]
    outer: Callable[[sympy.Expr, float], sympy.Expr]
    applies: Callable[[np.ndarray], bool]


def _one_sign(y: np.ndarray) -> bool:
    return bool(np.all(y > 0) or np.all(y < 0))


#: The outer functions tried: none; the power -1 (a ratio: 1/y a sum); the power 1/2 (y^2 a sum, the sign kept); the
#: Exp unit (ln |y| a sum, the sign kept: products of powers times exponentials).
OUTERS: dict[str, Outer] = {
    "identity": Outer("identity", lambda y: y, lambda e, sign: e, lambda y: True),
    "inverse": Outer("inverse", lambda y: 1 / y, lambda e, sign: 1 / e, _one_sign),
    "sqrt": Outer("sqrt", lambda y: y**2, lambda e, sign: sign * sympy.sqrt(e), _one_sign),
    "exp": Outer("exp", lambda y: np.log(np.abs(y)), lambda e, sign: sign * sympy.exp(e), _one_sign),
}


def search(variables: Sequence[str], X_fit: np.ndarray, y_fit: np.ndarray, X_val: np.ndarray, y_val: np.ndarray,
           max_terms: int, max_degree: int, unit_degree: int, beam: int, floor: float,
           outers: Sequence[str] = ("identity",), products: bool = False) -> SearchResult:
    """The front of sparse sums on the fit rows, under each outer function of ``outers`` (`OUTERS`) the data
    allow, and the candidate of shortest description length on the validation rows in the target's own units
    (``floor``: the MSE below which errors count as equal, squared units of y; ``products``: the library's
    products of two terms, `library`)."""
    symbols = [sympy.Symbol(v) for v in variables]
    terms = library(symbols, np.concatenate([X_fit, X_val]), max_degree, unit_degree, products)
    A = term_values(terms, symbols, X_fit)
    usable = np.all(np.isfinite(A), axis=0) & (np.max(np.abs(A), axis=0) <= _MAX_TERM_SCALE)
    with np.errstate(all="ignore"):
        usable &= np.std(A, axis=0) > 0
    index = np.flatnonzero(usable)
    terms, A = [terms[j] for j in index], A[:, index]
    result = SearchResult(library_size=len(terms))
    relative_floor = math.sqrt(floor) / (float(np.sqrt(np.mean(y_val**2))) or 1.0)
    sign = float(target_sign(y_fit))
    for outer in (OUTERS[name] for name in outers):
        if not (outer.applies(y_fit) and outer.applies(y_val)):
            continue
        with np.errstate(all="ignore"):
            target = outer.inverse(y_fit)
        # a part of the sum this much below the (transformed) target's RMS is the fit's round-off: dropped, or
        # 1/(x^2 - z^2 + 1e-14) would stay a rational function of large numbers after sympy's normal form
        negligible = 1e-3 * relative_floor * float(np.sqrt(np.mean(target**2)))
        for columns in [()] + select_terms(A, target, max_terms, beam):
            coef, _ = _fit(A, target, columns)
            sizes = np.abs(coef) * np.concatenate([[1.0], np.max(np.abs(A[:, list(columns)]), axis=0)])
            coef = np.where(sizes > negligible, coef, 0.0)
            inner = sympy.Float(coef[0]) + sum((sympy.Float(c) * terms[j] for c, j in zip(coef[1:], columns)),
                                               sympy.Integer(0))
            formula = Formula(outer.outer(inner, sign), symbols)
            with np.errstate(all="ignore"):
                prediction = formula(X_val)
            complexity = count_nodes(formula.expr)
            mse = float(np.mean((prediction - y_val) ** 2)) if np.all(np.isfinite(prediction)) else math.inf
            length = description_length(y_val, prediction, complexity, floor)
            result.front.append(Candidate(tuple(columns), formula, complexity, mse, length, outer.name))
    result.chosen = min(range(len(result.front)), key=lambda k: (result.front[k].description_length, k))
    return result
