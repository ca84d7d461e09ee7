"""Oversampling, paper III-D, Algorithm 1: add points where the weakly trained network errs most, retrain, repeat.

The input space is cut into ``bins`` equal-width bins per variable in the *network's* input space (log space,
max-normalised), giving a ``bins ** n`` grid, of which only the occupied cells (at most one per row) are ever
held: `occupied_cell_errors`, O(rows) for any number of inputs. Each cell's error is 1 - R^2 of the network on the
samples in it; the worst cell ``b*`` receives ``fraction * |D_t|`` new points, the network is retrained by weak
ADMM, and the round is kept only if the mean cell error went down. Unlike the authors' code (spec B8) the cell is
chosen and filled on one grid, the new points are drawn from the data source inside the cell when it can generate
(a known formula), else resampled from the rows already in the cell, and the stop rule compares the old and the new
network **on the same data** (the enlarged set).
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

    def cell_coords(self, z: np.ndarray) -> np.ndarray:
        """Bin index of every row of ``z`` per variable, (N, n) (rows outside the box go to the nearest edge cell)."""
        width = np.where(self.high > self.low, self.high - self.low, 1.0)
        k = np.floor((z - self.low) / width * self.bins).astype(np.int64)
        return np.clip(k, 0, self.bins - 1)

    def flat_fits(self, n: int) -> bool:
        """Whether ``bins ** n`` flat cell indices fit in int64 (then numpy can do the arithmetic)."""
        return self.bins**n < 2**62

    def cell_index(self, z: np.ndarray) -> np.ndarray:
        """Flat (C-order) cell index of every row of ``z``; only for grids whose ``bins ** n`` cells fit in int64
        (`flat_fits`), the wide case works on `cell_coords` rows instead."""
        if not self.flat_fits(z.shape[1]):
            raise ValueError(f"{self.bins}**{z.shape[1]} cells do not fit a flat int64 index: use cell_coords")
        return np.ravel_multi_index(tuple(self.cell_coords(z).T), (self.bins,) * z.shape[1])

    def flat_of(self, coords: np.ndarray) -> int:
        """The flat (C-order) index of one cell's per-variable bins, as a Python int (no overflow for any n)."""
        flat = 0
        for k in coords:
            flat = flat * self.bins + int(k)
        return flat

    def coords_of(self, cell: int) -> np.ndarray:
        """The per-variable bins of flat cell ``cell`` (inverse of `flat_of`, exact for any n)."""
        cell, coords = int(cell), []
        for _ in range(len(self.low)):
            cell, k = divmod(cell, self.bins)
            coords.append(k)
        return np.array(coords[::-1], dtype=np.int64)

    def cell_box(self, cell: int) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of one cell in the network's input space."""
        k = self.coords_of(cell)
        step = (self.high - self.low) / self.bins
        return self.low + k * step, self.low + (k + 1) * step


@dataclass(frozen=True)
class CellErrors:
    """1 - R^2 of the occupied cells only: ``coords`` (K, n) their bins, sorted as their flat indices are, and
    ``errors`` (K,). A dense ``bins ** n`` array would need 8 ** 10 floats for 10 variables; at most one cell per
    row is occupied, so this is O(rows) whatever n is."""

    grid: Grid
    coords: np.ndarray
    errors: np.ndarray

    def worst(self) -> int:
        """b* of Algorithm 1 as a flat index (ties: the lowest, as `worst_cell` on the dense array)."""
        if not np.isfinite(self.errors).any():
            raise ValueError("no cell holds enough samples to measure an error")
        return self.grid.flat_of(self.coords[int(np.nanargmax(self.errors))])

    def mean(self) -> float:
        """E_t: empty cells hold too few samples (``min_samples >= 1``) and never count, so this is `mean_error`
        of the dense array."""
        return mean_error(self.errors)


def occupied_cell_errors(grid: Grid, z: np.ndarray, y: np.ndarray, y_pred: np.ndarray,
                         min_samples: int = 5) -> CellErrors:
    """1 - R^2 in every occupied cell (line 6 of Algorithm 1); NaN for cells with fewer than ``min_samples``.

    R^2 inside a cell uses the cell's own mean; a cell where y is constant counts its error as 0 if the fit is
    exact there and as 1 otherwise. The sums are bincounts over the occupied cells in row order, as the dense
    version summed them, so the numbers are bit for bit the same.
    """
    if min_samples < 1:
        raise ValueError("min_samples must be at least 1 (an empty cell has no error)")
    n = z.shape[1]
    coords = grid.cell_coords(z)
    if grid.flat_fits(n):  # one int64 code per row: np.unique's 1-D sort is the fast path
        codes = np.ravel_multi_index(tuple(coords.T), (grid.bins,) * n)
        unique, cells = np.unique(codes, return_inverse=True)
        occupied = np.array(np.unravel_index(unique, (grid.bins,) * n), dtype=np.int64).T.reshape(len(unique), n)
    else:  # rows of bins, sorted lexicographically: the same order as their (overflowing) flat indices
        occupied, cells = np.unique(coords, axis=0, return_inverse=True)
    cells = cells.ravel()
    k = len(occupied)
    count = np.bincount(cells, minlength=k).astype(np.float64)
    mean = np.bincount(cells, weights=y, minlength=k) / np.maximum(count, 1)
    ss_tot = np.bincount(cells, weights=(y - mean[cells]) ** 2, minlength=k)
    ss_res = np.bincount(cells, weights=(y - y_pred) ** 2, minlength=k)
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.where(ss_tot > 0, ss_res / ss_tot, np.where(ss_res > 0, 1.0, 0.0))
    err[count < min_samples] = np.nan
    return CellErrors(grid, occupied, err)


def cell_errors(grid: Grid, z: np.ndarray, y: np.ndarray, y_pred: np.ndarray, min_samples: int = 5) -> np.ndarray:
    """`occupied_cell_errors` as a dense array over all ``bins ** n`` cells (NaN where empty): for inspecting small
    grids only, Algorithm 1 itself never builds it."""
    occ = occupied_cell_errors(grid, z, y, y_pred, min_samples)
    n = z.shape[1]
    if grid.bins**n > 2**24:
        raise ValueError(f"a dense grid of {grid.bins}**{n} cells is too large: use occupied_cell_errors")
    err = np.full(grid.bins**n, np.nan)
    err[np.ravel_multi_index(tuple(occ.coords.T), (grid.bins,) * n)] = occ.errors
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
    inside = np.flatnonzero((grid.cell_coords(z_rows) == grid.coords_of(cell)).all(axis=1))
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
            errors = occupied_cell_errors(md.grid, z, t, _predict(current, m, z, device), config.min_bin_samples)
            if not np.isfinite(errors.errors).any():
                md.rounds.append({"iteration": iteration, "accepted": False, "reason": "no cell has enough samples"})
                continue
            cell = errors.worst()
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
                before = occupied_cell_errors(md.grid, z, tt, _predict(current, m, z, device),
                                              config.min_bin_samples).mean()
                after = occupied_cell_errors(md.grid, z, tt, _predict(candidate, j, z, device),
                                             config.min_bin_samples).mean()
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
