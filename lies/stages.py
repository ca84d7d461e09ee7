"""The paper's pipeline stages (Fig. 3), one class each: typed params, typed input and output artifacts.

    prepare -> weak_admm -> oversampling -> strong_admm -> gradient_pruning -> node_pruning -> extract
            -> rounding_to_zero -> coefficient_optimization -> final_rounding  (-> evaluation, see `lies.evaluation`)

A stage processes a whole task set at once: training stages group tasks with the same number of variables and
train their networks together (one batched model axis, see `lies.network`), formula stages fan out across tasks
with joblib. A stage's name is the same string everywhere: here, in ``dvc.yaml``, ``params.yaml``,
``stages/<name>.py``, ``data/<name>/`` and ``ablation.skip``.

Every params model forbids unknown keys and suggests the closest known one on a typo.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any, Callable, ClassVar, Literal, Sequence

import numpy as np
import pydantic
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lies.admm import AdmmConfig, fraction_small, log_r2, strong_lambda, train_admm
from lies.artifacts import FormulaArtifact, NetworkArtifact, TaskArtifact
from lies.dataset import Dataset
from lies.eql import train_eql
from lies.errors import LiesError, did_you_mean
from lies.extraction import extract_formula
from lies.network import LiesNetwork, add_constant_column
from lies.oversampling import ModelData, OversamplingConfig, oversample
from lies.pruning import (choose_restart, exact_fit_floor, gradient_prune, prune_nodes_with_refit, restart_errors,
                          sample_rows, select_restart)
from lies.tasks import TaskData, add_noise, log_space, make_tasks, prepare_task
from lies.timeout import TIME_LIMIT_ERRORS, call_with_timeout
from lies.transforms import Transform, positive_target_rows


# ------------------------------------------------------------------------------------------------------ params
class StageParams(BaseModel):
    """Base of every params model: frozen, no unknown keys, a "did you mean" hint on a typo."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = list(cls.model_fields)
            for key in data:
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
        raise LiesError(f"params: {where}: {message}") from None


class TasksParams(StageParams):
    """Which tasks the pipeline runs: a named set or a list of Feynman ids, or one CSV; trials with own seeds."""

    set: str | list[str] = "default"
    trials: int = Field(1, ge=1)
    seed: int = 0
    n_train: int = Field(10_000, ge=10)
    n_test: int = Field(2_000, ge=1)
    csv: str | None = None
    target: str | None = None
    variables: list[str] | None = None
    noise: float = Field(0.0, ge=0)  # SRBench's target noise on the training rows: N(0, (noise * RMS(y))^2)

    def specs(self):
        return make_tasks(self.set, self.trials, self.seed, self.csv, self.target, self.variables, self.noise)


class AdmmParams(StageParams):
    """One ADMM phase (eq. 4-14); see `lies.admm.AdmmConfig` for the meaning of each field."""

    epochs: int = Field(20, ge=0)
    rho: float = Field(0.5, ge=0)
    lam: float | None = Field(5e-4, ge=0)
    alpha: float = Field(0.01, ge=0)
    l1_mode: Literal["proximal", "subgradient"] = "proximal"
    lr: float = Field(1.5e-2, gt=0)
    lr_decay: float = Field(0.9, gt=0, le=1)
    batch_size: int = Field(256, ge=1)
    admm_every: int = Field(0, ge=0)
    gate_mode: Literal["l1", "cardinality"] = "l1"
    gate_budget: int | None = Field(None, ge=0)
    mask_weight: float = Field(1.0, ge=0)

    def config(self, n_inputs: int) -> AdmmConfig:
        fields = self.model_dump()
        fields["lam"] = self.lam if self.lam is not None else strong_lambda(n_inputs)
        return AdmmConfig(**{k: v for k, v in fields.items() if k in AdmmConfig.__dataclass_fields__})


class WeakAdmmParams(AdmmParams):
    """Weak ADMM (paper IV-A: rho 0.5, lambda 5e-4, 20 epochs) and the data transform it fixes (III-G)."""

    epochs: int = Field(20, ge=1)  # the first training: without an epoch there is no network to go on with

    log: bool | Literal["auto"] = "auto"  # log space (the paper), raw (false), auto: see lies.tasks.log_space
    gate_init: float = Field(1.0, ge=0)  # initial node gates U(-g, g) (nn.Linear's bound: 1)
    restarts: int = Field(4, ge=1)  # networks per task, each from its own initialisation; pruning keeps the best


class OversamplingParams(StageParams):
    """Algorithm 1 (max_iter 2, P 30 %, k 8) and the weak ADMM that retrains after each round."""

    max_iter: int = Field(2, ge=0)
    fraction: float = Field(0.3, gt=0)
    bins: int = Field(8, ge=1)
    min_bin_samples: int = Field(5, ge=2)
    source: Literal["formula", "rows"] = "formula"  # new points: drawn from a known formula (with the task's
    retrain: AdmmParams = AdmmParams()  # noise), or resampled from the given rows in the cell (as for a CSV)


