"""ADMM training of LIES networks (paper III-C(1)-(2), eq. (4)-(9); loss eq. (14)).

One function, `train_admm`, serves both phases of the paper; they differ only in their params
(`lies.params.AdmmParams`, whose defaults are the weak phase's, and `lies.params.StrongAdmmParams`):

* weak ADMM: rho = 0.5, lambda = 5e-4, 20 epochs: fit first, sparsify gently;
* strong ADMM: rho = 0.005, lambda = 5 * 10^-(n-1), 30 epochs: drive unneeded weights to zero.

The W-step (eq. 6) is a gradient step on eq. (14) = exp loss + ADMM proximity term + l1 + mask loss; the Z-step is
the l1 proximal operator, a soft threshold (eq. 7-8); the U-step accumulates W - Z (eq. 9). Node gates (Fig. 4) get
either the same soft threshold as every edge (``gate_mode="l1"``, what the authors' code runs: spec B3) or the
paper's constraint on the number of active nodes (``gate_mode="cardinality"``: Z keeps the ``gate_budget`` largest
gates of each network and zeroes the rest, the Euclidean projection onto that set).

The l1 term of eq. (12) is minimised by its proximal operator in RMSprop's metric (``l1_mode="proximal"``: after
each step, a soft threshold of ``step * alpha`` per weight), which gives exact zeros; ``"subgradient"`` adds
``alpha * sign(w)`` to the gradient instead, as the authors' code does through autograd.

The paper's values are the defaults (rho, lambda, epochs, lr). With the squared norm of eq. (11) and the strong
lambda, Z is 0 for n <= 4 and U accumulates W every epoch, so the strong phase acts as a growing ridge that spreads
each term over redundant paths; what removes those paths is node pruning with refit afterwards
(`lies.training.pruning.prune_nodes_with_refit`). BENCHMARKS.md has the measurements behind both statements.

All models of a `LiesNetwork` train together; each has its own data, its own data order and its own learning rate,
so a model whose loss turns non-finite is restored to its last finite state and continues at half the learning
rate without disturbing the others (after ``max_restarts`` it is frozen there and reported as diverged).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from lies.core.seeding import data_order
from lies.networks.lies import LiesNetwork
from lies.params import AdmmParams
from lies.training.losses import admm_penalty, exp_loss, l1_penalty, mask_loss


def strong_lambda(n_inputs: int) -> float:
    """The paper's strong-phase lambda = 5 * 10^-(n-1) for n input variables."""
    return 5.0 * 10.0 ** (-(n_inputs - 1))


def soft_threshold(v: torch.Tensor, delta: float) -> torch.Tensor:
    """Eq. (8): sign(v) * max(|v| - delta, 0), the proximal operator of delta * ||.||_1."""
    return torch.sign(v) * torch.clamp(v.abs() - delta, min=0.0)


def keep_largest(v: torch.Tensor, k: int) -> torch.Tensor:
    """Projection onto {at most k non-zeros per model}: keep the k entries of largest magnitude of each model."""
    flat = v.flatten(1)
    k = max(0, min(k, flat.shape[1]))
    out = torch.zeros_like(flat)
    if k:
        idx = flat.abs().topk(k, dim=1).indices
        out.scatter_(1, idx, flat.gather(1, idx))
    return out.view_as(v)


@dataclass
class AdmmState:
    """Auxiliary variable Z and scaled dual U of eq. (4)-(9), one tensor per named weight."""

    z: dict[str, torch.Tensor]
    u: dict[str, torch.Tensor]

    @classmethod
    def start(cls, weights: dict[str, torch.Tensor], config: AdmmParams, n_inputs: int) -> "AdmmState":
        """Z^0 = prox(W^0), U^0 = 0 (the authors' code starts from Z = W: spec B5)."""
        state = cls(z={}, u={k: torch.zeros_like(w) for k, w in weights.items()})
        state.z = {k: _z_update(k, w, config, n_inputs) for k, w in weights.items()}
        return state

    def update(self, weights: dict[str, torch.Tensor], config: AdmmParams, n_inputs: int) -> None:
        """Eq. (7)-(9): Z <- prox(W + U), then U <- U + W - Z."""
        for k, w in weights.items():
            self.z[k] = _z_update(k, w + self.u[k], config, n_inputs)
            self.u[k] = self.u[k] + w - self.z[k]


