"""Every parameter of the pipeline, declared once: its type, its default, its bounds and its one-line meaning.

One pydantic model per section of ``params.yaml``, in file order (`SECTIONS`). The models are the declaration:
``params.yaml`` is built from their defaults (`default_params`; ``tests/test_contract.py`` keeps the file equal to
them), the stages validate their section with them, and the math functions take them as their config
(`lies.training.admm.train_admm` an `AdmmParams`, `lies.training.oversampling.oversample` an `OversamplingParams`), so no default is
written twice. A stage's name is the same string everywhere: here, in ``dvc.yaml``, ``stages/<name>.py``,
``data/<name>/`` and ``ablation.skip``.

Every model is frozen, forbids unknown keys and suggests the closest known one on a typo; `parse_params` turns a
mistake into one line naming the section and the key.

This module sits just above `lies.core`: every layer may read the declarations, and they import no other part
of the library (the task set is turned into tasks by `lies.data.tasks.task_specs`).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Mapping, Sequence

import pydantic
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lies.core.errors import LiesError, did_you_mean


class StageParams(BaseModel):
    """Base of every params model: frozen, no unknown keys, a "did you mean" hint on a typo, and no inf or NaN in
    any number (an infinite noise or learning rate would pass every bound and fail stages later, mid-run)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    renamed: ClassVar[dict[str, str]] = {}  # old key -> its new name: the hint names the new key, not a close one

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = list(cls.model_fields)
            for key in data:
                if key in cls.renamed:
                    raise ValueError(f"unknown key {key!r}; it was renamed {cls.renamed[key]!r}")
                if key not in known:
                    hint = did_you_mean(key, known) or f"; known keys: {', '.join(known)}"
                    raise ValueError(f"unknown key {key!r}{hint}")
        return data


def parse_params(model: type[StageParams], data: Any, section: str) -> StageParams:
    """Validate one params.yaml section; a mistake becomes one LiesError line naming the section and the key."""
    try:
        return model.model_validate(data if data is not None else {})
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in (section, *err["loc"]) if p != "__root__")
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "finite_number":
            message += f", got {err['input']!r}"
        raise LiesError(f"params: {where}: {message}") from None


# ------------------------------------------------------------------------------------------------ tasks
class TasksParams(StageParams):
    """Which tasks the pipeline runs: a named set or a list of Feynman ids, or one CSV; trials with own seeds."""

    set: str | list[str] = Field("default", description="a named set (lies.data.tasks.TASK_SETS) or Feynman ids")
    trials: int = Field(1, ge=1, description="trials per formula, each with its own seed and samples")
    seed: int = Field(0, ge=0, description="base seed of every task (lies.core.seeding.task_seed)")  # numpy: no seed < 0
    n_train: int = Field(10_000, ge=10, description="training rows per task (a CSV: the split's training share)")
    n_test: int | None = Field(None, ge=1, description="held-out rows per task (null: 2000 for a formula, 20 % of "
        "a CSV's rows)")
    csv: str | None = Field(None, description="a CSV file with a header row instead of Feynman formulas")
    target: str | None = Field(None, description="the CSV's target column")
    variables: list[str] | None = Field(None, description="the CSV's input columns (null: every other column)")
    noise: float = Field(0.0, ge=0, description="SRBench's target noise on the training rows: N(0, (noise * "
        "RMS(y))^2)")

    @model_validator(mode="after")
    def _csv_fields_need_a_csv(self) -> "TasksParams":
        """target and variables name columns of tasks.csv, and a CSV replaces the task set: whichever does not
        apply would be silently ignored."""
        if self.csv is None:
            given = [name for name in ("target", "variables") if getattr(self, name) is not None]
            if given:
                raise ValueError(f"{' and '.join(given)} name(s) columns of a CSV, but tasks.csv is not set: give a "
                                 "CSV (lies run data.csv --target y) or leave them out")
        elif self.set != "default":
            raise ValueError(f"set {self.set!r} is not used with a CSV (tasks.csv), which is the one task source; "
                             "leave tasks.set at default or drop the CSV")
        return self

