"""Input checks, one function per check: the same mistake gives the same one-line `LiesError` everywhere.

The estimator (`lies.estimator`), the command line (`lies.cli`), the CSV loader (`lies.data.csv_data`), the `Dataset`
type, the log-space transform (`lies.data.transforms`) and the peers (`lies.bench.peers`) call these functions and word no
check of their own. ``source`` says where the data came from (a CSV path, ``Dataset``, an equation); a message
is ``"<source>: <problem>"``, or the bare problem when no source is given (the caller's own arrays).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from lies.core.errors import LiesError, LiesTypeError, did_you_mean

__all__ = [
    "MIN_ROWS",
    "MAX_NONPOSITIVE_TARGET",
    "MAX_NONPOSITIVE_DEPTH",
    "as_numeric",
    "check_matrix",
    "check_names_count",
    "check_target_shape",
    "check_shapes",
    "check_rows",
    "check_names",
    "check_columns",
    "check_finite",
    "MAX_MAGNITUDE",
    "check_magnitude",
    "target_sign",
    "log_space_problem",
    "check_positive",
    "looks_numeric",
]

MIN_ROWS = 10
"""Fewer rows than this cannot be split into train/validation data and still fit anything."""

#: The share of a target's values that may be <= 0 in log space, and how far below 0 they may reach (x RMS(y)).
#: Noise (SRBench adds N(0, (noise RMS(y))^2)) pushes a positive target whose values start near zero to zero or
#: below on some rows (BENCHMARKS.md measures how many). Those rows are left out of the log-space training of the
#: network (`lies.data.transforms.positive_target_rows`) and kept by the formula stages and R^2, which work in raw
#: units. More, or deeper, or an input <= 0, is an error: the data is not positive, fit it in raw space.
MAX_NONPOSITIVE_TARGET = 0.25
MAX_NONPOSITIVE_DEPTH = 0.5


def _where(source: str | None) -> str:
    return f"{source}: " if source else ""


def looks_numeric(text: str) -> bool:
    """Whether ``text`` reads as a number (a column named so could not be told from a constant in a formula)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------------------------------------ numbers, shapes
def as_numeric(values: Any, what: str, source: str | None = None) -> np.ndarray:
    """``values`` as float64; complex, sparse and non-numeric input is refused rather than cast."""
    where = _where(source)
    if hasattr(values, "toarray") and hasattr(values, "nnz"):
        raise LiesError(f"{where}{what} is a sparse matrix, which is not supported: pass a dense array "
                        f"({what}.toarray())")
    try:
        array = np.asarray(values)
        if not np.iscomplexobj(array):
            return np.array(array, dtype=np.float64)
    except TypeError as exc:
        raise LiesTypeError(f"{where}{what} must be numeric: {exc}") from None
    except ValueError as exc:
        raise LiesError(f"{where}{what} must be numeric: {exc}") from None
    raise LiesError(f"{where}Complex data not supported: {what} holds complex numbers; only real data can be fitted")


def check_matrix(X: np.ndarray, source: str | None = None) -> None:
    """X must be 2-D (samples, variables)."""
    if np.ndim(X) != 2:
        hint = "; Reshape your data: X.reshape(-1, 1) for one variable" if np.ndim(X) == 1 else ""
        raise LiesError(f"{_where(source)}X must be 2-D (samples, variables), got shape {np.shape(X)}{hint}")


def check_names_count(n_columns: int, names: Sequence[str], source: str | None = None) -> None:
    """One variable name per column of X."""
    if n_columns != len(names):
        raise LiesError(f"{_where(source)}X has {n_columns} columns but {len(names)} variable names were given: "
                        f"{', '.join(map(str, names)) or '(none)'}")


def check_target_shape(y: np.ndarray, n_rows: int, source: str | None = None) -> None:
    """y must be 1-D with one value per row of X."""
    if np.ndim(y) != 1 or np.shape(y)[0] != n_rows:
        raise LiesError(f"{_where(source)}y must have shape ({n_rows},) to match X, got {np.shape(y)}")


def check_shapes(X: np.ndarray, y: np.ndarray | None, variables: Sequence[str], source: str | None = None) -> None:
    """X (N, n) with n names, and y (N,) when given."""
    check_matrix(X, source)
    check_names_count(np.shape(X)[1], variables, source)
    if y is not None:
        check_target_shape(y, np.shape(X)[0], source)


def check_rows(n_rows: int, source: str | None = None, minimum: int = MIN_ROWS) -> None:
    """Enough rows to split and fit."""
    if n_rows < minimum:
        raise LiesError(f"{_where(source)}at least {minimum} data rows are needed to fit, got {n_rows} "
                        f"sample{'s' * (n_rows != 1)}")


# ---------------------------------------------------------------------------------------------------- names
def check_names(names: Sequence[str], source: str | None = None, symbols: bool = True) -> None:
    """Column names become the formula's symbols: each must be unique, non-empty, and not read as a number
    (a column ``1.5`` would print as the constant in ``y = 1.5*b``). ``symbols`` (the names a formula will use):
    each must also be a Python identifier, since ``mass kg*speed m/s`` or ``1a*2b`` cannot be read back
    unambiguously (False: a CSV header's columns, of which only some may be used)."""
    names = list(names)
    where = _where(source)
    repeated = sorted({str(n) for n in names if names.count(n) > 1})
    if repeated:
        raise LiesError(f"{where}repeated column names: {', '.join(repeated)}; give every column its own name")
    empty = [i for i, n in enumerate(names) if not str(n).strip()]
    if empty:
        raise LiesError(f"{where}column {empty[0] + 1} has no name; give every column a name")
    numeric = [str(n) for n in names if looks_numeric(str(n))]
    if numeric:
        raise LiesError(f"{where}column name(s) {', '.join(repr(n) for n in numeric)} look like numbers, which a "
                        "formula could not tell from constants; rename them (e.g. x1) or add a header row")
    if symbols:  # keywords pass: a formula is stored as sympy's srepr, where ``lambda`` is a plain Symbol name
        for name in map(str, names):
            if not name.isidentifier():
                raise LiesError(f"{where}column name {name!r} is not a Python identifier, so a formula using it "
                                "would be ambiguous; use letters, digits and _ only, not starting with a digit "
                                f"(e.g. {_identifier(name)!r})")


