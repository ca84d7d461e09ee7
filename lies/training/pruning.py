"""Gradient-based pruning (paper III-C(3), Theorem 2) and removal of dead units (node pruning, Fig. 4).

Setting a weight ``w`` to zero changes the network output on sample ``x`` by about ``|w * dO/dw (x)|`` (first-order
Taylor bound of Theorem 2, with the maximum over [0, w] approximated at ``w``). A weight is pruned when that score is
below ``threshold`` for every sample (``quantile=1.0``, the paper's rule), or for the chosen quantile of the samples
(a robust variant that ignores a few outlying samples). Node gates are weights like any other, so a node is pruned
the same way, through its gate.

Unlike the authors' code (spec B9) the gradients are fresh per-sample gradients of the network *output* (not the
summed loss gradient left over from training), and the threshold is absolute, in the units of the transformed
target: 0.01 in log space is a 1 % change of y.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch.func import grad, vmap

from lies.core.seeding import Purpose, row_subset
from lies.core.seeding import generator as seeded_generator
from lies.data.dataset import box_points
from lies.networks.activations import EXP, IDENTITY, LOG, N_UNITS, SIN
from lies.networks.base import add_constant_column
from lies.networks.lies import Architecture, LiesNetwork
from lies.params import NodePruningParams, SensitivityParams
from lies.training.losses import mask_loss
from lies.training.motifs import motif_network, scan_terms

_THEOREM_2 = SensitivityParams()  # the declared defaults (lies.params) of the functions below
_NODE = NodePruningParams()


def output_sensitivity(net: LiesNetwork, x: torch.Tensor, quantile: float = 1.0, chunk: int = 1024) -> torch.Tensor:
    """Score ``|w * dO/dw|`` per weight, reduced over the samples of ``x`` (M, N, n + 1) by max or a quantile.

    Returns a tensor shaped like ``net.flat`` (M, P). ``chunk`` samples share one vmap call: the per-sample
    gradients are the same at any chunk size, and fewer, larger calls spend less time outside the arithmetic.
    """
    flat = net.flat.detach()

    def output(f: torch.Tensor, xb: torch.Tensor) -> torch.Tensor:
        return net(xb[:, None, :], flat=f).y.sum()  # sum over models: each model's gradient stays its own

    per_sample = vmap(grad(output), in_dims=(None, 1))  # (chunk, M, P)
    parts = []
    for start in range(0, x.shape[1], chunk):
        g = per_sample(flat, x[:, start : start + chunk])
        score = (g * flat).abs()
        parts.append(score.amax(0) if quantile >= 1.0 else score)
    if quantile >= 1.0:
        return torch.stack(parts).amax(0)
    return torch.quantile(torch.cat(parts), quantile, dim=0)


def gradient_prune(
    net: LiesNetwork, x: torch.Tensor, threshold: float = _THEOREM_2.threshold, quantile: float = _THEOREM_2.quantile,
    max_samples: int = _THEOREM_2.max_samples, generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Prune, in place, every weight whose output sensitivity is below ``threshold``; then remove dead units.

    At most ``max_samples`` rows (a seeded random subset) are scored; the max over 4k uniform samples is a close
    estimate of the max over the whole set. Returns the bool mask of weights that were pruned by this call.
    """
    idx = row_subset(x.shape[1], max_samples, generator)
    if idx is not None:
        x = x[:, idx.to(x.device)]
    before = net.mask.clone()
    with torch.no_grad():
        score = output_sensitivity(net, x, quantile=quantile)
        net.prune(score >= threshold)
        remove_dead_units(net)
    return (before > 0) & (net.mask == 0)


