import numpy as np
import torch

from lies.data.transforms import Transform
from lies.networks.lies import LiesNetwork
from lies.params import AdmmParams, OversamplingParams
from lies.training.oversampling import (
    Grid,
    ModelData,
    cell_errors,
    mean_error,
    new_points,
    occupied_cell_errors,
    oversample,
    worst_cell,
)


def test_cell_errors_find_the_planted_bad_cell():
    rng = np.random.default_rng(0)
    z = rng.uniform(0, 1, (4000, 2))
    y = z.sum(1)
    pred = y.copy()
    grid = Grid.covering(z, 4)
    bad = grid.cell_index(z) == grid.cell_index(np.array([[0.9, 0.1]]))[0]
    pred[bad] += rng.normal(0, 0.2, bad.sum())
    errors = cell_errors(grid, z, y, pred)
    assert worst_cell(errors) == grid.cell_index(np.array([[0.9, 0.1]]))[0]
    assert np.nanmax(errors) > 0.5 and np.nansum(errors) - np.nanmax(errors) < 1e-12
    assert 0 < mean_error(errors) < np.nanmax(errors)


def test_sparse_cells_do_not_count():
    z = np.array([[0.0, 0.0], [1.0, 1.0], [0.99, 0.99], [0.98, 0.98]])
    errors = cell_errors(Grid.covering(z, 2), z, np.array([0, 1, 2, 3.0]), np.zeros(4), min_samples=2)
    assert np.isnan(errors[0]) and np.isfinite(errors[-1])


def test_new_points_lie_in_the_cell_both_ways():
    rng = np.random.default_rng(1)
    X = rng.uniform(1, 5, (3000, 2))
    y = X[:, 0] * X[:, 1]
    tr = Transform.fit(X, y, ["a", "b"], "y")
    z = tr.inputs(X)
    grid = Grid.covering(z, 8)
    cell = int(grid.cell_index(z[:1])[0])
    lo, hi = grid.cell_box(cell)

    def sampler(low, high, n, rng):
        Xn = rng.uniform(low, high, (n, 2))
        return Xn, Xn[:, 0] * Xn[:, 1]

    for s in (sampler, None):  # generated from the formula, or resampled from the rows in the cell
        Xn, yn = new_points(grid, cell, 100, rng, tr.inverse_inputs, z, X, y, s)
        zn = tr.inputs(Xn)
        assert Xn.shape == (100, 2) and np.allclose(yn, Xn[:, 0] * Xn[:, 1])
        assert np.all(zn >= lo - 1e-9) and np.all(zn <= hi + 1e-9)


def _product_model(seed: int = 0):
    rng = np.random.default_rng(2)
    X = rng.uniform(1, 5, (600, 2))
    y = X[:, 0] * X[:, 1]
    tr = Transform.fit(X, y, ["a", "b"], "y")
    net = LiesNetwork(2, 1, generator=torch.Generator().manual_seed(seed))
    md = ModelData(X=X, y=y, transform=tr, sampler=None, rng=np.random.default_rng(0),
                   generator=torch.Generator().manual_seed(0))
    return net, md


def test_oversample_keeps_an_improving_round_and_its_points():
    net, md = _product_model()
    out = oversample(net, [md], OversamplingParams(max_iter=2, bins=4), AdmmParams(epochs=3, batch_size=64))
    assert md.rounds[0]["accepted"]  # an untrained network gains from 3 epochs on the enlarged set
    accepted = [r for r in md.rounds if r["accepted"]]
    assert all(r["error_after"] < r["error_before"] for r in accepted)
    assert len(md.added_y) == sum(r["n_added"] for r in accepted) > 0
    assert not torch.equal(out.flat, net.flat)


def test_oversample_rejects_a_round_that_does_not_improve_and_stops():
    net, md = _product_model()
    out = oversample(net, [md], OversamplingParams(max_iter=2, bins=4), AdmmParams(epochs=0))
    assert len(md.rounds) == 1 and not md.rounds[0]["accepted"]  # no retraining: no improvement, no second round
    assert len(md.added_y) == 0
    assert torch.equal(out.flat, net.flat)  # a rejected round leaves the model as it was