# ------------------------------------------------------------------------------------------------ training
class AdmmParams(StageParams):
    """One ADMM phase (paper III-C(1)-(2), eq. 4-14): what `lies.training.admm.train_admm` takes. The defaults are weak
    ADMM's (paper IV-A); `StrongAdmmParams` sets the strong phase's."""

    epochs: int = Field(20, ge=0, description="passes over the training rows")
    rho: float = Field(0.5, ge=0, description="ADMM penalty parameter of eq. (5)-(11); 0 switches the ADMM pull off")
    lam: float | None = Field(5e-4, ge=0, description="lambda of eq. (3)-(8), Z's soft threshold is lam / rho; null: "
        "the paper's strong-phase 5 * 10^-(n-1) for n input variables")
    alpha: float = Field(0.01, ge=0, description="l1 weight of eq. (12) (the authors' code: 0.05 weak, 0.01 strong)")
    l1_mode: Literal["proximal", "subgradient"] = Field("proximal", description="eq. (12) as a proximal step or a "
        "subgradient")
    lr: float = Field(1.5e-2, gt=0, description="RMSprop learning rate (paper IV-A)")
    lr_decay: float = Field(0.9, gt=0, le=1, description="the learning rate is multiplied by this after every epoch")
    batch_size: int = Field(256, ge=1, description="rows per optimiser step")
    admm_every: int = Field(0, ge=0, description="Z/U update every this many steps; 0: once per epoch (the authors' "
        "code)")
    gate_mode: Literal["l1", "cardinality"] = Field("l1", description="node gates: soft threshold, or keep the "
        "gate_budget largest")
    gate_budget: int | None = Field(None, ge=0, description="active nodes per network for cardinality; null: "
        "n_inputs + 1")
    mask_weight: float = Field(1.0, ge=0, description="weight of the mask loss, eq. (13)")
    max_restarts: int = Field(3, ge=0, description="non-finite losses tolerated per model before it is frozen as "
        "diverged")


class WeakAdmmParams(AdmmParams):
    """Weak ADMM (paper IV-A: rho 0.5, lambda 5e-4, 20 epochs), the restarts, and the data transform (III-G)."""

    epochs: int = Field(20, ge=1, description="passes over the training rows (at least one: the first training makes "
        "the network)")
    log: bool | Literal["auto"] = Field("auto", description="log space (the paper), raw (false), auto: see "
        "lies.data.tasks.log_space")

    @pydantic.field_validator("log", mode="before")
    @classmethod
    def _log_setting(cls, value: Any) -> Any:
        """A union's own error names only its first branch ("valid boolean"): name every accepted value."""
        if isinstance(value, bool) or value == "auto":
            return value
        text = str(value).strip().lower()
        if isinstance(value, str) and text in ("true", "false", "auto"):
            return {"true": True, "false": False, "auto": "auto"}[text]
        raise ValueError(f"expected true, false or auto, got {value!r}")
    gate_init: float = Field(1.0, ge=0, description="initial node gates U(-g, g) (nn.Linear's bound: 1)")
    restarts: int = Field(4, ge=1, description="networks per task, each from its own initialisation; pruning keeps "
        "the best")


class OversamplingParams(StageParams):
    """Algorithm 1 (paper III-D: max_iter 2, P 30 %, k 8) and the weak ADMM that retrains after each round."""

    max_iter: int = Field(2, ge=0, description="rounds")
    fraction: float = Field(0.3, gt=0, description="P: new points per round, as a fraction of the current data set")
    bins: int = Field(8, ge=1, description="k: equal-width bins per variable")
    min_bin_samples: int = Field(5, ge=2, description="a cell needs this many samples for its 1 - R^2 to count")
    source: Literal["formula", "rows"] = Field("formula", description="new points: drawn from a known formula (with "
        "the task's noise), or resampled from the given rows in the cell")
    retrain: AdmmParams = Field(AdmmParams(), description="the weak ADMM after each round")


class StrongAdmmParams(AdmmParams):
    """Strong ADMM (paper IV-A: rho 0.005, lambda 5 * 10^-(n-1), 30 epochs); the other fields as `AdmmParams`."""

    epochs: int = Field(30, ge=0)
    rho: float = Field(0.005, ge=0)
    lam: float | None = Field(None, ge=0)
    lr_decay: float = Field(0.95, gt=0, le=1)