class StrongAdmmParams(AdmmParams):
    """Strong ADMM (paper IV-A: rho 0.005, lambda 5 * 10^-(n-1) when ``lam`` is null, 30 epochs)."""

    epochs: int = Field(30, ge=0)
    rho: float = Field(0.005, ge=0)
    lam: float | None = Field(None, ge=0)
    lr_decay: float = Field(0.95, gt=0, le=1)


class SensitivityParams(StageParams):
    """Theorem 2's rule: a weight goes when |w dO/dw| < threshold on every sample (quantile 1) of a seeded subset."""

    threshold: float = Field(0.01, ge=0)
    quantile: float = Field(1.0, gt=0, le=1)
    max_samples: int = Field(4096, ge=1)


class GradientPruningParams(SensitivityParams):
    """Theorem 2 pruning of every restart's weights (and, through their gates, of dead units)."""


class NodePruningParams(SensitivityParams):
    """Node pruning (III-C(2)) by backward elimination with refit, Theorem 2 again on the refitted weights (the
    ``threshold``, ``quantile`` and ``max_samples`` of this section; not when gradient pruning was skipped), then
    the choice among the restarts."""

    linear_hypothesis: bool = True  # first try "no hidden unit" (a product of powers, fitted exactly); false: skip it
    tolerance: float = Field(0.1, ge=0)  # a unit goes if the log-space mean |residual| grows < tolerance x + slack
    slack: float = Field(1e-3, ge=0)
    refit_iterations: int = Field(100, ge=0)  # L-BFGS iterations of each refit
    refit_samples: int = Field(4096, ge=1)  # rows (a seeded subset) the refits fit
    motif_terms: int = Field(3, ge=0)  # log space: a candidate network of up to this many exp-log motifs (lies.motifs)
    motif_min_gain: float = Field(0.2, gt=0, le=1)  # a motif joins when it removes this share of the residual left


class FormulaStageParams(StageParams):
    """Formula stages share a time limit per task, a wall-clock safety net (the work itself is bounded by counts):
    beyond it the task is recorded as out of time."""

    time_limit: float = Field(600.0, gt=0)


class ExtractParams(FormulaStageParams):
    pass


class RoundingToZeroParams(FormulaStageParams):
    """III-E, first use: a constant becomes 0 when |c| * max|df/dc| < tau (relative to the spread of y: ``scale``)."""

    tau: float = Field(0.1, ge=0)
    scale: Literal["std", "rms", "absolute"] = "std"


class CoefficientOptimizationParams(FormulaStageParams):
    """III-F: least-squares refit of every constant on raw-unit data, bounded by residual evaluations."""

    max_evaluations: int = Field(5000, ge=1)  # the bound (least_squares' own, 100 k (k + 1), when lower)
    fit_seconds: float = Field(60.0, gt=0)  # wall-clock safety net; a fit it stops says stopped_by: wall clock
    max_rows: int = Field(20_000, ge=10)


class FinalRoundingParams(FormulaStageParams):
    """III-E, second use: snap constants to simpler values where the data cannot tell them apart, then simplify
    (`lies.rounding.final_round`); the summary reports R^2 on the training data before and after."""

    tolerance: float = Field(0.1, ge=0)  # the mean squared error may grow by this fraction of the formula's own
    decimals: int = Field(1, ge=0)  # (the noise it leaves); candidates: integers, `decimals` decimals, p/q, pi, sqrt
    simplify_max_nodes: int = Field(200, ge=1)  # larger formulas are not simplified (a bound on sympy's work)
    simplify_seconds: float = Field(60.0, gt=0)  # wall-clock safety net, reported as simplify: timeout


class RuntimeParams(StageParams):
    """Where and how wide to run; does not change results on one device (so DVC does not track it).

    ``n_jobs`` is the width of the fan-out on either backend: it also decides how models are chunked, so the same
    ``n_jobs`` gives the same formulas on loky and on Dask.
    """

    device: str = "auto"  # "auto": CUDA when present, else CPU
    n_jobs: int = Field(2, ge=1)  # parallel CPU tasks (processes or Dask workers); each uses `torch_threads` threads
    torch_threads: int = Field(1, ge=1)
    progress: bool = True
    backend: Literal["loky", "dask"] = "loky"  # joblib's process pool on this machine, or a Dask cluster
    scheduler: str | None = None  # dask only: tcp://host:port of a running scheduler; null: a LocalCluster here

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

    def torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)  # checked by _usable_device


# ------------------------------------------------------------------------------------------------------ stages
class Stage:
    """A pipeline stage: ``run(inputs, tasks, params, runtime)`` maps one input artifact per task to one output.

    Subclass it for a custom stage: set ``name``, ``Params`` (a `StageParams` model), ``input_kind`` and
    ``output_kind`` (``"task"``, ``"network"`` or ``"formula"``), and implement `run`.
    """

    name: ClassVar[str]
    Params: ClassVar[type[StageParams]] = StageParams
    input_kind: ClassVar[str]
    output_kind: ClassVar[str]
    skippable: ClassVar[bool] = False

    def run(self, inputs: list, tasks: list[TaskData], params: StageParams, runtime: RuntimeParams) -> list:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<stage {self.name}: {self.input_kind} -> {self.output_kind}>"


