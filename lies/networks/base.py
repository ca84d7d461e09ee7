"""What every network kind shares: weights in one flat row per model, a 0/1 mask, named views, the model axis.

A network kind (`lies.networks.lies.LiesNetwork`, `lies.networks.eql.EqlNetwork`) subclasses `Network` and adds
its layout (``_allocate`` with its named shapes), its forward pass, its initialisation, its read-back as a sympy
expression (`Network.expression`) and what rebuilds it from a file (`Network.describe`,
`Network.from_description`). Everything a stage does with weights (masking, pruning, counting, choosing and
stacking models, saving) is written once here.

One flat parameter per model makes masking, the penalties and the optimiser step one operation each; a pruned
weight stays exactly zero through any later training because the forward pass reads ``flat * mask`` and
`apply_masks` zeroes the stored values after every step.

Shapes: ``M`` models, ``B`` samples, ``P`` weights per model; inputs ``(M, B, n + 1)`` with the constant 1 last.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, NamedTuple, Sequence

import numpy as np
import sympy
import torch
from torch import nn


class NetworkOutput(NamedTuple):
    y: torch.Tensor  # (M, B) prediction of the transformed target
    violation: torch.Tensor  # (M, B) per-sample cut-off violation summed over layers, eq. (13); 0 where none


def output_unit(u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The linear output unit: ``u`` (M, B, d) times each model's ``w`` (M, 1, d) -> (M, B).

    A product and a sum rather than `torch.bmm`: with one output, a batch of one model goes to a matrix-vector
    kernel that rounds differently from the batched one, so a model trained alone (a chunk of one) would not
    match the same model trained beside others, and a run's formulas would depend on which tasks it holds.
    """
    return (u * w).sum(-1)


def add_constant_column(x: torch.Tensor) -> torch.Tensor:
    """Append the constant-1 input that replaces biases: (..., n) -> (..., n + 1)."""
    return torch.cat([x, torch.ones_like(x[..., :1])], dim=-1)


def linear_combination(row: np.ndarray, features: Sequence[sympy.Expr]) -> sympy.Expr:
    """``sum_k row[k] * features[k]`` over the non-zero terms: one unit's pre-activation, read back exactly."""
    terms = [sympy.Float(float(w)) * f for w, f in zip(row, features) if w != 0.0 and f != 0]
    return sympy.Add(*terms) if terms else sympy.Integer(0)


