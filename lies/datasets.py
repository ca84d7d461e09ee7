"""Data in raw units: the AI Feynman registry, its samplers, and users' own CSV files.

Everything downstream (oversampling, training, scoring) sees a `Dataset`: named float64 columns, nothing else.
The registry (`FEYNMAN`) is read once from `lies/data/feynman.yaml`, our own copy of the AI Feynman table with
the variable list taken from each formula (the table's `# variables` column is wrong for six rows).

Heavy imports (sympy, pandas) are deferred to the functions that need them, and every formula is parsed and
compiled on first use only, so `import lies.datasets` stays cheap for the command line.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from lies.errors import LiesError

if TYPE_CHECKING:
    import pandas as pd
    import sympy

__all__ = [
    "MIN_CSV_ROWS",
    "Variable",
    "Dataset",
    "FeynmanEquation",
    "FEYNMAN",
    "SUBSETS",
    "get_equation",
    "equations",
    "parse_formula",
    "load_csv",
    "check_names",
]

MIN_CSV_ROWS = 10
"""Fewer rows than this cannot be split into train/validation data and still fit anything."""


# --------------------------------------------------------------------------------------------------------------
# Plain data containers
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variable:
    """One input of a registry formula and the box [low, high] the table samples it from."""

    name: str
    low: float
    high: float

    def __post_init__(self) -> None:
        low, high = float(self.low), float(self.high)
        if not (math.isfinite(low) and math.isfinite(high) and low <= high):
            raise LiesError(f"variable {self.name!r}: range [{self.low}, {self.high}] is not a finite interval")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)


# eq=False: numpy arrays have no single truth value, so field-wise == would raise; identity semantics instead.
@dataclass(frozen=True, eq=False)
class Dataset:
    """Raw-unit samples: X (N, n) float64, y (N,) float64, named columns.

    The arrays are float64 copies of what was passed in, so a caller's later edits cannot leak into a dataset.
    """

    X: np.ndarray
    y: np.ndarray
    variables: tuple[str, ...]
    target: str

    def __post_init__(self) -> None:
        if isinstance(self.variables, str):
            raise LiesError(f"Dataset variables must be a sequence of names, not the string {self.variables!r}")
        variables = tuple(str(v) for v in self.variables)
        target = str(self.target)
        try:
            X = np.array(self.X, dtype=np.float64, order="C")
            y = np.array(self.y, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise LiesError(f"Dataset values must be numeric: {_one_line(exc)}") from None
        if X.ndim != 2:
            raise LiesError(f"Dataset X must be 2-D (samples, variables), got shape {X.shape}")
        if X.shape[1] != len(variables):
            raise LiesError(
                f"Dataset X has {X.shape[1]} columns but {len(variables)} variable names were given: "
                f"{', '.join(variables) or '(none)'}"
            )
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise LiesError(f"Dataset y must have shape ({X.shape[0]},) to match X, got {y.shape}")
        check_names(variables, "Dataset")
        if target in variables:
            raise LiesError(f"Dataset target {target!r} is also listed as an input variable")
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "variables", variables)
        object.__setattr__(self, "target", target)

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_variables(self) -> int:
        return int(self.X.shape[1])

    def __len__(self) -> int:
        return self.n_samples

    def __repr__(self) -> str:
        return (
            f"Dataset(n_samples={self.n_samples}, variables={self.variables!r}, target={self.target!r})"
        )

    def to_frame(self) -> pd.DataFrame:
        """The columns as a DataFrame (variables..., target), e.g. to write a CSV a user can open."""
        import pandas as pd

        columns: dict[str, np.ndarray] = {name: self.X[:, j] for j, name in enumerate(self.variables)}
        columns[self.target] = self.y
        return pd.DataFrame(columns, copy=True)

    @classmethod
    def from_frame(cls, df: pd.DataFrame, target: str, variables: Sequence[str] | None = None) -> Dataset:
        """Take `target` and `variables` (default: every other column) out of a DataFrame, checked like a CSV."""
        return _frame_to_dataset(df, target, variables, source="the data frame")

    def concat(self, other: Dataset) -> Dataset:
        """Rows of `self` then rows of `other`; both must name the same columns in the same order."""
        if not isinstance(other, Dataset):
            raise LiesError(f"can only concatenate a Dataset with a Dataset, not {type(other).__name__}")
        if other.variables != self.variables or other.target != self.target:
            raise LiesError(
                "cannot concatenate datasets with different columns: "
                f"({', '.join(self.variables)} -> {self.target}) vs ({', '.join(other.variables)} -> {other.target})"
            )
        return Dataset(
            np.concatenate([self.X, other.X]), np.concatenate([self.y, other.y]), self.variables, self.target
        )

    def subset(self, index: Any) -> Dataset:
        """Rows picked by an integer index array, a boolean mask of length N, or a slice."""
        if isinstance(index, slice):
            return Dataset(self.X[index], self.y[index], self.variables, self.target)
        idx = np.asarray(index)
        if idx.dtype == np.bool_:
            if idx.shape != (self.n_samples,):
                raise LiesError(f"boolean row mask has shape {idx.shape}, expected ({self.n_samples},)")
        elif idx.size == 0:
            idx = np.zeros(0, dtype=np.intp)
        elif np.issubdtype(idx.dtype, np.integer):
            idx = np.atleast_1d(idx)
            if idx.ndim != 1:
                raise LiesError(f"row index must be 1-D, got shape {idx.shape}")
            if idx.min() < -self.n_samples or idx.max() >= self.n_samples:
                raise LiesError(f"row index out of range for a dataset of {self.n_samples} rows")
        else:
            raise LiesError(f"rows must be chosen by integers or a boolean mask, not dtype {idx.dtype}")
        return Dataset(self.X[idx], self.y[idx], self.variables, self.target)


# --------------------------------------------------------------------------------------------------------------
# Formulas
# --------------------------------------------------------------------------------------------------------------


def _function_table() -> dict[str, Any]:
    """Names a table formula may call. Everything else must be one of its variables (see `parse_formula`)."""
    import sympy

    return {
        "pi": sympy.pi,
        "exp": sympy.exp,
        "sqrt": sympy.sqrt,
        "log": sympy.log,
        "ln": sympy.log,
        "sin": sympy.sin,
        "cos": sympy.cos,
        "tan": sympy.tan,
        "tanh": sympy.tanh,
        "arcsin": sympy.asin,
        "arccos": sympy.acos,
        "arctan": sympy.atan,
        "asin": sympy.asin,
        "acos": sympy.acos,
        "atan": sympy.atan,
    }


def parse_formula(formula: str, variables: Sequence[str]) -> sympy.Expr:
    """Parse a formula in the table's syntax, with each name in `variables` a plain, assumption-free Symbol.

    A default `sympy.sympify` would read `gamma` as the gamma function, `I` as the imaginary unit, `beta` as
    the beta function; an explicit symbol table and a bare global namespace rule that out. Symbols carry no
    assumptions so that they compare equal to `sympy.Symbol(name)` created anywhere else.
    """
    import sympy
    from sympy.core.function import AppliedUndef
    from sympy.parsing.sympy_parser import parse_expr

    names = [str(v) for v in variables]
    symbols = {name: sympy.Symbol(name) for name in names}
    local_dict = {**_function_table(), **symbols}  # a variable shadows a function of the same name
    # Only what parse_expr's own number/name transformations emit; no `from sympy import *` namespace.
    global_dict = {
        "Integer": sympy.Integer,
        "Float": sympy.Float,
        "Rational": sympy.Rational,
        "Symbol": sympy.Symbol,
        "Function": sympy.Function,
    }
    try:
        expr = parse_expr(formula, local_dict=local_dict, global_dict=global_dict)
    except Exception as exc:  # parse_expr raises SyntaxError, TokenError, TypeError, ... depending on the text
        raise LiesError(f"cannot parse formula {formula!r}: {_one_line(exc)}") from None
    if not isinstance(expr, sympy.Expr):
        raise LiesError(f"formula {formula!r} is not an expression")
    unknown_functions = sorted({str(f.func) for f in expr.atoms(AppliedUndef)})
    if unknown_functions:
        raise LiesError(f"formula {formula!r} calls unknown function(s): {', '.join(unknown_functions)}")
    extra = sorted(str(s) for s in expr.free_symbols - set(symbols.values()))
    if extra:
        raise LiesError(f"formula {formula!r} uses names that are not its variables: {', '.join(extra)}")
    return expr


@dataclass(frozen=True)
class FeynmanEquation:
    """One row of the AI Feynman table: output name, formula text, inputs with their sampling ranges."""

    id: str
    output: str
    formula: str
    variables: tuple[Variable, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "variables", tuple(self.variables))
        names = [v.name for v in self.variables]
        if len(set(names)) != len(names):
            raise LiesError(f"{self.id}: repeated variable names in {names}")

    # The compiled function cannot be pickled (lambdify builds it from source), and the parse is cheap to
    # redo: drop both so equations travel to worker processes.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("expr", None)
        state.pop("_func", None)
        state.pop("product_of_powers", None)
        return state

    @property
    def variable_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables)

    @property
    def n_variables(self) -> int:
        return len(self.variables)

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The table's sampling box as (low, high) arrays in variable order."""
        return (
            np.array([v.low for v in self.variables], dtype=np.float64),
            np.array([v.high for v in self.variables], dtype=np.float64),
        )

    @cached_property
    def expr(self) -> sympy.Expr:
        """The parsed formula (plain Symbols named after the variables); parsed on first use."""
        try:
            return parse_formula(self.formula, self.variable_names)
        except LiesError as exc:
            raise LiesError(f"{self.id}: {exc}") from None

    @property
    def symbols(self) -> tuple[sympy.Symbol, ...]:
        import sympy

        return tuple(sympy.Symbol(name) for name in self.variable_names)

    @cached_property
    def product_of_powers(self) -> bool:
        """Whether the formula is ``C prod v_k^a_k``: its log, expanded, is a constant plus multiples of ``log(v)``
        (then a least-squares fit in log space, with no hidden unit, is exact)."""
        import sympy

        for term in sympy.Add.make_args(sympy.expand_log(sympy.log(self.expr), force=True)):
            _, factor = term.as_coeff_Mul()
            if factor.free_symbols and not (isinstance(factor, sympy.log) and factor.args[0].is_Symbol):
                return False
        return True

    @cached_property
    def _func(self) -> Any:
        import sympy

        return sympy.lambdify(self.symbols, self.expr, modules="numpy")

    def evaluate(self, X: np.ndarray) -> np.ndarray:
        """The formula on each row of X (N, n), columns in `variables` order; float64 (N,)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_variables:
            raise LiesError(
                f"{self.id}: expected X of shape (N, {self.n_variables}) with columns "
                f"{', '.join(self.variable_names)}; got shape {X.shape}"
            )
        out = np.asarray(self._func(*X.T), dtype=np.float64)
        if out.shape != (X.shape[0],):  # a formula constant in its inputs comes back as a scalar
            out = np.broadcast_to(out, (X.shape[0],)).copy()
        return out

    def sample(
        self,
        n_samples: int,
        rng: np.random.Generator | int,
        low: Sequence[float] | np.ndarray | None = None,
        high: Sequence[float] | np.ndarray | None = None,
    ) -> Dataset:
        """Draw each variable uniformly and independently (as AI Feynman does), then evaluate the formula.

        `low`/`high` (length n, default the table's box) select a sub-box, e.g. for oversampling a region;
        they may not leave the table's box, where the formula was never meant to be evaluated.
        """
        if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 1:
            raise LiesError(f"{self.id}: n_samples must be a positive integer, got {n_samples!r}")
        generator = _as_generator(rng)
        lo, hi = self._sub_box(low, high)
        X = np.empty((int(n_samples), self.n_variables), dtype=np.float64)
        for j in range(self.n_variables):
            X[:, j] = generator.uniform(lo[j], hi[j], int(n_samples))
        return Dataset(X, self.evaluate(X), self.variable_names, self.output)

    def _sub_box(self, low: Any, high: Any) -> tuple[np.ndarray, np.ndarray]:
        table_low, table_high = self.bounds
        lo = table_low if low is None else self._box_side(low, "low")
        hi = table_high if high is None else self._box_side(high, "high")
        for j, var in enumerate(self.variables):
            if not (var.low <= lo[j] <= hi[j] <= var.high):
                raise LiesError(
                    f"{self.id}: sampling box [{lo[j]:g}, {hi[j]:g}] for {var.name!r} is not an interval inside "
                    f"the table range [{var.low:g}, {var.high:g}]"
                )
        return lo, hi

    def _box_side(self, values: Any, which: str) -> np.ndarray:
        try:
            arr = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise LiesError(f"{self.id}: {which} must be {self.n_variables} numbers, got {values!r}") from None
        if arr.shape != (self.n_variables,) or not np.all(np.isfinite(arr)):
            raise LiesError(
                f"{self.id}: {which} must be {self.n_variables} finite numbers "
                f"({', '.join(self.variable_names)}), got {values!r}"
            )
        return arr


def _as_generator(rng: Any) -> np.random.Generator:
    """A Generator as is (the caller owns its stream), or a fresh one from an int seed; no unseeded default."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise LiesError(f"rng must be a numpy Generator or a non-negative integer seed, got {rng!r}")


# --------------------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------------------


def _load_registry(file: str = "feynman.yaml") -> dict[str, FeynmanEquation]:
    """Read lies/data/<file>. A malformed file is a packaging bug, hence RuntimeError, not LiesError."""
    text = resources.files("lies").joinpath("data", file).read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    entries = yaml.load(text, Loader=loader)
    registry: dict[str, FeynmanEquation] = {}
    try:
        for entry in entries:
            eq = FeynmanEquation(
                id=str(entry["id"]),
                output=str(entry["output"]),
                formula=str(entry["formula"]),
                variables=tuple(
                    Variable(str(v["name"]), float(v["low"]), float(v["high"])) for v in entry["variables"]
                ),
            )
            if eq.id in registry:
                raise ValueError(f"duplicate id {eq.id}")
            registry[eq.id] = eq
    except (KeyError, TypeError, ValueError, LiesError) as exc:
        raise RuntimeError(f"lies/data/{file} is malformed: {exc}") from exc
    return registry


FEYNMAN: Mapping[str, FeynmanEquation] = MappingProxyType(_load_registry())
"""All 100 main AI Feynman equations by id, in the table's row order."""

# The 61 formulas LIES reports on, as reconstructed in shared/reference/lies61_candidates.md ("best guess"):
# at most 4 variables by the table's (partly wrong) `# variables` column, as the LIES code reads it; no
# sin/cos/arcsin; no output that can be negative (the LIES code takes the log of the target).
_LIES61 = (
    "I.6.2a I.6.2 I.6.2b I.8.14 I.10.7 I.12.1 I.12.2 I.12.4 I.12.5 I.13.4 I.14.3 I.14.4 I.15.3x I.15.1 "
    "I.16.6 I.18.4 I.24.6 I.25.13 I.27.6 I.29.4 I.32.5 I.34.8 I.34.1 I.34.14 I.34.27 I.38.12 I.39.1 "
    "I.39.11 I.39.22 I.43.16 I.43.31 I.43.43 I.47.23 I.48.2 II.3.24 II.4.23 II.8.7 II.8.31 II.10.9 "
    "II.11.27 II.11.28 II.13.17 II.13.23 II.13.34 II.24.17 II.27.16 II.27.18 II.34.2a II.34.2 II.34.11 "
    "II.34.29a II.38.3 II.38.14 III.4.32 III.4.33 III.7.38 III.10.19 III.12.43 III.13.18 III.15.14 III.15.27"
).split()

SIGNED: Mapping[str, FeynmanEquation] = MappingProxyType(_load_registry("signed.yaml"))
"""Signed formulas of this project (lies/data/signed.yaml: negative inputs or outputs), the ``signed`` task set."""

#: Every formula a task can name: AI Feynman's and the signed ones.
_REGISTRY: Mapping[str, FeynmanEquation] = MappingProxyType({**FEYNMAN, **SIGNED})

# The 27 of them that are not products of powers (`FeynmanEquation.product_of_powers` is False; a test keeps the
# list equal to that test): sums, differences and compositions, where a log-linear fit cannot be the answer.
_LIES61_STRUCTURED = (
    "I.6.2a I.6.2 I.6.2b I.8.14 I.10.7 I.13.4 I.15.3x I.15.1 I.16.6 I.18.4 I.24.6 I.27.6 I.34.1 I.34.14 I.39.11 "
    "I.43.43 I.48.2 II.10.9 II.11.27 II.11.28 II.13.23 II.13.34 II.24.17 II.38.14 III.4.32 III.4.33 III.10.19"
).split()

SUBSETS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "lies61": tuple(_LIES61),
    "lies61-powers": tuple(i for i in _LIES61 if i not in _LIES61_STRUCTURED),
    "lies61-structured": tuple(_LIES61_STRUCTURED),
    "holdout": tuple(i for i in FEYNMAN if i not in _LIES61),  # never used to choose a default
    "all": tuple(FEYNMAN),
    "signed": tuple(SIGNED),
})
"""Named selections of registry ids, each in table order. ``holdout``: the AI-Feynman formulas outside LIES-61,
the generalisation check (defaults are tuned on LIES-61 only)."""