def skipped(stage_name: str, artifact):
    """Pass-through of an artifact through a skipped stage; its summary says so."""
    summary = {"stage": stage_name, "skipped": True, "seconds": 0.0}
    for key in ("out_of_time", "r2_train", "complexity", "log_r2", "nonzero", "fraction_small"):
        if key in artifact.summary:
            summary[key] = artifact.summary[key]
    if isinstance(artifact, NetworkArtifact):
        return NetworkArtifact(artifact.net, artifact.transform, artifact.variables, artifact.target,
                               artifact.history, summary, artifact.added)
    if isinstance(artifact, FormulaArtifact):
        return FormulaArtifact(artifact.formula, summary)
    raise TypeError(f"cannot skip a {type(artifact).__name__}")


class Prepare(Stage):
    name = "prepare"
    Params = TasksParams
    input_kind = "none"
    output_kind = "task"

    def run(self, inputs, tasks, params: TasksParams, runtime) -> list[TaskArtifact]:
        return [TaskArtifact(prepare_task(spec, params.n_train, params.n_test)) for spec in params.specs()]


# ---------------------------------------------------------------------- training stages (batched over tasks)
def _network_rows(transform: Transform, data: Dataset) -> Dataset:
    """The rows a network fits: in log space, those with a target > 0 (`lies.transforms.MAX_NONPOSITIVE_TARGET`)."""
    keep = positive_target_rows(data.y) if transform.log else None
    return data if keep is None else data.subset(keep)


def _network_tensors(transform: Transform, data: Dataset, device) -> tuple[torch.Tensor, torch.Tensor]:
    data = _network_rows(transform, data)
    x = torch.tensor(transform.inputs(data.X), dtype=torch.float32)
    return add_constant_column(x).to(device), torch.tensor(transform.target(data.y), dtype=torch.float32).to(device)


def _entropy(seed: int, salt: int, restart: int = 0) -> list[int]:
    """Seed material of one purpose (``salt``) of one task's restart; restart 0 keeps the seeds of a single run."""
    return [seed, salt] + ([restart] if restart else [])


def _generator(seed: int, salt: int, restart: int = 0) -> torch.Generator:
    state = np.random.SeedSequence(_entropy(seed, salt, restart)).generate_state(1)
    return torch.Generator().manual_seed(int(state[0]))


def _groups(keys: Sequence, n_chunks: int) -> list[list[int]]:
    """Indices grouped by key (tasks that can share a batched network), each group split into ``n_chunks``."""
    by_key: dict = {}
    for i, k in enumerate(keys):
        by_key.setdefault(k, []).append(i)
    chunks = []
    for group in by_key.values():
        size = math.ceil(len(group) / max(1, min(n_chunks, len(group))))
        chunks.extend(group[i : i + size] for i in range(0, len(group), size))
    return chunks


def _training_summary(stage: str, net: LiesNetwork, data: Sequence[tuple[torch.Tensor, torch.Tensor]],
                      seconds: float, diverged: Sequence[bool]) -> dict:
    """What `lies inspect` shows of a training stage: the restart with the best log-space fit, and every restart's
    fit (``restarts_log_r2``) when there are several. ``data``: (x, t) per restart."""
    fits = [log_r2(net.select([m]), x[None], t[None])[0] for m, (x, t) in enumerate(data)]
    best = max(range(len(fits)), key=lambda m: (fits[m], -m))
    single = net.select([best])
    summary = {
        "stage": stage,
        "skipped": False,
        "seconds": seconds,
        "log_r2": fits[best],
        "nonzero": single.nonzero_counts()[0]["total"],
        "n_weights": single.n_weights(),
        "fraction_small": fraction_small(single)[0],
        "diverged": bool(diverged[best]),
    }
    if net.n_models > 1:
        summary.update(restarts=net.n_models, best_restart=best, restarts_log_r2=fits,
                       restarts_diverged=[bool(d) for d in diverged])
    return summary


def _restart_history(stage: str, histories: Sequence[Sequence[dict]]) -> list[dict]:
    return [{"phase": stage, "restart": r, **h} for r, history in enumerate(histories) for h in history]


def _by_model(nets: Sequence[LiesNetwork], keys: Callable[[int, int], tuple], work: Callable, runtime: RuntimeParams,
              device: torch.device, desc: str = "") -> tuple[dict, list[float]]:
    """Run ``work(models)`` on chunks of models (restart r of task i is the model ``(i, r)``) and gather per model.

    Models with equal ``keys(i, r)`` (same size, same config) share a chunk, and chunks fan out over CPU processes.
    ``work`` returns the trained batched network of its chunk and one payload per model. Returns ``(i, r) ->
    (network of that model alone, payload)`` and, per task, the seconds its models took (chunk time shared out).
    """
    models = [(i, r) for i, net in enumerate(nets) for r in range(net.n_models)]
    chunks = _groups([keys(i, r) for i, r in models], runtime.n_jobs if device.type == "cpu" else 1)

    def run_chunk(chunk):
        start = time.perf_counter()
        net, payloads = work([models[k] for k in chunk])
        return chunk, net.cpu(), payloads, time.perf_counter() - start

    done: dict[tuple[int, int], tuple] = {}
    seconds = [0.0] * len(nets)
    jobs = [(c,) for c in chunks]
    for chunk, net, payloads, chunk_seconds in _map_tasks(run_chunk, jobs, runtime, device, desc=desc, unit="model",
                                                          sizes=[len(c) for c in chunks]):
        for j, k in enumerate(chunk):
            done[models[k]] = (net.select([j]), payloads[j])
            seconds[models[k][0]] += chunk_seconds / len(chunk)
    return done, seconds


