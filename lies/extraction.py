"""Read a sparse LIES network back as one sympy formula over the raw variables (paper III-E, first paragraph).

The walk mirrors `LiesNetwork.forward` exactly: the feature list of layer ``i`` is ``[x, g_0, ..., g_{i-1}]``, each
unit's pre-activation is the sum of its non-zero edges, and each unit's output is its gate times its activation.
The network inputs are the transformed variables (``log(v) / s`` in log space) and the constant 1; the output goes
back through the inverse target transform (``exp``), so the formula is in the user's units.

Cut-offs are not written into the formula (the fitted network keeps its log/exp inputs in range, which the mask
loss enforces); the one exception is a unit whose input is a plain number, which is evaluated exactly, cut-off
included (an empty log input gives ln(x_l), as in the network).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import sympy

from lies.activations import EXP, IDENTITY, LOG, N_UNITS, SIN, bounded_value
from lies.formula import Formula
from lies.network import LiesNetwork
from lies.transforms import Transform

_SYMBOLIC = {LOG: sympy.log, IDENTITY: lambda z: z, EXP: sympy.exp, SIN: sympy.sin}


def extract_expression(net: LiesNetwork, inputs: Sequence[sympy.Expr], model: int = 0) -> sympy.Expr:
    """The network output of ``model`` as a sympy expression of its ``n`` input expressions (no constant).

    An EQL network (``network.kind: eql``) is read by `lies.eql.extract_eql_expression`."""
    if net.kind == "eql":
        from lies.eql import extract_eql_expression

        return extract_eql_expression(net, inputs, model)
    if len(inputs) != net.arch.n_inputs:
        raise ValueError(f"expected {net.arch.n_inputs} input expressions, got {len(inputs)}")
    with np.errstate(all="ignore"):
        weights = {name: net.weight(name)[model].detach().cpu().double().numpy() for name in net.names}
    features: list[sympy.Expr] = [*inputs, sympy.Integer(1)]
    gates = weights["gates"]
    for i in range(net.arch.n_layers):
        w = weights[f"layer{i}"]
        for unit in range(N_UNITS):
            features.append(_unit(unit, _dot(w[unit], features), float(gates[i, unit]), net))
    return _dot(weights["output"][0], features)


def extract_formula(net: LiesNetwork, transform: Transform, variables: Sequence[str], model: int = 0) -> Formula:
    """The raw-unit formula of ``model``: inputs through `Transform.symbolic_inputs`, output through its inverse."""
    symbols = [sympy.Symbol(v) for v in variables]
    t = extract_expression(net, transform.symbolic_inputs(symbols), model)
    return Formula(tidy(transform.symbolic_output(t)), symbols)


def tidy(expr: sympy.Expr) -> sympy.Expr:
    """Cheap canonical form without `simplify`: split ``exp(a + b)`` into ``exp(a) * exp(b)`` so that
    ``exp(c * log(v))`` becomes ``v**c``, and fold the numeric factors."""
    return sympy.expand_power_exp(expr)


def _dot(row: np.ndarray, features: Sequence[sympy.Expr]) -> sympy.Expr:
    terms = [sympy.Float(float(w)) * f for w, f in zip(row, features) if w != 0.0 and f != 0]
    return sympy.Add(*terms) if terms else sympy.Integer(0)


def _unit(unit: int, z: sympy.Expr, gate: float, net: LiesNetwork) -> sympy.Expr:
    if gate == 0.0:
        return sympy.Integer(0)
    if z.is_Number:
        value = bounded_value(unit, float(z), net.x_l, net.x_e)
        return sympy.Float(gate * value) if value != 0.0 else sympy.Integer(0)
    return sympy.Float(gate) * _SYMBOLIC[unit](z)