class Network(nn.Module):
    """``n_models`` independent networks of one kind and architecture, evaluated together.

    Subclasses set ``kind`` (the name in params.yaml's ``network.kind`` and in ``network.json``) and ``arch`` (a
    frozen dataclass with ``n_inputs``: networks with equal ``arch`` can be stacked), call `_allocate`, and
    implement ``forward(x, flat=None) -> NetworkOutput``, `_like`, `expression`, `describe` and
    `from_description`.
    """

    kind: ClassVar[str]
    #: Whether the paper's sparsification applies (Algorithm 1, Theorem 2, node gates and node pruning); a kind
    #: without it is pruned by its own training (EQL: a threshold) and those stages pass it through.
    admm_sparsified: ClassVar[bool] = False

    n_models: int
    arch: Any

    def _allocate(self, shapes: dict[str, tuple[int, ...]], dtype: torch.dtype, device) -> None:
        """Lay the named tensors out in one flat row per model: ``layout``, ``flat`` and its ``mask``."""
        self.layout: dict[str, tuple[int, tuple[int, ...]]] = {}
        offset = 0
        for name, shape in shapes.items():
            self.layout[name] = (offset, shape)
            offset += math.prod(shape)
        self.flat = nn.Parameter(torch.empty(self.n_models, offset, dtype=dtype, device=device))
        self.register_buffer("mask", torch.ones(self.n_models, offset, dtype=dtype, device=device))

    # ------------------------------------------------------------------ parameters
    @property
    def names(self) -> list[str]:
        return list(self.layout)

    def view(self, flat: torch.Tensor, name: str) -> torch.Tensor:
        """The slice of a (M, P) tensor (weights, mask, gradient, score) that belongs to ``name``, shaped."""
        offset, shape = self.layout[name]
        return flat[:, offset : offset + math.prod(shape)].view(flat.shape[0], *shape)

    def weight(self, name: str) -> torch.Tensor:
        """Effective (masked) weights of ``name``: (M, *shape)."""
        return self.view(self.flat * self.mask, name)

    @torch.no_grad()
    def apply_masks(self) -> None:
        """Zero the stored values of pruned weights (called after every optimiser step)."""
        self.flat.mul_(self.mask)

    @torch.no_grad()
    def prune(self, keep: torch.Tensor) -> None:
        """Remove weights for good: ``keep`` is a bool tensor shaped like ``flat``."""
        self.mask.mul_(keep.to(self.mask.dtype))
        self.apply_masks()

    # ------------------------------------------------------------------ bookkeeping
    @torch.no_grad()
    def nonzero_counts(self, atol: float = 0.0) -> list[dict[str, int]]:
        """Per model: number of weights with ``|w| > atol`` in each named tensor and in total."""
        nonzero = (self.flat * self.mask).abs() > atol
        counts: list[dict[str, int]] = [dict() for _ in range(self.n_models)]
        for name in self.layout:
            nz = self.view(nonzero, name).flatten(1).sum(1)
            for m in range(self.n_models):
                counts[m][name] = int(nz[m])
        for c in counts:
            c["total"] = sum(c.values())
        return counts

    def n_weights(self) -> int:
        """Weights per model (every entry of every tensor, pruned or not)."""
        return self.flat.shape[1]

    def _like(self, n_models: int) -> "Network":
        """A fresh network of the same kind, architecture, dtype and device with ``n_models`` models."""
        raise NotImplementedError

    @torch.no_grad()
    def select(self, models: Sequence[int] | int) -> "Network":
        """A new network holding copies of the given models (masks and per-model buffers included)."""
        index = torch.as_tensor([models] if isinstance(models, int) else list(models), device=self.flat.device)
        out = self._like(len(index))
        out.flat.copy_(self.flat.index_select(0, index))
        out.mask.copy_(self.mask.index_select(0, index))
        for name, buffer in self.model_buffers().items():
            getattr(out, name).copy_(buffer.index_select(0, index))
        return out

    @classmethod
    @torch.no_grad()
    def stack(cls, nets: Sequence["Network"]) -> "Network":
        """Concatenate networks of one kind and architecture along the model axis (to train many tasks together)."""
        if not nets:
            raise ValueError("nothing to stack")
        if any(type(net) is not type(nets[0]) or net.arch != nets[0].arch for net in nets):
            raise ValueError("only networks of one kind with the same architecture can be stacked")
        out = nets[0]._like(sum(net.n_models for net in nets))
        out.flat.copy_(torch.cat([net.flat for net in nets]))
        out.mask.copy_(torch.cat([net.mask for net in nets]))
        for name in out.model_buffers():
            getattr(out, name).copy_(torch.cat([getattr(net, name) for net in nets]))
        return out

    def model_buffers(self) -> dict[str, torch.Tensor]:
        """Per-model buffers beside the weights, (M, ...) each, that travel with a model (EQL's output scale)."""
        return {}

    def tensors(self) -> dict[str, torch.Tensor]:
        """Named weights and masks, e.g. ``layer0`` and ``mask.layer0``, and the per-model buffers, for saving."""
        out = {}
        for name in self.layout:
            out[name] = self.view(self.flat.detach(), name).contiguous()
            out[f"mask.{name}"] = self.view(self.mask, name).contiguous()
        out.update({name: b.detach().clone() for name, b in self.model_buffers().items()})
        return out

    @torch.no_grad()
    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Inverse of `tensors`, into a network of the right shape."""
        for name in self.layout:
            self.view(self.flat, name).copy_(tensors[name])
            self.view(self.mask, name).copy_(tensors[f"mask.{name}"])
        for name, buffer in self.model_buffers().items():
            buffer.copy_(tensors[name])

    # ------------------------------------------------------------------ what a kind says of itself
    def expression(self, inputs: Sequence[sympy.Expr], model: int = 0) -> sympy.Expr:
        """The output of ``model`` as a sympy expression of its ``n`` input expressions; the walk is `forward`'s."""
        raise NotImplementedError

    def describe(self) -> dict:
        """What ``network.json`` records to rebuild this network (with the weights file)."""
        raise NotImplementedError

    @classmethod
    def from_description(cls, info: dict, tensors: dict[str, torch.Tensor]) -> "Network":
        """Inverse of `describe` and `tensors`."""
        raise NotImplementedError
