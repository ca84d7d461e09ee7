"""EQL in the LIES pipeline: the ``network.kind`` switch, EQL's params section, and what each training stage does
with it. The stages of `lies.stages` keep their names (and the DVC DAG its shape); with ``network.kind: eql``

    weak_admm        -> EQL's warm-up and penalised phase (`lies.eql.train_eql` with the L0.5 penalty)
    oversampling     -> passes EQL networks through (Algorithm 1 retrains with weak ADMM: LIES only)
    strong_admm      -> threshold |w| < eql.threshold to zero for good, then fine-tune on the data loss alone
    gradient_pruning -> keeps the best restart (`lies.pruning.select_restart`); Theorem 2 and node pruning are
                        LIES only (node gates, log-space sensitivities)
    extract ...      -> the same formula stages (`lies.extraction.extract_formula` reads either network)

Both training stages read the ``eql`` section instead of their own (`training_section`); EQL trains in raw space
(``Transform(log=False)``: inputs max-normalised, any sign), so ``weak_admm.log`` has no meaning for it.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from lies.eql import DEFAULT_UNITS, EqlConfig, EqlNetwork
from lies.errors import LiesError
from lies.stages import StageParams

#: The switch's values.
KINDS = ("lies", "eql")
#: The stages that train with ``eql`` params when ``network.kind`` is ``eql``.
EQL_TRAINING_STAGES = ("weak_admm", "strong_admm")

Unit = Literal["identity", "square", "sin", "exp", "sigmoid", "product"]


class NetworkParams(StageParams):
    """Which network the training stages train: ``lies`` (the paper) or ``eql`` (Kim et al.'s Equation Learner)."""

    kind: Literal["lies", "eql"] = "lies"


class EqlParams(StageParams):
    """EQL's architecture and schedule (Kim et al., Sec. II; the authors' benchmark: 2 layers, lr 1e-2, L0.5 weight
    5e-3, a = 0.05, threshold 0.01). weak_admm trains warm-up + penalised epochs, strong_admm fine-tunes."""

    n_layers: int = Field(2, ge=1)  # hidden layers
    units: list[Unit] = list(DEFAULT_UNITS)  # units of each hidden layer (repeat a name for several)
    restarts: int = Field(4, ge=1)  # networks per task, each from its own initialisation; pruning keeps the best
    lr: float = Field(1e-2, gt=0)  # RMSprop learning rate of the penalised phase
    warmup_epochs: int = Field(5, ge=0)  # passes over the data before it, at lr * warmup_lr_factor
    warmup_lr_factor: float = Field(3.0, gt=0)  # the authors use 10 on full batches; on mini-batches it diverged
    epochs: int = Field(100, ge=0)  # passes of the penalised phase
    reg_weight: float = Field(5e-3, ge=0)  # weight of the smoothed L0.5 penalty
    smooth_a: float = Field(0.05, gt=0)  # below |w| < a the penalty is a polynomial (zero gradient at 0)
    threshold: float = Field(0.01, ge=0)  # strong_admm: weights with |w| < threshold are zeroed and frozen
    finetune_epochs: int = Field(50, ge=0)  # passes of the fine-tuning on the data loss alone
    finetune_lr_factor: float = Field(0.1, gt=0)  # its learning rate: lr * finetune_lr_factor
    batch_size: int = Field(256, ge=1)

    @property
    def log(self) -> bool:
        """EQL fits in raw space (what `lies.stages.WeakAdmm` reads to fit the transform)."""
        return False

    def config(self, n_inputs: int) -> EqlConfig:
        """The penalised phase (weak_admm)."""
        return EqlConfig(epochs=self.epochs, warmup_epochs=self.warmup_epochs, lr=self.lr,
                         warmup_lr_factor=self.warmup_lr_factor, reg_weight=self.reg_weight,
                         smooth_a=self.smooth_a, batch_size=self.batch_size)

    def finetune_config(self, n_inputs: int) -> EqlConfig:
        """Threshold and fine-tune (strong_admm)."""
        return EqlConfig(epochs=self.finetune_epochs, lr=self.lr * self.finetune_lr_factor, reg_weight=0.0,
                         threshold=self.threshold, batch_size=self.batch_size)

    def network(self, n_inputs: int, generator: torch.Generator, target: torch.Tensor) -> EqlNetwork:
        """``restarts`` fresh networks whose output scale is the largest |target| of the training data."""
        net = EqlNetwork(n_inputs, self.restarts, n_layers=self.n_layers, units=self.units, generator=generator)
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


def training_section(stage: str, kind: str) -> str | None:
    """The params section a stage reads instead of its own under ``network.kind = kind`` (None: its own)."""
    return "eql" if kind == "eql" and stage in EQL_TRAINING_STAGES else None
