"""Tests of lies.data.dataset: the Dataset type (float64 copies, checks, frames, concat, subsets)."""

from __future__ import annotations

import numpy as np
import pytest

from lies.core.errors import LiesError
from lies.data.csv_data import frame_to_dataset
from lies.data.dataset import Dataset


def _toy(n: int = 5) -> Dataset:
    X = np.arange(2 * n, dtype=np.int64).reshape(n, 2)
    return Dataset(X, X.sum(axis=1), ("a", "b"), "y")


def test_dataset_stores_float64_copies_and_validates_shapes():
    X = np.arange(6).reshape(3, 2)
    y = np.array([1, 2, 3])
    ds = Dataset(X, y, ["a", "b"], "y")
    assert ds.X.dtype == np.float64 and ds.y.dtype == np.float64
    assert ds.variables == ("a", "b") and (ds.n_samples, ds.n_variables) == (3, 2)
    X[0, 0] = 99
    assert ds.X[0, 0] == 0  # a copy
    with pytest.raises(LiesError, match="2 columns but 3 variable names"):
        Dataset(X, y, ("a", "b", "c"), "y")
    with pytest.raises(LiesError, match=r"y must have shape \(3,\)"):
        Dataset(X, y[:2], ("a", "b"), "y")
    with pytest.raises(LiesError, match="2-D"):
        Dataset(X.ravel(), y, ("a",), "y")
    with pytest.raises(LiesError, match="repeated column names: a"):
        Dataset(X, y, ("a", "a"), "y")
    with pytest.raises(LiesError, match="also listed as an input"):
        Dataset(X, y, ("a", "y"), "y")


def test_dataset_frame_round_trip():
    ds = _toy()
    df = ds.to_frame()
    assert list(df.columns) == ["a", "b", "y"]
    back = frame_to_dataset(df, "y")
    np.testing.assert_array_equal(back.X, ds.X)
    np.testing.assert_array_equal(back.y, ds.y)
    assert back.variables == ds.variables
    swapped = frame_to_dataset(df, "a", ["b", "y"])
    np.testing.assert_array_equal(swapped.X, df[["b", "y"]].to_numpy())


def test_dataset_concat_and_subset():
    ds = _toy(5)
    both = ds.concat(_toy(3))
    assert both.n_samples == 8
    np.testing.assert_array_equal(both.X[5:], _toy(3).X)
    with pytest.raises(LiesError, match="different columns"):
        ds.concat(Dataset(ds.X, ds.y, ("b", "a"), "y"))
    sub = ds.subset([4, 0])
    np.testing.assert_array_equal(sub.X, ds.X[[4, 0]])
    np.testing.assert_array_equal(sub.y, ds.y[[4, 0]])
    mask = ds.y > 10
    assert ds.subset(mask).n_samples == int(mask.sum())
    assert ds.subset(np.array([], dtype=int)).n_samples == 0
    assert ds.subset(2).n_samples == 1
    with pytest.raises(LiesError, match="boolean row mask"):
        ds.subset(np.ones(4, dtype=bool))
    with pytest.raises(LiesError, match="out of range"):
        ds.subset([5])
