import math

import pytest
import torch

from lies.networks.activations import (
    X_EXP,
    X_LOG,
    bounded_exp,
    bounded_log,
    bounded_value,
    cutoff_violation,
    lies_activation,
)


def test_bounded_log_value_and_gradient_at_the_cut_off():
    z = torch.tensor([1e-4, X_LOG / 2, 0.5, 2.0], requires_grad=True)
    y = bounded_log(z)
    assert torch.allclose(y[:2], torch.full((2,), math.log(X_LOG)))
    assert torch.allclose(y[2:], torch.log(z[2:].detach()))
    y.sum().backward()
    assert torch.equal(z.grad[:2], torch.zeros(2))  # no gradient inside the cut-off
    assert torch.allclose(z.grad[2:], 1 / z[2:].detach())


def test_bounded_exp_value_and_gradient_at_the_cut_off():
    z = torch.tensor([-1.0, 3.0, 4.5, 10.0], requires_grad=True)
    y = bounded_exp(z)
    assert torch.allclose(y[2:], torch.full((2,), math.exp(X_EXP)))
    y.sum().backward()
    assert torch.allclose(z.grad[:2], torch.exp(z[:2].detach()))
    assert torch.equal(z.grad[2:], torch.zeros(2))


def test_units_in_order_log_identity_exp_sine():
    z = torch.tensor([[2.0, -3.0, 1.0, 0.5]])
    out = lies_activation(z)[0]
    assert out.tolist() == pytest.approx([math.log(2.0), -3.0, math.e, math.sin(0.5)], rel=1e-6)


def test_cutoff_violation_is_eq13_per_sample():
    z = torch.tensor([[0.001, 9.0, 5.0, 0.0], [1.0, 0.0, 1.0, 0.0]])
    v = cutoff_violation(z)
    assert v.tolist() == pytest.approx([(X_LOG - 0.001) + (5.0 - X_EXP), 0.0])


@pytest.mark.parametrize("unit,z,expected", [(0, 0.0, math.log(X_LOG)), (2, 10.0, math.exp(X_EXP)), (3, 1.0, math.sin(1.0)),
                                             (1, -2.0, -2.0)])
def test_scalar_units_apply_the_cut_offs(unit, z, expected):
    assert bounded_value(unit, z) == pytest.approx(expected)