def _z_update(name: str, v: torch.Tensor, config: AdmmParams, n_inputs: int) -> torch.Tensor:
    if config.rho == 0:  # ADMM switched off: the proximity term vanishes, Z is never used
        return torch.zeros_like(v)
    if name == "gates" and config.gate_mode == "cardinality":
        return keep_largest(v, config.gate_budget if config.gate_budget is not None else n_inputs + 1)
    lam = config.lam if config.lam is not None else strong_lambda(n_inputs)
    return soft_threshold(v, lam / config.rho)


@dataclass
class TrainingResult:
    """Per-epoch history (one list of records per model) and which models diverged."""

    history: list[list[dict[str, float]]]
    diverged: list[bool]
    seconds: float = 0.0
    steps: int = 0
    extra: dict = field(default_factory=dict)


def train_admm(
    net: LiesNetwork,
    x: torch.Tensor,
    y: torch.Tensor,
    config: AdmmParams,
    *,
    generators: Sequence[torch.Generator] | torch.Generator | None = None,
    on_epoch: Callable[[int, list[dict[str, float]]], None] | None = None,
) -> TrainingResult:
    """Train ``net`` in place on ``x`` (M, N, n + 1) and ``y`` (M, N), one dataset per model.

    ``generators`` (one per model, or one shared) draw each epoch's data order; with one generator per model a
    model's training does not depend on which other models train beside it. Returns the per-epoch means of the loss
    terms for every model. Deterministic for given generators on the CPU.
    """
    import time

    start = time.perf_counter()
    n_models, n_samples, _ = x.shape
    if n_models != net.n_models or y.shape != (n_models, n_samples):
        raise ValueError(f"data shapes {tuple(x.shape)}, {tuple(y.shape)} do not fit {net.n_models} models")
    device = x.device
    n_inputs = net.arch.n_inputs
    params = [net.flat]

    def effective() -> dict[str, torch.Tensor]:
        return {name: net.weight(name) for name in net.names}

    with torch.no_grad():
        admm = AdmmState.start(effective(), config, n_inputs)
    square_avg = [torch.zeros_like(p) for p in params]  # RMSprop state (alpha 0.99 as PyTorch's default)
    lr = torch.full((n_models,), config.lr, dtype=x.dtype, device=device)
    frozen = torch.zeros(n_models, dtype=torch.bool, device=device)
    restarts = [0] * n_models
    snapshot = _snapshot(params, square_avg, admm)

    proximal = config.l1_mode == "proximal"
    # the loss terms gradient descends on (the proximal mode leaves l1 to the soft threshold), as an index on the
    # device: a Python list would be copied from the host, and wait for the device, at every step
    smooth_rows = torch.tensor([0, 1, 3], device=device)
    history: list[list[dict[str, float]]] = [[] for _ in range(n_models)]
    batch = max(1, min(config.batch_size, n_samples))
    steps = 0
    for epoch in range(config.epochs):
        order = data_order(generators, n_models, n_samples).to(device)
        xs = torch.gather(x, 1, order[..., None].expand_as(x))
        ys = torch.gather(y, 1, order)
        sums = torch.zeros(4, n_models, dtype=x.dtype, device=device)
        n_batches = 0
        for b in range(0, n_samples, batch):
            out = net(xs[:, b : b + batch])
            weights = effective()
            terms = torch.stack(
                (
                    exp_loss(out.y, ys[:, b : b + batch]),
                    admm_penalty(weights, admm.z, admm.u, config.rho),
                    l1_penalty(weights.values(), config.alpha),
                    config.mask_weight * mask_loss(out.violation),
                )
            )
            smooth = terms.sum() if not proximal else terms[smooth_rows].sum()
            grads = torch.autograd.grad(smooth, params)
            with torch.no_grad():
                for p, g, v in zip(params, grads, square_avg):
                    shape = (-1,) + (1,) * (p.dim() - 1)
                    g = torch.where(frozen.view(shape), 0.0, g)  # a frozen model may produce NaN gradients
                    v.mul_(0.99).addcmul_(g, g, value=0.01)
                    step = lr.view(shape) / v.sqrt().add_(1e-8)  # RMSprop's per-weight step size (eps 1e-8)
                    p.sub_(g * step)
                    if proximal:  # l1 prox in RMSprop's metric: soft threshold by step * alpha (eq. 8's form)
                        shrunk = torch.sign(p) * torch.clamp(p.abs() - step * config.alpha, min=0.0)
                        p.copy_(torch.where(frozen.view(shape), p, shrunk))  # a frozen model keeps its weights
                net.apply_masks()
                sums += terms.detach()
            n_batches += 1
            steps += 1
            if config.admm_every and steps % config.admm_every == 0:
                with torch.no_grad():
                    admm.update(effective(), config, n_inputs)
        if not config.admm_every:
            with torch.no_grad():
                admm.update(effective(), config, n_inputs)

        means = (sums / n_batches).cpu()
        finite = torch.isfinite(means).all(0) & _params_finite(params)
        with torch.no_grad():
            for m in range(n_models):
                if bool(finite[m]) or bool(frozen[m]):
                    continue
                _restore(m, snapshot, params, square_avg, admm)
                restarts[m] += 1
                lr[m] = lr[m] * 0.5
                if restarts[m] > config.max_restarts:
                    frozen[m] = True
            snapshot = _snapshot(params, square_avg, admm)  # after the restores: the last finite state of every model
        for m in range(n_models):
            history[m].append(
                {
                    "epoch": epoch,
                    "loss": float(means[:, m].sum()),
                    "exp_loss": float(means[0, m]),
                    "admm": float(means[1, m]),
                    "l1": float(means[2, m]),
                    "mask": float(means[3, m]),
                    "lr": float(lr[m]),
                    "restarts": restarts[m],
                }
            )
        lr = lr * config.lr_decay
        if on_epoch is not None:
            on_epoch(epoch, [h[-1] for h in history])
    diverged = [bool(f) for f in frozen.cpu()]
    return TrainingResult(history=history, diverged=diverged, seconds=time.perf_counter() - start, steps=steps)


