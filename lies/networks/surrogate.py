"""A dense surrogate of the data: the smooth oracle that decomposition's tests read (not in the paper).

AI Feynman tests separability through a neural network fitted to the data. The pipeline's own formula can serve
(it is what the tests read without a surrogate), but a formula that is not yet the answer is often a poor fit
(R^2 of 0.8 on a Boltzmann factor), and the four-point tests through an oracle that errs by a third of the
target pass for any split: the threshold follows the oracle's error. A plain multilayer perceptron fits such
smooth functions to a fraction of a percent; decomposition keeps whichever of the two errs less on held-out rows.

    z = standardise(ln x for a positive column, x otherwise)     (N, n)
    h = SiLU(W_1 z + b_1) ... SiLU(W_depth h + b_depth)          (N, width)
    y = y_mean + y_scale * (w h + b)                             (N,)

A product of powers is linear in the logs of positive inputs, so those enter as logs; SiLU is smooth, so the
four-point differences see no kinks. Training is Adam with a cosine schedule over a fixed number of steps of
random mini-batches (a bound in iterations, so the result does not depend on the machine's speed), seeded by the
caller's generator, in float32 on the CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class Surrogate:
    """A fitted perceptron and the affine maps of its inputs and output; called on raw rows (N, n) -> (N,)."""

    net: nn.Sequential
    logs: np.ndarray  # (n,) bool: the columns that enter as their logarithm
    mean: np.ndarray  # (n,) of the (logged) inputs
    scale: np.ndarray  # (n,)
    y_mean: float
    y_scale: float

    def features(self, X: np.ndarray) -> torch.Tensor:
        return torch.as_tensor((_logged(X, self.logs) - self.mean) / self.scale, dtype=torch.float32)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = self.net(self.features(X)).squeeze(-1).double().numpy()
        return self.y_mean + self.y_scale * out


def _logged(X: np.ndarray, logs: np.ndarray) -> np.ndarray:
    """(N, n): the columns ``logs`` of X as their logarithm, the others as they are."""
    X = np.asarray(X, dtype=float)
    with np.errstate(all="ignore"):
        return np.where(logs, np.log(np.where(logs, X, 1.0)), X)


def fit_surrogate(X: np.ndarray, y: np.ndarray, generator: torch.Generator, width: int = 64, depth: int = 3,
                  steps: int = 3000, batch: int = 1024, lr: float = 3e-3) -> Surrogate:
    """A perceptron of ``depth`` hidden SiLU layers of ``width`` units fitted to (X (N, n), y (N,)) by ``steps``
    Adam steps on mini-batches of ``batch`` rows; every random draw from ``generator``."""
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    logs = np.all(X > 0, axis=0)
    Z = _logged(X, logs)
    mean, scale = Z.mean(axis=0), Z.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    y_mean, y_scale = float(np.mean(y)), float(np.std(y)) or 1.0
    layers: list[nn.Module] = []
    n_in = X.shape[1]
    for n_out in [width] * depth + [1]:  # no default initialisation: it would draw from torch's global stream
        layers += [nn.utils.skip_init(nn.Linear, n_in, n_out, dtype=torch.float32), nn.SiLU()]
        n_in = n_out
    net = nn.Sequential(*layers[:-1])
    with torch.no_grad():  # LeCun-normal weights, zero biases, from the caller's generator alone
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) / math.sqrt(p.shape[-1]) if p.dim() == 2
                    else torch.zeros_like(p))
    surrogate = Surrogate(net, logs, mean, scale, y_mean, y_scale)
    inputs = surrogate.features(X)  # (N, n)
    target = torch.as_tensor((y - y_mean) / y_scale, dtype=torch.float32)  # (N,)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    for _ in range(steps):
        rows = torch.randint(0, inputs.shape[0], (min(batch, inputs.shape[0]),), generator=generator)
        loss = torch.mean((net(inputs[rows]).squeeze(-1) - target[rows]) ** 2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    net.eval()
    return surrogate
