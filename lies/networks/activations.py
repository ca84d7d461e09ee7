"""The four LIES units and their cut-offs (paper III-B, III-G).

Every LIES layer has exactly four units, in this order: bounded **L**og, **I**dentity, bounded **E**xp, **S**ine.
The log is cut off below ``x_l`` and the exp above ``x_e`` so that neither produces non-finite values or exploding
gradients; inside the cut-off region the value is constant and the gradient is exactly zero (the mask loss, eq. (13),
is what pulls pre-activations back into range).
"""

from __future__ import annotations

import math

import torch

#: Cut-off of the bounded log: ln(z) for z > X_LOG, ln(X_LOG) otherwise (III-G).
X_LOG = 5e-3
#: Cut-off of the bounded exp: exp(z) for z < X_EXP, exp(X_EXP) otherwise (III-G).
X_EXP = 4.0

#: Unit names in the order they appear in every layer.
UNITS = ("log", "identity", "exp", "sin")
LOG, IDENTITY, EXP, SIN = range(4)
N_UNITS = len(UNITS)


def bounded_log(z: torch.Tensor, x_l: float = X_LOG) -> torch.Tensor:
    """ln(max(z, x_l)); the gradient is 1/z above the cut-off and 0 below it (clamp's gradient)."""
    return torch.clamp(z, min=x_l).log()


def bounded_exp(z: torch.Tensor, x_e: float = X_EXP) -> torch.Tensor:
    """exp(min(z, x_e)); the gradient is exp(z) below the cut-off and 0 above it."""
    return torch.clamp(z, max=x_e).exp()


def lies_activation(z: torch.Tensor, x_l: float = X_LOG, x_e: float = X_EXP) -> torch.Tensor:
    """Apply the four units to the last axis of ``z`` (size 4, order L, I, E, S)."""
    return torch.stack(
        (bounded_log(z[..., LOG], x_l), z[..., IDENTITY], bounded_exp(z[..., EXP], x_e), torch.sin(z[..., SIN])),
        dim=-1,
    )


def cutoff_violation(z: torch.Tensor, x_l: float = X_LOG, x_e: float = X_EXP,
                     live: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample mask-loss summand of eq. (13): |x_l - z| where the log input is below x_l plus |x_e - z| where the
    exp input is above x_e. ``z`` has the units on its last axis; the result drops that axis.

    ``live`` (broadcast against ``z``) marks the units that reach the output; a unit whose gate is 0 has no effect,
    so its violation is not counted (a pruned log unit's input is 0 < x_l: a constant that would otherwise sit in
    every loss and, in float32, hide the last digits of an exact fit from the refit's line search)."""
    log_part = torch.relu(x_l - z[..., LOG])
    exp_part = torch.relu(z[..., EXP] - x_e)
    if live is not None:
        log_part = log_part * live[..., LOG]
        exp_part = exp_part * live[..., EXP]
    return log_part + exp_part


def bounded_value(unit: int, z: float, x_l: float = X_LOG, x_e: float = X_EXP) -> float:
    """Scalar version of a unit with its cut-off, for constant pre-activations met during extraction."""
    if unit == LOG:
        return math.log(max(z, x_l))
    if unit == EXP:
        return math.exp(min(z, x_e))
    if unit == SIN:
        return math.sin(z)
    return z