_missing = [i for ids in SUBSETS.values() for i in ids if i not in _REGISTRY]
if _missing:
    raise RuntimeError(f"subsets name ids missing from the registry: {_missing}")
del _missing


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=3, cutoff=0.6)
    lowered = [c for c in choices if c.lower() == word.lower() and c not in close]
    close = lowered + close
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def get_equation(eq_id: str) -> FeynmanEquation:
    """The registry entry for an id like 'I.12.1'; a typo gets the closest ids as a hint."""
    if not isinstance(eq_id, str):
        raise LiesError(f"a Feynman equation id must be a string like 'I.12.1', got {eq_id!r}")
    try:
        return _REGISTRY[eq_id]
    except KeyError:
        pass
    hint = _did_you_mean(eq_id, list(FEYNMAN))
    raise LiesError(
        f"unknown Feynman equation {eq_id!r}{hint or ' (ids look like I.12.1, II.3.24, III.4.32)'}"
    ) from None


def equations(subset_or_ids: str | Sequence[str]) -> list[FeynmanEquation]:
    """Equations named by a subset ('lies61', 'all'), a single id, or a list of ids (order kept)."""
    if isinstance(subset_or_ids, str):
        if subset_or_ids in SUBSETS:
            return [_REGISTRY[i] for i in SUBSETS[subset_or_ids]]
        if subset_or_ids in _REGISTRY:
            return [_REGISTRY[subset_or_ids]]
        hint = _did_you_mean(subset_or_ids, [*SUBSETS, *FEYNMAN])
        raise LiesError(
            f"unknown subset or Feynman equation {subset_or_ids!r} (subsets: {', '.join(SUBSETS)}){hint}"
        )
    if not isinstance(subset_or_ids, Sequence):
        raise LiesError(f"expected a subset name or a list of equation ids, got {subset_or_ids!r}")
    unknown = [i for i in subset_or_ids if not (isinstance(i, str) and i in _REGISTRY)]
    if len(unknown) == 1:
        get_equation(unknown[0])  # raises, with its hint
    if unknown:
        raise LiesError(f"unknown Feynman equations: {', '.join(repr(i) for i in unknown)}")
    return [_REGISTRY[i] for i in subset_or_ids]


