"""The EQL network (Equation Learner; Kim et al., arXiv 1912.04825, Sec. II) with a leading *model* axis, its
smoothed L0.5 regulariser, its training schedule and its extraction to a sympy formula.

EQL is the comparison method of the LIES paper: a feed-forward network whose hidden units are primitive functions.
Each of its ``L`` hidden layers (two by default) is an affine map followed by a fixed list of units,

    u_0 = [x, 1],   u_i = [h_{i-1}, 1]                (a constant-1 input replaces every bias, as in LIES)
    z_i = W_i u_i                                     (W_i: (n_pre, d_i); a product unit reads two entries of z)
    h_i = units(z_i)                                  (identity, square, sin, exp, sigmoid, product: (n_units,))
    y   = scale * w_out [h_L, 1]                      (a linear output; ``scale`` is fixed, not trained)

``scale`` is the largest |target| of the training data: EQL works in raw space, where a target of 1e4 would need
output weights that RMSprop's fixed step size reaches only after ~1e6 steps; with the scale the network fits a
target in [-1, 1] (the inputs are max-normalised by `lies.data.transforms.Transform` with ``log=False``). The units are
the plain functions of the paper; the authors' code also scales some of them (sin(4 pi z), a sigmoid of 20 z,
(e^z - 1) / e, 10 a b) and adds constant units, which the constant-1 inputs make unnecessary here. ``exp`` is
cut off above `EXP_MAX` (the formula does not write the cut-off, as LIES does for its own exp).

Training (Kim et al., Sec. II-B; the authors' ``benchmark.py``): RMSprop on the mean squared error plus
``reg_weight`` times the smoothed L0.5 norm of every weight (eq. `smooth_l12`), first a warm-up at a higher
learning rate, then the penalised phase; then every weight with |w| < ``threshold`` is masked to zero and frozen,
and the rest is fine-tuned on the data loss alone. Both phases read `lies.params.EqlParams`, where every number of
the schedule is declared. The flat-parameter bookkeeping (named views, masks that keep pruned weights exactly zero,
counts, ``select``/``stack`` along the model axis, ``tensors`` for safetensors) is `lies.networks.base.Network`'s,
so every stage that handles a network's weights handles an EQL network too.

Shapes: ``M`` models, ``B`` samples; inputs ``(M, B, n + 1)`` with the constant 1 last, outputs ``(M, B)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence, get_args

import numpy as np
import sympy
import torch
from torch import nn

from lies.core.seeding import data_order
from lies.networks.base import Network, NetworkOutput, linear_combination, output_unit
from lies.params import DEFAULT_EQL_UNITS as DEFAULT_UNITS
from lies.params import EqlParams, EqlUnit

#: The primitive units, in the order they appear in every hidden layer (a layer holds a block of each kind).
UNITS: tuple[str, ...] = get_args(EqlUnit)
#: The exp unit is exp(min(z, EXP_MAX)): raw-space training must not overflow float32.
EXP_MAX = 10.0


@dataclass(frozen=True)
class EqlArchitecture:
    """What fixes the shape of an EQL network: inputs, hidden layers, and the units of each hidden layer."""

    n_inputs: int
    n_layers: int = 2
    units: tuple[str, ...] = DEFAULT_UNITS

    @classmethod
    def build(cls, n_inputs: int, n_layers: int = 2, units: Sequence[str] = DEFAULT_UNITS) -> "EqlArchitecture":
        """Check the units and sort them into blocks of one kind each, in `UNITS` order."""
        unknown = [u for u in units if u not in UNITS]
        if unknown or not units:
            raise ValueError(f"EQL units must be a non-empty list of {', '.join(UNITS)}; got {list(units)}")
        if n_inputs < 1 or n_layers < 1:
            raise ValueError("an EQL network needs at least one input variable and one hidden layer")
        return cls(n_inputs, n_layers, tuple(sorted(units, key=UNITS.index)))

    @property
    def input_width(self) -> int:
        return self.n_inputs + 1

    @property
    def n_units(self) -> int:
        return len(self.units)

    @property
    def n_pre(self) -> int:
        """Pre-activations per hidden layer: one per unit, two per product unit."""
        return self.n_units + self.units.count("product")

    def layer_width(self, i: int) -> int:
        """Number of inputs of hidden layer ``i`` (``i == n_layers`` is the output unit)."""
        return self.input_width if i == 0 else self.n_units + 1

    def blocks(self) -> list[tuple[str, int, int]]:
        """``(unit, first pre-activation, count)`` per kind present, in layer order."""
        out, start = [], 0
        for unit in UNITS:
            count = self.units.count(unit)
            if count:
                out.append((unit, start, count))
                start += count * (2 if unit == "product" else 1)
        return out


def eql_units(z: torch.Tensor, arch: EqlArchitecture) -> torch.Tensor:
    """Apply one hidden layer's units to ``z`` (..., n_pre) -> (..., n_units); one operation per block of units."""
    out = []
    for unit, start, count in arch.blocks():
        if unit == "product":  # pre-activations (2k, 2k + 1) of the block feed product k
            pairs = z[..., start : start + 2 * count].unflatten(-1, (count, 2))
            out.append(pairs[..., 0] * pairs[..., 1])
        else:
            out.append(_UNARY[unit](z[..., start : start + count]))
    return torch.cat(out, dim=-1)