class _TrainingStage(Stage):
    """Shared machinery: every restart of every task is one model; models of the same size train together in one
    batched network (chunks fanned out over CPU processes), then go back to their tasks."""

    def _train(self, nets: list[LiesNetwork], data: list[list[tuple[torch.Tensor, torch.Tensor]]], seeds: list[int],
               configs: list, runtime: RuntimeParams, salt: int, fit: Callable = train_admm):
        """``nets[i]`` holds task i's restarts, ``data[i][r]`` restart r's (x, t). Returns, per task, the trained
        network, the per-restart histories and divergence flags, and the seconds per task. ``fit(net, x, t, config,
        generators=)`` trains in place (`train_admm`, or `lies.eql.train_eql` for EQL networks)."""
        device = runtime.torch_device()
        network = type(nets[0])

        def work(models):
            net = network.stack([nets[i].select([r]) for i, r in models]).to(device)
            x = torch.stack([data[i][r][0] for i, r in models]).to(device)
            t = torch.stack([data[i][r][1] for i, r in models]).to(device)
            generators = [_generator(seeds[i], salt, r) for i, r in models]
            result = fit(net, x, t, configs[models[0][0]], generators=generators)
            return net, list(zip(result.history, result.diverged))

        done, seconds = _by_model(nets, lambda i, r: (nets[i].arch, len(data[i][r][1]), configs[i]), work,
                                  runtime, device, desc=self.name)
        out = []
        for i, net in enumerate(nets):
            parts = [done[(i, r)] for r in range(net.n_models)]
            out.append((network.stack([p[0] for p in parts]), [p[1][0] for p in parts], [p[1][1] for p in parts],
                        seconds[i]))
        return out


class WeakAdmm(_TrainingStage):
    name = "weak_admm"
    Params = WeakAdmmParams
    input_kind = "task"
    output_kind = "network"

    def run(self, inputs: list[TaskArtifact], tasks, params: WeakAdmmParams, runtime) -> list[NetworkArtifact]:
        """With `lies.eql_stages.EqlParams` (``network.kind: eql``) the same stage trains EQL networks instead."""
        from lies.eql_stages import EqlParams

        eql = isinstance(params, EqlParams)
        transforms, nets, data, seeds = [], [], [], []
        for task in tasks:
            tr = Transform.fit(task.train.X, task.train.y, task.variables, task.train.target,
                               log=log_space(params.log, task))
            transforms.append(tr)
            n = len(task.variables)
            xt = _network_tensors(tr, task.train, "cpu")
            nets.append(params.network(n, _generator(task.spec.seed, 1), xt[1]) if eql else
                        LiesNetwork(n, params.restarts, generator=_generator(task.spec.seed, 1),
                                    gate_init=params.gate_init))
            data.append([xt] * params.restarts)
            seeds.append(task.spec.seed)
        configs = [params.config(len(t.variables)) for t in tasks]
        results = self._train(nets, data, seeds, configs, runtime, salt=2, fit=train_eql if eql else train_admm)
        out = []
        for task, tr, (net, histories, diverged, seconds), xt in zip(tasks, transforms, results, data):
            summary = _training_summary(self.name, net, xt, seconds, diverged)
            summary["space"] = "log" if tr.log else "raw"  # weak_admm.log: auto decides per task
            left_out = task.train.n_samples - len(xt[0][1])
            if left_out:  # a few targets <= 0 (noise near zero): not in log space, still in the formula stages
                summary["nonpositive_targets_left_out"] = left_out
            out.append(NetworkArtifact(net, tr, task.variables, task.train.target,
                                       _restart_history(self.name, histories), summary))
        return out


