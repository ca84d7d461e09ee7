"""`Dataset`: samples in raw units, named float64 columns, nothing else.

Everything downstream (oversampling, training, scoring) sees a Dataset, whether its rows were drawn from a formula
of the AI Feynman registry (`lies.data.feynman`) or read from a user's CSV file (`lies.data.csv_data`, which also takes a pandas DataFrame: `frame_to_dataset`). Its checks (shapes,
names, numbers) are `lies.core.checks`'s, so a bad Dataset is worded as a bad CSV file or a bad ``fit(X, y)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lies.core.checks import as_numeric, check_names, check_shapes
from lies.core.errors import LiesError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Dataset", "box_points"]


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
        X = np.ascontiguousarray(as_numeric(self.X, "X", "Dataset"))
        y = as_numeric(self.y, "y", "Dataset")
        check_shapes(X, y, variables, "Dataset")
        check_names(variables, "Dataset")
        if target in variables:
            raise LiesError(f"Dataset target {target!r} is also listed as an input variable")
        check_names([target], "Dataset")  # the target names the formula too (``target = ...``)
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


def box_points(X: np.ndarray, n_points: int = 4096, max_corner_dims: int = 12) -> np.ndarray:
    """Points that cover the box of the rows ``X`` (N, n), each column between its minimum and maximum: the 2^n
    corners (when n <= ``max_corner_dims``) and ``n_points`` of an unscrambled Sobol sequence (deterministic: no
    seed). (P, n), float64.

    A formula fitted on the rows should be defined between them too: test rows and a user's new data come from the
    same ranges. A term linear in the inputs (a first-layer pre-activation, the argument of a log in ``x`` or in
    ``log x``) takes its extremes at a corner, which a few thousand random rows seldom reach.
    """
    from scipy.stats import qmc

    X = np.asarray(X, dtype=np.float64)
    lo, hi = X.min(axis=0), X.max(axis=0)
    n = X.shape[1]
    unit = qmc.Sobol(n, scramble=False).random(n_points)  # (n_points, n), the first point is the lower corner
    if n <= max_corner_dims:
        corners = (np.arange(2 ** n)[:, None] >> np.arange(n)[None, :]) & 1  # (2^n, n) of 0/1
        unit = np.concatenate([corners.astype(np.float64), unit])
    return lo + unit * (hi - lo)