def _params_finite(params: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack([torch.isfinite(p).flatten(1).all(1) for p in params]).all(0).cpu()


def _snapshot(params, square_avg, admm: AdmmState) -> dict:
    """Copy of everything a restore needs."""
    return {
        "params": [p.detach().clone() for p in params],
        "square_avg": [v.clone() for v in square_avg],
        "z": {k: v.clone() for k, v in admm.z.items()},
        "u": {k: v.clone() for k, v in admm.u.items()},
    }


def _restore(m: int, snapshot, params, square_avg, admm: AdmmState) -> None:
    for p, s in zip(params, snapshot["params"]):
        p[m] = s[m]
    for v, s in zip(square_avg, snapshot["square_avg"]):
        v[m] = s[m]
    for k in admm.z:
        admm.z[k][m] = snapshot["z"][k][m]
        admm.u[k][m] = snapshot["u"][k][m]


def fraction_small(net: LiesNetwork, atol: float = 0.01) -> list[float]:
    """Per model: the fraction of weights with |w| < atol (the paper's sparsity measure)."""
    total = net.n_weights()
    counts = net.nonzero_counts(atol=atol)
    return [1.0 - c["total"] / total for c in counts]


def log_r2(net: LiesNetwork, x: torch.Tensor, y: torch.Tensor, chunk: int = 65536) -> list[float]:
    """R^2 of the network in the transformed (log) space, per model."""
    with torch.no_grad():
        preds = torch.cat([net(x[:, i : i + chunk]).y for i in range(0, x.shape[1], chunk)], dim=1)
        ss_res = ((preds - y) ** 2).sum(1)
        ss_tot = ((y - y.mean(1, keepdim=True)) ** 2).sum(1)
        r2 = 1.0 - ss_res / ss_tot.clamp_min(1e-30)
    return [float(v) if math.isfinite(float(v)) else float("-inf") for v in r2.cpu()]