class Oversampling(_TrainingStage):
    name = "oversampling"
    Params = OversamplingParams
    input_kind = "network"
    output_kind = "network"
    skippable = True

    def run(self, inputs: list[NetworkArtifact], tasks, params: OversamplingParams, runtime) -> list[NetworkArtifact]:
        from lies.eql_stages import is_eql

        if any(is_eql(a.net) for a in inputs):  # Algorithm 1 retrains with weak ADMM, a LIES network's training
            return [_passed_through(self.name, a, "LIES only: EQL networks (network.kind: eql) pass through")
                    for a in inputs]
        device = runtime.torch_device()
        config = OversamplingConfig(params.max_iter, params.fraction, params.bins, params.min_bin_samples)

        def work(models):
            data = []
            for i, r in models:
                task, art = tasks[i], inputs[i]
                eq = task.equation if params.source == "formula" else None
                sampler = None
                if eq is not None:
                    rms = float(np.sqrt(np.mean(task.train.y**2)))

                    def sampler(low, high, n, rng, eq=eq, rms=rms, noise=task.spec.noise, log=art.transform.log):
                        ds = eq.sample(n, rng, low=low, high=high)
                        y = add_noise(ds.y, noise, rms, rng)
                        keep = y > 0 if log else np.ones(len(y), dtype=bool)  # as `_network_rows` does
                        return ds.X[keep], y[keep]
                rows = _network_rows(art.transform, task.train)
                data.append(ModelData(X=rows.X, y=rows.y, transform=art.transform, sampler=sampler,
                                      rng=np.random.default_rng(_entropy(task.spec.seed, 3, r)),
                                      generator=_generator(task.spec.seed, 4, r)))
            net = LiesNetwork.stack([inputs[i].net.select([r]) for i, r in models]).to(device)
            retrain = params.retrain.config(net.arch.n_inputs)
            return oversample(net, data, config, retrain, device), data

        nets = [a.net for a in inputs]
        done, seconds = _by_model(nets, lambda i, r: (nets[i].arch.n_inputs, tasks[i].train.n_samples), work,
                                  runtime, device, desc=self.name)
        out = []
        for i, (art, task) in enumerate(zip(inputs, tasks)):
            parts = [done[(i, r)] for r in range(art.net.n_models)]
            net = LiesNetwork.stack([p[0] for p in parts])
            added = [Dataset(md.added_X, md.added_y, task.variables, task.train.target) for _, md in parts]
            history = art.history + [{"phase": self.name, "restart": r, **rnd}
                                     for r, (_, md) in enumerate(parts) for rnd in md.rounds]
            new = NetworkArtifact(net, art.transform, art.variables, art.target, history, None, added)
            new.summary = _training_summary(self.name, net, _training_data(new, task), seconds[i],
                                            [False] * net.n_models)
            best = new.summary.get("best_restart", 0)
            new.summary.update(rounds=parts[best][1].rounds, n_added=int(added[best].n_samples))
            out.append(new)
        return out


def _training_data(art: NetworkArtifact, task: TaskData) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(x, t) per restart: the task's training rows plus what oversampling added for that restart."""
    out = []
    for r in range(art.net.n_models):
        added = art.added[r] if art.added is not None else None
        train = task.train.concat(added) if added is not None and added.n_samples else task.train
        out.append(_network_tensors(art.transform, train, "cpu"))
    return out


class StrongAdmm(_TrainingStage):
    name = "strong_admm"
    Params = StrongAdmmParams
    input_kind = "network"
    output_kind = "network"

    def run(self, inputs: list[NetworkArtifact], tasks, params: StrongAdmmParams, runtime) -> list[NetworkArtifact]:
        """With `lies.eql_stages.EqlParams`: EQL's threshold-and-freeze, then fine-tuning on the data loss."""
        from lies.eql_stages import EqlParams, check_kind

        eql = isinstance(params, EqlParams)
        check_kind(self.name, [a.net for a in inputs], eql)
        data = [_training_data(art, task) for art, task in zip(inputs, tasks)]
        configs = [(params.finetune_config if eql else params.config)(a.net.arch.n_inputs) for a in inputs]
        results = self._train([a.net for a in inputs], data, [t.spec.seed for t in tasks], configs, runtime, salt=5,
                              fit=train_eql if eql else train_admm)
        out = []
        for art, (net, histories, diverged, seconds), xt in zip(inputs, results, data):
            summary = _training_summary(self.name, net, xt, seconds, diverged)
            out.append(NetworkArtifact(net, art.transform, art.variables, art.target,
                                       art.history + _restart_history(self.name, histories), summary, art.added))
        return out


class _PruningStage(Stage):
    """A network stage whose work is one task at a time (``prune_task``), fanned out across tasks."""

    input_kind = "network"
    output_kind = "network"
    skippable = True

    def prune_task(self, art: NetworkArtifact, task: TaskData, params, device) -> NetworkArtifact:
        raise NotImplementedError

    def eql_task(self, art: NetworkArtifact, task: TaskData, params, device) -> NetworkArtifact:
        """What the stage does with an EQL network (network.kind: eql), whose pruning is its own threshold."""
        raise NotImplementedError

    def run(self, inputs: list[NetworkArtifact], tasks, params, runtime):
        from lies.eql_stages import is_eql

        device = runtime.torch_device()
        jobs = [(art, task, params, device) for art, task in zip(inputs, tasks)]
        if any(is_eql(a.net) for a in inputs):
            return [self.eql_task(*job) for job in jobs]
        return _map_tasks(self.prune_task, jobs, runtime, device, desc=self.name)


def _passed_through(stage: str, art: NetworkArtifact, note: str) -> NetworkArtifact:
    """`skipped`, with a note in the summary saying why (a LIES-only stage given an EQL network)."""
    out = skipped(stage, art)
    out.summary["note"] = note
    return out


