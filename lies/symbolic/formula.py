"""`Formula`: a sympy expression bound to an ordered variable list, the column order of the data.

Keeping the order inside the value is what prevents the reference code's bug B10 (the refit bound data column 0
to the *last* symbol): every evaluation here goes through `variables`, never through sorted or reversed free
symbols. Symbols are plain `sympy.Symbol(name)` without assumptions, as in the Feynman registry, so formulas
built in different places compare equal.

`Parametrized` is the shared tool of the III-E rounding and the III-F refit: every Float constant of the
expression, occurrence by occurrence, becomes a parameter symbol, and the expression is compiled once into
`f(X, theta)`.

Formula text is read without `eval`: `parse_srepr` reads the exact form stored in artifacts (``formula.json``,
pickles), `parse_formula` the infix text people and tables write. Both walk Python's `ast` of the text and build
sympy objects from a fixed vocabulary of constructors and functions; anything else (attribute access, unknown
names, lambdas, subscripts, strings where numbers belong) is a `lies.core.errors.FormulaTextError`, before any of it
runs. They are the only readers of formula text in `lies`.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import sympy

from lies.core.errors import FormulaTextError, LiesError, first_line

__all__ = ["Formula", "Parametrized", "parametrize", "count_nodes", "evaluations_for", "parse_formula", "parse_srepr",
           "FORMULA_NAMES"]

def count_nodes(expr: sympy.Basic) -> int:
    """Node count of `expr`: the number of items in `sympy.preorder_traversal` (SRBench's complexity)."""
    return sum(1 for _ in sympy.preorder_traversal(expr))


#: The formula stages' evaluation bounds (``max_evaluations``) count evaluations of a formula of at most this many
#: nodes; one evaluation of a larger formula costs nodes / REFERENCE_NODES as much, and counts so (`evaluations_for`).
REFERENCE_NODES = 100


def evaluations_for(max_evaluations: int | None, expr: sympy.Basic) -> int | None:
    """A bound of ``max_evaluations`` evaluations of a `REFERENCE_NODES`-node formula, in evaluations of ``expr``.

    The bounds decide where work stops (a count, so the same on any machine under any load); counted in plain
    evaluations, a substitute of 10,000 nodes spends a hundred times the time of a formula of 100 (the holdout
    set's raw-space substitutes kept rounding to zero busy for more than 20 minutes). At least one evaluation is
    left to a positive bound; None (no bound) and 0 stay."""
    if not max_evaluations:
        return max_evaluations
    return max(1, int(max_evaluations * min(1.0, REFERENCE_NODES / max(count_nodes(expr), 1))))


def _plain_symbols(names: Sequence[str]) -> tuple[sympy.Symbol, ...]:
    return tuple(sympy.Symbol(n) for n in names)


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


def check_X(X: Any, n_vars: int) -> np.ndarray:
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
            expr = parse_formula(expr, names)
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
        X = check_X(X, len(self._variables))
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
    """Rebuild from `srepr` exactly, without eval (`parse_srepr`)."""
    return Formula(parse_srepr(srepr), list(variables))


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


# -- reading formula text without eval -------------------------------------------------------------------------

#: The sympy functions a formula may contain, by the name sympy prints (and `srepr` writes) them.
_FUNCTIONS = (
    "exp", "log", "LambertW", "sin", "cos", "tan", "cot", "sec", "csc", "sinc", "asin", "acos", "atan", "acot",
    "asec", "acsc", "atan2", "sinh", "cosh", "tanh", "coth", "sech", "csch", "asinh", "acosh", "atanh", "acoth",
    "asech", "acsch", "Abs", "sign", "re", "im", "arg", "conjugate", "floor", "ceiling", "frac", "Max", "Min",
    "Heaviside", "erf", "erfc", "gamma", "factorial",
)

#: Names that formula text may use besides its variables: the functions above, the aliases the AI Feynman table
#: and Python write (``ln``, ``arcsin``, ``abs``...), and sympy's constants. A variable of the same name wins.
FORMULA_NAMES: Mapping[str, Any] = MappingProxyType({
    **{name: getattr(sympy, name) for name in _FUNCTIONS},
    "sqrt": sympy.sqrt, "cbrt": sympy.cbrt, "ln": sympy.log, "arcsin": sympy.asin, "arccos": sympy.acos,
    "arctan": sympy.atan, "abs": sympy.Abs,
    "pi": sympy.pi, "E": sympy.E, "I": sympy.I, "oo": sympy.oo, "zoo": sympy.zoo, "nan": sympy.nan,
})

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Pow: lambda base, exponent: _power(sympy.sympify(base), sympy.sympify(exponent))}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_WHAT = {ast.Attribute: "attribute access", ast.Subscript: "a subscript", ast.Lambda: "a lambda",
         ast.Starred: "star arguments", ast.Compare: "a comparison", ast.BoolOp: "a boolean operator",
         ast.IfExp: "a conditional expression", ast.NamedExpr: "an assignment"}