_UNARY = {
    "identity": lambda z: z,
    "square": torch.square,
    "sin": torch.sin,
    "exp": lambda z: torch.clamp(z, max=EXP_MAX).exp(),
    "sigmoid": torch.sigmoid,
}


class EqlNetwork(Network):
    """``n_models`` independent EQL networks of one architecture, evaluated together with batched matmuls.

    Weights live in one flat row per model (``flat``: (M, P)) with a 0/1 ``mask``; views ``layer0`` ..
    ``layer{L-1}``: (M, n_pre, d_i) and ``output``: (M, 1, n_units + 1). ``scale``: (M,) output scale (a buffer).
    """

    kind = "eql"

    def __init__(
        self,
        n_inputs: int,
        n_models: int = 1,
        *,
        n_layers: int = 2,
        units: Sequence[str] = DEFAULT_UNITS,
        generator: torch.Generator | None = None,
        init_std: Sequence[float] = (0.1, 0.5, 1.0),
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        nn.Module.__init__(self)
        self.arch = EqlArchitecture.build(n_inputs, n_layers, units)
        self.n_models = n_models
        self.init_std = tuple(init_std)
        a = self.arch
        shapes = {f"layer{i}": (a.n_pre, a.layer_width(i)) for i in range(a.n_layers)}
        shapes["output"] = (1, a.layer_width(a.n_layers))
        self._allocate(shapes, dtype, device)
        self.register_buffer("scale", torch.ones(n_models, dtype=dtype, device=device))
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Truncated normal (2 sigma) with the authors' standard deviations: first layer, middle layers, output."""
        first, middle, last = self.init_std
        init = torch.randn(self.flat.shape, generator=generator, dtype=self.flat.dtype).clamp(-2.0, 2.0)
        std = torch.full((self.flat.shape[1],), middle, dtype=self.flat.dtype)
        for name, value in (("layer0", first), ("output", last)):
            offset, shape = self.layout[name]
            std[offset : offset + math.prod(shape)] = value
        with torch.no_grad():
            self.flat.copy_((init * std).to(self.flat.device))
            self.apply_masks()

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor, flat: torch.Tensor | None = None) -> NetworkOutput:
        """``x``: (M, B, n + 1) with the constant 1 last -> prediction (M, B); EQL has no cut-off violation."""
        flat = (self.flat if flat is None else flat) * self.mask
        u = x
        for i in range(self.arch.n_layers):
            z = torch.bmm(u, self.view(flat, f"layer{i}").transpose(1, 2))  # (M, B, n_pre)
            h = eql_units(z, self.arch)  # (M, B, n_units)
            u = torch.cat([h, torch.ones_like(h[..., :1])], dim=-1)  # (M, B, n_units + 1)
        y = output_unit(u, self.view(flat, "output")) * self.scale[:, None]
        return NetworkOutput(y=y, violation=x.new_zeros(x.shape[:2]))

    # ------------------------------------------------------------------ what this kind says of itself
    def _like(self, n_models: int) -> "EqlNetwork":
        return EqlNetwork(self.arch.n_inputs, n_models, n_layers=self.arch.n_layers, units=self.arch.units,
                          init_std=self.init_std, dtype=self.flat.dtype, device=self.flat.device)

    def model_buffers(self) -> dict[str, torch.Tensor]:
        return {"scale": self.scale}

    def expression(self, inputs: Sequence[sympy.Expr], model: int = 0) -> sympy.Expr:
        if len(inputs) != self.arch.n_inputs:
            raise ValueError(f"expected {self.arch.n_inputs} input expressions, got {len(inputs)}")
        with np.errstate(all="ignore"):
            weights = {name: self.weight(name)[model].detach().cpu().double().numpy() for name in self.names}
        u: list[sympy.Expr] = [*inputs, sympy.Integer(1)]
        for i in range(self.arch.n_layers):
            z = [linear_combination(row, u) for row in weights[f"layer{i}"]]
            u = [*_symbolic_units(z, self.arch), sympy.Integer(1)]
        return sympy.Float(float(self.scale[model])) * linear_combination(weights["output"][0], u)

    def describe(self) -> dict:
        return {"kind": self.kind, "n_inputs": self.arch.n_inputs, "n_layers": self.arch.n_layers,
                "units": list(self.arch.units), "init_std": list(self.init_std)}

    @classmethod
    def from_description(cls, info: dict, tensors: dict[str, torch.Tensor]) -> "EqlNetwork":
        net = cls(int(info["n_inputs"]), tensors["output"].shape[0], n_layers=int(info["n_layers"]),
                  units=info["units"], init_std=info["init_std"], dtype=tensors["output"].dtype)
        net.load_tensors(tensors)
        return net

    @classmethod
    def for_task(cls, params: EqlParams, n_inputs: int, generator: torch.Generator,
                 target: torch.Tensor) -> "EqlNetwork":
        """``params.restarts`` fresh networks whose output scale is the largest |target| of the training data."""
        net = cls(n_inputs, params.restarts, n_layers=params.n_layers, units=params.units, generator=generator)
        net.scale.fill_(float(target.abs().max().clamp_min(1e-12)))
        return net