# ------------------------------------------------------------------------------------------------ pruning
class SensitivityParams(StageParams):
    """Theorem 2's rule: a weight goes when |w dO/dw| < threshold on every sample (quantile 1) of a seeded subset."""

    threshold: float = Field(0.01, ge=0, description="in units of the transformed target (log space: 0.01 is 1 % of "
        "y)")
    quantile: float = Field(1.0, gt=0, le=1, description="of the samples' scores that must be below it (1: all)")
    max_samples: int = Field(4096, ge=1, description="rows (a seeded subset) the scores are computed on")


class GradientPruningParams(SensitivityParams):
    """Theorem 2 pruning of every restart's weights (and, through their gates, of dead units)."""


class NodePruningParams(SensitivityParams):
    """Node pruning (III-C(2)) by backward elimination with refit, Theorem 2 again on the refitted weights (the
    ``threshold``, ``quantile`` and ``max_samples`` of this section; not when gradient pruning was skipped), then
    the choice among the restarts."""

    linear_hypothesis: bool = Field(True, description="first try 'no hidden unit' (a product of powers, fitted "
        "exactly); false: skip it")
    tolerance: float = Field(0.1, ge=0, description="a unit goes if the log-space mean |residual| grows < tolerance "
        "x + slack")
    slack: float = Field(1e-3, ge=0, description="the absolute part of that bound")
    refit_iterations: int = Field(100, ge=0, description="L-BFGS iterations of each refit")
    refit_samples: int = Field(4096, ge=1, description="rows (a seeded subset) the refits fit")
    require_defined: bool = Field(True, description="choose among the candidates whose log units stay above "
        "their cut-off over the box of the training inputs, when there is one")
    motif_terms: int = Field(3, ge=0, description="log space: a candidate network of up to this many exp-log motifs "
        "(lies.training.motifs)")
    motif_min_gain: float = Field(0.2, gt=0, le=1, description="a motif joins when it removes this share of the "
        "residual left")
    exponent_tolerance: float = Field(0.1, ge=0, description="log space: an exp unit's weight from a variable is a "
        "simple exponent when within this of an integer power; among the candidates that fit, the fewest other "
        "weights from the variables wins (lies.training.pruning.free_exponents)")


# ------------------------------------------------------------------------------------------------ formulas
class FormulaStageParams(StageParams):
    """Formula stages share a time limit per task, a wall-clock safety net (the work itself is bounded by counts):
    beyond it the task is recorded as out of time."""

    time_limit: float = Field(600.0, gt=0, description="seconds per task")


class ExtractParams(FormulaStageParams):
    """Reading the network back as a formula (lies.networks.extraction) has no parameter but the time limit."""


class RoundingToZeroParams(FormulaStageParams):
    """III-E, first use: a constant becomes 0 when |c| * max|df/dc| < tau (relative to the spread of y: ``scale``)."""

    tau: float = Field(0.1, ge=0, description="the bound on |c| * max|df/dc|, relative to scale")
    scale: Literal["std", "rms", "absolute"] = Field("std", description="what tau is relative to: y's std, its RMS, "
        "or 1")
    max_evaluations: int = Field(20_000, ge=0, description="evaluations of the formula on the rows (about k^2 for k "
        "constants); when spent, the undecided constants stay")


class CoefficientOptimizationParams(FormulaStageParams):
    """III-F: least-squares refit of every constant on raw-unit data, bounded by residual evaluations."""

    max_evaluations: int = Field(5000, ge=1, description="the bound (least_squares' own, 100 k (k + 1), when lower)")
    fit_seconds: float = Field(60.0, gt=0, description="wall-clock safety net; a fit it stops says stopped_by: wall "
        "clock")
    max_rows: int = Field(20_000, ge=10, description="rows (a seeded subset) the fit sees")
    domain_points: int = Field(1024, ge=0, description="the fitted formula must stay finite on the box of the "
        "training inputs: its corners and this many Sobol points (0: no such check)")


