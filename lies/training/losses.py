"""The training objective of paper III-G, eq. (10)-(14), per model.

Every function returns one value per model (shape ``(M,)``); the trainer sums over models, which keeps the models'
gradients independent while one optimiser step updates them all.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import torch

#: Beyond this absolute residual the exp loss continues linearly (value and slope match): exp(|r|) of float32
#: overflows at |r| ~ 88, and a random initial network can be that far off in log space.
EXP_LOSS_LINEAR_FROM = 20.0


def exp_loss(y_pred: torch.Tensor, y: torch.Tensor, linear_from: float = EXP_LOSS_LINEAR_FROM) -> torch.Tensor:
    """Eq. (10): mean over the batch of exp(|y_pred - y|), (M, B) -> (M,).

    Like the mean absolute error near zero (exp(r) ~ 1 + r), it lets the l1 terms drive unneeded weights to zero
    without biasing an exact fit, and it weighs large errors more. Continued linearly beyond ``linear_from``.
    """
    r = (y_pred - y).abs()
    capped = r.clamp(max=linear_from)
    return (capped.exp() * (1.0 + (r - capped))).mean(dim=-1)


def admm_penalty(
    weights: Mapping[str, torch.Tensor], z: Mapping[str, torch.Tensor], u: Mapping[str, torch.Tensor], rho: float
) -> torch.Tensor:
    """Eq. (11): rho/2 * ||W - Z + U||_2^2 summed over every weight tensor, per model.

    The norm is squared, as in the paper (the authors' code uses the plain norm: spec bug B2, whose gradient has the
    same size however close W is to Z).
    """
    return 0.5 * rho * sum(((w - z[k] + u[k]) ** 2).flatten(1).sum(1) for k, w in weights.items())


def l1_penalty(weights: Iterable[torch.Tensor], alpha: float) -> torch.Tensor:
    """Eq. (12): alpha * sum |w| over every scalar weight, per model."""
    return alpha * sum(w.abs().flatten(1).sum(1) for w in weights)


def mask_loss(violation: torch.Tensor) -> torch.Tensor:
    """Eq. (13) as a mean over the batch, (M, B) -> (M,).

    ``violation`` is the per-sample sum over log and exp units of how far their inputs lie beyond the cut-offs (see
    `lies.networks.activations.cutoff_violation`). The authors' code sums over the batch and doubles the log part when an
    exp violation exists (spec bug B6); a mean keeps the term's weight independent of the batch size.
    """
    return violation.mean(dim=-1)