class _Refused(Exception):
    """Text that is not a formula expression (the reason is the message); never leaves this module."""


#: The most bits an exact power of two numbers may have. sympy computes ``Integer(10)**Integer(10**8)`` exactly
#: (minutes of CPU for a few bytes of text); a fitted or snapped formula never comes near this.
MAX_POWER_BITS = 100_000


def _power(base: Any, exponent: Any) -> Any:
    """``base**exponent``, refused before sympy works on it when both are exact numbers and the result would hold
    more than `MAX_POWER_BITS` bits: bounds the work of reading a hand-edited or hostile formula."""
    if isinstance(base, sympy.Rational) and isinstance(exponent, sympy.Rational) and abs(exponent) > 1:
        bits = max(abs(base.p).bit_length(), base.q.bit_length())
        if bits > 1 and abs(exponent) * bits > MAX_POWER_BITS:
            shown = base if bits <= 64 else f"(a {bits}-bit number)"
            raise _Refused(f"the exact power {shown}**{exponent} is too large to compute (over {MAX_POWER_BITS} bits)")
    return sympy.Pow(base, exponent)


def _describe(node: ast.AST) -> str:
    """What an unsupported node is, for the error message."""
    if type(node) in _WHAT:
        return _WHAT[type(node)]
    if isinstance(node, ast.Constant):
        return f"the literal {node.value!r}"
    if isinstance(node, (ast.BinOp, ast.UnaryOp)):
        return f"the operator {type(node.op).__name__}"
    return f"a Python {type(node).__name__}"


def _number(node: ast.Constant, source: str) -> sympy.Expr:
    """A numeric literal as sympy's parser reads it: an int is an Integer, a float the Float of its digits as
    written (so ``0.1`` and a 30-digit constant keep their precision), ``2j`` is ``2*I``."""
    value = node.value
    if isinstance(value, bool) or not isinstance(value, (int, float, complex)):
        raise _Refused(_describe(node))
    if isinstance(value, int):
        return sympy.Integer(value)
    digits = ast.get_source_segment(source, node) or repr(value)
    if isinstance(value, complex):
        digits = digits[:-1]
        return (sympy.Float(digits) if any(c in digits for c in ".eE") else sympy.Integer(int(digits))) * sympy.I
    return sympy.Float(digits)


class _InfixReader:
    """Evaluates the ast of infix formula text on sympy objects, as Python would evaluate sympy's parsed code."""

    def __init__(self, source: str, symbols: Mapping[str, sympy.Symbol], names: Mapping[str, Any]) -> None:
        self.source, self.symbols, self.names = source, symbols, names
        self.extra: set[str] = set()

    def read(self, node: ast.AST) -> Any:
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](self.read(node.left), self.read(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](self.read(node.operand))
        if isinstance(node, ast.Constant):
            return _number(node, self.source)
        if isinstance(node, ast.Name):
            if node.id in self.symbols:
                return self.symbols[node.id]
            value = self.names.get(node.id)
            if isinstance(value, sympy.Basic):
                return value
            if value is not None:
                raise _Refused(f"the function {node.id!r} is used without arguments")
            self.extra.add(node.id)
            return sympy.Symbol(node.id)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id
            if node.keywords:
                raise _Refused(f"keyword arguments in the call of {name!r}")
            if name in self.symbols:
                raise _Refused(f"the variable {name!r} is called like a function")
            function = self.names[name]  # unknown functions are refused before reading
            return function(*(self.read(arg) for arg in node.args))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitXor):
            raise _Refused("'^' is not a power here; write **")
        raise _Refused(_describe(node))


