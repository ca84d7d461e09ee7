"""The LIES network (paper III-B, Fig. 1 and Fig. 4), with a leading *model* axis so that many networks train at once.

For ``n`` input variables the network has ``n + 1`` LIES layers of four units (L, I, E, S; see `lies.activations`).
The input is ``x = [x_1, ..., x_n, 1]``: a constant-1 input replaces every bias. Skips are dense: layer ``i`` sees
the input and the *raw* gated outputs of all earlier layers,

    u_i = [x, g_0, ..., g_{i-1}]                      (d_i = n + 1 + 4 i features)
    z_i = W_i u_i,   g_i = gate_i * act(z_i)          (W_i: 4 x d_i, gate_i: 4 node-pruning edges, Fig. 4)
    y   = w_out [x, g_0, ..., g_n]                    (a linear output unit, no activation, no bias)

This is the one semantics the forward pass and `lies.extraction` share. (The authors' code aliases tensors in
place so that training sees nested sums of skips while extraction reads raw outputs: spec bug B1; we do not copy
it.) One matrix per layer over the concatenated inputs is the same function as one matrix per skip connection, and
it keeps the sparsity pattern readable: column blocks of ``W_i`` are the edges from ``x`` and from each ``g_j``.

Every parameter carries a 0/1 mask of the same shape; the forward pass uses ``weight * mask`` and `apply_masks`
zeroes the stored values, so a pruned weight stays exactly zero through any later training.

Shapes: ``M`` models, ``B`` samples; inputs ``(M, B, n + 1)``, outputs ``(M, B)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import torch
from torch import nn

from lies.activations import N_UNITS, UNITS, X_EXP, X_LOG, cutoff_violation, lies_activation


@dataclass(frozen=True)
class Architecture:
    """What fixes the shape of a LIES network: the number of input variables (the paper uses n + 1 layers)."""

    n_inputs: int
    n_layers: int

    @classmethod
    def for_inputs(cls, n_inputs: int) -> "Architecture":
        if n_inputs < 1:
            raise ValueError("a LIES network needs at least one input variable")
        return cls(n_inputs=n_inputs, n_layers=n_inputs + 1)

    @property
    def input_width(self) -> int:
        """Width of ``x``: the variables plus the constant 1."""
        return self.n_inputs + 1

    def layer_width(self, i: int) -> int:
        """Number of inputs of layer ``i`` (``i == n_layers`` is the output unit)."""
        return self.input_width + N_UNITS * i

    def feature_names(self, i: int, variables: Sequence[str] | None = None) -> list[str]:
        """Names of the features layer ``i`` reads, e.g. ``["x0", "x1", "1", "L0", "I0", ...]``."""
        names = list(variables) if variables is not None else [f"x{k}" for k in range(self.n_inputs)]
        names.append("1")
        for j in range(i):
            names.extend(f"{u[0].upper()}{j}" for u in UNITS)
        return names


def output_unit(u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The linear output unit: ``u`` (M, B, d) times each model's ``w`` (M, 1, d) -> (M, B).

    A product and a sum rather than `torch.bmm`: with one output, a batch of one model goes to a matrix-vector
    kernel that rounds differently from the batched one, so a model trained alone (a chunk of one) would not
    match the same model trained beside others, and a run's formulas would depend on which tasks it holds.
    """
    return (u * w).sum(-1)


class NetworkOutput(NamedTuple):
    y: torch.Tensor  # (M, B) prediction of the transformed target
    violation: torch.Tensor  # (M, B) per-sample cut-off violation summed over layers, eq. (13)


