"""EQL in the LIES pipeline: what each stage does under ``network.kind: eql``. The stages of `lies.stages` keep
their names (and the DVC DAG its shape):

    weak_admm        -> EQL's warm-up and penalised phase (`lies.eql.train_eql` with the L0.5 penalty)
    oversampling     -> passes EQL networks through (Algorithm 1 retrains with weak ADMM: LIES only)
    strong_admm      -> threshold |w| < eql.threshold to zero for good, then fine-tune on the data loss alone
    gradient_pruning -> passes EQL networks through (Theorem 2 and node gates are LIES only)
    node_pruning     -> keeps the best restart (`lies.pruning.select_restart`)
    extract ...      -> the same formula stages (`lies.extraction.extract_formula` reads either network)

Both training stages read the ``eql`` section (`lies.params.EqlParams`) instead of their own
(`lies.params.training_section`); EQL trains in raw space (``Transform(log=False)``: inputs max-normalised, any
sign), so ``weak_admm.log`` has no meaning for it.
"""

from __future__ import annotations

import time

import torch

from lies.artifacts import NetworkArtifact
from lies.eql import EqlConfig, EqlNetwork
from lies.errors import LiesError
from lies.params import EqlParams, NodePruningParams
from lies.pruning import exact_fit_floor, restart_errors, select_restart
from lies.tasks import TaskData

def penalised_config(params: EqlParams) -> EqlConfig:
    """weak_admm under EQL: warm-up, then the penalised phase."""
    return EqlConfig(epochs=params.epochs, warmup_epochs=params.warmup_epochs, lr=params.lr,
                     warmup_lr_factor=params.warmup_lr_factor, reg_weight=params.reg_weight,
                     smooth_a=params.smooth_a, batch_size=params.batch_size)


def finetune_config(params: EqlParams) -> EqlConfig:
    """strong_admm under EQL: threshold and freeze, then fine-tune on the data loss alone."""
    return EqlConfig(epochs=params.finetune_epochs, lr=params.lr * params.finetune_lr_factor, reg_weight=0.0,
                     smooth_a=params.smooth_a, threshold=params.threshold, batch_size=params.batch_size)


def new_eql_network(params: EqlParams, n_inputs: int, generator: torch.Generator, target: torch.Tensor) -> EqlNetwork:
    """``restarts`` fresh networks whose output scale is the largest |target| of the training data."""
    net = EqlNetwork(n_inputs, params.restarts, n_layers=params.n_layers, units=params.units, generator=generator)
    net.scale.fill_(float(target.abs().max().clamp_min(1e-12)))
    return net


def is_eql(net) -> bool:
    return getattr(net, "kind", "lies") == "eql"


def check_kind(stage: str, nets, eql_params: bool) -> None:
    """A training stage's params and its input networks must be of one kind (a LiesError naming the switch)."""
    kinds = {"eql" if is_eql(n) else "lies" for n in nets}
    wanted = "eql" if eql_params else "lies"
    if kinds - {wanted}:
        raise LiesError(f"{stage}: network.kind is {wanted!r} but the input networks are {kinds.pop()} networks; "
                        f"re-run from weak_admm after changing network.kind")


def choose_eql_restart(stage: str, art: NetworkArtifact, task: TaskData, params: NodePruningParams) -> NetworkArtifact:
    """EQL's pruning is its threshold (strong_admm); node pruning only keeps the restart `select_restart` prefers."""
    from lies.stages import _network_tensors, _training_summary

    start = time.perf_counter()
    x, t = _network_tensors(art.transform, task.train, "cpu")
    errors = restart_errors(art.net, x[None], t[None])
    sizes = [c["total"] for c in art.net.nonzero_counts()]
    best = select_restart(errors, sizes, params.tolerance, exact_fit_floor(t))
    kept = art.net.select([best])
    extra = {"note": "EQL (network.kind: eql): no node pruning (LIES only), the best restart is kept"}
    if art.net.n_models > 1:
        extra.update(restarts=art.net.n_models, chosen_restart=best, restarts_error=errors, restarts_nonzero=sizes)
    summary = _training_summary(stage, kept, [(x, t)], time.perf_counter() - start, [False], **extra)
    return NetworkArtifact(kept, art.transform, art.variables, art.target, art.history, summary,
                           [art.added[best]] if art.added is not None else None)
