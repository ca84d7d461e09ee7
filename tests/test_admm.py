import math

import numpy as np
import pytest
import torch

from lies.networks.base import add_constant_column
from lies.networks.lies import LiesNetwork
from lies.params import AdmmParams, StrongAdmmParams, WeakAdmmParams
from lies.training.admm import AdmmState, keep_largest, soft_threshold, strong_lambda, train_admm
from lies.training.losses import admm_penalty, exp_loss, l1_penalty, mask_loss


def test_soft_threshold_eq8():
    v = torch.tensor([-2.0, -0.5, 0.0, 0.3, 1.5])
    assert soft_threshold(v, 0.5).tolist() == pytest.approx([-1.5, 0.0, 0.0, 0.0, 1.0])


def test_keep_largest_is_the_cardinality_projection():
    v = torch.tensor([[0.1, -3.0, 0.5, 2.0], [1.0, 0.0, -0.25, 0.5]])
    out = keep_largest(v, 2)
    assert out.tolist() == [[0.0, -3.0, 0.0, 2.0], [1.0, 0.0, 0.0, 0.5]]


def test_z_and_u_updates_eq7_to_9():
    w = {"a": torch.tensor([[1.0, 0.001, -0.5]])}
    cfg = AdmmParams(rho=1.0, lam=0.01)
    state = AdmmState.start(w, cfg, n_inputs=1)
    assert state.z["a"][0].tolist() == pytest.approx([0.99, 0.0, -0.49])  # Z0 = prox(W0)
    assert state.u["a"].abs().sum() == 0
    w2 = {"a": torch.tensor([[1.2, 0.002, -0.5]])}
    state.update(w2, cfg, n_inputs=1)
    z = soft_threshold(w2["a"] + 0.0, 0.01)  # U was 0
    assert torch.allclose(state.z["a"], z)
    assert torch.allclose(state.u["a"], w2["a"] - z)


def test_paper_lambdas():
    weak, strong = WeakAdmmParams(), StrongAdmmParams()
    assert weak.rho == 0.5 and weak.lam == 5e-4 and weak.epochs == 20
    assert strong.rho == 0.005 and strong.epochs == 30 and strong.lam is None  # None: strong_lambda(n) in training
    assert strong_lambda(1) == 5.0 and strong_lambda(4) == pytest.approx(5e-3)


def test_losses_per_model():
    y = torch.tensor([[0.0, 0.0], [1.0, -1.0]])
    assert exp_loss(y, torch.zeros_like(y)).tolist() == pytest.approx([1.0, math.e])
    w = {"a": torch.tensor([[1.0, -2.0], [0.0, 0.0]])}
    z = {"a": torch.zeros(2, 2)}
    u = {"a": torch.tensor([[1.0, 0.0], [0.0, 0.0]])}
    assert admm_penalty(w, z, u, rho=2.0).tolist() == pytest.approx([(4 + 4), 0.0])  # squared norm, eq. (11)
    assert l1_penalty(w.values(), 0.5).tolist() == pytest.approx([1.5, 0.0])
    v = torch.tensor([[1.0, 3.0], [0.0, 0.0]])
    assert mask_loss(v).tolist() == pytest.approx([2.0, 0.0])  # a mean over the batch, not a sum


def test_exp_loss_is_finite_far_away():
    y = torch.tensor([[200.0]])
    loss = exp_loss(y, torch.zeros_like(y))
    assert torch.isfinite(loss).all() and loss.item() > math.exp(20)


def _monomial_data(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(1, 5, (n, 2))
    z = np.log(X) / np.log(5)
    x = add_constant_column(torch.tensor(z, dtype=torch.float32))[None]
    t = torch.tensor(np.log(X[:, 0] * X[:, 1]), dtype=torch.float32)[None]
    return x, t


def test_masks_hold_zeros_through_training():
    x, t = _monomial_data()
    net = LiesNetwork(2, 1, generator=torch.Generator().manual_seed(0))
    keep = torch.rand(net.mask.shape, generator=torch.Generator().manual_seed(1)) > 0.3
    net.prune(keep)
    train_admm(net, x, t, AdmmParams(epochs=2, batch_size=128), generators=torch.Generator().manual_seed(0))
    assert torch.all(net.flat[~keep] == 0)


def test_training_is_deterministic_for_a_seed():
    x, t = _monomial_data()
    runs = []
    for _ in range(2):
        net = LiesNetwork(2, 1, generator=torch.Generator().manual_seed(0))
        train_admm(net, x, t, AdmmParams(epochs=2), generators=[torch.Generator().manual_seed(5)])
        runs.append(net.flat.detach().clone())
    assert torch.equal(runs[0], runs[1])


def test_a_model_trains_alike_alone_and_beside_others():
    """Chunks of one model happen (a task whose rows no other task shares): its training must match, bit for bit,
    the same model trained in a batch, or a run's formulas depend on which other tasks it holds."""
    g = torch.Generator().manual_seed(3)
    nets = [LiesNetwork(3, 1, generator=g) for _ in range(3)]
    x = add_constant_column(torch.rand(3, 1024, 3, generator=g) + 0.5)
    t = torch.log(x[..., 0] * x[..., 1] ** 2 + x[..., 2])
    config = AdmmParams(epochs=2)

    def trained(models: list[int]) -> torch.Tensor:
        net = LiesNetwork.stack([nets[m] for m in models])
        train_admm(net, x[models], t[models], config, generators=[torch.Generator().manual_seed(m) for m in models])
        return net.flat.detach()

    alone = trained([0])[0]
    assert not torch.equal(alone, nets[0].flat[0])  # it did train
    assert torch.equal(trained([0, 1])[0], alone)
    assert torch.equal(trained([2, 1, 0])[2], alone)


def test_nan_does_not_loop_forever_and_spares_other_models():
    x, t = _monomial_data()
    x2, t2 = x.repeat(2, 1, 1), t.repeat(2, 1)
    t2[1, 0] = float("nan")  # model 1 sees a NaN target: its loss is never finite
    net = LiesNetwork(2, 2, generator=torch.Generator().manual_seed(0))
    result = train_admm(net, x2, t2, AdmmParams(epochs=6, max_restarts=2))
    assert result.diverged == [False, True]
    assert torch.isfinite(net.flat).all()
    assert result.history[1][-1]["restarts"] == 3
    assert math.isfinite(result.history[0][-1]["loss"])


def test_a_frozen_model_keeps_its_weights():
    """After its last restart a diverged model is frozen: neither the gradient step nor the l1 prox moves it."""
    x, t = _monomial_data()
    x2, t2 = x.repeat(2, 1, 1), t.repeat(2, 1)
    t2[1, 0] = float("nan")
    net = LiesNetwork(2, 2, generator=torch.Generator().manual_seed(0))
    at_freeze = {}

    def watch(epoch, records):
        if records[1]["restarts"] > 2 and not at_freeze:
            at_freeze["flat"] = net.flat[1].detach().clone()

    result = train_admm(net, x2, t2, AdmmParams(epochs=8, max_restarts=2, alpha=0.05), on_epoch=watch)
    assert result.diverged == [False, True] and "flat" in at_freeze
    assert (at_freeze["flat"] != 0).any()
    assert torch.equal(net.flat[1], at_freeze["flat"])