@torch.no_grad()
def remove_dead_units(net: LiesNetwork) -> None:
    """Mask the edges of units that cannot influence the output, until nothing changes.

    A unit is dead when its gate is zero, when no later layer or the output reads it, or when its input is empty
    and its activation of 0 is 0 (identity, sine). Log and exp units with an empty input still emit a constant
    (ln x_l and 1), so they stay; extraction folds them into constants.
    """
    arch = net.arch
    nonzero = (net.flat * net.mask) != 0
    while True:
        keep = net.mask.clone()
        gates = net.view(nonzero, "gates")  # (M, L, 4)
        for i in range(arch.n_layers):
            col = arch.input_width + N_UNITS * i
            readers = [net.view(nonzero, f"layer{j}")[:, :, col : col + N_UNITS] for j in range(i + 1, arch.n_layers)]
            readers.append(net.view(nonzero, "output")[:, :, col : col + N_UNITS])
            read = torch.stack([r.any(1) for r in readers]).any(0)  # (M, 4)
            has_input = net.view(nonzero, f"layer{i}").any(2)  # (M, 4)
            silent_when_empty = torch.zeros(N_UNITS, dtype=torch.bool, device=has_input.device)
            silent_when_empty[[IDENTITY, SIN]] = True
            alive = gates[:, i] & read & (has_input | ~silent_when_empty)  # (M, 4)
            dead = ~alive
            net.view(keep, f"layer{i}")[dead] = 0  # incoming edges
            net.view(keep, "gates")[:, i][dead] = 0
            for j in range(i + 1, arch.n_layers):  # outgoing edges
                net.view(keep, f"layer{j}")[:, :, col : col + N_UNITS] *= alive[:, None, :]
            net.view(keep, "output")[:, :, col : col + N_UNITS] *= alive[:, None, :]
        if torch.equal(keep, net.mask):
            break
        net.prune(keep > 0)
        nonzero = (net.flat * net.mask) != 0




@torch.no_grad()
def _refit_linear(net: LiesNetwork, x: torch.Tensor, t: torch.Tensor) -> None:
    """Least-squares fit of every direct edge input -> output of a network without hidden units (one model).

    All direct edges take part, also those pruned earlier: while hidden units carried part of the function, a
    direct edge could look negligible; the hypothesis tested here is "a product of powers", which needs them all.
    """
    width = net.arch.input_width
    sol = torch.linalg.lstsq(x[0].double(), t[0].double()[:, None]).solution[:, 0]
    net.view(net.mask, "output")[0, 0, :width] = 1.0
    net.view(net.flat, "output")[0, 0, :width] = sol.to(x.dtype)
    net.apply_masks()


