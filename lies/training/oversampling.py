"""Oversampling, paper III-D, Algorithm 1: add points where the weakly trained network errs most, retrain, repeat.

The input space is cut into ``bins`` equal-width bins per variable in the *network's* input space (log space,
max-normalised), giving a ``bins ** n`` grid. Each cell's error is 1 - R^2 of the network on the samples in it; the
worst cell ``b*`` receives ``fraction * |D_t|`` new points, the network is retrained by weak ADMM, and the round is
kept only if the mean cell error went down. Unlike the authors' code (spec B8) the cell is chosen and filled on one
grid, the new points are drawn from the data source inside the cell when it can generate (a known formula), else
resampled from the rows already in the cell, and the stop rule compares the old and the new network **on the same
data** (the enlarged set).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from lies.data.transforms import Transform
from lies.networks.lies import LiesNetwork
from lies.params import AdmmParams, OversamplingParams
from lies.training.admm import train_admm

#: Draw ``n`` raw-unit samples uniformly inside the box [low, high] (one bound per variable): returns (X, y).
Sampler = Callable[[np.ndarray, np.ndarray, int, np.random.Generator], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Grid:
    """Equal-width bins per input over a fixed box of the network's input space."""

    low: np.ndarray  # (n,)
    high: np.ndarray  # (n,)
    bins: int

    @classmethod
    def covering(cls, z: np.ndarray, bins: int) -> "Grid":
        """The grid over the bounding box of the (transformed) inputs ``z`` (N, n)."""
        return cls(low=z.min(axis=0), high=z.max(axis=0), bins=bins)

    def cell_index(self, z: np.ndarray) -> np.ndarray:
        """Flat cell index of every row of ``z`` (rows outside the box go to the nearest edge cell)."""
        width = np.where(self.high > self.low, self.high - self.low, 1.0)
        k = np.floor((z - self.low) / width * self.bins).astype(np.int64)
        k = np.clip(k, 0, self.bins - 1)
        return np.ravel_multi_index(tuple(k.T), (self.bins,) * z.shape[1])

    def cell_box(self, cell: int) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of one cell in the network's input space."""
        k = np.array(np.unravel_index(cell, (self.bins,) * len(self.low)))
        step = (self.high - self.low) / self.bins
        return self.low + k * step, self.low + (k + 1) * step


def cell_errors(grid: Grid, z: np.ndarray, y: np.ndarray, y_pred: np.ndarray, min_samples: int = 5) -> np.ndarray:
    """1 - R^2 in every cell (line 6 of Algorithm 1); NaN for cells with fewer than ``min_samples`` samples.

    R^2 inside a cell uses the cell's own mean; a cell where y is constant counts its error as 0 if the fit is
    exact there and as 1 otherwise.
    """
    cells = grid.cell_index(z)
    n_cells = grid.bins ** z.shape[1]
    count = np.bincount(cells, minlength=n_cells).astype(np.float64)
    mean = np.bincount(cells, weights=y, minlength=n_cells) / np.maximum(count, 1)
    ss_tot = np.bincount(cells, weights=(y - mean[cells]) ** 2, minlength=n_cells)
    ss_res = np.bincount(cells, weights=(y - y_pred) ** 2, minlength=n_cells)
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.where(ss_tot > 0, ss_res / ss_tot, np.where(ss_res > 0, 1.0, 0.0))
    err[count < min_samples] = np.nan
    return err


def mean_error(errors: np.ndarray) -> float:
    """E_t of Algorithm 1: the mean cell error over cells with enough samples."""
    valid = errors[np.isfinite(errors)]
    return float(valid.mean()) if valid.size else float("nan")


def worst_cell(errors: np.ndarray) -> int:
    """b* of Algorithm 1 (ties: the lowest index, so the choice is deterministic)."""
    if not np.isfinite(errors).any():
        raise ValueError("no cell holds enough samples to measure an error")
    return int(np.nanargmax(errors))