def _choose_eql_restart(art: NetworkArtifact, task: TaskData, params: NodePruningParams, device):
    """EQL's pruning is its threshold (strong_admm); node pruning only keeps the restart `select_restart` prefers."""
    start = time.perf_counter()
    x, t = _network_tensors(art.transform, task.train, "cpu")
    errors = restart_errors(art.net, x[None], t[None])
    sizes = [c["total"] for c in art.net.nonzero_counts()]
    best = select_restart(errors, sizes, params.tolerance, exact_fit_floor(t))
    kept = art.net.select([best])
    summary = _training_summary(NodePruning.name, kept, [(x, t)], time.perf_counter() - start, [False])
    summary["note"] = "EQL (network.kind: eql): no node pruning (LIES only), the best restart is kept"
    if art.net.n_models > 1:
        summary.update(restarts=art.net.n_models, chosen_restart=best, restarts_error=errors, restarts_nonzero=sizes)
    return NetworkArtifact(kept, art.transform, art.variables, art.target, art.history, summary,
                           [art.added[best]] if art.added is not None else None)


class GradientPruning(_PruningStage):
    """Theorem 2 on every restart; all restarts go on (node pruning, or extraction when it is skipped, chooses)."""

    name = "gradient_pruning"
    Params = GradientPruningParams

    def prune_task(self, art, task, params, device):
        return _gradient_prune_task(art, task, params, device)

    def eql_task(self, art, task, params, device):
        return _passed_through(self.name, art, "EQL (network.kind: eql): no Theorem 2 pruning (LIES only); EQL's "
                                               "threshold in strong_admm is its pruning")


def _gradient_prune_task(art: NetworkArtifact, task: TaskData, params: GradientPruningParams, device):
    start = time.perf_counter()
    x, t = _network_tensors(art.transform, task.train, device)
    pruned = []
    for r in range(art.net.n_models):
        net = art.net.select([r]).to(device)
        gradient_prune(net, x[None], params.threshold, params.quantile, params.max_samples,
                       generator=_generator(task.spec.seed, 6, r))
        pruned.append(net.cpu())
    restarts = LiesNetwork.stack(pruned)
    data = [(x.cpu(), t.cpu())] * restarts.n_models
    summary = _training_summary(GradientPruning.name, restarts, data, time.perf_counter() - start,
                                [False] * restarts.n_models)
    return NetworkArtifact(restarts, art.transform, art.variables, art.target, list(art.history), summary, art.added)


class NodePruning(_PruningStage):
    """Node pruning with refit and Theorem 2 again on every restart, then the restart to keep
    (`lies.pruning.select_restart`)."""

    name = "node_pruning"
    Params = NodePruningParams

    def prune_task(self, art, task, params, device):
        return _node_prune_task(art, task, params, device)

    def eql_task(self, art, task, params, device):
        return _choose_eql_restart(art, task, params, device)


def _node_prune_task(art: NetworkArtifact, task: TaskData, params: NodePruningParams, device) -> NetworkArtifact:
    start = time.perf_counter()
    # Theorem 2 is gradient pruning's: with that stage skipped (Table I's row) its second pass is skipped too
    theorem_2 = not (art.summary or {}).get("skipped", False)
    x, t = _network_tensors(art.transform, task.train, device)
    pruned, records, history = [], [], list(art.history)
    for r in range(art.net.n_models):
        net = art.net.select([r]).to(device)
        generator = _generator(task.spec.seed, 6, r)
        # the stream of Theorem 2's first pass goes on (the seeds of one stage doing both, before they were split)
        sample_rows(x.shape[0], params.max_samples, generator)
        trials = prune_nodes_with_refit(net, x[None], t[None], params.refit_iterations, params.tolerance,
                                        params.slack, params.refit_samples, generator=generator,
                                        linear_hypothesis=params.linear_hypothesis)
        if theorem_2:
            gradient_prune(net, x[None], params.threshold, params.quantile, params.max_samples, generator=generator)
        pruned.append(net.cpu())
        records.append(trials)
        history += [{"phase": "node_pruning", "restart": r, **rec, "units": " ".join(rec["units"])} for rec in trials]
    if params.motif_terms and art.transform.log:
        motif = _motif_candidate(x, t, art, params, device, _generator(task.spec.seed, 7), theorem_2)
        if motif is not None:
            pruned.append(motif[0])
            records.append(motif[1])
            history += [{"phase": "node_pruning", "restart": len(pruned) - 1, **rec, "units": " ".join(rec["units"])}
                        for rec in motif[1]]
    restarts = LiesNetwork.stack(pruned)
    errors = restart_errors(restarts, x.cpu()[None], t.cpu()[None])
    sizes = [c["total"] for c in restarts.nonzero_counts()]
    floor = exact_fit_floor(t)
    best = select_restart(errors, sizes, params.tolerance, floor)
    kept = restarts.select([best])
    summary = _training_summary(NodePruning.name, kept, [(x.cpu(), t.cpu())], time.perf_counter() - start, [False])
    summary["node_trials"] = records[best]
    if restarts.n_models > 1:
        summary.update(restarts=restarts.n_models, chosen_restart=best, restarts_error=errors, restarts_nonzero=sizes,
                       restarts_exact_below=floor)
    added = art.added[best] if art.added is not None and best < len(art.added) else None
    return NetworkArtifact(kept, art.transform, art.variables, art.target, history, summary,
                           [added] if added is not None else None)


