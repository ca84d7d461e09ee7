"""Users' own data: a CSV file (`load_csv`) or a pandas DataFrame (`frame_to_dataset`) as a `lies.data.dataset.Dataset`.

Every check is `lies.core.checks`'s (column names, columns found, numbers, finiteness, row count), so a bad CSV file is
worded as the same mistake in ``LiesRegressor.fit`` would be, with the file's path in front. Any problem is a
one-line `LiesError`. pandas is imported by the functions that need it.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from lies.core.checks import check_columns, check_finite, check_magnitude, check_names, check_rows, looks_numeric
from lies.core.errors import LiesError, first_line
from lies.data.dataset import Dataset

__all__ = ["load_csv", "frame_to_dataset"]


def _header(path: Path) -> list[str]:
    """The names in a CSV's first line as written (pandas renames a repeated name ``a`` to ``a.1``)."""
    import csv

    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        return [c.strip() for c in next(csv.reader(f), [])]


def frame_to_dataset(df: Any, target: str, variables: Sequence[str] | None = None,
                     source: str = "the data frame") -> Dataset:
    """Take ``target`` and ``variables`` (default: every other column) out of a DataFrame, checked as a CSV is
    (`load_csv`): columns exist, are numeric and finite."""
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise LiesError(f"expected a pandas DataFrame, got {type(df).__name__}")
    columns = [str(c) for c in df.columns]
    if len(columns) == 1 and (sep := next((c for c in ";\t|" if c in columns[0]), None)):
        raise LiesError(f"{source} has a single column {columns[0]!r}: it seems separated by {sep!r}, not commas; "
                        "save it as comma-separated CSV")
    if not isinstance(target, str) or target not in columns:
        no_header = " (the file seems to have no header row)" if columns and all(map(looks_numeric, columns)) else ""
        check_columns([target], columns, "target", source, note=no_header)
    if variables is None:
        names = [c for c in columns if c != target]
    else:
        if isinstance(variables, str):
            variables = [variables]
        names = [str(v) for v in variables]
        check_columns(names, columns, "variable", source)
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
    check_finite(values[:, :-1], values[:, -1], names, target, source)
    check_magnitude(values[:, :-1], values[:, -1], names, target, source)
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
        raise LiesError(f"cannot read {path} as CSV: {first_line(exc)}") from None
    # Column checks first: a wrong name or a missing header is a likelier mistake than a short file.
    header = _header(path)  # as written: pandas renames a repeated a to a.1 and an empty name to Unnamed: 1
    if not all(map(looks_numeric, header)):  # all numbers: no header row, said below
        check_names(header, str(path), symbols=False)  # the columns used are checked as symbols below
    dataset = frame_to_dataset(df, target, variables, str(path))
    if dataset.n_samples == 0:
        raise LiesError(f"{path} has a header row but no data rows")
    check_rows(dataset.n_samples, str(path))
    return dataset