class FinalRoundingParams(FormulaStageParams):
    """III-E, second use: snap constants to simpler values where the data cannot tell them apart, then simplify
    (`lies.symbolic.rounding.final_round`); the summary reports R^2 on the training data before and after."""

    tolerance: float = Field(0.1, ge=0, description="the mean squared error may grow by this fraction of the "
        "formula's own (the noise it leaves)")
    decimals: int = Field(1, ge=0, description="snap candidates: integers, this many decimals, p/q, pi, square roots")
    max_evaluations: int = Field(20_000, ge=0, description="evaluations of the formula (refits included) the snaps "
        "may spend; when spent, the constants not yet snapped stay")
    max_nodes: int = Field(60, ge=1, description="larger formulas pass through unchanged, neither snapped nor "
        "simplified: a formula this large is a fit that both shorten by a few nodes at most, at a cost that grows "
        "steeply with its size")
    simplify_max_degree: int = Field(32, ge=1, description="a power of a sum whose exponent's numerator exceeds this "
        "is kept whole (one opaque factor) when the rest is simplified: sympy's polynomial work grows with the degree")
    simplify_seconds: float = Field(60.0, gt=0, description="wall-clock safety net, reported as simplify: timeout")
    renamed: ClassVar[dict[str, str]] = {"simplify_max_nodes": "max_nodes"}


class StructureSearchParams(FormulaStageParams):
    """Structure search (`lies.symbolic.search`): when the formula is not exact, sparse sums of the network's units
    on monomials are fitted on training rows, and the one of shortest description length on validation rows
    replaces the input when it is shorter than the input's there. Final rounding's params round it."""

    exact_below: float = Field(1e-6, ge=0, description="a formula whose RMS error on the training rows is below "
        "this fraction of the target's RMS is exact: kept as it is, no search")
    max_terms: int = Field(6, ge=0, description="the most library terms in a candidate (besides the constant; 0: "
        "no search)")
    max_degree: int = Field(4, ge=1, description="the largest total degree |a| + |b| of a monomial x^a y^b")
    unit_degree: int = Field(2, ge=1, description="the largest total degree of a monomial inside sin, cos and exp")
    product_variables: int = Field(4, ge=0, description="a task with at most this many variables also gets the "
        "library's products (a unit of one variable times a two-variable monomial or another such unit: sin^2 t, "
        "sqrt(a b) cos d); they grow with the square of the variables (0: none)")
    outers: list[Literal["identity", "inverse", "sqrt", "exp"]] = Field(["identity", "inverse", "sqrt", "exp"],
        min_length=1, description="outer functions of a candidate, y = outer(sum): identity, inverse (1/sum), sqrt "
        "(sqrt(sum)) and exp (exp(sum)), the last two with the target's sign; each where the target allows it")
    beam: int = Field(20, ge=1, description="sets of terms kept per size while the search grows them (1: greedy)")
    n_rows: int = Field(2_000, ge=10, description="training rows the search uses (fit and validation together)")
    validation_fraction: float = Field(0.2, gt=0, lt=1, description="of those rows, the share held out from the "
        "fits, on which description lengths are compared")