def _dense_cell_errors(grid, z, y, y_pred, min_samples=5):
    """The statistics as c63b5a0 computed them: a bincount over all bins ** n cells (the reference for small n)."""
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


def test_occupied_cells_give_the_dense_statistics_bit_for_bit():
    rng = np.random.default_rng(3)
    for d in (1, 2, 3, 4):
        for bins in (2, 8):
            z = rng.uniform(-1, 1, (1500, d))
            y = np.sin(3 * z).sum(1)
            pred = y + rng.normal(0, 0.1, len(y)) * (z[:, 0] > 0.3)
            pred[z[:, -1] < -0.8] = y[z[:, -1] < -0.8]  # some cells fitted exactly
            grid = Grid.covering(z, bins)
            dense = _dense_cell_errors(grid, z, y, pred, 3)
            occ = occupied_cell_errors(grid, z, y, pred, 3)
            assert np.array_equal(cell_errors(grid, z, y, pred, 3), dense, equal_nan=True)
            assert occ.worst() == worst_cell(dense)
            assert occ.mean() == mean_error(dense)
            if grid.bins ** d > 2 * len(z):
                assert len(occ.errors) < grid.bins ** d  # only the occupied cells are held
            flat = [grid.flat_of(c) for c in occ.coords]
            assert flat == sorted(flat) and np.array_equal(dense[flat], occ.errors, equal_nan=True)


def test_wide_grids_use_exact_cells_beyond_int64():
    rng = np.random.default_rng(4)
    d = 25  # 8 ** 25 cells: a flat index overflows int64
    z = rng.uniform(0, 1, (400, d))
    z[:200, :] = 1 - z[:200, :] * 0.01  # half the rows share the last corner cell
    y = z.sum(1)
    pred = y + (np.arange(400) % 7 == 0) * 0.05
    grid = Grid.covering(z, 8)
    assert not grid.flat_fits(d)
    occ = occupied_cell_errors(grid, z, y, pred, 5)
    groups = {}
    for row, c in enumerate(map(tuple, grid.cell_coords(z))):
        groups.setdefault(c, []).append(row)
    assert len(occ.errors) == len(groups)
    for coords, err in zip(map(tuple, occ.coords), occ.errors):
        rows = groups[coords]
        if len(rows) < 5:
            assert np.isnan(err)
        else:
            yc, pc = y[rows], pred[rows]
            assert np.isclose(err, ((yc - pc) ** 2).sum() / ((yc - yc.mean()) ** 2).sum())
    cell = occ.worst()
    assert cell > 2**63 and np.array_equal(grid.coords_of(cell), grid.cell_coords(z[:1])[0])
    lo, hi = grid.cell_box(cell)
    X = np.exp(z)
    Xn, _ = new_points(grid, cell, 50, rng, np.exp, z, X, y)
    assert np.all(np.log(Xn) >= lo - 1e-12) and np.all(np.log(Xn) <= hi + 1e-12)


def test_oversampling_twelve_columns_allocates_little():
    import tracemalloc

    rng = np.random.default_rng(5)
    X = rng.uniform(1, 5, (300, 12))
    X[:150] = 1 + X[:150] * 0.01  # half the rows share a cell, so the round has one to measure
    y = X[:, 0] * X[:, 1] / X[:, 2]
    tr = Transform.fit(X, y, [f"x{k}" for k in range(12)], "y")
    net = LiesNetwork(12, 1, generator=torch.Generator().manual_seed(0))
    md = ModelData(X=X, y=y, transform=tr, sampler=None, rng=np.random.default_rng(0),
                   generator=torch.Generator().manual_seed(0))
    tracemalloc.start()
    try:
        oversample(net, [md], OversamplingParams(max_iter=1, bins=8, min_bin_samples=2), AdmmParams(epochs=1))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(md.rounds) == 1 and "cell" in md.rounds[0]  # a cell was chosen and a round was run
    assert peak < 20 * 2**20  # the dense grid alone would be 8 ** 12 floats (550 GB)
