"""`Formula`: a sympy expression bound to an ordered variable list, the column order of the data.

Keeping the order inside the value is what prevents the reference code's bug B10 (the refit bound data column 0
to the *last* symbol): every evaluation here goes through `variables`, never through sorted or reversed free
symbols. Symbols are plain `sympy.Symbol(name)` without assumptions, as in the Feynman registry, so formulas
built in different places compare equal.

`Parametrized` is the shared tool of the III-E rounding and the III-F refit: every Float constant of the
expression, occurrence by occurrence, becomes a parameter symbol, and the expression is compiled once into
`f(X, theta)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import sympy
from sympy.parsing.sympy_parser import parse_expr, standard_transformations

from lies.errors import LiesError

__all__ = ["Formula", "Parametrized", "parametrize", "count_nodes"]

def count_nodes(expr: sympy.Basic) -> int:
    """Node count of `expr`: the number of items in `sympy.preorder_traversal` (SRBench's complexity)."""
    return sum(1 for _ in sympy.preorder_traversal(expr))


def _plain_symbols(names: Sequence[str]) -> tuple[sympy.Symbol, ...]:
    return tuple(sympy.Symbol(n) for n in names)


def _parse(text: str, names: Sequence[str]) -> sympy.Expr:
    """Parse with an explicit symbol table, so `gamma`, `E`, `I`, `beta`... are variables when listed as such."""
    local = {n: sympy.Symbol(n) for n in names}
    try:
        return sympy.sympify(parse_expr(text, local_dict=local, transformations=standard_transformations))
    except Exception as exc:  # sympy raises many types (SyntaxError, TokenError, TypeError...)
        raise LiesError(f"cannot parse formula {text!r}: {exc}") from None


def _evaluate(fn: Callable[..., Any], X: np.ndarray, extra: Sequence[float] = ()) -> np.ndarray:
    """Call a lambdified `fn(*columns, *extra)`, returning float64 of shape (N,) without warnings."""
    n_rows = X.shape[0]
    with np.errstate(all="ignore"):
        out = fn(*np.ascontiguousarray(X.T), *extra)  # contiguous columns: faster elementwise numpy
        out = np.asarray(out)
        if np.iscomplexobj(out):  # only an explicit I in the formula gets here
            out = np.where(out.imag == 0, out.real, np.nan)
        out = np.asarray(out, dtype=np.float64)
    if out.shape != (n_rows,):
        out = np.broadcast_to(out, (n_rows,)).copy()  # a constant formula, or a term free of all variables
    return out


def _check_X(X: Any, n_vars: int) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1 and n_vars == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[1] != n_vars:
        raise ValueError(f"X must have shape (N, {n_vars}) in the formula's variable order, got {X.shape}")
    return X


class Formula:
    """An immutable symbolic formula over an ordered variable list (the data's column order).

    Equality and hashing use the exact `srepr` and the variable names, so `2.0*x` and `2*x` differ (a Float is
    a fitted constant, an Integer is structure). Evaluation compiles the expression with numpy `lambdify` once,
    on first call, and caches it on the instance (it is not pickled; a copy recompiles on demand).
    """

    __slots__ = ("_expr", "_variables", "_srepr", "_fn")

    def __init__(self, expr: sympy.Expr | str, variables: Sequence[sympy.Symbol | str]) -> None:
        names = tuple(v.name if isinstance(v, sympy.Symbol) else str(v) for v in variables)
        if len(set(names)) != len(names):
            raise LiesError(f"duplicate variable names in {list(names)}")
        symbols = _plain_symbols(names)
        if isinstance(expr, str):
            expr = _parse(expr, names)
        else:
            expr = sympy.sympify(expr)
        if not isinstance(expr, sympy.Expr):
            raise LiesError(f"a formula must be a sympy expression, got {type(expr).__name__}")
        by_name = {s.name: s for s in symbols}
        unknown = sorted(s.name for s in expr.free_symbols if s.name not in by_name)
        if unknown:
            raise LiesError(f"formula {expr} uses {unknown}, which are not among its variables {list(names)}")
        # A Symbol('x', positive=True) is a different object from Symbol('x'): bring all to plain symbols.
        swap = {s: by_name[s.name] for s in expr.free_symbols if s != by_name[s.name]}
        if swap:
            expr = expr.xreplace(swap)
        set_ = object.__setattr__
        set_(self, "_expr", expr)
        set_(self, "_variables", symbols)
        set_(self, "_srepr", sympy.srepr(expr))
        set_(self, "_fn", None)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Formula is immutable; use with_expr()")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self._srepr, self.variable_names))

    # -- the value ------------------------------------------------------------------------------------------
    @property
    def expr(self) -> sympy.Expr:
        return self._expr

    @property
    def variables(self) -> tuple[sympy.Symbol, ...]:
        return self._variables

    @property
    def variable_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self._variables)

    @property
    def text(self) -> str:
        return str(self._expr)

    @property
    def srepr(self) -> str:
        return self._srepr

    @property
    def latex(self) -> str:
        return sympy.latex(self._expr, ln_notation=True)

    @property
    def complexity(self) -> int:
        """Number of nodes in `preorder_traversal` (SRBench's `complexity`)."""
        return count_nodes(self._expr)

    @property
    def n_constants(self) -> int:
        """Number of Float leaves (each occurrence counts: each is a separate parameter for III-E/III-F)."""
        return sum(1 for a in sympy.preorder_traversal(self._expr) if isinstance(a, sympy.Float))

    # -- evaluation -----------------------------------------------------------------------------------------
    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Evaluate on `X` (N, n_variables) in `variables` order; returns float64 (N,).

        Invalid operations give nan and overflow/division by zero give +-inf, as numpy does, silently
        (`np.errstate`); a non-real value (explicit `I`) gives nan. Never warns for numerical trouble.
        """
        X = _check_X(X, len(self._variables))
        fn = self._fn
        if fn is None:
            fn = sympy.lambdify(self._variables, self._expr, modules="numpy")
            object.__setattr__(self, "_fn", fn)
        return _evaluate(fn, X)

    def with_expr(self, expr: sympy.Expr | str) -> "Formula":
        """A new formula with the same variables."""
        return Formula(expr, self._variables)

    # -- serialisation --------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: `srepr` is the exact form (`from_dict` rebuilds from it); `text`/`latex` are for people."""
        return {"text": self.text, "srepr": self._srepr, "latex": self.latex, "variables": list(self.variable_names)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Formula":
        return _rebuild(d["srepr"], d["variables"])

    # -- value semantics ------------------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Formula):
            return NotImplemented
        return self._srepr == other._srepr and self.variable_names == other.variable_names

    def __hash__(self) -> int:
        return hash((self._srepr, self.variable_names))

    def __repr__(self) -> str:
        return f"Formula({self.text!r}, variables={list(self.variable_names)})"

    def __str__(self) -> str:
        return self.text


def _rebuild(srepr: str, variables: Sequence[str]) -> Formula:
    """Rebuild from `srepr` exactly: evaluated with the sympy namespace only, no parser transformations."""
    namespace: dict[str, Any] = {"__builtins__": {}}
    namespace.update({k: getattr(sympy, k) for k in dir(sympy) if not k.startswith("_")})
    try:
        expr = eval(srepr, namespace)  # noqa: S307 - srepr is sympy's own exact, eval-able form
    except Exception as exc:
        raise LiesError(f"cannot rebuild formula from srepr {srepr[:80]!r}: {exc}") from None
    return Formula(expr, list(variables))


# -- constants as parameters (shared by rounding.py and coefficients.py) ---------------------------------------

@dataclass(frozen=True, eq=False)
class Parametrized:
    """`formula` with its k-th Float occurrence replaced by the symbol `params[k]` (initial value `values[k]`).

    `evaluate(X, theta)` runs one numpy function compiled once for all theta; `rebuild(exprs)` puts sympy
    numbers back (Float for fitted values, Rational/Integer for rounded ones) and lets sympy re-evaluate, so
    `x**2` with an Integer exponent or a term multiplied by 0 simplify on their own.
    """

    formula: Formula
    expr: sympy.Expr
    params: tuple[sympy.Symbol, ...]
    values: np.ndarray
    floats: tuple[sympy.Float, ...]
    _fn: Callable[..., Any]

    def evaluate(self, X: np.ndarray, theta: Sequence[float] | np.ndarray) -> np.ndarray:
        """f(X; theta), float64 (N,); X already checked (N, n_variables)."""
        return _evaluate(self._fn, X, [float(t) for t in theta])

    def rebuild(self, numbers: Sequence[sympy.Expr | float]) -> Formula:
        """Substitute one number per parameter; a Python float becomes a sympy Float."""
        mapping = {p: (v if isinstance(v, sympy.Basic) else sympy.Float(float(v))) for p, v in zip(self.params, numbers)}
        return self.formula.with_expr(self.expr.xreplace(mapping))


def parametrize(formula: Formula) -> Parametrized:
    """Replace every Float *occurrence* by its own parameter symbol (two equal Floats stay independent)."""
    counter = [0]
    values: list[float] = []
    floats: list[sympy.Float] = []
    taken = {s.name for s in formula.expr.free_symbols} | set(formula.variable_names)
    params: list[sympy.Symbol] = []

    def new_param(value: sympy.Float) -> sympy.Symbol:
        while True:
            name = f"_c{counter[0]}"
            counter[0] += 1
            if name not in taken:
                break
        p = sympy.Symbol(name)
        params.append(p)
        values.append(float(value))
        floats.append(value)
        return p

    def walk(e: sympy.Basic) -> sympy.Basic:
        if isinstance(e, sympy.Float):
            return new_param(e)
        if not e.args or isinstance(e, sympy.Symbol):
            return e
        new_args = [walk(a) for a in e.args]
        if all(a is b for a, b in zip(new_args, e.args)):
            return e
        return e.func(*new_args)

    expr_p = walk(formula.expr)
    args = list(formula.variables) + params
    fn = sympy.lambdify(args, expr_p, modules="numpy")
    return Parametrized(formula, expr_p, tuple(params), np.asarray(values, dtype=np.float64), tuple(floats), fn)