class DecompositionParams(StageParams):
    """Decomposition (AI Feynman's separability tests, `lies.symbolic.separability`) through an oracle (the fitted
    formula or a dense surrogate of the data): when the formula is not exact, the variables are split into parts
    that add or multiply, each part is solved as a sub-task by the stages before this one, and the recombined
    formula replaces the input when its description length on validation rows is shorter."""

    exact_below: float = Field(1e-6, ge=0, description="a formula whose RMS error on the training rows is below "
        "this fraction of the target's RMS is exact: kept as it is, no decomposition tried")
    max_depth: int = Field(2, ge=0, description="how many times a part may be split again (0: no decomposition)")
    n_rows: int = Field(2_000, ge=10, description="rows of each part's sub-task (the oracle at the training rows' "
        "values of the part's variables, the others at the reference point)")
    test_rows: int = Field(256, ge=8, description="four-point tests per pair of variables")
    error_multiple: float = Field(4.0, gt=0, description="a pair interacts when its four-point difference exceeds "
        "this many times the oracle's RMS error (twice the RMS an exact separable function shows through it)")
    validation_fraction: float = Field(0.2, gt=0, lt=1, description="training rows held out from the recombined "
        "formula's refit, on which the two formulas' description lengths are compared")
    oracle: Literal["best", "formula", "surrogate"] = Field("best", description="what the tests and the parts' "
        "sub-tasks read: the fitted formula, a dense network fitted to the training rows (`lies.networks.surrogate`), "
        "or whichever of the two errs less on the held-out rows")
    surrogate_width: int = Field(64, ge=1, description="the surrogate's units per hidden layer")
    surrogate_depth: int = Field(3, ge=1, description="the surrogate's hidden layers")
    surrogate_steps: int = Field(3_000, ge=1, description="the surrogate's Adam steps (cosine schedule)")
    surrogate_batch: int = Field(1_024, ge=1, description="rows per surrogate step")
    surrogate_lr: float = Field(3e-3, gt=0, description="the surrogate's initial learning rate")
    choice_passes: int = Field(3, ge=1, description="passes of the part-by-part choice of the recombined formula: "
        "each pass re-chooses every part, the others held at their current choice, until a pass changes none (a "
        "part's best choice depends on how good the others are)")
    choice_rows: int = Field(1_000, ge=10, description="rows (a seeded subset of the fit's) each trial refit of the "
        "part-by-part choice sees; the chosen whole is then refitted on all of them (the choice ranks, the full refit "
        "fits)")
    choice_evaluations: int = Field(1_000, ge=1, description="the bound on each trial refit of the choice, in "
        "evaluations of the formula (coefficient_optimization's own bound, when lower)")
    scaling: bool = Field(True, description="also test each part of at least two positive variables (the whole "
        "task when it does not split) for f = P g(u), u and P products of powers of its variables "
        "(`lies.symbolic.scaling`); such a part's sub-task is g, a function of u alone")
    translation: bool = Field(True, description="where a part (the whole task when it does not split) has no such "
        "u, test each pair of its variables for f depending on x_i - x_j or x_i + x_j alone "
        "(`lies.symbolic.translation`), variables of any sign; the sub-task has the difference or sum in their place")
    resolve_whole: bool = Field(True, description="when nothing splits and the whole task has neither reduction, "
        "solve it again as its own sub-task on the oracle's values (a second pass of the stages before this one, "
        "seeded anew, on a smoothed target); off, such a task keeps its formula")
    product_offset: bool = Field(True, description="also test for a product plus a constant, f = c + g h (a sum "
        "split's part is one: it holds the other parts' value at the reference point), c in closed form per pair of "
        "variables (`lies.symbolic.separability.find_split`); kept where it splits f into more parts than f itself")


# ------------------------------------------------------------------------------------------------ the rest
#: The stages ``ablation.skip`` accepts: the four ablations of the paper's Table I, node pruning, final rounding and
#: the two structure stages (`lies.pipeline.stages.Stage.skippable` reads it).
SKIPPABLE_STAGES = ("oversampling", "gradient_pruning", "node_pruning", "rounding_to_zero", "coefficient_optimization",
                    "final_rounding", "structure_search", "decomposition")


def check_skip(skip: str | Sequence[str] | None) -> tuple[str, ...]:
    """Normalise ``ablation.skip`` (a bare string is one stage) and refuse names that are no skippable stage; the
    result is in pipeline order."""
    if skip is None:
        return ()
    names = [skip] if isinstance(skip, str) else list(skip)
    names = [n.strip() for n in names if str(n).strip()]
    for name in names:
        if name not in SKIPPABLE_STAGES:
            hint = did_you_mean(name, SKIPPABLE_STAGES)
            raise LiesError(f"ablation.skip: {name!r} is not a stage that can be skipped{hint} "
                            f"(skippable: {', '.join(SKIPPABLE_STAGES)})")
    return tuple(sorted(set(names), key=SKIPPABLE_STAGES.index))


class AblationParams(StageParams):
    """``ablation.skip``: stages that pass their input through (a bare string is one stage, as ``dvc exp -S`` sets)."""

    skip: list[str] = Field([], description="stages to pass through (Table I of the paper and more): "
                           + ", ".join(SKIPPABLE_STAGES))

    @pydantic.field_validator("skip", mode="before")
    @classmethod
    def _known_stages(cls, value: Any) -> list[str]:
        try:
            return list(check_skip(value))
        except LiesError as exc:  # re-raised by pydantic as a ValidationError; parse_params makes it one line
            raise ValueError(str(exc).removeprefix("ablation.skip: ")) from None


#: ``network.kind``'s values: each registered in `lies.training.kinds`, and ``auto``, which picks one per task.
NetworkKindName = Literal["auto", "lies", "eql"]
NETWORK_KINDS: tuple[str, ...] = typing.get_args(NetworkKindName)
#: The stages that train with the ``eql`` section when ``network.kind`` is ``eql``.
EQL_TRAINING_STAGES = ("weak_admm", "strong_admm")

