"""The network kinds' registry (`lies.training.kinds`): every kind the params accept is registered, and every
registered kind keeps the base protocol that the stages and the artifacts rely on."""


import numpy as np
import pytest
import sympy
import torch

from lies.networks.base import add_constant_column
from lies.params import NETWORK_KINDS, WeakAdmmParams, training_section
from lies.training.kinds import KINDS, kind_for, network_from

KIND_NAMES = sorted(KINDS)


def _params_for(name):
    section = training_section("weak_admm", name)
    if section is None:
        return WeakAdmmParams(restarts=3)
    return KINDS[name].params(restarts=3)


def test_every_kind_params_accept_is_registered_and_no_other():
    assert set(NETWORK_KINDS) == set(KINDS)


@pytest.mark.parametrize("name", KIND_NAMES)
def test_a_kind_is_told_by_its_training_params(name):
    assert kind_for(_params_for(name)).name == name


@pytest.mark.parametrize("name", KIND_NAMES)
def test_a_kind_round_trips_through_its_file_and_reads_back_as_its_forward_pass(name):
    kind = KINDS[name]
    g = torch.Generator().manual_seed(3)
    x = add_constant_column(torch.rand(3, 64, 2, generator=g, dtype=torch.float64) + 0.5)
    net = kind.build(_params_for(name), 2, torch.Generator().manual_seed(0), torch.rand(64, dtype=torch.float64) + 1)
    net = net.to(torch.float64) if net.flat.dtype != torch.float64 else net
    assert net.kind == name and net.n_models == 3
    back = network_from(net.describe(), net.tensors())
    assert type(back) is type(net) and back.describe() == net.describe()
    assert torch.equal(back.flat, net.flat) and torch.equal(back.mask, net.mask)
    # one model chosen and stacked again is the same network
    again = type(net).stack([net.select([m]) for m in range(3)])
    assert torch.equal(again.flat, net.flat)
    # the read-back is the forward pass: the sympy expression evaluated on the rows gives the network's output.
    # Cut-offs are not written into a formula, so a LIES log unit (whose input at a random start is often below its
    # cut-off) is switched off by its gate: the comparison holds where no unit is cut off
    if "gates" in net.layout:
        keep = torch.ones_like(net.mask, dtype=torch.bool)
        net.view(keep, "gates")[..., 0] = False
        net.prune(keep)
    a, b = sympy.symbols("a b")
    out = net(x.to(net.flat.dtype))
    assert torch.all(out.violation == 0)
    y = out.y.detach().double().numpy()
    for m in range(3):
        f = sympy.lambdify((a, b), net.expression([a, b], m), "numpy")
        got = np.broadcast_to(f(x[m, :, 0].numpy(), x[m, :, 1].numpy()), (64,))
        np.testing.assert_allclose(got, y[m], rtol=1e-4, atol=1e-5)
