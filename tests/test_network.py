import pytest
import torch

from lies.networks.base import add_constant_column
from lies.networks.lies import Architecture, LiesNetwork


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_shapes_follow_the_paper(n):
    net = LiesNetwork(n, n_models=3, generator=torch.Generator().manual_seed(0))
    assert net.arch.n_layers == n + 1
    for i in range(n + 1):
        assert net.weight(f"layer{i}").shape == (3, 4, n + 1 + 4 * i)  # input + raw outputs of earlier layers
    assert net.weight("gates").shape == (3, n + 1, 4)
    assert net.weight("output").shape == (3, 1, n + 1 + 4 * (n + 1))
    x = add_constant_column(torch.rand(3, 7, n))
    out = net(x)
    assert out.y.shape == (3, 7) and out.violation.shape == (3, 7)


def test_models_are_independent_and_select_stack_round_trip():
    g = torch.Generator().manual_seed(1)
    nets = [LiesNetwork(2, 1, generator=g) for _ in range(3)]
    stacked = LiesNetwork.stack(nets)
    x = add_constant_column(torch.rand(3, 300, 2))
    y = stacked(x).y
    for m, net in enumerate(nets):
        assert torch.equal(net(x[m : m + 1]).y[0], y[m])  # bit for bit: a model alone computes as in a batch
        assert torch.equal(stacked.select(m).flat, net.flat)


def test_same_seed_same_weights():
    a = LiesNetwork(3, 2, generator=torch.Generator().manual_seed(7))
    b = LiesNetwork(3, 2, generator=torch.Generator().manual_seed(7))
    c = LiesNetwork(3, 2, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a.flat, b.flat) and not torch.equal(a.flat, c.flat)


def test_init_bounds_follow_block_fan_in():
    net = LiesNetwork(3, 50, generator=torch.Generator().manual_seed(0))
    w = net.weight("layer2")  # blocks: x (fan-in 4), g0 (4), g1 (4)
    assert w.abs().max() <= 0.5 + 1e-6
    assert net.weight("gates").abs().max() <= 1.0


def test_pruned_weights_are_exactly_zero_and_ignored():
    net = LiesNetwork(2, 1, generator=torch.Generator().manual_seed(0))
    keep = torch.ones_like(net.mask, dtype=torch.bool)
    keep[0, :5] = False
    net.prune(keep)
    assert torch.all(net.flat[0, :5] == 0)
    with torch.no_grad():
        net.flat[0, :5] = 3.0  # even if something writes there, the forward pass ignores it
    x = add_constant_column(torch.rand(1, 4, 2))
    y1 = net(x).y
    net.apply_masks()
    assert torch.equal(net(x).y, y1)


def test_tensors_round_trip():
    net = LiesNetwork(2, 1, generator=torch.Generator().manual_seed(3))
    keep = torch.rand(net.mask.shape, generator=torch.Generator().manual_seed(0)) > 0.5
    net.prune(keep)
    back = LiesNetwork.from_tensors(2, net.tensors())
    assert torch.equal(back.flat, net.flat) and torch.equal(back.mask, net.mask)


def test_feature_names():
    assert Architecture.for_inputs(2).feature_names(1, ["a", "b"]) == ["a", "b", "1", "L0", "I0", "E0", "S0"]