def parse_formula(
    text: str,
    variables: Sequence[str] | Mapping[str, sympy.Symbol] | None,
    *,
    names: Mapping[str, Any] | None = None,
    xor: bool = False,
) -> sympy.Expr:
    """Read infix formula text (``2.5*x**1.5 + exp(-y)``) into sympy, without eval.

    Each name in ``variables`` is a plain, assumption-free Symbol (or the Symbol a mapping gives it), so that it
    compares equal to ``sympy.Symbol(name)`` created anywhere else; a variable wins over a function or constant of
    the same name (``gamma``, ``I``, ``E``, ``beta`` are variables when listed). Other names come from ``names``
    (default `FORMULA_NAMES`); any other name is an error, or, with ``variables=None``, one more plain Symbol.
    Numbers are read as sympy's own parser reads them (Integer, or the Float of the digits as written), and the
    arithmetic is sympy's, so the result is what ``sympy.parse_expr`` gives for the same text. ``xor``: ``^`` is a
    power (Operon writes it so). Any problem is a one-line `LiesError`.
    """
    if not isinstance(text, str):
        raise FormulaTextError(f"formula text must be a string, got {type(text).__name__}")
    if variables is None:
        symbols: Mapping[str, sympy.Symbol] = {}
    elif isinstance(variables, Mapping):
        symbols = dict(variables)
    else:
        symbols = {str(v): sympy.Symbol(str(v)) for v in variables}
    names = FORMULA_NAMES if names is None else names
    source = text.replace("^", "**") if xor else text
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise FormulaTextError(f"cannot parse formula {text!r}: {first_line(exc)}") from None
    unknown = sorted({node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call)
                      and isinstance(node.func, ast.Name) and node.func.id not in symbols
                      and not callable(names.get(node.func.id))})
    if unknown:
        raise FormulaTextError(f"formula {text!r} calls unknown function(s): {', '.join(unknown)}")
    reader = _InfixReader(source.strip(), symbols, names)
    try:
        expr = reader.read(tree.body)
    except RecursionError:
        raise FormulaTextError(f"cannot parse formula {text!r}: nested too deeply") from None
    except _Refused as exc:
        raise FormulaTextError(f"cannot parse formula {text!r}: it is not a formula expression ({exc})") from None
    except Exception as exc:  # sympy refusing the arithmetic or a call (TypeError, ...)
        raise FormulaTextError(f"cannot parse formula {text!r}: {first_line(exc)}") from None
    if not isinstance(expr, sympy.Expr):
        raise FormulaTextError(f"formula {text!r} is not an expression")
    if reader.extra and variables is not None:
        raise FormulaTextError(f"formula {text!r} uses names that are not its variables: "
                               f"{', '.join(sorted(reader.extra))}")
    return expr


# sympy constructors `srepr` writes for formulas: name -> (callable, what its arguments are).
#   "args": nested formula nodes; "name": one string (Symbol); "float": a string or number (+ precision=int);
#   "int": one int (Integer); "ints": one or two ints (Rational); "none": no arguments (singletons).
_SREPR_CONSTRUCTORS: dict[str, tuple[Any, str]] = {
    **{name: (getattr(sympy, name), "args") for name in _FUNCTIONS},
    **{name: (getattr(sympy, name), "args") for name in (
        "Add", "Mul", "Pow", "Piecewise", "StrictGreaterThan", "GreaterThan", "StrictLessThan", "LessThan",
        "Equality", "Unequality", "And", "Or", "Not")},
    "ExprCondPair": (sympy.functions.elementary.piecewise.ExprCondPair, "args"),
    "Symbol": (sympy.Symbol, "name"),
    "Float": (sympy.Float, "float"),
    "Integer": (sympy.Integer, "int"),
    "Rational": (sympy.Rational, "ints"),
    **{name: (getattr(sympy.core.numbers, name), "none") for name in (
        "Half", "One", "Zero", "NegativeOne", "Pi", "Exp1", "ImaginaryUnit", "Infinity", "NegativeInfinity",
        "ComplexInfinity", "NaN")},
}
_SREPR_CONSTANTS = {"pi": sympy.pi, "E": sympy.E, "I": sympy.I, "oo": sympy.oo, "zoo": sympy.zoo,
                    "nan": sympy.nan, "true": sympy.true, "false": sympy.false}
try:  # the assumption keywords of Symbol (positive=True, ...)
    from sympy.core.assumptions import _assume_defined as _ASSUMPTIONS
except ImportError:  # pragma: no cover - a sympy without the private name: the common ones
    _ASSUMPTIONS = frozenset(("commutative", "complex", "real", "extended_real", "rational", "integer", "even",
                              "odd", "prime", "finite", "infinite", "zero", "nonzero", "positive", "negative",
                              "nonpositive", "nonnegative", "extended_positive", "extended_negative"))