#: EQL's primitive units, in the order they appear in every hidden layer (`lies.networks.eql`).
EqlUnit = Literal["identity", "square", "sin", "exp", "sigmoid", "product"]
#: Units of one hidden layer in the authors' benchmark (their two constant units are the constant-1 inputs here).
DEFAULT_EQL_UNITS = ("identity",) * 4 + ("square",) * 4 + ("sin",) * 2 + ("exp",) * 2 + ("sigmoid",) * 2 + \
    ("product",) * 2


class NetworkParams(StageParams):
    """Which network the training stages train: ``lies`` (the paper), ``eql`` (Kim et al.'s Equation Learner), or
    ``auto``: per task, LIES when its data go to log space (`weak_admm.log`), EQL when they stay in raw space, where
    a LIES log unit cannot take a signed input and so cannot multiply two signed values, and EQL's product and
    square units can."""

    kind: NetworkKindName = Field("auto", description="the network the training stages train: lies | eql | auto "
        "(LIES in log space, EQL in raw space, per task)")


class EqlParams(StageParams):
    """EQL's architecture and schedule (Kim et al., section II; the authors' benchmark: 2 layers, lr 1e-2, L0.5 weight
    5e-3, a = 0.05, threshold 0.01). weak_admm trains warm-up + penalised epochs, strong_admm fine-tunes."""

    n_layers: int = Field(2, ge=1, description="hidden layers")
    units: tuple[EqlUnit, ...] = Field(DEFAULT_EQL_UNITS, description="units of each hidden layer (repeat a name for "
        "several)")
    restarts: int = Field(12, ge=1, description="networks per task, each from its own initialisation; pruning keeps "
        "the sparsest of those that fit about as well as the best (the authors also rank many trials)")
    lr: float = Field(1e-2, gt=0, description="RMSprop learning rate of the penalised phase")
    warmup_epochs: int = Field(5, ge=0, description="passes over the data before it, at lr * warmup_lr_factor")
    warmup_lr_factor: float = Field(3.0, gt=0, description="the authors use 10 on full batches; on mini-batches it "
        "diverged")
    epochs: int = Field(100, ge=0, description="passes of the penalised phase")
    reg_weight: float = Field(5e-3, ge=0, description="weight of the smoothed L0.5 penalty")
    smooth_a: float = Field(0.05, gt=0, description="below |w| < a the penalty is a polynomial (zero gradient at 0)")
    threshold: float = Field(0.01, ge=0, description="strong_admm: weights with |w| < threshold are zeroed and "
        "frozen")
    finetune_epochs: int = Field(50, ge=0, description="passes of the fine-tuning on the data loss alone")
    finetune_lr_factor: float = Field(0.1, gt=0, description="its learning rate: lr * finetune_lr_factor")
    batch_size: int = Field(256, ge=1, description="rows per optimiser step")

    @property
    def log(self) -> bool:
        """EQL fits in raw space (what `lies.pipeline.stages.WeakAdmm` reads to fit the transform)."""
        return False


class EvaluationParams(StageParams):
    """The evaluation stage: how long the symbolic-solution check may take per task."""

    symbolic_timeout: float = Field(10.0, gt=0, description="seconds of sympy per task (a safety net, reported when "
        "hit)")