def _identifier(name: str) -> str:
    """A suggested identifier for ``name``: ``mass kg`` -> ``mass_kg``, ``1a`` -> ``x1a``."""
    import re

    text = re.sub(r"\W+", "_", name.strip()).strip("_") or "x"
    return f"x{text}" if text[0].isdigit() else text


def check_columns(wanted: Sequence[str], available: Sequence[str], what: str, source: str, note: str = "") -> None:
    """Every name in ``wanted`` is a column in ``available`` (``what``: "target", "variable"); a typo gets the
    closest column as a hint."""
    missing = [w for w in wanted if w not in available]
    if missing:
        names = ", ".join(repr(m) for m in missing)
        label = f"{what} column {names}" if what == "target" else f"{what} column(s) {names}"
        raise LiesError(f"{label} not found in {source}; available columns: {', '.join(available) or '(none)'}"
                        f"{note}{did_you_mean(missing[0], available)}")


# ----------------------------------------------------------------------------------------------------- values
def check_finite(X: np.ndarray, y: np.ndarray | None, variables: Sequence[str], target: str | None,
                 source: str | None = None) -> None:
    """NaN, inf or a missing value anywhere -> LiesError naming the columns and the number of bad rows."""
    columns = list(variables) + ([target] if y is not None else [])
    data = np.column_stack([X, y]) if y is not None else np.asarray(X)
    bad = ~np.isfinite(data)
    if bad.any():
        names = ", ".join(repr(c) for c, b in zip(columns, bad.any(axis=0)) if b)
        raise LiesError(f"{_where(source)}{int(bad.any(axis=1).sum())} of {len(data)} rows hold missing, NaN or inf "
                        f"values (columns {names}); drop or fix those rows, every value must be finite")


#: A column's largest |value| must lie in [1 / MAX_MAGNITUDE, MAX_MAGNITUDE] (or be 0): the squares that R^2, the
#: rounding stages' mean squared errors and least squares sum, and a formula's powers, stay within float64 there
#: (1e-100 squared is 1e-200; 1e-200 squared underflows to 0 and every formula would fit "exactly").
MAX_MAGNITUDE = 1e100


def check_magnitude(X: np.ndarray, y: np.ndarray | None, variables: Sequence[str], target: str | None,
                    source: str | None = None) -> None:
    """A column whose values are all tinier than 1e-100 or that reaches beyond 1e100 -> LiesError naming it and
    its magnitude, with the rescaling to apply (a change of units is the user's to make and to read back)."""
    columns = list(variables) + ([target] if y is not None else [])
    data = np.column_stack([X, y]) if y is not None else np.asarray(X)
    if not data.size:
        return
    with np.errstate(all="ignore"):
        top = np.abs(data).max(axis=0)
    for name, m in zip(columns, top):
        if m > 0 and not (1.0 / MAX_MAGNITUDE <= m <= MAX_MAGNITUDE):
            power = int(np.floor(np.log10(m)))
            raise LiesError(f"{_where(source)}column {name!r} has values of magnitude 1e{power}, beyond the 1e-100 .. "
                            f"1e100 that float64 squares (R^2, least squares) can hold; rescale it to other units, "
                            f"e.g. {name} * 1e{-power}")


def target_sign(y: np.ndarray) -> int:
    """-1 for a target whose values are mostly negative (its median is), else +1. Log space fits ``ln(sign y)``:
    a target of one sign throughout (a binding energy, a charge's current) is a product of powers like any other,
    and the model is ``sign exp(t)``."""
    y = np.asarray(y, dtype=np.float64)
    return -1 if y.size and float(np.median(y)) < 0 else 1


def log_space_problem(X: np.ndarray, y: np.ndarray, variables: Sequence[str], target: str) -> str | None:
    """Why log space cannot take this data ("column 'b' has 2 of 50 values <= 0"), or None (a target may hold
    some values a little below 0: `MAX_NONPOSITIVE_TARGET`; a target of negative values is taken with its sign
    turned: `target_sign`)."""
    y = np.asarray(y, dtype=np.float64)
    sign = target_sign(y)
    y = sign * y
    for name, col in zip(list(variables) + [target], np.column_stack([X, y]).T):
        n_bad = int((col <= 0).sum())
        tolerated = (name == target and n_bad <= MAX_NONPOSITIVE_TARGET * len(col)
                     and -col.min() <= MAX_NONPOSITIVE_DEPTH * np.sqrt(np.mean(col**2)))
        if n_bad and not tolerated:
            return f"column {name!r} has {n_bad} of {len(col)} values {'>= 0' if name == target and sign < 0 else '<= 0'}"
    return None


def check_positive(X: np.ndarray, y: np.ndarray, variables: Sequence[str], target: str,
                   source: str | None = None) -> None:
    """Log space needs positive data (a target may hold a few values <= 0, see `MAX_NONPOSITIVE_TARGET`):
    otherwise LiesError naming the first bad column and its bad rows."""
    problem = log_space_problem(X, y, variables, target)
    if problem:
        raise LiesError(f"{_where(source)}{problem}, but log space needs every value > 0: set log to auto or false "
                        "(raw space), e.g. -S weak_admm.log=auto or LiesRegressor(log='auto')")