def _motif_candidate(x: torch.Tensor, t: torch.Tensor, art: NetworkArtifact, params: NodePruningParams, device,
                     generator: torch.Generator, theorem_2: bool = True):
    """One more candidate beside the trained restarts: the exp-log motifs `lies.motifs.scan_terms` finds, as a LIES
    network, pruned like a restart. None when no motif helps or the chains need more layers than the network has."""
    from lies.motifs import motif_network, scan_terms

    idx = sample_rows(x.shape[0], params.refit_samples, generator)
    xs, ts = (x, t) if idx is None else (x[idx.to(x.device)], t[idx.to(x.device)])
    xs, ts = xs.cpu(), ts.cpu()
    terms = scan_terms(xs, ts, art.transform.scales, max_terms=params.motif_terms, min_gain=params.motif_min_gain)
    net = motif_network(terms, art.net.arch.n_inputs, xs, ts) if terms else None
    if net is None:
        return None
    net = net.to(device)
    if theorem_2:  # as gradient pruning does for the restarts
        gradient_prune(net, x[None], params.threshold, params.quantile, params.max_samples, generator=generator)
    trials = prune_nodes_with_refit(net, x[None], t[None], params.refit_iterations, params.tolerance, params.slack,
                                    params.refit_samples, generator=generator,
                                    linear_hypothesis=params.linear_hypothesis)
    if theorem_2:
        gradient_prune(net, x[None], params.threshold, params.quantile, params.max_samples, generator=generator)
    return net.cpu(), trials


def _map_tasks(fn: Callable, jobs: list[tuple], runtime: RuntimeParams, device: torch.device, desc: str = "",
               unit: str = "task", sizes: Sequence[int] | None = None,
               postfix: Callable[[list], str] | None = None) -> list:
    """``fn(*job)`` for every job, in order: fanned out over ``runtime.n_jobs`` joblib workers (loky processes or
    Dask workers, `runtime.backend`; one torch thread each) when the work runs on the CPU, else in this process
    (a GPU is best fed from one process). A progress bar (`progress`) counts ``sizes[k]`` units per finished job
    and shows ``postfix(results so far)``."""
    bar = progress(sum(sizes) if sizes is not None else len(jobs), runtime, desc, unit)
    out: list = []
    if device.type != "cpu" or runtime.n_jobs == 1 or len(jobs) == 1:
        # tiny matrices: more threads only add overhead (two threads made one-task runs 10-30x slower here)
        torch.set_num_threads(runtime.torch_threads)
        results = (fn(*job) for job in jobs)
    else:
        from joblib import Parallel, delayed

        from lies.workers import call_in_worker

        n_jobs = min(runtime.n_jobs, len(jobs))
        results = _with_backend(runtime, lambda: Parallel(n_jobs=n_jobs, return_as="generator")(  # backend: here
            delayed(call_in_worker)(os.getpid(), _with_threads, fn, job, runtime.torch_threads) for job in jobs))
    with bar:
        for k, result in enumerate(results):
            out.append(result)
            bar.update(sizes[k] if sizes is not None else 1)
            if postfix is not None:
                bar.set_postfix_str(postfix(out), refresh=False)
    return out


