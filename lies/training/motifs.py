"""Exp-log motifs: sums and differences inside a product, as LIES units started from a least-squares scan.

In log space (III-G) a product of powers ``C prod v_k^a_k`` is linear in the inputs ``x_k = ln v_k / s_k``, and
node pruning's first hypothesis (no hidden unit) fits it exactly. A factor with a sum or a difference in it,

    (1 - a^2/b^2)^(-1/2),   (1 + a)^(-1),   (a - 1)^(-1),   (a^2 + b^2 + c^2),   (e^(a b / c) - 1)^(-1)

is, in log space, one *term* added to that linear function, and each kind of term is a short chain of LIES units
(``m = exp(w . x + w0)`` is a monomial ``exp(w0) prod v^b``, one exp unit reading the inputs and the constant):

    log_sum       e ln(s_0 + s_1 m_1 [+ s_2 m_2])   one or two exp units feeding a log unit
    monomial      f m                               an exp unit read by the output (a Gaussian's exponent)
    exp_binomial  f m + e ln(1 - exp(-m))           an exp unit feeding an exp unit feeding a log unit; with both
                                                    weights equal this is ln(exp(m) - 1), beyond the exp cut-off

with signs ``s`` of +-1 (a positive constant inside the log is absorbed by ``w0`` and the output's constant).
A constant of -1 is never scanned: ``ln(m - 1) = ln(1 - 1/m) + ln m``, and ``1/m`` is a monomial of the grid and
``ln m`` is linear, so ``1 - m`` already holds every such candidate (two copies of one candidate would leave the
form, which SRBench's check sees, to rounding noise).

From a random start, gradient descent rarely reaches these chains: near its start ``ln(c + d exp(z))`` is almost
linear, and a log unit of the log inputs is a closer, high-gain substitute (``log(c - a log v)``), so training
settles there (BENCHMARKS.md, "Where it fails").

`scan_terms` therefore chooses the chains' *starting points* by least squares; `motif_network` writes them into a
LIES network, which is then pruned and refitted like any trained network and competes with the trained restarts:

1. every monomial with small integer exponents (`EXPONENTS`, raw units: ``prod v_k^b_k``) and a grid of offsets
   ``w0`` gives one candidate feature per kind of term, and every chosen one-monomial log_sum may take a second
   monomial inside its log;
2. greedy forward selection: each round scores all candidates by the share of the residual they remove (the
   linear weights solved exactly, so a score is a projection), refines the best few (`refine_terms`: all weights
   of the chosen terms, exponents and offsets included, the output solved exactly at each step) and keeps the
   best refined one while it removes at least ``min_gain`` of what is left;
3. the network starts from those weights; node pruning's refits and backward elimination then treat it as any
   other network, so a term that is not needed is removed.

Nothing here knows a formula: the grid, the kinds of term and the selection rule are the same for every task.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal, Sequence

import torch

from lies.networks.activations import EXP, LOG, N_UNITS, X_EXP, X_LOG
from lies.networks.lies import LiesNetwork
from lies.params import NodePruningParams

_NODE = NodePruningParams()  # the declared defaults (lies.params) of `scan_terms`

#: Exponents a scanned monomial may give each variable (raw units: ``v^b``); the refinement moves them freely.
EXPONENTS = (-2, -1, 0, 1, 2)

#: At most this many monomials are scanned (more variables: monomials of fewer factors; see `_exponent_grid`).
MAX_MONOMIALS = 4096

#: A residual this small relative to the target's spread is float32's floor: the scan stops adding terms.
EXACT = 1e-6

TermKind = Literal["log_sum", "monomial", "exp_binomial"]

#: Offset grids, as values of ``exp(w0) m`` at one point of the data: for log(1 + m) the median; for log(1 - m)
#: the maximum (< 1, so the log stays defined); for exp_binomial the median.
_PLUS = (0.1, 1.0, 10.0)
_MINUS = (0.2, 0.3, 0.5, 0.6, 0.83, 0.9, 0.99)
_EXP_MEDIAN = (0.3, 1.0, 3.0)
#: A second monomial inside a log: its median as a multiple of the median of what it joins (``s_0 + s_1 m_1``).
_SECOND = (0.1, 0.3, 1.0, 3.0, 10.0)


@dataclass(frozen=True)
class Term:
    """One term of the log target: its kind, the signs inside its log (log_sum: the constant's, then one per
    monomial), and one weight row ``(n + 1,)`` on ``[x, 1]`` per monomial (exponents times the input scales, then
    the offset ``w0``)."""

    kind: TermKind
    monomials: tuple[tuple[float, ...], ...]
    signs: tuple[float, ...] = ()


def _exponent_grid(n: int) -> torch.Tensor:
    """Every exponent vector of `EXPONENTS`^n except all zeros, (K, n); with many variables only those with at
    most as many non-zero exponents as keeps K within `MAX_MONOMIALS` (the widest monomials that fit)."""
    nonzero = [e for e in EXPONENTS if e]
    factors = n
    while factors > 1 and sum(math.comb(n, k) * len(nonzero) ** k for k in range(1, factors + 1)) > MAX_MONOMIALS:
        factors -= 1
    grid = []
    for k in range(1, factors + 1):  # by number of factors, without enumerating all of EXPONENTS^n
        for where in itertools.combinations(range(n), k):
            for values in itertools.product(nonzero, repeat=k):
                b = [0] * n
                for i, v in zip(where, values):
                    b[i] = v
                grid.append(tuple(b))
    return torch.tensor(grid, dtype=torch.float64)


# ------------------------------------------------------------------------------------------ term values
def term_columns(term: Term, x: torch.Tensor, weights: Sequence[torch.Tensor] | None = None) -> list[torch.Tensor]:
    """The columns ``term`` adds to the output unit's inputs on network inputs ``x`` (N, n + 1), computed as its
    unit chain computes them (cut-offs included). ``weights`` (one (n + 1,) row per monomial) replaces the stored
    ones, so that `refine_terms` can differentiate with respect to them."""
    rows = weights if weights is not None else [torch.tensor(w, dtype=x.dtype) for w in term.monomials]
    m = [torch.exp((x @ w).clamp(max=X_EXP)) for w in rows]  # each monomial: one exp unit
    if term.kind == "monomial":
        return [m[0]]
    if term.kind == "exp_binomial":
        inner = torch.exp((-m[0]).clamp(max=X_EXP))
        return [m[0], torch.log((1.0 - inner).clamp_min(X_LOG))]
    inside = term.signs[0] + sum(s * mk for s, mk in zip(term.signs[1:], m))
    return [torch.log(inside.clamp_min(X_LOG))]


def term_features(terms: Sequence[Term], x: torch.Tensor, weights: Sequence[Sequence[torch.Tensor]] | None = None
                  ) -> torch.Tensor:
    """Every term's columns side by side: (N, C)."""
    columns = [c for k, term in enumerate(terms)
               for c in term_columns(term, x, None if weights is None else weights[k])]
    return torch.stack(columns, dim=1) if columns else x.new_zeros(x.shape[0], 0)


