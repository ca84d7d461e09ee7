"""A network read back as one sympy formula over the raw variables (paper III-E, first paragraph).

Each network kind reads itself back (`lies.networks.base.Network.expression`, a walk that mirrors its forward
pass); this module puts the data transform around it: the network inputs are the transformed variables
(``log(v) / s`` in log space) and the output goes back through the inverse target transform (``exp``), so the
formula is in the user's units.
"""

from __future__ import annotations

from typing import Sequence

import sympy

from lies.data.transforms import Transform
from lies.networks.base import Network
from lies.symbolic.formula import Formula


def extract_formula(net: Network, transform: Transform, variables: Sequence[str], model: int = 0) -> Formula:
    """The raw-unit formula of ``model``: inputs through `Transform.symbolic_inputs`, output through its inverse."""
    symbols = [sympy.Symbol(v) for v in variables]
    t = net.expression(transform.symbolic_inputs(symbols), model)
    return Formula(tidy(transform.symbolic_output(t)), symbols)


def tidy(expr: sympy.Expr) -> sympy.Expr:
    """Cheap canonical form without `simplify`: split ``exp(a + b)`` into ``exp(a) * exp(b)`` so that
    ``exp(c * log(v))`` becomes ``v**c``, and fold the numeric factors."""
    return sympy.expand_power_exp(expr)
