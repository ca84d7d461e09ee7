"""Extraction reads the network back with the forward pass's own semantics."""

import numpy as np
import pytest
import sympy
import torch

from lies.data.transforms import Transform
from lies.networks.activations import EXP, IDENTITY, LOG
from lies.networks.base import add_constant_column
from lies.networks.extraction import extract_formula
from lies.networks.lies import LiesNetwork


def _zero(net):
    with torch.no_grad():
        net.flat.zero_()


def _set(net, name, index, value):
    with torch.no_grad():
        net.view(net.flat, name)[(0, *index)] = value


def test_oracle_mu_times_nn():
    """The direct skip from the inputs to the output is a monomial in raw units."""
    rng = np.random.default_rng(0)
    X = rng.uniform(1, 5, (100, 2))
    tr = Transform.fit(X, X.prod(1), ["mu", "Nn"], "F")
    net = LiesNetwork(2, 1, dtype=torch.float64)
    _zero(net)
    _set(net, "output", (0, 0), tr.scales[0])  # ln F = ln mu + ln Nn
    _set(net, "output", (0, 1), tr.scales[1])
    f = extract_formula(net, tr, ["mu", "Nn"])
    mu, Nn = sympy.symbols("mu Nn")
    assert sympy.nsimplify(f.expr, tolerance=1e-12, rational=True) == mu * Nn
    assert np.allclose(f(X), X.prod(1))


def test_oracle_with_skip_and_exp_unit():
    """y = exp(2 + a) * a: an exp unit fed by the input, read by the output through a skip."""
    net = LiesNetwork(1, 1)
    _zero(net)
    _set(net, "layer0", (EXP, 0), 1.0)  # E0 = exp(x)
    _set(net, "layer0", (EXP, 1), 2.0)  # + 2 from the constant input
    _set(net, "gates", (0, EXP), 1.0)
    _set(net, "layer1", (IDENTITY, 2 + EXP), 1.0)  # I1 = E0: layer 1 reads [x, 1, L0, I0, E0, S0]
    _set(net, "gates", (1, IDENTITY), 1.0)
    _set(net, "output", (0, 2 + 4 + IDENTITY), 1.0)  # y = I1: the output reads [x, 1, L0..S0, L1..S1]
    _set(net, "output", (0, 0), 1.0)  # + x
    a = sympy.Symbol("a")
    expr = net.expression([a])
    grid = np.linspace(-1.0, 1.0, 7)
    assert np.allclose(sympy.lambdify(a, expr)(grid), np.exp(grid + 2) + grid, rtol=1e-12)


def test_empty_log_unit_is_the_cut_off_constant():
    net = LiesNetwork(1, 1)
    _zero(net)
    _set(net, "gates", (0, LOG), 2.0)
    _set(net, "output", (0, 2 + LOG), 1.0)
    expr = net.expression([sympy.Symbol("a")])
    assert float(expr) == pytest.approx(2.0 * np.log(5e-3))


def _random_sparse_net(n: int, seed: int, x: torch.Tensor) -> LiesNetwork:
    """A random sparse net whose log and exp inputs stay inside the cut-offs on ``x`` (rejection sampling)."""
    for attempt in range(200):
        g = torch.Generator().manual_seed(1000 * seed + attempt)
        net = LiesNetwork(n, 1, generator=g, dtype=torch.float64)
        net.prune(torch.rand(net.mask.shape, generator=g, dtype=torch.float64) < 0.4)
        with torch.no_grad():
            net.flat.mul_(0.6)
            for i in range(n + 1):  # a positive constant input keeps most log units in range
                layer = net.view(net.flat, f"layer{i}")
                layer[0, LOG, n] = 1.0 + layer[0, LOG, n].abs()
            net.view(net.mask, "gates").fill_(1.0)  # every unit alive, so every unit is exercised
            gates = net.view(net.flat, "gates")
            gates[gates == 0] = 0.7
        if net(x).violation.abs().max() == 0 and net.nonzero_counts()[0]["total"] > 2 * n:
            return net
    raise AssertionError("no valid random net found")


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_sparse_networks_extract_exactly(n, seed):
    """Property: extracted formula == forward pass (1e-6 relative) on random sparse nets, cut-offs inactive."""
    rng = np.random.default_rng(seed)
    names = [f"v{k}" for k in range(n)]
    X = rng.uniform(1.0, 3.0, (64, n))
    tr = Transform.fit(X, np.ones(len(X)), names, "y")
    x = add_constant_column(torch.tensor(tr.inputs(X)))[None]
    net = _random_sparse_net(n, seed, x)
    expected = np.exp(net(x).y[0].detach().numpy())
    got = extract_formula(net, tr, names)(X)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