# ------------------------------------------------------------------------------------------ least squares
def _residualize(basis: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``v`` minus its least-squares projection on the columns of ``basis`` (N, p); ``v``: (N,) or (N, C)."""
    return _project_out(torch.linalg.qr(basis)[0], v)


def _project_out(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``v`` minus its projection on the orthonormal columns of ``q``."""
    return v - q @ (q.T @ v)


def _residual(terms: Sequence[Term], x: torch.Tensor, t: torch.Tensor) -> float:
    """Sum of squared residuals of the least-squares fit of ``t`` on ``[x, terms]``."""
    r = _residualize(torch.cat([x, term_features(terms, x)], dim=1), t)
    return float(r @ r)


def _least_squares(basis: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Differentiable least-squares coefficients of ``t`` on ``basis`` (normal equations with a tiny ridge)."""
    gram = basis.T @ basis
    ridge = 1e-12 * gram.diagonal().mean() * torch.eye(gram.shape[0], dtype=gram.dtype)
    return torch.linalg.solve(gram + ridge, basis.T @ t)


def refine_terms(terms: Sequence[Term], x: torch.Tensor, t: torch.Tensor, iterations: int = 100) -> list[Term]:
    """Move every term's non-zero weights to the least-squares optimum, the linear output weights solved exactly at
    each step (variable projection). A joint refit of all weights crawls along the valley that couples a term's
    offset to the output's weights; with those solved, a handful of well-conditioned parameters is left."""
    if not terms or iterations <= 0:
        return list(terms)
    x, t = x.double(), t.double()
    start = [[torch.tensor(w, dtype=torch.float64) for w in term.monomials] for term in terms]
    masks = [[(w != 0).double() for w in rows] for rows in start]
    params = [w.clone().requires_grad_(True) for rows in start for w in rows]
    optimizer = torch.optim.LBFGS(params, lr=1.0, max_iter=iterations, history_size=20, line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-12, tolerance_change=1e-16)

    def grouped(flat):
        out, i = [], 0
        for rows in masks:
            out.append([flat[i + j] * rows[j] for j in range(len(rows))])
            i += len(rows)
        return out

    def loss_of(weights) -> torch.Tensor:
        basis = torch.cat([x, term_features(terms, x, weights)], dim=1)
        return ((basis @ _least_squares(basis, t) - t) ** 2).mean()

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = loss_of(grouped(params))
        loss.backward()
        return loss

    with torch.no_grad():
        before = float(loss_of(start))
    optimizer.step(closure)
    with torch.no_grad():
        moved = grouped([p.detach() for p in params])
        after = float(loss_of(moved))
    if not after <= before:  # NaN, or worse than the start
        return list(terms)
    return [Term(term.kind, tuple(tuple(float(v) for v in w) for w in rows), term.signs)
            for term, rows in zip(terms, moved)]


# ------------------------------------------------------------------------------------------ the scan
def _offset(log_m: torch.Tensor, at: str, value: float, refs: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Per column of ``log_m`` (N, K): the ``w0`` that puts the median or max of ``exp(w0) m`` at ``value``.

    ``refs`` keeps the medians and maxima of this ``log_m`` between calls: the scan asks for the same columns with
    every value of every grid, and a median over the rows is a sort."""
    refs = {} if refs is None else refs
    if at not in refs:
        refs[at] = log_m.median(dim=0).values if at == "median" else log_m.amax(dim=0)
    return torch.log(torch.tensor(value, dtype=log_m.dtype)) - refs[at]


#: The kinds of new term the scan tries, each with its signs and its grid of offsets (where, value).
_NEW_TERMS = (
    ("monomial", (), (("max", 1.0),)),
    ("log_sum", (1.0, 1.0), tuple(("median", q) for q in _PLUS)),
    ("log_sum", (1.0, -1.0), tuple(("max", q) for q in _MINUS)),
    ("exp_binomial", (), tuple(("median", q) for q in _EXP_MEDIAN)),
)


def _scan_feature(kind: str, signs: tuple, z: torch.Tensor, first: torch.Tensor | None):
    """The one-column scan feature of each candidate whose monomial has log values ``z`` (N, K), and whether the
    candidate's chain stays inside the cut-offs on every row ((K,) bool). For a second monomial inside a log,
    ``first`` is the (N,) value of ``s_0 + s_1 m_1`` it joins."""
    m = torch.exp(z)
    ok = z.amax(0) < X_EXP  # the exp unit below its cut-off
    if kind == "monomial" and first is None:
        return m, ok
    if kind == "exp_binomial":
        ok &= m.amin(0) > X_LOG  # 1 - exp(-m) above the log's cut-off
        return m + torch.log(-torch.expm1(-m)), ok  # = ln(exp(m) - 1) without overflow
    inside = first[:, None] + signs[-1] * m if first is not None else signs[0] + signs[1] * m
    ok &= inside.amin(0) > X_LOG
    return torch.log(inside.clamp_min(X_LOG)), ok


def scan_terms(x: torch.Tensor, t: torch.Tensor, scales: Sequence[float], max_terms: int = _NODE.motif_terms,
               min_gain: float = _NODE.motif_min_gain, shortlist: int = 6, refine_iterations: int = 100, chunk: int = 64,
               max_layers: int | None = None) -> list[Term]:
    """Greedy least-squares choice of up to ``max_terms`` terms for the log target ``t`` (N,) on network inputs
    ``x`` (N, n + 1, the constant last); see the module docstring. With ``max_layers`` (the network's), only terms
    whose chains fit in that many layers are considered (`_layout`). Returns refined terms (possibly none)."""
    x, t = x.double(), t.double()
    n = x.shape[1] - 1
    s = torch.tensor(list(scales), dtype=torch.float64)
    exponents = _exponent_grid(n)  # (K, n)
    log_v = x[:, :n] * s  # (N, n): ln v
    spread = float(((t - t.mean()) ** 2).sum())
    terms: list[Term] = []
    left = _residual(terms, x, t)
    refs: dict[int, dict[str, torch.Tensor]] = {}  # per chunk of exponents: `_offset`'s medians and maxima
    while left > EXACT**2 * spread:  # not yet exact to float32's last digits
        # (a) a new term beside the chosen ones; (b) a second monomial inside a chosen one-monomial log
        options = [(None, kind, signs, grid) for kind, signs, grid in _NEW_TERMS] if len(terms) < max_terms else []
        options += [(k, "log_sum", term.signs + (sign,), tuple(("median", q) for q in _SECOND))
                    for k, term in enumerate(terms) if term.kind == "log_sum" and len(term.monomials) == 1
                    for sign in (1.0, -1.0)]
        scored = []  # (gain, candidate list of terms)
        for grow, kind, signs, grid in options:
            q = torch.linalg.qr(torch.cat([x, term_features([tm for k, tm in enumerate(terms) if k != grow], x)],
                                          dim=1))[0]
            target = _project_out(q, t)
            base = float(target @ target) - left  # what the grown term removes today (0 for a new term)
            first = None
            if grow is not None:
                m1 = term_columns(Term("monomial", terms[grow].monomials[:1]), x)[0]
                first = terms[grow].signs[0] + terms[grow].signs[1] * m1
            first_offset = 0.0 if first is None else float(torch.log(first.median()))  # once, not per grid value
            for start in range(0, len(exponents), chunk):
                b = exponents[start : start + chunk]
                log_m = log_v @ b.T  # (N, K)
                for at, value in grid:
                    w0 = _offset(log_m, at, value, refs.setdefault(start, {})) + first_offset
                    feats, ok = _scan_feature(kind, signs, log_m + w0, first)
                    ok &= torch.isfinite(feats).all(0)
                    r = _project_out(q, torch.where(ok, feats, torch.zeros_like(feats)))
                    norm = (r * r).sum(0)
                    ok &= norm > 1e-12 * max(1.0, left)
                    gain = torch.where(ok, (r.T @ target) ** 2 / norm.clamp_min(1e-300) - base, torch.zeros_like(norm))
                    for c in gain.topk(min(shortlist, len(gain))).indices.tolist():
                        if float(gain[c]) <= 0:
                            continue
                        row = tuple(float(v) for v in b[c] * s) + (float(w0[c]),)
                        if grow is None:
                            candidate = [*terms, Term(kind, (row,), signs)]
                        else:
                            grown = Term("log_sum", terms[grow].monomials + (row,), signs)
                            candidate = [grown if k == grow else tm for k, tm in enumerate(terms)]
                        if max_layers is None or _layers_needed(candidate) <= max_layers:
                            scored.append((float(gain[c]), candidate))
        scored.sort(key=lambda gc: -gc[0])
        best_left, best_terms = left, None
        for _, candidate in scored[:shortlist]:
            refined = refine_terms(candidate, x, t, refine_iterations)
            after = _residual(refined, x, t)
            if after < best_left:
                best_left, best_terms = after, refined
        if best_terms is None or best_left > (1.0 - min_gain) * left:
            break
        terms, left = best_terms, best_left
    return terms


# ------------------------------------------------------------------------------------------ the network
def _layout(terms: Sequence[Term]) -> list[list[int]]:
    """Per term, the layers of its chain's units (exp units first, the last one the log unit's or the exp's).

    Each layer has one unit of each kind, so a chain's log unit shares its layer with the next chain's first exp
    unit: chains follow each other with one layer of overlap."""
    layers, at = [], 0
    for term in terms:
        length = {"monomial": 1, "exp_binomial": 3}.get(term.kind, len(term.monomials) + 1)
        layers.append(list(range(at, at + length)))
        at += length - 1 if term.kind != "monomial" else 1
    return layers


def _layers_needed(terms: Sequence[Term]) -> int:
    """How many layers the chains of ``terms`` take (`_layout`)."""
    return 1 + max(max(layers) for layers in _layout(terms)) if terms else 0


@torch.no_grad()
def motif_network(terms: Sequence[Term], n_inputs: int, x: torch.Tensor, t: torch.Tensor) -> LiesNetwork | None:
    """A one-model LIES network holding ``terms`` as unit chains and nothing else, its output weights the least-
    squares fit on ``x`` (N, n + 1), ``t`` (N,). None when the chains need more layers than the network has."""
    net = LiesNetwork(n_inputs, 1)
    a = net.arch
    layout = _layout(terms)
    if not terms or _layers_needed(terms) > a.n_layers:
        return None
    keep = torch.zeros_like(net.mask)
    flat = torch.zeros_like(net.flat)

    def edge(name: str, index: tuple, value: float) -> None:
        net.view(keep, name)[(0, *index)] = 1.0
        net.view(flat, name)[(0, *index)] = value

    def column(layer: int, unit: int) -> int:
        return a.input_width + N_UNITS * layer + unit

    readout = []
    for term, layers in zip(terms, layout):
        exps = layers[: len(term.monomials)]
        for layer, row in zip(exps, term.monomials):
            for k, w in enumerate(row):
                if w != 0.0:
                    edge(f"layer{layer}", (EXP, k), w)
            edge("gates", (layer, EXP), 1.0)
        if term.kind == "monomial":
            readout.append(column(exps[0], EXP))
        elif term.kind == "exp_binomial":  # m -> exp(-m) -> ln(1 - exp(-m)); the output reads m and the log
            edge(f"layer{layers[1]}", (EXP, column(layers[0], EXP)), -1.0)
            edge("gates", (layers[1], EXP), 1.0)
            edge(f"layer{layers[2]}", (LOG, a.n_inputs), 1.0)
            edge(f"layer{layers[2]}", (LOG, column(layers[1], EXP)), -1.0)
            edge("gates", (layers[2], LOG), 1.0)
            readout += [column(layers[0], EXP), column(layers[2], LOG)]
        else:
            edge(f"layer{layers[-1]}", (LOG, a.n_inputs), term.signs[0])
            for layer, sign in zip(exps, term.signs[1:]):
                edge(f"layer{layers[-1]}", (LOG, column(layer, EXP)), sign)
            edge("gates", (layers[-1], LOG), 1.0)
            readout.append(column(layers[-1], LOG))
    out = list(range(a.input_width)) + readout
    for c in out:
        net.view(keep, "output")[0, 0, c] = 1.0
    net.flat.copy_(flat)
    net.mask.copy_(keep)
    net.apply_masks()
    features = net.features(x[None])[0][0][:, out].double()  # (N, len(out)): a linear problem once the units are set
    sol = torch.linalg.lstsq(features, t.double()[:, None]).solution[:, 0]
    net.view(net.flat, "output")[0, 0, out] = sol.to(net.flat.dtype)
    return net
