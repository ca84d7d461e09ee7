"""Tests of lies.data.csv_data: users' CSV files and data frames as Datasets, every problem one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lies.core.checks import MIN_ROWS
from lies.core.errors import LiesError
from lies.data.csv_data import frame_to_dataset, load_csv


def _write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _good_csv(tmp_path: Path, n: int = 12) -> Path:
    lines = ["x1,x2,y"] + [f"{i},{i * 0.5},{i * 1.5}" for i in range(n)]
    return _write(tmp_path, "\n".join(lines) + "\n")


def test_load_csv_happy_path(tmp_path):
    ds = load_csv(_good_csv(tmp_path), "y")
    assert ds.variables == ("x1", "x2") and ds.target == "y" and ds.n_samples == 12
    np.testing.assert_array_equal(ds.X[:, 1], np.arange(12) * 0.5)
    np.testing.assert_array_equal(ds.y, np.arange(12) * 1.5)
    ds = load_csv(str(_good_csv(tmp_path)), "x1", variables=["y"])
    assert ds.variables == ("y",) and ds.target == "x1"
    # An Excel export: BOM, CRLF, spaces after commas.
    text = "\ufeffa, b, t\r\n" + "".join(f"{i}, {i + 1}, {2 * i}\r\n" for i in range(10))
    ds = load_csv(_write(tmp_path, text, "excel.csv"), "t")
    assert ds.variables == ("a", "b") and ds.y[-1] == 18.0


def _bad_csv(tmp_path: Path, case: str) -> Path:
    rows = [[str(i), str(i + 1), str(2 * i)] for i in range(12)]
    if case == "nonnumeric":
        rows[3][1] = "abc"
    elif case == "nan":
        rows[2][0], rows[5][0], rows[5][2] = "", "nan", "NaN"
    elif case == "inf":
        rows[7][1] = "inf"
    elif case == "short":
        rows = rows[: MIN_ROWS - 1]
    text = "x1,x2,y\n" + "".join(",".join(r) + "\n" for r in rows)
    if case == "noheader":
        text = "".join(",".join(r) + "\n" for r in rows)
    if case == "empty":
        text = ""
    if case == "ragged":
        text += "1,2,3,4,5\n"
    return _write(tmp_path, text)


@pytest.mark.parametrize(
    ("case", "target", "variables", "message"),
    [
        ("ok", "z", None, r"target column 'z' not found in .*data\.csv; available columns: x1, x2, y$"),
        ("ok", "y", ["x1", "x3"], r"variable column\(s\) 'x3' not found .*available columns: x1, x2, y"),
        ("ok", "y", ["x1", "y"], "cannot be both the target and an input"),
        ("nonnumeric", "y", None, r"column 'x2' in .*data\.csv is not numeric \(e\.g\. 'abc' in data row 4\)"),
        ("nan", "y", None, r"data\.csv: 2 of 12 rows hold missing, NaN or inf values \(columns 'x1', 'y'\)"),
        ("inf", "y", None, r"data\.csv: 1 of 12 rows .*\(columns 'x2'\)"),
        ("short", "y", None, rf"data\.csv: at least {MIN_ROWS} data rows are needed to fit, got {MIN_ROWS - 1} samples"),
        ("noheader", "y", None, "seems to have no header row"),
        ("empty", "y", None, r"data file .*data\.csv is empty"),
        ("ragged", "y", None, r"cannot read .*data\.csv as CSV"),
    ],
)
def test_load_csv_rejects_bad_input_with_a_one_line_message(tmp_path, case, target, variables, message):
    path = _bad_csv(tmp_path, case)
    with pytest.raises(LiesError, match=message) as info:
        load_csv(path, target, variables)
    assert "\n" not in str(info.value)


def test_load_csv_missing_file_or_directory(tmp_path):
    with pytest.raises(LiesError, match=r"data file not found: .*nope\.csv"):
        load_csv(tmp_path / "nope.csv", "y")
    with pytest.raises(LiesError, match="not a file"):
        load_csv(tmp_path, "y")


def test_from_frame_rejects_non_frames_and_object_columns():
    with pytest.raises(LiesError, match="expected a pandas DataFrame"):
        frame_to_dataset({"a": [1]}, "a")
    df = pd.DataFrame({"a": [1.0, 2.0], "b": ["1", "x"], "y": [0.0, 1.0]})
    with pytest.raises(LiesError, match=r"column 'b' in the data frame is not numeric \(e\.g\. 'x' in data row 2\)"):
        frame_to_dataset(df, "y")
    with pytest.raises(LiesError, match="no input variable columns"):
        frame_to_dataset(df[["y"]], "y")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1.5,b,y\n" + "1,2,3\n" * 12, r"column name\(s\) '1.5' look like numbers"),
        ("a,a,y\n" + "1,2,3\n" * 12, r"repeated column names: a; give every column its own name"),
        ("a,b,y\n", "has a header row but no data rows"),
        ("a;b;y\n" + "1;2;3\n" * 12, "seems separated by ';', not commas"),
        ("a,,y\n" + "1,2,3\n" * 12, "has no name"),
    ],
)
def test_csv_columns_that_cannot_become_symbols(tmp_path, text, message):
    """pandas reads each of these without complaint: a header 1.5 becomes the symbol in y = 1.5*b, a repeated a
    becomes a.1, a header-only file has text columns."""
    path = tmp_path / "data.csv"
    path.write_text(text)
    with pytest.raises(LiesError, match=message):
        load_csv(path, "y")


def test_load_csv_names_a_column_of_extreme_magnitude(tmp_path):
    rng = np.random.default_rng(0)
    a, b = rng.uniform(1, 5, 30) * 1e160, rng.uniform(1, 5, 30)
    path = tmp_path / "huge.csv"
    pd.DataFrame({"a": a, "b": b, "y": a * b}).to_csv(path, index=False)
    with pytest.raises(LiesError, match=r"huge\.csv: column 'a' has values of magnitude 1e160, .*a \* 1e-160$"):
        load_csv(path, "y")
    pd.DataFrame({"a": a * 1e-160, "b": b, "y": a * b * 1e-160}).to_csv(path, index=False)
    assert load_csv(path, "y").n_samples == 30