class RuntimeParams(StageParams):
    """Where and how wide to run; does not change results on one device (so DVC does not track it).

    ``n_jobs`` is the width of the fan-out on either backend: it also decides how models are chunked, so the same
    ``n_jobs`` gives the same formulas on loky and on Dask.
    """

    device: str = Field("auto", description="'auto': CUDA when present, else CPU")
    n_jobs: int = Field(2, ge=1, description="parallel CPU tasks (processes or Dask workers); each uses "
        "`torch_threads` threads")
    torch_threads: int = Field(1, ge=1, description="torch threads per worker")
    progress: bool = Field(True, description="progress bars on a terminal")
    backend: Literal["loky", "dask"] = Field("loky", description="joblib's process pool on this machine, or a Dask "
        "cluster")
    scheduler: str | None = Field(None, description="dask only: tcp://host:port of a running scheduler; null: a "
        "LocalCluster here")

    @pydantic.field_validator("scheduler")
    @classmethod
    def _scheduler_address(cls, value: str | None) -> str | None:
        """A scheduler address must name its port: without one Dask fails deep inside, with a traceback."""
        if value is not None:
            scheduler_host_port(value)
        return value

    @pydantic.field_validator("device")
    @classmethod
    def _usable_device(cls, value: str) -> str:
        """Checked with the params, before any stage writes: a device this machine lacks fails here, in one line."""
        if value == "auto":
            return value
        try:
            device = torch.device(value)
        except RuntimeError:
            raise ValueError(f"unknown device {value!r} (use auto, cpu, cuda or cuda:N)") from None
        if device.type == "cuda":
            if not torch.cuda.is_available():
                raise ValueError(f"{value!r} is not available here (torch {torch.__version__}, "
                                 f"{'built without CUDA' if torch.version.cuda is None else 'no CUDA device found'}); "
                                 "use auto or cpu")
            if device.index is not None and device.index >= torch.cuda.device_count():
                raise ValueError(f"{value!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
        elif device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"{value!r} is not available here; use auto or cpu")
        elif device.type not in ("cpu", "cuda", "mps"):
            raise ValueError(f"device {value!r} is not supported (use auto, cpu, cuda or cuda:N)")
        return value

    @model_validator(mode="after")
    def _scheduler_needs_dask(self) -> "RuntimeParams":
        """A scheduler under the loky backend would be silently unused."""
        if self.scheduler is not None and self.backend != "dask":
            raise ValueError(f"scheduler {self.scheduler!r} is used only with backend: dask (now {self.backend}); "
                             "set runtime.backend=dask (--backend dask) or leave the scheduler out")
        return self

    def torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)  # checked by _usable_device


def scheduler_host_port(address: str) -> tuple[str, int]:
    """(host, port) of a Dask scheduler address ``tcp://host:port``; ValueError naming the expected form."""
    from urllib.parse import urlsplit

    form = "expected tcp://host:port, e.g. tcp://10.0.0.5:8786"
    try:
        parts = urlsplit(address if "://" in address else f"tcp://{address}")
        host, port = parts.hostname, parts.port
    except ValueError:
        raise ValueError(f"scheduler address {address!r} is not valid: {form}") from None
    if not host or port is None:
        raise ValueError(f"scheduler address {address!r} has no {'port' if host else 'host'}: {form}")
    return host, port


# ------------------------------------------------------------------------------------------------ sections
#: Every section of params.yaml in file order, with the model that validates it (``prepare`` reads ``tasks``).
SECTIONS: dict[str, type[StageParams]] = {
    "tasks": TasksParams,
    "ablation": AblationParams,
    "network": NetworkParams,  # the switch: lies | eql (see lies.training.kinds)
    "eql": EqlParams,  # what weak_admm and strong_admm train with under network.kind: eql
    "weak_admm": WeakAdmmParams,
    "oversampling": OversamplingParams,
    "strong_admm": StrongAdmmParams,
    "gradient_pruning": GradientPruningParams,
    "node_pruning": NodePruningParams,
    "extract": ExtractParams,
    "rounding_to_zero": RoundingToZeroParams,
    "coefficient_optimization": CoefficientOptimizationParams,
    "final_rounding": FinalRoundingParams,
    "structure_search": StructureSearchParams,
    "decomposition": DecompositionParams,
    "evaluation": EvaluationParams,
    "runtime": RuntimeParams,
}

#: Sections of params.yaml that are not a stage of the pipeline.
OTHER_SECTIONS = ("tasks", "ablation", "network", "eql", "evaluation", "runtime")


@dataclass(frozen=True)
class ByKind:
    """A training stage's params under ``network.kind: auto``: its own section for the tasks that train LIES, the
    ``eql`` section for those that train EQL (the stage splits its tasks, `lies.pipeline.stages`)."""

    lies: StageParams
    eql: EqlParams

    @property
    def log(self) -> bool | str:
        """``weak_admm.log``: the switch that decides, per task, which kind it trains."""
        return getattr(self.lies, "log", "auto")

    def for_kind(self, kind: str) -> StageParams:
        return self.eql if kind == "eql" else self.lies

    def model_dump(self, **kwargs: Any) -> dict:
        """The stage's own section, what its files record (and read back with the stage's params model); the
        ``eql`` section and the switch are in the stage's params hash (`lies.pipeline.runner.STAGE_SECTIONS`)."""
        return self.lies.model_dump(**kwargs)