def new_points(
    grid: Grid,
    cell: int,
    n_points: int,
    rng: np.random.Generator,
    to_raw: Callable[[np.ndarray], np.ndarray],
    z_rows: np.ndarray,
    X_rows: np.ndarray,
    y_rows: np.ndarray,
    sampler: Sampler | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``n_points`` new raw-unit samples in ``cell`` (line 11 of Algorithm 1).

    With a ``sampler`` (a known formula) the points are drawn uniformly inside the cell's raw-unit box; without one
    they are resampled, with replacement, from the given rows that fall in the cell.
    """
    if sampler is not None:
        lo, hi = grid.cell_box(cell)
        raw_lo, raw_hi = to_raw(lo[None])[0], to_raw(hi[None])[0]
        return sampler(np.minimum(raw_lo, raw_hi), np.maximum(raw_lo, raw_hi), n_points, rng)
    inside = np.flatnonzero(grid.cell_index(z_rows) == cell)
    pick = rng.choice(inside, size=n_points, replace=True)
    return X_rows[pick], y_rows[pick]


@dataclass
class ModelData:
    """One model's data for Algorithm 1: network inputs/targets are recomputed from raw units with its transform."""

    X: np.ndarray  # raw inputs (N, n)
    y: np.ndarray  # raw target (N,)
    transform: Transform
    sampler: Sampler | None
    rng: np.random.Generator
    generator: "torch.Generator"
    grid: Grid | None = None
    added_X: np.ndarray | None = None
    added_y: np.ndarray | None = None
    rounds: list[dict] | None = None


def oversample(net: LiesNetwork, models: list[ModelData], config: OversamplingParams, weak: AdmmParams,
               device: "torch.device | str" = "cpu") -> LiesNetwork:
    """Algorithm 1 for every model of ``net`` at once (models still improving are retrained together).

    Returns the network holding, per model, the last accepted weights; each `ModelData` gets ``added_X/added_y``
    (the accepted new points) and ``rounds`` (one record per round: cell, errors before/after, accepted).
    """
    current = net.select(list(range(net.n_models)))
    for m, md in enumerate(models):
        z = md.transform.inputs(md.X)
        md.grid = Grid.covering(z, config.bins)
        md.added_X, md.added_y = md.X[:0], md.y[:0]
        md.rounds = []
    active = list(range(len(models)))
    for iteration in range(1, config.max_iter + 1):
        if not active:
            break
        proposals = {}
        for m in active:
            md = models[m]
            X, y = _all_rows(md)
            z, t = md.transform.inputs(X), md.transform.target(y)
            errors = cell_errors(md.grid, z, t, _predict(current, m, z, device), config.min_bin_samples)
            if not np.isfinite(errors).any():
                md.rounds.append({"iteration": iteration, "accepted": False, "reason": "no cell has enough samples"})
                continue
            cell = worst_cell(errors)
            n_new = max(1, int(round(config.fraction * len(y))))
            X_new, y_new = new_points(md.grid, cell, n_new, md.rng, md.transform.inverse_inputs, z, X, y, md.sampler)
            proposals[m] = (cell, X_new, y_new)
        # retrain a copy of each model on D_{t+1}; models with equally many rows train together
        by_size: dict[int, list[int]] = {}
        for m, (_, _, y_new) in proposals.items():
            by_size.setdefault(len(_all_rows(models[m])[1]) + len(y_new), []).append(m)
        still_active = []
        for size, group in by_size.items():
            candidate = current.select(group)
            xs, ts = [], []
            for m in group:
                X, y = _all_rows(models[m], proposals[m])
                xs.append(_network_input(models[m].transform.inputs(X)))
                ts.append(models[m].transform.target(y))
            x = torch.tensor(np.stack(xs), dtype=current.flat.dtype, device=device)
            t = torch.tensor(np.stack(ts), dtype=current.flat.dtype, device=device)
            train_admm(candidate, x, t, weak, generators=[models[m].generator for m in group])
            for j, m in enumerate(group):
                md = models[m]
                cell, X_new, y_new = proposals[m]
                X, y = _all_rows(md, proposals[m])
                z, tt = md.transform.inputs(X), md.transform.target(y)
                before = mean_error(cell_errors(md.grid, z, tt, _predict(current, m, z, device), config.min_bin_samples))
                after = mean_error(cell_errors(md.grid, z, tt, _predict(candidate, j, z, device), config.min_bin_samples))
                accepted = bool(np.isfinite(after) and (not np.isfinite(before) or after < before))
                md.rounds.append({"iteration": iteration, "cell": cell, "n_added": len(y_new), "error_before": before,
                                  "error_after": after, "accepted": accepted})
                if accepted:
                    with torch.no_grad():
                        current.flat[m] = candidate.flat[j]
                        current.mask[m] = candidate.mask[j]
                    md.added_X = np.concatenate([md.added_X, X_new])
                    md.added_y = np.concatenate([md.added_y, y_new])
                    still_active.append(m)
        active = sorted(still_active)
    return current


def _all_rows(md: ModelData, proposal=None) -> tuple[np.ndarray, np.ndarray]:
    parts_X, parts_y = [md.X, md.added_X], [md.y, md.added_y]
    if proposal is not None:
        parts_X.append(proposal[1])
        parts_y.append(proposal[2])
    return np.concatenate(parts_X), np.concatenate(parts_y)


def _network_input(z: np.ndarray) -> np.ndarray:
    return np.concatenate([z, np.ones((len(z), 1))], axis=1)


def _predict(net: LiesNetwork, m: int, z: np.ndarray, device) -> np.ndarray:
    x = torch.tensor(_network_input(z)[None], dtype=net.flat.dtype, device=device)
    single = net.select([m])
    with torch.no_grad():
        return single(x).y[0].double().cpu().numpy()
