"""lies.core.checks: one function per input check, so the same mistake reads the same in `LiesRegressor.fit`, in
``lies run`` on a CSV file (with the file in front), in a Dataset and in a data frame; and the one train/test split.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_cli import run_cli

from lies.core.checks import check_columns, check_finite, check_names, check_positive, check_rows, check_shapes
from lies.core.errors import LiesError, did_you_mean
from lies.data.csv_data import frame_to_dataset
from lies.data.dataset import Dataset
from lies.data.tasks import split_rows
from lies.estimator import LiesRegressor


def _frame(n: int = 50, **columns) -> pd.DataFrame:
    x = np.linspace(1.0, 3.0, n)
    return pd.DataFrame({"x1": x, "x2": x[::-1] + 1, "y": x * (x[::-1] + 1), **columns})


def _with_nan(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.loc[[3, 17], "x1"] = np.nan
    return frame


def _signed_target(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(y=np.r_[-np.ones(10), np.ones(len(frame) - 10)])  # 10 of 50 rows <= 0, too deep to tolerate


# name -> (data, extra `lies run` arguments, LiesRegressor arguments, the problem as the checks word it)
SAME_MISTAKE = {
    "NaN in X": (_with_nan(_frame()), [], {},
                 "2 of 50 rows hold missing, NaN or inf values (columns 'x1'); drop or fix those rows, every value "
                 "must be finite"),
    "non-positive target in log space": (_signed_target(_frame()), ["-S", "weak_admm.log=true"], {"log": True},
                                         "column 'y' has 10 of 50 values <= 0, but log space needs every value > 0: "
                                         "set log to auto or false (raw space), e.g. -S weak_admm.log=auto or "
                                         "LiesRegressor(log='auto')"),
    "too few rows": (_frame(5), [], {}, "at least 10 data rows are needed to fit, got 5 samples"),
    "numeric column name": (_frame().rename(columns={"x2": "1.5"}), [], {},
                            "column name(s) '1.5' look like numbers, which a formula could not tell from constants; "
                            "rename them (e.g. x1) or add a header row"),
    "column name with spaces": (_frame().rename(columns={"x2": "mass kg"}), [], {},
                                "column name 'mass kg' is not a Python identifier, so a formula using it would be "
                                "ambiguous; use letters, digits and _ only, not starting with a digit (e.g. "
                                "'mass_kg')"),
    "column name with an operator": (_frame().rename(columns={"x1": "m/s"}), [], {},
                                     "column name 'm/s' is not a Python identifier"),
    "column name starting with a digit": (_frame().rename(columns={"x1": "1a"}), [], {},
                                          "column name '1a' is not a Python identifier"),
}


@pytest.mark.parametrize("case", list(SAME_MISTAKE))
def test_the_estimator_and_the_cli_word_the_same_mistake_the_same(case, tmp_path):
    frame, cli_args, estimator_args, problem = SAME_MISTAKE[case]
    csv = (tmp_path / "data.csv").resolve()
    frame.to_csv(csv, index=False)
    code, stdout, stderr = run_cli("run", csv, "--target", "y", "--out", tmp_path / "out", *cli_args)
    assert (code, stdout) == (2, "")
    assert stderr.startswith(f"lies: error: {csv}: {problem}") and stderr.count("\n") == 1, stderr
    with pytest.raises(LiesError) as info:
        LiesRegressor(**estimator_args).fit(frame.drop(columns="y"), frame["y"])
    assert str(info.value).startswith(problem) and f"{csv}: {info.value}\n" == stderr.removeprefix("lies: error: ")


def test_an_unknown_column_reads_the_same_from_the_cli_a_data_frame_and_predict(tmp_path):
    frame = _frame()
    csv = (tmp_path / "data.csv").resolve()
    frame.to_csv(csv, index=False)
    code, _, stderr = run_cli("run", csv, "--target", "yy", "--out", tmp_path / "out")
    problem = "target column 'yy' not found in {}; available columns: x1, x2, y; did you mean 'y'?"
    assert code == 2 and stderr == f"lies: error: {problem.format(csv)}\n"
    with pytest.raises(LiesError) as info:
        frame_to_dataset(frame, "yy")
    assert str(info.value) == problem.format("the data frame")
    # predict's check of a data frame's columns is the same function: the same words, X as the source
    with pytest.raises(LiesError) as info:
        check_columns(["mass", "speed"], ["mass", "sped"], "variable", "X")
    assert str(info.value) == ("variable column(s) 'speed' not found in X; available columns: mass, sped; "
                               "did you mean 'sped'?")


def test_each_check_prefixes_its_source_or_none():
    X, y = np.array([[1.0, np.inf], [2.0, 3.0]]), np.array([1.0, 2.0])
    with pytest.raises(LiesError, match=r"^data\.csv: 1 of 2 rows hold missing, NaN or inf values \(columns 'b'\)"):
        check_finite(X, y, ["a", "b"], "y", "data.csv")
    with pytest.raises(LiesError, match=r"^1 of 2 rows hold .*\(columns 'b'\)"):
        check_finite(X, None, ["a", "b"], None)
    with pytest.raises(LiesError, match=r"^column 'a' has 1 of 2 values <= 0, but log space"):
        check_positive(np.array([[0.0], [1.0]]), y, ["a"], "y")
    with pytest.raises(LiesError, match=r"^Dataset: repeated column names: a;"):
        check_names(["a", "a"], "Dataset")
    with pytest.raises(LiesError, match=r"^X must be 2-D \(samples, variables\), got shape \(3,\); Reshape"):
        check_shapes(np.ones(3), None, ["a"])
    with pytest.raises(LiesError, match=r"^X has 1 columns but 2 variable names were given: a, b$"):
        check_shapes(np.ones((3, 1)), None, ["a", "b"])
    with pytest.raises(LiesError, match=r"^y must have shape \(3,\) to match X, got \(2,\)$"):
        check_shapes(np.ones((3, 1)), np.ones(2), ["a"])
    with pytest.raises(LiesError, match="^at least 2 data rows are needed to fit, got 1 sample$"):
        check_rows(1, minimum=2)


def test_did_you_mean_is_the_one_hint():
    assert did_you_mean("epoch", ["epochs", "lr"]) == "; did you mean 'epochs'?"
    assert did_you_mean("zzz", ["epochs"]) == ""
    assert did_you_mean("LIES61", ["lies61", "all"], n=3) == "; did you mean 'lies61'?"  # case first
    assert did_you_mean("I.15.10", ["I.15.1", "I.15.3x", "II.8.7"], n=3).startswith("; did you mean 'I.15.1'")


def test_split_rows_keeps_the_random_stream():
    """The same seed holds out the same rows as before the split had one home (for a CSV task and for fit)."""
    data = Dataset(np.arange(20.0).reshape(10, 2), np.arange(10.0), ("a", "b"), "y")
    train, test = split_rows(data, 0.2, np.random.default_rng(0))
    order = np.random.default_rng(0).permutation(10)
    np.testing.assert_array_equal(test.y, order[:2])
    np.testing.assert_array_equal(train.y, order[2:])
    assert test.y.tolist() == [4.0, 6.0]  # numpy's PCG64 stream for seed 0
    assert split_rows(data, 0.0, np.random.default_rng(1))[1].n_samples == 1  # at least one row held out


def test_fit_holds_out_the_rows_split_rows_chooses(monkeypatch):
    """LiesRegressor.fit and a CSV task share the split: fit's held-out rows are split_rows' for its seed."""
    import lies.estimator
    import lies.pipeline.runner

    seen = {}

    def stop(self, tasks, *args, **kwargs):
        seen["task"] = tasks[0]
        raise LiesError("stop here")

    monkeypatch.setattr(lies.pipeline.runner.Pipeline, "run", stop)
    frame = _frame()
    with pytest.raises(LiesError, match="stop here"):
        lies.estimator.LiesRegressor(random_state=3).fit(frame.drop(columns="y"), frame["y"])
    data = Dataset(frame[["x1", "x2"]].to_numpy(), frame["y"].to_numpy(), ("x1", "x2"), "y")
    train, test = split_rows(data, lies.estimator.HELD_OUT, np.random.default_rng(3))
    np.testing.assert_array_equal(seen["task"].test.X, test.X)
    np.testing.assert_array_equal(seen["task"].train.X, train.X)


def test_no_check_is_written_twice():
    """The words of each check live in lies/core/checks.py only (the modules that used to word their own call it)."""
    root = Path(__file__).resolve().parents[1] / "lies"
    for phrase in ("rows hold missing", "log space needs every value", "variable names were given",
                   "look like numbers", "data rows are needed", "get_close_matches"):
        homes = sorted(p.name for p in root.rglob("*.py") if phrase in p.read_text())
        assert homes == (["errors.py"] if phrase == "get_close_matches" else ["checks.py"]), (phrase, homes)


@pytest.mark.parametrize("name", ["mass kg", "speed m/s", "1a", "a-b", "x.1", "a*b"])
def test_names_that_are_not_identifiers_are_refused_wherever_they_enter(name, tmp_path):
    """`y = mass kg*speed m/s` or `1a*2b` cannot be read back: a name must be a Python identifier, whether it comes
    from a CSV (as a variable or as the target), a data frame, fit's variable_names, a Dataset or a peer."""
    X, y = np.linspace(1, 2, 40).reshape(20, 2), np.linspace(1, 2, 20)
    entries = {
        "variable_names": lambda: LiesRegressor().fit(X, y, variable_names=["a", name]),
        "data frame": lambda: LiesRegressor().fit(pd.DataFrame(X, columns=[name, "b"]), y),
        "Dataset variable": lambda: Dataset(X, y, (name, "b"), "y"),
        "Dataset target": lambda: Dataset(X, y, ("a", "b"), name),
        "from_frame": lambda: frame_to_dataset(pd.DataFrame({"a": y, name: y}), name),
    }
    for where, enter in entries.items():
        with pytest.raises(LiesError, match=f"column name {re.escape(repr(name))} is not a Python identifier"):
            enter()
    csv = tmp_path / "data.csv"
    pd.DataFrame({"a": y, "b": y, name: y}).to_csv(csv, index=False)
    for argv in (["--target", name], ["--target", "b", "-S", f"tasks.variables=[a, '{name}']"]):
        code, stdout, stderr = run_cli("run", csv, *argv, "--out", tmp_path / "out")
        assert (code, stdout) == (2, ""), stderr
        assert stderr.startswith("lies: error: ") and f"column name {name!r}" in stderr and stderr.count("\n") == 1
        assert not (tmp_path / "out").exists()


def test_a_csv_column_left_out_of_the_formula_may_have_any_name(tmp_path):
    """Only the columns a formula uses become symbols: an unused ``notes (text)`` column does not stop a CSV."""
    from lies.data.csv_data import load_csv

    csv = tmp_path / "data.csv"
    _frame().assign(**{"notes (text)": 1.0}).to_csv(csv, index=False)
    data = load_csv(csv, "y", ["x1", "x2"])
    assert data.variables == ("x1", "x2") and data.n_samples == 50
    with pytest.raises(LiesError, match="column name 'notes \\(text\\)' is not a Python identifier"):
        load_csv(csv, "y")  # every other column: the notes would be a variable