def _literal(node: ast.AST, types: tuple[type, ...]) -> Any:
    """A literal argument: a constant of one of ``types`` (bool only where asked for), or a signed number."""
    sign = 1
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY and isinstance(node.operand, ast.Constant):
        sign, node = (-1 if isinstance(node.op, ast.USub) else 1), node.operand
    if not isinstance(node, ast.Constant) or type(node.value) not in types:
        raise _Refused(f"{_describe(node)} where a {' or '.join(t.__name__ for t in types)} belongs")
    value = node.value
    if isinstance(value, str):
        if sign != 1:
            raise _Refused("a signed string")
        if value.startswith("__") and value.endswith("__"):
            raise _Refused(f"the dunder string {value!r}")
        return value
    return -value if sign == -1 else value


def _read_srepr(node: ast.AST) -> Any:
    if isinstance(node, ast.Name):
        if node.id in _SREPR_CONSTANTS:
            return _SREPR_CONSTANTS[node.id]
        raise _Refused(f"the name {node.id!r} is not a sympy constructor of formulas")
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:  # -oo
        return _UNARY[type(node.op)](_read_srepr(node.operand))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Call):
        raise _Refused("a call of a call's result (an undefined function such as Function('f')(x))")
    if isinstance(node, ast.Call) and not isinstance(node.func, ast.Name):
        raise _Refused(f"{_describe(node.func)} as the called function")
    if not isinstance(node, ast.Call):
        raise _Refused(_describe(node))
    name = node.func.id
    if name not in _SREPR_CONSTRUCTORS:
        raise _Refused(f"{name!r} is not a sympy constructor of formulas")
    build, kind = _SREPR_CONSTRUCTORS[name]
    kwargs: dict[str, Any] = {}
    for keyword in node.keywords:
        if kind == "name" and keyword.arg in _ASSUMPTIONS:
            kwargs[keyword.arg] = _literal(keyword.value, (bool,))
        elif kind == "float" and keyword.arg == "precision":
            kwargs[keyword.arg] = _literal(keyword.value, (int,))
        else:
            raise _Refused(f"the keyword {keyword.arg!r} in {name}(...)")
    n_args = len(node.args)
    if kind == "args":
        args = [_read_srepr(arg) for arg in node.args]
    elif kind == "name" and n_args == 1:
        args = [_literal(node.args[0], (str,))]
    elif kind == "float" and n_args == 1:
        args = [_literal(node.args[0], (str, int, float))]
    elif kind == "int" and n_args == 1:
        args = [_literal(node.args[0], (int,))]
    elif kind == "ints" and n_args in (1, 2):
        args = [_literal(arg, (int,)) for arg in node.args]
    elif kind == "none" and n_args == 0:
        args = []
    else:
        raise _Refused(f"{name}(...) with {n_args} arguments")
    if name == "Pow" and len(args) == 2:
        build = _power
    try:
        return build(*args, **kwargs)
    except _Refused:
        raise
    except Exception as exc:  # sympy refusing the arguments (TypeError, ValueError, ...)
        raise _Refused(f"{name}(...) fails: {first_line(exc)}") from None


def parse_srepr(text: str) -> sympy.Basic:
    """Rebuild the sympy object of ``sympy.srepr`` text exactly, without eval.

    Only calls of the constructors formulas contain (``Add``, ``Mul``, ``Pow``, ``Symbol`` with assumption
    keywords, ``Integer``, ``Rational``, ``Float`` with ``precision``, the functions of `FORMULA_NAMES`, the
    singletons ``Half()``... and the names ``pi``, ``E``, ``I``, ``oo``, ``zoo``, ``nan``) with literal arguments
    are read; anything else (attribute access, other names, lambdas, subscripts, dunder strings, strings where
    numbers belong) raises `lies.core.errors.FormulaTextError` (a ValueError) naming what was found, and runs nothing.
    """
    shown = repr(text[:120] + ("..." if len(text) > 120 else "")) if isinstance(text, str) else repr(type(text))
    if not isinstance(text, str):
        raise FormulaTextError(f"formula text {shown} is not a formula expression: not a string")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise FormulaTextError(f"formula text {shown} is not a formula expression: {first_line(exc)}") from None
    try:
        return _read_srepr(tree.body)
    except RecursionError:
        raise FormulaTextError(f"formula text {shown} is not a formula expression: nested too deeply") from None
    except _Refused as exc:
        raise FormulaTextError(f"formula text {shown} is not a formula expression: {exc}") from None
