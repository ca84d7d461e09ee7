"""The LIES network (paper III-B, Fig. 1 and Fig. 4), with a leading *model* axis so that many networks train at once.

For ``n`` input variables the network has ``n + 1`` LIES layers of four units (L, I, E, S; see `lies.networks.activations`).
The input is ``x = [x_1, ..., x_n, 1]``: a constant-1 input replaces every bias. Skips are dense: layer ``i`` sees
the input and the *raw* gated outputs of all earlier layers,

    u_i = [x, g_0, ..., g_{i-1}]                      (d_i = n + 1 + 4 i features)
    z_i = W_i u_i,   g_i = gate_i * act(z_i)          (W_i: 4 x d_i, gate_i: 4 node-pruning edges, Fig. 4)
    y   = w_out [x, g_0, ..., g_n]                    (a linear output unit, no activation, no bias)

This is the one semantics the forward pass and `LiesNetwork.expression` (the read-back, paper III-E) share. (The authors' code aliases tensors in
place so that training sees nested sums of skips while extraction reads raw outputs: spec bug B1; we do not copy
it.) One matrix per layer over the concatenated inputs is the same function as one matrix per skip connection, and
it keeps the sparsity pattern readable: column blocks of ``W_i`` are the edges from ``x`` and from each ``g_j``.

Weights, masks and the model axis are `lies.networks.base.Network`'s. The read-back (`LiesNetwork.expression`)
walks the forward pass: each unit's pre-activation is the sum of its non-zero edges, its output its gate times
its activation. Cut-offs are not written into the formula (the fitted network keeps its log/exp inputs in range,
which the mask loss enforces); the one exception is a unit whose input is a plain number, evaluated exactly,
cut-off included (an empty log input gives ln(x_l), as in the network).

Shapes: ``M`` models, ``B`` samples; inputs ``(M, B, n + 1)``, outputs ``(M, B)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import sympy
import torch
from torch import nn

from lies.networks.activations import (
    EXP,
    IDENTITY,
    LOG,
    N_UNITS,
    SIN,
    UNITS,
    X_EXP,
    X_LOG,
    bounded_value,
    cutoff_violation,
    lies_activation,
)
from lies.networks.base import Network, NetworkOutput, linear_combination, output_unit


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


class LiesNetwork(Network):
    """``n_models`` independent LIES networks of one architecture, evaluated together with batched matmuls.

    Named views of the flat weights (`Network.weight`): ``layer0`` .. ``layer{n}``: (M, 4, d_i), ``gates``:
    (M, n + 1, 4), ``output``: (M, 1, d_out).
    """

    kind = "lies"
    admm_sparsified = True

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
        nn.Module.__init__(self)
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

    # ------------------------------------------------------------------ parameters
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

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor, flat: torch.Tensor | None = None) -> NetworkOutput:
        """``x``: (M, B, n + 1) with the constant 1 in the last column -> prediction and cut-off violation.

        ``flat`` replaces the stored weights (still masked), so that `torch.func` can differentiate with respect
        to them (per-sample gradients in `lies.training.pruning`).
        """
        flat = (self.flat if flat is None else flat) * self.mask
        u, violation = self.features(x, flat)  # masked twice: once gives the gradient of a masked weight as -0.0
        # where twice gives +0.0, and the refits would store that sign (tests/test_pruning.py)
        return NetworkOutput(y=output_unit(u, self.view(flat, "output")), violation=violation)

    def features(self, x: torch.Tensor, flat: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """What the output unit reads, ``[x, g_0, ..., g_n]`` (M, B, d_out), and the cut-off violation (M, B)."""
        flat = (self.flat if flat is None else flat) * self.mask
        features = [x]
        violation = x.new_zeros(x.shape[:2])
        gates = self.view(flat, "gates")
        # (M, L, 1, 4), one comparison for every layer, as 0/1 weights: multiplying by it gives the bits a bool
        # mask gives, without converting the bool in every forward and backward pass
        live = (gates != 0).to(flat.dtype)[:, :, None, :]
        for i in range(self.arch.n_layers):
            u = torch.cat(features, dim=-1) if i else x
            z = torch.bmm(u, self.view(flat, f"layer{i}").transpose(1, 2))  # (M, B, 4)
            violation = violation + cutoff_violation(z, self.x_l, self.x_e, live=live[:, i])
            features.append(gates[:, i, None, :] * lies_activation(z, self.x_l, self.x_e))
        return torch.cat(features, dim=-1), violation

    # ------------------------------------------------------------------ what this kind says of itself
    def _like(self, n_models: int) -> "LiesNetwork":
        return LiesNetwork(
            self.arch.n_inputs, n_models, x_l=self.x_l, x_e=self.x_e, dtype=self.flat.dtype, device=self.flat.device
        )

    def expression(self, inputs: Sequence[sympy.Expr], model: int = 0) -> sympy.Expr:
        """The output of ``model`` as a sympy expression of its ``n`` input expressions (no constant): features
        ``[x, 1, g_0, ...]`` grow layer by layer as in `features`."""
        if len(inputs) != self.arch.n_inputs:
            raise ValueError(f"expected {self.arch.n_inputs} input expressions, got {len(inputs)}")
        with np.errstate(all="ignore"):
            weights = {name: self.weight(name)[model].detach().cpu().double().numpy() for name in self.names}
        features: list[sympy.Expr] = [*inputs, sympy.Integer(1)]
        gates = weights["gates"]
        for i in range(self.arch.n_layers):
            w = weights[f"layer{i}"]
            for unit in range(N_UNITS):
                features.append(self._symbolic_unit(unit, linear_combination(w[unit], features), float(gates[i, unit])))
        return linear_combination(weights["output"][0], features)

    def _symbolic_unit(self, unit: int, z: sympy.Expr, gate: float) -> sympy.Expr:
        if gate == 0.0:
            return sympy.Integer(0)
        if z.is_Number:
            value = bounded_value(unit, float(z), self.x_l, self.x_e)
            return sympy.Float(gate * value) if value != 0.0 else sympy.Integer(0)
        return sympy.Float(gate) * _SYMBOLIC[unit](z)

    def describe(self) -> dict:
        return {"kind": self.kind, "n_inputs": self.arch.n_inputs, "n_layers": self.arch.n_layers,
                "units": list(UNITS), "x_l": self.x_l, "x_e": self.x_e}

    @classmethod
    def from_description(cls, info: dict, tensors: dict[str, torch.Tensor]) -> "LiesNetwork":
        return cls.from_tensors(int(info["n_inputs"]), tensors, x_l=float(info["x_l"]), x_e=float(info["x_e"]))

    @classmethod
    def from_tensors(cls, n_inputs: int, tensors: dict[str, torch.Tensor], **kwargs) -> "LiesNetwork":
        """Inverse of `tensors`; ``kwargs`` go to the constructor (cut-offs)."""
        net = cls(n_inputs, tensors["output"].shape[0], dtype=tensors["output"].dtype, **kwargs)
        net.load_tensors(tensors)
        return net


_SYMBOLIC = {LOG: sympy.log, IDENTITY: lambda z: z, EXP: sympy.exp, SIN: sympy.sin}


def _blocks(arch: Architecture, i: int) -> list[tuple[int, int]]:
    """Column ranges of the edge blocks feeding layer ``i``: the input ``x``, then one block per earlier layer."""
    spans = [(0, arch.input_width)]
    for j in range(i):
        start = arch.input_width + N_UNITS * j
        spans.append((start, start + N_UNITS))
    return spans