class LiesNetwork(nn.Module):
    """``n_models`` independent LIES networks of one architecture, evaluated together with batched matmuls.

    All weights of a model live in one flat parameter row (``flat``: (M, P)) with a 0/1 ``mask`` of the same shape;
    `weight` gives named views (``layer0`` .. ``layer{n}``: (M, 4, d_i), ``gates``: (M, n + 1, 4), ``output``:
    (M, 1, d_out)). One flat tensor makes masking, the penalties and the optimiser step one operation each.
    """

    kind = "lies"  # `lies.eql.EqlNetwork` shares this bookkeeping; code meant for one kind checks ``kind``

    def __init__(
        self,
        n_inputs: int,
        n_models: int = 1,
        *,
        generator: torch.Generator | None = None,
        x_l: float = X_LOG,
        x_e: float = X_EXP,
        gate_init: float = 1.0,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.arch = Architecture.for_inputs(n_inputs)
        self.gate_init = gate_init
        self.n_models = n_models
        self.x_l, self.x_e = x_l, x_e
        a = self.arch
        shapes = {f"layer{i}": (N_UNITS, a.layer_width(i)) for i in range(a.n_layers)}
        shapes["gates"] = (a.n_layers, N_UNITS)
        shapes["output"] = (1, a.layer_width(a.n_layers))
        self._allocate(shapes, dtype, device)
        self.reset_parameters(generator)

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

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Initialise like ``nn.Linear``: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) per block of edges.

        Each column block (edges from ``x`` and from each earlier layer) is one skip matrix in the paper's drawing,
        so it gets that matrix's fan-in. Gates are 1-to-1 edges (fan-in 1): U(-gate_init, gate_init), where
        ``gate_init = 1`` is ``nn.Linear``'s bound and a smaller value starts with the hidden units nearly off, so
        that the direct skips fit what they can before any unit is recruited.
        """
        a = self.arch
        init = 2 * torch.rand(self.flat.shape, generator=generator, dtype=self.flat.dtype) - 1
        bound = torch.ones(self.flat.shape[1], dtype=self.flat.dtype)
        for i in range(a.n_layers + 1):
            name = f"layer{i}" if i < a.n_layers else "output"
            offset, shape = self.layout[name]
            b = bound[offset : offset + math.prod(shape)].view(shape)
            for start, stop in _blocks(a, i):
                b[:, start:stop] = 1.0 / math.sqrt(stop - start)
        offset, shape = self.layout["gates"]
        bound[offset : offset + math.prod(shape)] = self.gate_init
        with torch.no_grad():
            self.flat.copy_((init * bound).to(self.flat.device))
            self.apply_masks()

    @torch.no_grad()
    def apply_masks(self) -> None:
        """Zero the stored values of pruned weights (called after every optimiser step)."""
        self.flat.mul_(self.mask)

    @torch.no_grad()
    def prune(self, keep: torch.Tensor) -> None:
        """Remove weights for good: ``keep`` is a bool tensor shaped like ``flat``."""
        self.mask.mul_(keep.to(self.mask.dtype))
        self.apply_masks()

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor, flat: torch.Tensor | None = None) -> NetworkOutput:
        """``x``: (M, B, n + 1) with the constant 1 in the last column -> prediction and cut-off violation.

        ``flat`` replaces the stored weights (still masked), so that `torch.func` can differentiate with respect
        to them (per-sample gradients in `lies.pruning`).
        """
        flat = (self.flat if flat is None else flat) * self.mask
        u, violation = self.features(x, flat)
        return NetworkOutput(y=output_unit(u, self.view(flat, "output")), violation=violation)

    def features(self, x: torch.Tensor, flat: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """What the output unit reads, ``[x, g_0, ..., g_n]`` (M, B, d_out), and the cut-off violation (M, B)."""
        flat = (self.flat if flat is None else flat) * self.mask
        features = [x]
        violation = x.new_zeros(x.shape[:2])
        gates = self.view(flat, "gates")
        for i in range(self.arch.n_layers):
            u = torch.cat(features, dim=-1) if i else x
            z = torch.bmm(u, self.view(flat, f"layer{i}").transpose(1, 2))  # (M, B, 4)
            violation = violation + cutoff_violation(z, self.x_l, self.x_e, live=gates[:, i, None, :] != 0)
            features.append(gates[:, i, None, :] * lies_activation(z, self.x_l, self.x_e))
        return torch.cat(features, dim=-1), violation

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

    def _like(self, n_models: int) -> "LiesNetwork":
        return LiesNetwork(
            self.arch.n_inputs, n_models, x_l=self.x_l, x_e=self.x_e, dtype=self.flat.dtype, device=self.flat.device
        )

    @torch.no_grad()
    def select(self, models: Sequence[int] | int) -> "LiesNetwork":
        """A new network holding copies of the given models (masks included)."""
        index = torch.as_tensor([models] if isinstance(models, int) else list(models), device=self.flat.device)
        out = self._like(len(index))
        out.flat.copy_(self.flat.index_select(0, index))
        out.mask.copy_(self.mask.index_select(0, index))
        return out

    @classmethod
    @torch.no_grad()
    def stack(cls, nets: Sequence["LiesNetwork"]) -> "LiesNetwork":
        """Concatenate networks of one architecture along the model axis (for training many tasks together)."""
        if not nets:
            raise ValueError("nothing to stack")
        if any(net.arch != nets[0].arch for net in nets):
            raise ValueError("only networks with the same number of inputs can be stacked")
        out = nets[0]._like(sum(net.n_models for net in nets))
        out.flat.copy_(torch.cat([net.flat for net in nets]))
        out.mask.copy_(torch.cat([net.mask for net in nets]))
        return out

    def tensors(self) -> dict[str, torch.Tensor]:
        """Named weights and masks, e.g. ``layer0`` and ``mask.layer0``, for saving (safetensors) and reading."""
        out = {}
        for name in self.layout:
            out[name] = self.view(self.flat.detach(), name).contiguous()
            out[f"mask.{name}"] = self.view(self.mask, name).contiguous()
        return out

    @classmethod
    def from_tensors(cls, n_inputs: int, tensors: dict[str, torch.Tensor], **kwargs) -> "LiesNetwork":
        """Inverse of `tensors`."""
        net = cls(n_inputs, tensors["output"].shape[0], dtype=tensors["output"].dtype, **kwargs)
        with torch.no_grad():
            for name in net.layout:
                net.view(net.flat, name).copy_(tensors[name])
                net.view(net.mask, name).copy_(tensors[f"mask.{name}"])
        return net


def _blocks(arch: Architecture, i: int) -> list[tuple[int, int]]:
    """Column ranges of the edge blocks feeding layer ``i``: the input ``x``, then one block per earlier layer."""
    spans = [(0, arch.input_width)]
    for j in range(i):
        start = arch.input_width + N_UNITS * j
        spans.append((start, start + N_UNITS))
    return spans


def add_constant_column(x: torch.Tensor) -> torch.Tensor:
    """Append the constant-1 input that replaces biases: (..., n) -> (..., n + 1)."""
    return torch.cat([x, torch.ones_like(x[..., :1])], dim=-1)

