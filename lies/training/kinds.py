"""The network kinds the training stages can train, registered in one place: params.yaml's ``network.kind``.

A kind is its network class (`lies.networks`: forward pass, masks, read-back, files), how a task's fresh
networks are built for ``weak_admm``, and how the two training stages train it. The paper's LIES network trains
with ADMM (`lies.training.admm`) and is then sparsified by Algorithm 1, Theorem 2 and node pruning; EQL (Kim et
al.) trains with its own schedule (`lies.networks.eql.train_eql`: warm-up and the L0.5 penalty in ``weak_admm``,
threshold-and-freeze and fine-tuning in ``strong_admm``) and the stages that sparsify a LIES network pass it
through (`lies.networks.base.Network.admm_sparsified`). Under ``network.kind: eql`` both training stages read the
``eql`` section (`lies.params.training_section`).

Adding a kind: its network file in `lies.networks`, one entry in `KINDS`, its value in `lies.params.NetworkParams`
(and its params section, if it has one), and a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from lies.core.errors import LiesError
from lies.networks.base import Network
from lies.networks.eql import EqlNetwork, train_eql
from lies.networks.lies import LiesNetwork
from lies.params import EqlParams, StageParams, WeakAdmmParams
from lies.training.admm import train_admm

#: fit(net, x (M, N, n + 1), t (M, N), params, stage name, generators=) trains in place and returns a result with
#: ``history`` (per model, a list of records) and ``diverged`` (per model).
Fit = Callable[..., Any]


@dataclass(frozen=True)
class NetworkKind:
    name: str
    network: type[Network]
    #: fresh networks of one task, ``restarts`` of them: build(params, n_inputs, generator, target (N,))
    build: Callable[[Any, int, torch.Generator, torch.Tensor], Network]
    fit: Fit
    #: the params model its training stages read instead of their own (None: their own)
    params: type[StageParams] | None = None


def _build_lies(params: WeakAdmmParams, n_inputs: int, generator: torch.Generator, target: torch.Tensor) -> LiesNetwork:
    return LiesNetwork(n_inputs, params.restarts, generator=generator, gate_init=params.gate_init)


def _fit_lies(net, x, t, params, stage: str, *, generators: Sequence[torch.Generator]):
    return train_admm(net, x, t, params, generators=generators)


def _fit_eql(net, x, t, params: EqlParams, stage: str, *, generators: Sequence[torch.Generator]):
    return train_eql(net, x, t, params, "penalised" if stage == "weak_admm" else "finetune", generators=generators)


KINDS: dict[str, NetworkKind] = {
    kind.name: kind
    for kind in (
        NetworkKind("lies", LiesNetwork, _build_lies, _fit_lies),
        NetworkKind("eql", EqlNetwork, EqlNetwork.for_task, _fit_eql, params=EqlParams),
    )
}


def kind_of(net: Network) -> NetworkKind:
    return KINDS[net.kind]


def kind_for(params: StageParams) -> NetworkKind:
    """The kind a training stage trains, told by the params it was handed (``eql``'s section, or its own)."""
    return next((k for k in KINDS.values() if k.params is not None and isinstance(params, k.params)), KINDS["lies"])


def network_from(info: dict, tensors: dict[str, torch.Tensor]) -> Network:
    """A network rebuilt from ``network.json`` (`Network.describe`) and its weights; runs before the switch to
    several kinds wrote no ``kind``: a LIES network."""
    return KINDS[info.get("kind", "lies")].network.from_description(info, tensors)


def check_kind(stage: str, nets: Sequence[Network], kind: NetworkKind) -> None:
    """A training stage's params and its input networks must be of one kind (a LiesError naming the switch)."""
    kinds = {n.kind for n in nets}
    if kinds - {kind.name}:
        raise LiesError(f"{stage}: network.kind is {kind.name!r} but the input networks are {kinds.pop()} networks; "
                        f"re-run from weak_admm after changing network.kind")