# ---------------------------------------------------------------------------------------------- regulariser
def smooth_l12(weights: torch.Tensor, a: float = 0.05) -> torch.Tensor:
    """Smoothed L0.5 norm (Kim et al., Sec. II-B), per model: (M, ...) -> (M,).

    sum sqrt(|w|), where below |w| < a the |w| is replaced by the polynomial -w^4 / (8 a^3) + 3 w^2 / (4 a) + 3a / 8,
    which meets |w| at a with equal value and slope and has a zero gradient at w = 0: L0.5's gradient 1/(2 sqrt|w|)
    would blow up there. A weight at zero still adds sqrt(3a/8), a constant.
    """
    w = weights.flatten(1)
    poly = -(w**4) / (8 * a**3) + 3 * w**2 / (4 * a) + 3 * a / 8
    return torch.where(w.abs() < a, poly, w.abs()).sqrt().sum(1)


# ---------------------------------------------------------------------------------------------- training
Phase = Literal["penalised", "finetune"]


@dataclass(frozen=True)
class _Schedule:
    """One phase of EQL training as `train_eql` runs it, read off `EqlParams` (`_schedule`)."""

    lrs: tuple[float, ...]  # the learning rate of each pass over the data (warm-up passes first)
    reg_weight: float  # weight of the smoothed L0.5 penalty (0: none)
    threshold: float | None  # mask |w| < threshold to zero (frozen) before the phase


def _schedule(params: EqlParams, phase: Phase) -> _Schedule:
    """penalised (weak_admm under EQL): warm-up, then the penalised passes; finetune (strong_admm): threshold and
    freeze, then the data loss alone at ``lr * finetune_lr_factor``."""
    if phase == "penalised":
        lrs = (params.lr * params.warmup_lr_factor,) * params.warmup_epochs + (params.lr,) * params.epochs
        return _Schedule(lrs, params.reg_weight, None)
    return _Schedule((params.lr * params.finetune_lr_factor,) * params.finetune_epochs, 0.0, params.threshold)