# --------------------------------------------------------------------------------------------------------------
# Users' CSV files
# --------------------------------------------------------------------------------------------------------------


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_names(names: Sequence[str], source: str) -> None:
    """Column names become the formula's symbols: each must be unique, non-empty, and not read as a number
    (a column ``1.5`` would print as the constant in ``y = 1.5*b``)."""
    repeated = sorted({n for n in names if list(names).count(n) > 1})
    if repeated:
        raise LiesError(f"{source}: repeated column names: {', '.join(repeated)}; give every column its own name")
    empty = [i for i, n in enumerate(names) if not str(n).strip()]
    if empty:
        raise LiesError(f"{source}: column {empty[0] + 1} has no name; give every column a name")
    numeric = [str(n) for n in names if _looks_numeric(str(n))]
    if numeric:
        raise LiesError(f"{source}: column name(s) {', '.join(repr(n) for n in numeric)} look like numbers, which a "
                        "formula could not tell from constants; rename them (e.g. x1) or add a header row")


def _header(path: Path) -> list[str]:
    """The names in a CSV's first line as written (pandas renames a repeated name ``a`` to ``a.1``)."""
    import csv

    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        return [c.strip() for c in next(csv.reader(f), [])]


def _frame_to_dataset(df: Any, target: str, variables: Sequence[str] | None, source: str) -> Dataset:
    """Shared checks of `Dataset.from_frame` and `load_csv`: columns exist, are numeric and finite."""
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise LiesError(f"expected a pandas DataFrame, got {type(df).__name__}")
    columns = [str(c) for c in df.columns]
    if len(columns) == 1 and (sep := next((c for c in ";\t|" if c in columns[0]), None)):
        raise LiesError(f"{source} has a single column {columns[0]!r}: it seems separated by {sep!r}, not commas; "
                        "save it as comma-separated CSV")
    available = ", ".join(columns) or "(none)"
    if not isinstance(target, str) or target not in columns:
        no_header = " (the file seems to have no header row)" if columns and all(map(_looks_numeric, columns)) else ""
        raise LiesError(f"target column {target!r} not found in {source}; available columns: {available}{no_header}")
    if variables is None:
        names = [c for c in columns if c != target]
    else:
        if isinstance(variables, str):
            variables = [variables]
        names = [str(v) for v in variables]
        missing = [v for v in names if v not in columns]
        if missing:
            raise LiesError(
                f"variable column(s) {', '.join(repr(v) for v in missing)} not found in {source}; "
                f"available columns: {available}"
            )
        if target in names:
            raise LiesError(f"column {target!r} cannot be both the target and an input variable")
        repeated = sorted({v for v in names if names.count(v) > 1})
        if repeated:
            raise LiesError(f"variable column(s) listed twice: {', '.join(repeated)}")
    if not names:
        raise LiesError(f"{source} has no input variable columns besides the target {target!r}")

    check_names([*names, target], source)
    frame = df.set_axis(columns, axis=1)[[*names, target]]
    for name in frame.columns:
        col = frame[name]
        if len(col) and not pd.api.types.is_numeric_dtype(col.dtype):  # no rows: columns read as text
            bad = col.notna() & pd.to_numeric(col, errors="coerce").isna()
            where = ""
            if bad.any():
                row = int(np.argmax(bad.to_numpy()))
                where = f" (e.g. {str(col.iloc[row])!r} in data row {row + 1})"
            raise LiesError(f"column {name!r} in {source} is not numeric{where}")
    values = frame.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        n_bad = int(bad.any(axis=1).sum())
        bad_columns = [c for c, b in zip(frame.columns, bad.any(axis=0)) if b]
        raise LiesError(
            f"{n_bad} of {len(values)} rows in {source} hold NaN, inf or empty values "
            f"(column(s): {', '.join(bad_columns)}); remove or fix those rows"
        )
    return Dataset(values[:, :-1], values[:, -1], tuple(names), target)


def load_csv(path: str | PathLike[str], target: str, variables: Sequence[str] | None = None) -> Dataset:
    """A user's CSV file (header row required) as a Dataset; any problem is a one-line LiesError."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise LiesError(f"data file not found: {path}")
    if not path.is_file():
        raise LiesError(f"data path is not a file: {path}")
    try:
        df = pd.read_csv(path, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise LiesError(f"data file {path} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        raise LiesError(f"cannot read {path} as CSV: {_one_line(exc)}") from None
    # Column checks first: a wrong name or a missing header is a likelier mistake than a short file.
    header = _header(path)  # as written: pandas renames a repeated a to a.1 and an empty name to Unnamed: 1
    if not all(map(_looks_numeric, header)):  # all numbers: no header row, said below
        check_names(header, str(path))
    dataset = _frame_to_dataset(df, target, variables, str(path))
    if dataset.n_samples == 0:
        raise LiesError(f"{path} has a header row but no data rows")
    if dataset.n_samples < MIN_CSV_ROWS:
        raise LiesError(f"{path} has {dataset.n_samples} data row(s); at least {MIN_CSV_ROWS} are needed")
    return dataset
