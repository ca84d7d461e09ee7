"""Data transforms of paper III-G: inputs and target to log space, inputs max-normalised; and the exact inverse.

In log space a product of powers ``C * prod v_k ** a_k`` is the linear function ``ln C + sum a_k ln v_k``, which a
LIES network expresses with a single skip edge per variable. The inputs are then divided by their largest absolute
value over the training data so that every input lies in [-1, 1].

The network computes ``t = net(ln(v) / s)`` and the model is ``y = exp(t)``; `symbolic_inputs` and
`symbolic_output` give that map in sympy form so that `lies.networks.extraction` writes the formula in raw units.

Deviation from the authors' code: the scale is ``max |ln v|`` rather than ``max ln v``. They agree whenever a
variable's range reaches above 1 more than it reaches below; for variables in (0, 1] (``n``, ``alpha`` in II.11.27)
``max ln v`` is ~0 or negative and the division breaks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import sympy

from lies.core.checks import check_finite, check_magnitude, check_positive, log_space_problem, target_sign


@dataclass(frozen=True)
class Transform:
    """Fitted input/target transform. ``log`` switches log space on (the paper) or off (raw, max-normalised)."""

    scales: tuple[float, ...]
    log: bool = True
    sign: int = 1  # log space: -1 when the target is negative (`lies.core.checks.target_sign`), fitted as ln(-y)

    @classmethod
    def fit(
        cls, X: np.ndarray, y: np.ndarray, variables: Sequence[str], target: str, *, log: bool = True
    ) -> "Transform":
        """Check the data and compute one scale per input column (in log space, a few targets <= 0 are allowed:
        `lies.core.checks.MAX_NONPOSITIVE_TARGET`)."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        check_finite(X, y, variables, target)
        check_magnitude(X, y, variables, target)
        if log:
            check_positive(X, y, variables, target)
            tx = np.log(X)
        else:
            tx = X
        scales = np.abs(tx).max(axis=0) if len(tx) else np.ones(X.shape[1])
        scales = np.where(scales > 1e-12, scales, 1.0)
        return cls(scales=tuple(float(s) for s in scales), log=log, sign=target_sign(y) if log else 1)

    @property
    def n_inputs(self) -> int:
        return len(self.scales)

    def inputs(self, X: np.ndarray) -> np.ndarray:
        """Raw inputs (N, n) -> network inputs (N, n), without the constant column."""
        X = np.asarray(X, dtype=np.float64)
        tx = np.log(X) if self.log else X
        return tx / np.asarray(self.scales)

    def target(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        return np.log(self.sign * y) if self.log else y

    def inverse_target(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        return self.sign * np.exp(t) if self.log else t

    def inverse_inputs(self, tx: np.ndarray) -> np.ndarray:
        """Network inputs -> raw inputs (used to turn bin edges in network space into sampling boxes)."""
        v = np.asarray(tx, dtype=np.float64) * np.asarray(self.scales)
        return np.exp(v) if self.log else v

    def symbolic_inputs(self, symbols: Sequence[sympy.Symbol]) -> list[sympy.Expr]:
        """The network input of each raw variable as a sympy expression, e.g. ``log(v)/1.609``."""
        return [
            (sympy.log(s) if self.log else s) * sympy.Float(1.0 / scale)
            for s, scale in zip(symbols, self.scales, strict=True)
        ]

    def symbolic_output(self, t: sympy.Expr) -> sympy.Expr:
        """The raw-unit model for a network output expression ``t``."""
        return self.sign * sympy.exp(t) if self.log else t

    def to_dict(self) -> dict:
        return {"log": self.log, "scales": list(self.scales), **({"sign": -1} if self.sign < 0 else {})}

    @classmethod
    def from_dict(cls, d: dict) -> "Transform":
        return cls(scales=tuple(float(s) for s in d["scales"]), log=bool(d["log"]), sign=int(d.get("sign", 1)))


def positive_target_rows(y: np.ndarray) -> np.ndarray | None:
    """Indices of the rows with y > 0 when some are not (None: every row is fine for log space); see
    `lies.core.checks.MAX_NONPOSITIVE_TARGET` for how many may be <= 0."""
    y = np.asarray(y)
    return np.flatnonzero(y > 0) if (y <= 0).any() else None


def nonpositive_target_note(y: np.ndarray, source: str) -> str | None:
    """The line that says a few targets <= 0 (of a negative target: >= 0) are left out of log-space training (None:
    there are none)."""
    n_bad = int((target_sign(y) * np.asarray(y) <= 0).sum())
    if not n_bad:
        return None
    return (f"note: {source}: {n_bad} of {len(y)} training targets are <= 0 (noise around values near zero); the "
            "network's log-space training leaves those rows out, the formula stages and R^2 use every row")


def use_log(setting: bool | str, X: np.ndarray, y: np.ndarray) -> bool:
    """``weak_admm.log`` resolved for some data: ``"auto"`` is log space exactly when log space can take it (every
    value > 0, but for a few targets a little below 0: `log_space_problem`)."""
    if setting == "auto":
        names = [f"x{k}" for k in range(np.shape(X)[1])]
        return log_space_problem(X, y, names, "y") is None
    return bool(setting)
