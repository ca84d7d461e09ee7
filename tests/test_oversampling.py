import numpy as np
import torch

from lies.data.transforms import Transform
from lies.networks.lies import LiesNetwork
from lies.params import AdmmParams, OversamplingParams
from lies.training.oversampling import Grid, ModelData, cell_errors, mean_error, new_points, oversample, worst_cell


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