@dataclass
class EqlResult:
    """Per-epoch history (one list of records per model) and which models hit a non-finite loss."""

    history: list[list[dict[str, float]]]
    diverged: list[bool]


def train_eql(
    net: EqlNetwork,
    x: torch.Tensor,
    y: torch.Tensor,
    params: EqlParams,
    phase: Phase,
    *,
    generators: Sequence[torch.Generator] | torch.Generator | None = None,
) -> EqlResult:
    """Train ``net`` in place on ``x`` (M, N, n + 1), ``y`` (M, N) for one ``phase``: threshold (if set), warm-up,
    main passes.

    The loss of each model is the MSE of the scaled output (``y / scale``, in [-1, 1]) plus ``reg_weight`` times
    `smooth_l12` of its weights; models are summed, so their gradients stay independent and RMSprop (element-wise)
    updates each as if alone. A model whose loss turns non-finite gets no further updates and is reported.
    """
    n_models, n_samples, _ = x.shape
    if n_models != net.n_models or y.shape != (n_models, n_samples):
        raise ValueError(f"data shapes {tuple(x.shape)}, {tuple(y.shape)} do not fit {net.n_models} models")
    schedule = _schedule(params, phase)
    if schedule.threshold is not None:
        net.prune(net.flat.detach().abs() >= schedule.threshold)
    scale = net.scale[:, None]
    optimizer = torch.optim.RMSprop([net.flat], lr=schedule.lrs[0] if schedule.lrs else params.lr)
    frozen = torch.zeros(n_models, dtype=torch.bool, device=x.device)
    history: list[list[dict[str, float]]] = [[] for _ in range(n_models)]
    batch = max(1, min(params.batch_size, n_samples))
    for epoch, lr in enumerate(schedule.lrs):
        for group in optimizer.param_groups:
            group["lr"] = lr
        order = data_order(generators, n_models, n_samples).to(x.device)
        sums = torch.zeros(2, n_models, dtype=x.dtype, device=x.device)
        n_batches = 0
        for b in range(0, n_samples, batch):
            idx = order[:, b : b + batch]
            xb = torch.gather(x, 1, idx[..., None].expand(-1, -1, x.shape[2]))
            yb = torch.gather(y, 1, idx)
            mse = ((net(xb).y - yb) / scale).square().mean(1)  # (M,)
            reg = smooth_l12(net.flat * net.mask, params.smooth_a) if schedule.reg_weight else torch.zeros_like(mse)
            loss = mse + schedule.reg_weight * reg
            frozen |= ~torch.isfinite(loss.detach())
            optimizer.zero_grad(set_to_none=False)
            torch.where(frozen, 0.0, loss).sum().backward()
            with torch.no_grad():
                net.flat.grad[frozen] = 0.0
                net.flat.grad.nan_to_num_(0.0, 0.0, 0.0)
            optimizer.step()
            net.apply_masks()
            sums += torch.stack((mse, reg)).detach()
            n_batches += 1
        means = (sums / max(n_batches, 1)).cpu()
        for m in range(n_models):
            history[m].append({"epoch": epoch, "loss": float(means[0, m] + schedule.reg_weight * means[1, m]),
                               "mse": float(means[0, m]), "reg": float(means[1, m]), "lr": lr})
    return EqlResult(history=history, diverged=[bool(f) for f in frozen.cpu()])


# ---------------------------------------------------------------------------------------------- extraction
def _symbolic_units(z: Sequence[sympy.Expr], arch: EqlArchitecture) -> list[sympy.Expr]:
    out = []
    for unit, start, count in arch.blocks():
        for k in range(count):
            if unit == "product":
                out.append(z[start + 2 * k] * z[start + 2 * k + 1])
            elif unit == "identity":
                out.append(z[start + k])
            elif unit == "square":
                out.append(z[start + k] ** 2)
            elif unit == "sin":
                out.append(sympy.sin(z[start + k]))
            elif unit == "exp":  # a plain number is cut off as in the forward pass; a symbolic input is not
                arg = z[start + k]
                out.append(sympy.exp(min(arg, sympy.Float(EXP_MAX)) if arg.is_Number else arg))
            else:  # sigmoid
                out.append(1 / (1 + sympy.exp(-z[start + k])))
    return out