def progress(total: int, runtime: RuntimeParams, desc: str = "", unit: str = "task"):
    """A tqdm bar on stderr, shown only on a terminal and when ``runtime.progress`` (``-q`` turns it off)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=None if runtime.progress else True, leave=False,
                dynamic_ncols=True)


def _with_backend(runtime: RuntimeParams, start: Callable):
    """Run ``start()`` (a joblib call; `Parallel` takes its backend when it is made, so make it in there) under the
    runtime's backend and yield its results; loky and Dask share every line of the fan-out but this one (joblib's
    Dask backend sends each job to a worker of the cluster)."""
    from joblib import parallel_config

    if runtime.backend == "dask":
        config = parallel_config(backend="dask", client=dask_client(runtime.scheduler))
    else:
        config = parallel_config(backend="loky")
    with config:
        yield from start()


_CLIENTS: dict = {}


def dask_client(scheduler: str | None):
    """A `distributed.Client` for ``scheduler`` (``tcp://host:port``), or, for None, for a `LocalCluster` of one
    single-threaded worker process per CPU core, started once per process and reused by every stage."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise LiesError("runtime.backend: dask needs dask.distributed (pip install 'lies[dask]')") from None
    if scheduler not in _CLIENTS:
        if scheduler is None:
            cluster = LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            _CLIENTS[None] = Client(cluster)
        else:
            try:
                _CLIENTS[scheduler] = Client(scheduler, timeout=30)
            except OSError as exc:
                raise LiesError(f"runtime.scheduler: cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    return _CLIENTS[scheduler]


def _with_threads(fn, job, threads: int):
    torch.set_num_threads(threads)
    return fn(*job)


# ---------------------------------------------------------------------- formula stages (joblib over tasks)
def _formula_summary(stage: str, formula, task: TaskData, seconds: float, **extra) -> dict:
    from lies.metrics import r2_score

    summary = {"stage": stage, "skipped": False, "seconds": seconds, "out_of_time": False}
    if formula is not None:
        summary["r2_train"] = r2_score(task.train.y, formula(task.train.X))
        summary["complexity"] = formula.complexity
        summary["n_constants"] = formula.n_constants
    summary.update(extra)
    return summary


def _run_formula_task(stage: "_FormulaStage", art, task: TaskData, params: FormulaStageParams):
    """One task of a formula stage, under the stage's time limit (out of time = recorded, not raised)."""
    torch.set_num_threads(1)
    previous = getattr(art, "formula", None)
    if getattr(art, "summary", {}).get("out_of_time"):
        return FormulaArtifact(previous, {"stage": stage.name, "skipped": False, "seconds": 0.0, "out_of_time": True})
    start = time.perf_counter()
    try:
        formula = call_with_timeout(stage.transform, params.time_limit, art, task, params)
    except TIME_LIMIT_ERRORS:
        return FormulaArtifact(previous, {"stage": stage.name, "skipped": False, "seconds": time.perf_counter() - start,
                                          "out_of_time": True, "stopped_by": "time_limit (wall clock)"})
    formula, extra = formula if isinstance(formula, tuple) else (formula, {})
    return FormulaArtifact(formula, _formula_summary(stage.name, formula, task, time.perf_counter() - start, **extra))


class _FormulaStage(Stage):
    """A stage whose work per task is one function ``transform(artifact, task, params) -> Formula`` (or
    ``(Formula, dict)``: the dict goes into the task's summary)."""

    output_kind = "formula"

    def transform(self, art, task: TaskData, params):
        raise NotImplementedError

    def run(self, inputs, tasks, params, runtime) -> list[FormulaArtifact]:
        jobs = [(self, a, t, params) for a, t in zip(inputs, tasks)]
        return _map_tasks(_run_formula_task, jobs, runtime, torch.device("cpu"), desc=self.name)


class Extract(_FormulaStage):
    name = "extract"
    Params = ExtractParams
    input_kind = "network"

    def transform(self, art: NetworkArtifact, task, params):
        net = art.net
        if net.n_models > 1:  # node pruning skipped: the choice among the restarts falls to extraction
            x, t = _network_tensors(art.transform, task.train, "cpu")
            net = net.select([choose_restart(net, x[None], t[None])])
        return extract_formula(net, art.transform, art.variables)


class RoundingToZero(_FormulaStage):
    name = "rounding_to_zero"
    Params = RoundingToZeroParams
    input_kind = "formula"
    skippable = True

    def transform(self, art: FormulaArtifact, task, params: RoundingToZeroParams):
        from lies.rounding import round_to_zero

        return round_to_zero(art.formula, task.train.X, params.tau, scale=params.scale)


class CoefficientOptimization(_FormulaStage):
    name = "coefficient_optimization"
    Params = CoefficientOptimizationParams
    input_kind = "formula"
    skippable = True

    def transform(self, art: FormulaArtifact, task, params: CoefficientOptimizationParams):
        from lies.coefficients import optimize_coefficients

        report: dict = {}
        formula = optimize_coefficients(art.formula, task.train.X, task.train.y, time_limit=params.fit_seconds,
                                        max_evaluations=params.max_evaluations, max_rows=params.max_rows,
                                        seed=task.spec.seed, report=report)
        return formula, report


class FinalRounding(_FormulaStage):
    name = "final_rounding"
    Params = FinalRoundingParams
    input_kind = "formula"
    skippable = True

    def transform(self, art: FormulaArtifact, task, params: FinalRoundingParams):
        from lies.rounding import final_round

        from lies.metrics import r2_score

        report: dict = {"r2_train_before": r2_score(task.train.y, art.formula(task.train.X))}
        formula = final_round(art.formula, task.train.X, task.train.y, params.tolerance, params.decimals,
                              simplify_timeout=params.simplify_seconds, simplify_max_nodes=params.simplify_max_nodes,
                              report=report)
        return formula, report


#: The paper's stages in DAG order (prepare first).
STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        Prepare(),
        WeakAdmm(),
        Oversampling(),
        StrongAdmm(),
        GradientPruning(),
        NodePruning(),
        Extract(),
        RoundingToZero(),
        CoefficientOptimization(),
        FinalRounding(),
    )
}

#: The stages ``ablation.skip`` accepts: the four ablations of the paper's Table I, node pruning and final rounding.
SKIPPABLE = tuple(name for name, s in STAGES.items() if s.skippable)


def check_skip(skip: str | Sequence[str] | None) -> tuple[str, ...]:
    """Normalise ``ablation.skip`` (a bare string is one stage) and refuse names that are no skippable stage."""
    if skip is None:
        return ()
    names = [skip] if isinstance(skip, str) else list(skip)
    names = [n.strip() for n in names if str(n).strip()]
    for name in names:
        if name not in SKIPPABLE:
            hint = did_you_mean(name, SKIPPABLE)
            raise LiesError(f"ablation.skip: {name!r} is not a stage that can be skipped{hint} "
                            f"(skippable: {', '.join(SKIPPABLE)})")
    return tuple(sorted(set(names), key=list(STAGES).index))