def training_params(stage: str, sections: Mapping[str, StageParams]) -> StageParams | ByKind:
    """What a stage is handed, from validated sections (`check_params`): its own section, ``eql`` under
    ``network.kind: eql``, both (`ByKind`) under ``auto``."""
    kind = sections["network"].kind
    own = sections["tasks" if stage == "prepare" else stage]
    if kind == "auto" and stage in EQL_TRAINING_STAGES:
        return ByKind(own, sections["eql"])
    return sections[training_section(stage, kind)] if training_section(stage, kind) else own


def training_section(stage: str, kind: str) -> str | None:
    """The params section a stage reads instead of its own under ``network.kind = kind`` (None: its own)."""
    return "eql" if kind == "eql" and stage in EQL_TRAINING_STAGES else None


def section_of(stage: str, kind: str = "lies") -> str:
    """The params.yaml section a dvc.yaml stage reads under ``network.kind = kind``."""
    return training_section(stage, kind) or ("tasks" if stage == "prepare" else stage)


def default_params() -> dict[str, dict]:
    """The project's default params.yaml as plain data, built from the params models' defaults."""
    return {name: model().model_dump(mode="json") for name, model in SECTIONS.items()}


def check_params(params: Mapping[str, Any]) -> dict[str, StageParams]:
    """Validate every section (a missing one takes its defaults); LiesError on the first problem. (The task set's
    ids and CSV are checked when it becomes tasks: `lies.data.tasks.task_specs`.)"""
    unknown = [key for key in params if key not in SECTIONS]
    if unknown:
        raise LiesError(f"params: unknown section {unknown[0]!r}{did_you_mean(unknown[0], list(SECTIONS))}")
    return {name: parse_params(model, params.get(name), name) for name, model in SECTIONS.items()}


def merge_params(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict:
    """``base`` with ``changes`` laid over it, mappings merged key by key (a partial section changes some keys)."""
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_params(out[key], value)
        else:
            out[key] = value
    return out


# ------------------------------------------------------------------------------------------------ params.yaml
PARAMS_YAML_HEADER = """\
# Parameters of the LIES pipeline, one section per stage (the same name as in dvc.yaml, stages/ and data/).
# Written from the declarations in lies/params.py (python -m lies.params > params.yaml); a test keeps it equal.
# Change a value and `dvc repro` re-runs that stage and what follows; `dvc exp run -S section.key=value` does the
# same as an experiment. Every section is validated: an unknown key is an error with a "did you mean" hint.
"""


def meaning(model: type[StageParams], name: str) -> str:
    """The one-line meaning of a field, from its declaration (a subclass that only changes a default keeps it)."""
    for cls in model.__mro__:
        field = getattr(cls, "model_fields", {}).get(name)
        if field is not None and field.description:
            return field.description
    return ""


def _yaml_value(value: Any) -> str:
    import yaml

    return yaml.safe_dump(value, default_flow_style=True, width=10**6).split("\n...")[0].strip()


def _yaml_section(model: type[StageParams], values: Mapping[str, Any], indent: str) -> list[str]:
    lines = []
    for name, value in values.items():
        sub = model.model_fields[name].annotation
        if isinstance(value, Mapping) and isinstance(sub, type) and issubclass(sub, StageParams):
            lines.append(_commented(f"{indent}{name}:", meaning(model, name)))
            lines += _yaml_section(sub, value, indent + "  ")
        else:
            lines.append(_commented(f"{indent}{name}: {_yaml_value(value)}", meaning(model, name)))
    return lines


def _commented(text: str, comment: str) -> str:
    return f"{text.ljust(23)} # {comment}" if comment else text


def _first_sentence(doc: str | None) -> str:
    text = " ".join((doc or "").strip().split("\n\n")[0].split()).replace("``", "")
    end = text.find(". ")
    return text[: end + 1] if end >= 0 else text


def params_yaml() -> str:
    """The project's params.yaml: every section's defaults, each key with its meaning as a comment."""
    lines = [PARAMS_YAML_HEADER.rstrip("\n")]
    for section, values in default_params().items():
        model = SECTIONS[section]
        lines += ["", _commented(f"{section}:", _first_sentence(model.__doc__)), *_yaml_section(model, values, "  ")]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(params_yaml(), end="")