def _fit_error(net: LiesNetwork, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Mean absolute residual per model in the transformed space (the scale the exp loss works on)."""
    with torch.no_grad():
        return (net(x).y - t).abs().mean(dim=1)


def refit_weights(net: LiesNetwork, x: torch.Tensor, t: torch.Tensor, iterations: int = 100,
                  mask_weight: float = 1.0) -> None:
    """Refit, in place, the unpruned weights by full-batch L-BFGS on the mean squared error plus the mask loss.

    Node pruning asks whether the remaining units can do the job of a removed one, and the answer is only as good as
    the refit: a few RMSprop epochs move a weight by about lr per step, too little to turn ``exp(1.0 z)`` into the
    ``exp(2.2 z)`` a square needs. A quasi-Newton method converges on the few weights left in a sparse network. The
    mask loss (eq. 13) keeps log and exp inputs inside their cut-offs; a model whose refit turns non-finite keeps
    its weights.
    """

    if iterations <= 0:
        return
    start = net.flat.detach().clone()
    flat = start.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([flat], lr=1.0, max_iter=iterations, history_size=20,
                                  line_search_fn="strong_wolfe", tolerance_grad=1e-10, tolerance_change=1e-14)

    def closure() -> torch.Tensor:
        # the gradient is assigned, not accumulated: no zero_grad and no backward() (each goes through a
        # torch.compile guard that costs as much as a few kernels), the same values bit for bit
        out = net(x, flat)
        total = (((out.y - t) ** 2).mean(dim=1) + mask_weight * mask_loss(out.violation)).sum()
        (flat.grad,) = torch.autograd.grad(total, flat)
        return total

    optimizer.step(closure)
    with torch.no_grad():
        candidate = flat.detach() * net.mask
        finite = torch.isfinite(candidate).all(dim=1) & torch.isfinite(net(x, candidate).y).all(dim=1)
        net.flat.copy_(torch.where(finite[:, None], candidate, start))
        net.apply_masks()


def prune_nodes_with_refit(
    net: LiesNetwork,
    x: torch.Tensor,
    t: torch.Tensor,
    iterations: int = _NODE.refit_iterations,
    tolerance: float = _NODE.tolerance,
    slack: float = _NODE.slack,
    max_samples: int = _NODE.refit_samples,
    generator: torch.Generator | None = None,
    linear_hypothesis: bool = _NODE.linear_hypothesis,
) -> list[dict]:
    """Node pruning (III-C(2)) as backward elimination with refit; one model (``net.n_models == 1``).

    A hidden unit is removed (its gate and edges masked) when, after a refit of the remaining weights
    (`refit_weights`, ``iterations`` of L-BFGS on at most ``max_samples`` seeded rows), the mean absolute residual
    in log space grows by less than ``tolerance`` times its value before plus ``slack``; "before" is the network
    as it stands, refitted the same way, so that both sides are equally converged. First, when
    ``linear_hypothesis``, the "no hidden unit" hypothesis: all hidden units are tried at once and the network that
    is left, log-linear (a product of powers in raw units), is fitted exactly by least squares over every direct
    edge (`_refit_linear`). Then the remaining units one at a time, least important first (gate score of
    Theorem 2). A unit can stand in for another (sin z ~ z, log(c + e x) ~ log c + e x / c), so the
    magnitude of its weights says little; the refit shows whether the rest of the network can do its job. Returns
    one record per trial. Refits are spent only where they can change the outcome: a first trial that fits within
    ``slack`` on its own is accepted without refitting the baseline (its ``error_before`` is then None).
    """
    if net.n_models != 1:
        raise ValueError("prune_nodes_with_refit works on one model at a time")
    idx = row_subset(x.shape[1], max_samples, generator)
    if idx is not None:
        x, t = x[:, idx.to(x.device)], t[:, idx.to(x.device)]
    records: list[dict] = []

    def active_units_of(model: LiesNetwork) -> list[tuple[int, int]]:
        gates = model.view(model.flat * model.mask, "gates")[0]
        return [(i, u) for i in range(model.arch.n_layers) for u in range(N_UNITS) if gates[i, u] != 0]

    def active_units() -> list[tuple[int, int]]:
        return active_units_of(net)

    def without(units) -> LiesNetwork:
        trial = net.select([0])
        keep = torch.ones_like(trial.mask, dtype=torch.bool)
        for i, u in units:
            trial.view(keep, "gates")[0, i, u] = False
        trial.prune(keep)
        remove_dead_units(trial)
        return trial

    def refit_current() -> float:
        """Refit the network as it stands, so that a candidate is compared with an equally refitted baseline."""
        refit_weights(net, x, t, iterations)
        return float(_fit_error(net, x, t)[0])

    def attempt(units) -> bool:
        trial = without(units)
        if not active_units_of(trial):
            _refit_linear(trial, x, t)  # no hidden unit left: the network is linear, refit it exactly
        else:
            refit_weights(trial, x, t, iterations)
        after = float(_fit_error(trial, x, t)[0])
        if not baseline and (after > slack or not torch.isfinite(_fit_error(net, x, t)).all()):
            # The first trial (every unit at once, a linear fit that does not depend on the network's weights)
            # needs the refitted baseline only when it is not within `slack` already: below it, it is accepted
            # whatever the (finite) baseline, and the baseline's refit could not change the outcome.
            baseline.append(refit_current())
        before = baseline[0] if baseline else None
        accepted = before is None or after <= before * (1.0 + tolerance) + slack
        records.append({"units": [f"{'LIES'[u]}{i}" for i, u in units], "error_before": before, "error_after": after,
                        "accepted": accepted})
        if accepted:
            with torch.no_grad():
                net.flat.copy_(trial.flat)
                net.mask.copy_(trial.mask)
            baseline[:] = [min(before, after) if before is not None else after]
        return accepted

    units = active_units()
    baseline: list[float] = []  # the error to beat, once known (see `attempt`)
    if units and not (linear_hypothesis and attempt(units)):
        with torch.no_grad():
            score = net.view(output_sensitivity(net, x), "gates")[0]
        for unit in sorted(units, key=lambda iu: float(score[iu])):
            if unit in active_units():
                attempt([unit])
    return records


#: Mean absolute log-space residuals below this many times the target's RMS count as equal when restarts are
#: compared: float32's floor for an exact fit (about 1e-7 of the target's size; a close substitute is 1e-6 to 1e-4
#: of it, and must not pass for exact). On noisy data the best error is the noise level, far above it, and the
#: relative bound (``tolerance`` x the best) decides: it scales with the noise.
EXACT_FIT = 1e-6


def exact_fit_floor(t: torch.Tensor) -> float:
    """`EXACT_FIT` in the units of the target ``t``: the error below which a fit counts as exact."""
    return EXACT_FIT * float(t.double().pow(2).mean().sqrt())


@torch.no_grad()
def defined_over_box(net: LiesNetwork, x: torch.Tensor) -> list[bool]:
    """Per model of ``net``: is every live log unit's input above the cut-off ``x_l`` over the whole box of the
    training inputs ``x`` (N, n + 1), not only on the training rows?

    The extracted formula has a plain ``log`` where the network has a bounded one. A log unit whose input comes
    close to 0 inside the data (``(c - a log v)^p``: small weights, high gain) fits the training rows and is
    undefined on points of the same ranges that the rows missed; test rows are drawn from those ranges."""
    inputs = x.detach().cpu()[:, :-1].double().numpy()  # (N, n): the constant column is added back below
    points = add_constant_column(torch.from_numpy(box_points(inputs)))  # (P, n + 1)
    points = points.to(net.flat.device, net.flat.dtype).expand(net.n_models, -1, -1)  # (M, P, n + 1)
    u = net.features(points)[0]  # (M, P, d_out): [x, g_0, ..., g_n] at the box points
    live_log = net.weight("gates")[:, :, LOG] != 0  # (M, n_layers)
    low = torch.zeros(net.n_models, dtype=torch.bool, device=u.device)
    for i in range(net.arch.n_layers):
        z = torch.bmm(u[:, :, : net.arch.layer_width(i)], net.weight(f"layer{i}").transpose(1, 2))  # (M, P, 4)
        low |= live_log[:, i] & (z[:, :, LOG] < net.x_l).any(dim=1)
    return [not bool(v) for v in low.cpu()]


def restart_errors(net: LiesNetwork, x: torch.Tensor, t: torch.Tensor) -> list[float]:
    """Mean absolute log-space residual of every model of ``net`` on one dataset ``x`` (1, N, n + 1), ``t`` (1, N)."""
    m = net.n_models
    errors = _fit_error(net, x.expand(m, -1, -1), t.expand(m, -1))
    return [float(e) if torch.isfinite(e) else float("inf") for e in errors.cpu()]


def choose_restart(net: LiesNetwork, x: torch.Tensor, t: torch.Tensor, tolerance: float = _NODE.tolerance,
                   require_defined: bool = _NODE.require_defined) -> int:
    """The restart to keep: the sparsest among those that fit about as well as the best one (`select_restart` on
    every model's `restart_errors`, non-zero weights and, with ``require_defined``, `defined_over_box`). Only
    training data is used."""
    defined = defined_over_box(net, x[0]) if require_defined else None
    return select_restart(restart_errors(net, x, t), [c["total"] for c in net.nonzero_counts()], tolerance,
                          exact_fit_floor(t), defined)


def select_restart(errors: Sequence[float], sizes: Sequence[int], tolerance: float = _NODE.tolerance,
                   floor: float = 0.0, defined: Sequence[bool] | None = None, free: Sequence[int] | None = None) -> int:
    """Index of the restart to keep, from each restart's log-space error and number of non-zero weights.

    Restarts are networks of one task trained from different initialisations; which formula a network finds
    depends on where it starts (a Gaussian in log space is one exp unit, but a log unit of the log input comes
    close and is found as often). The rule is node pruning's: a restart qualifies when its mean absolute
    log-space residual is within ``tolerance`` times the best one (or below ``floor``, an exact fit's error:
    `exact_fit_floor`); among those the fewest ``free`` weights wins (per restart, `free_exponents`; None: not
    counted), then the fewest non-zero weights, then the smaller error, then the lower index. With ``defined``
    (per restart, `defined_over_box`) only the defined restarts compete, when there is one: a formula that fits
    the rows and not the ranges they come from is no answer.
    """
    pool = [m for m in range(len(errors)) if defined is None or defined[m]] or list(range(len(errors)))
    bound = max(min(errors[m] for m in pool) * (1.0 + tolerance), floor)
    qualified = [m for m in pool if errors[m] <= bound]
    return min(qualified, key=lambda m: (0 if free is None else free[m], sizes[m], errors[m], m))


@torch.no_grad()
def free_exponents(net: LiesNetwork, scales: Sequence[float],
                   tolerance: float = _NODE.exponent_tolerance) -> list[int]:
    """Per model of a log-space ``net``: its weights from a variable into a live hidden unit that are not a simple
    exponent, one of an exp unit within ``tolerance`` of an integer power (raw units: ``w / s_k`` on the input
    ``ln v_k / s_k``, ``scales`` the ``s_k``).

    On noisy data a sum is imitated within the noise by a term of free exponents (``exp(2 v^1.44 / c^1.52)`` for
    ``-ln(1 - v/c)``) or by a unit of the log inputs (``log(c - a log v)``, a sine of logs), and the fit alone
    cannot choose. The sums of physics are of monomials with integer powers, reached through exp units, so among
    candidates that fit alike the one with fewer such weights is preferred (`select_restart`). A product of
    powers has none (no hidden unit), so the rule never turns one away."""
    n = net.arch.n_inputs
    s = torch.tensor(list(scales), dtype=torch.float64)
    exp_unit = (torch.arange(N_UNITS) == EXP)[:, None]  # (4, 1): only an exp unit's input weight is an exponent
    live = (net.weight("gates") != 0).cpu()  # (M, n_layers, 4)
    count = torch.zeros(net.n_models, dtype=torch.long)
    for i in range(net.arch.n_layers):
        b = net.weight(f"layer{i}")[:, :, :n].detach().cpu().double() / s  # (M, 4, n): raw powers of the variables
        simple = exp_unit & ((b - b.round()).abs() <= tolerance)
        count += ((b != 0) & live[:, i, :, None] & ~simple).flatten(1).sum(1)
    return count.tolist()


# ------------------------------------------------------------------------------------------------ the policy
def gradient_prune_restarts(net: LiesNetwork, x: torch.Tensor, params: SensitivityParams, seed: int) -> LiesNetwork:
    """Theorem 2 on every restart of one task (``x``: (N, n + 1)), each with its own rows; all restarts go on."""
    pruned = []
    for r in range(net.n_models):
        model = net.select([r]).to(x.device)
        gradient_prune(model, x[None], params.threshold, params.quantile, params.max_samples,
                       generator=seeded_generator(seed, Purpose.PRUNING, r))
        pruned.append(model.cpu())
    return LiesNetwork.stack(pruned)


@dataclass(frozen=True)
class PrunedRestarts:
    """What node pruning made of one task's restarts: every candidate pruned, and the one to keep."""

    candidates: LiesNetwork  # one model per trained restart, then the motif candidate when there is one
    trials: list[list[dict]]  # per candidate, `prune_nodes_with_refit`'s records
    errors: list[float]  # per candidate, the mean absolute residual in the network's space
    sizes: list[int]  # per candidate, its non-zero weights
    floor: float  # `exact_fit_floor` of the target: errors below it count as exact
    defined: list[bool] | None  # per candidate, `defined_over_box` (None: not asked, require_defined false)
    free: list[int] | None  # per candidate, `free_exponents` (None: not in log space)
    chosen: int  # `select_restart`'s choice
    mechanisms: list[str]  # per candidate, what produced it (`MECHANISMS`' meanings; an open set of names)

    @property
    def kept(self) -> LiesNetwork:
        return self.candidates.select([self.chosen])

    @property
    def mechanism(self) -> str:
        """The mechanism of the kept candidate."""
        return self.mechanisms[self.chosen]


#: What produced a candidate of node pruning (the ``mechanism`` of a results row). An open set: other mechanisms add
#: their own names, and nothing may assume this list is complete.
MECHANISMS = {
    "restart": "a trained restart, pruned (also: node pruning skipped, or not LIES: the trained network as it is)",
    "loglinear": "a trained restart whose linear hypothesis was accepted: every hidden unit removed at once, the "
                 "rest fitted by least squares (a product of powers)",
    "scan": "the exp-log motif candidate (`lies.training.motifs.scan_terms`), not a trained restart",
    "decomposition": "the parts of a separable split solved as sub-tasks and recombined (the decomposition stage, "
                     "`lies.symbolic.separability`); it replaces node pruning's mechanism when its formula is kept",
    "search": "a sparse sum of library terms chosen by description length (the structure_search stage, "
              "`lies.symbolic.search`); it replaces node pruning's mechanism when its formula is kept",
}


def restart_mechanism(trials: Sequence[dict], linear_hypothesis: bool) -> str:
    """"loglinear" when the first of a trained restart's `prune_nodes_with_refit` records is its linear hypothesis
    (``linear_hypothesis``: then the first trial removes every hidden unit at once) and it was accepted; "restart"
    otherwise (also when training left no hidden unit: then no trial ran and training made the product of powers)."""
    return "loglinear" if linear_hypothesis and trials and trials[0]["accepted"] else "restart"


def prune_restarts(net: LiesNetwork, x: torch.Tensor, t: torch.Tensor, params: NodePruningParams, seed: int,
                   theorem_2: bool = True, scales: Sequence[float] | None = None) -> PrunedRestarts:
    """Node pruning of one task: every restart of ``net`` pruned by `prune_nodes_with_refit` (and Theorem 2 again
    when ``theorem_2``: not when gradient pruning was skipped), plus, when ``scales`` are given (log space: the
    transform's input scales) and ``params.motif_terms``, one more candidate built from exp-log motifs
    (`lies.training.motifs`); then the candidate `select_restart` prefers. ``x``: (N, n + 1), ``t``: (N,), on one device.
    """
    pruned, trials, mechanisms = [], [], []
    for r in range(net.n_models):
        model = net.select([r]).to(x.device)
        generator = seeded_generator(seed, Purpose.PRUNING, r)
        # the stream of Theorem 2's first pass goes on (the seeds of one stage doing both, before they were split)
        row_subset(x.shape[0], params.max_samples, generator)
        trials.append(prune_nodes_with_refit(model, x[None], t[None], params.refit_iterations, params.tolerance,
                                             params.slack, params.refit_samples, generator=generator,
                                             linear_hypothesis=params.linear_hypothesis))
        mechanisms.append(restart_mechanism(trials[-1], params.linear_hypothesis))
        if theorem_2:
            gradient_prune(model, x[None], params.threshold, params.quantile, params.max_samples, generator=generator)
        pruned.append(model.cpu())
    if params.motif_terms and scales is not None:
        motif = _motif_candidate(x, t, net.arch.n_inputs, scales, params, seed, theorem_2)
        if motif is not None:
            pruned.append(motif[0])
            trials.append(motif[1])
            mechanisms.append("scan")
    candidates = LiesNetwork.stack(pruned)
    errors = restart_errors(candidates, x.cpu()[None], t.cpu()[None])
    sizes = [c["total"] for c in candidates.nonzero_counts()]
    floor = exact_fit_floor(t)
    defined = defined_over_box(candidates, x) if params.require_defined else None
    free = free_exponents(candidates, scales, params.exponent_tolerance) if scales is not None else None
    chosen = select_restart(errors, sizes, params.tolerance, floor, defined, free)
    return PrunedRestarts(candidates, trials, errors, sizes, floor, defined, free, chosen, mechanisms)


def _motif_candidate(x: torch.Tensor, t: torch.Tensor, n_inputs: int, scales: Sequence[float],
                     params: NodePruningParams, seed: int, theorem_2: bool):
    """The exp-log motifs `lies.training.motifs.scan_terms` finds, as a LIES network pruned like a restart: (network, trials),
    or None when no motif helps or the chains need more layers than the network has."""

    generator = seeded_generator(seed, Purpose.MOTIFS)
    idx = row_subset(x.shape[0], params.refit_samples, generator)
    xs, ts = (x, t) if idx is None else (x[idx.to(x.device)], t[idx.to(x.device)])
    xs, ts = xs.cpu(), ts.cpu()
    terms = scan_terms(xs, ts, scales, max_terms=params.motif_terms, min_gain=params.motif_min_gain,
                       max_layers=Architecture.for_inputs(n_inputs).n_layers)
    net = motif_network(terms, n_inputs, xs, ts) if terms else None
    if net is None:
        return None
    net = net.to(x.device)
    if theorem_2:  # as gradient pruning does for the restarts
        gradient_prune(net, x[None], params.threshold, params.quantile, params.max_samples, generator=generator)
    trials = prune_nodes_with_refit(net, x[None], t[None], params.refit_iterations, params.tolerance, params.slack,
                                    params.refit_samples, generator=generator,
                                    linear_hypothesis=params.linear_hypothesis)
    if theorem_2:
        gradient_prune(net, x[None], params.threshold, params.quantile, params.max_samples, generator=generator)
    return net.cpu(), trials
