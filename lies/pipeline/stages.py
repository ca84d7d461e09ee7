"""The paper's pipeline stages (Fig. 3), one short class each: its params, its input and output artifact types.

    prepare -> weak_admm -> oversampling -> strong_admm -> gradient_pruning -> node_pruning -> extract
            -> rounding_to_zero -> coefficient_optimization -> final_rounding  (-> evaluation, see `lies.pipeline.evaluation`)

A stage processes a whole task set at once. Training stages hand every restart of every task to
`lies.pipeline.engine.by_model`, which trains models of the same size together as one batched network; the other stages
hand one call per task to `lies.pipeline.engine.map_tasks`. The math lives elsewhere (`lies.training.admm`, `lies.training.oversampling`,
`lies.training.pruning`, `lies.networks.extraction`, `lies.symbolic.rounding`, `lies.symbolic.coefficients`), the params in `lies.params`, the random
streams in `lies.core.seeding`; a stage class only says which of them it calls and builds its output artifacts,
summaries complete. `run_stages` is the one loop that runs, skips, times and hands on stages: the in-memory
`lies.pipeline.runner.Pipeline`, the DVC shims and the benchmark's ablations all call it.

A stage's name is the same string everywhere: here, in ``dvc.yaml``, ``params.yaml``, ``stages/<name>.py``,
``data/<name>/`` and ``ablation.skip``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from functools import partial
from typing import Callable, ClassVar, Mapping, Sequence

import numpy as np
import sympy
import torch

from lies.core.errors import LiesError
from lies.core.seeding import Purpose, generator, rng, task_seed
from lies.core.timeout import TIME_LIMIT_ERRORS, call_with_timeout
from lies.data.dataset import Dataset, box_points
from lies.data.tasks import TaskData, TaskSpec, add_noise, log_space, prepare_task, task_specs
from lies.data.transforms import Transform, positive_target_rows
from lies.networks.base import Network, add_constant_column
from lies.networks.extraction import extract_formula
from lies.networks.surrogate import fit_surrogate
from lies.params import (
    SKIPPABLE_STAGES,
    ByKind,
    CoefficientOptimizationParams,
    DecompositionParams,
    ExtractParams,
    FinalRoundingParams,
    FormulaStageParams,
    GradientPruningParams,
    NodePruningParams,
    OversamplingParams,
    RoundingToZeroParams,
    RuntimeParams,
    StageParams,
    StrongAdmmParams,
    StructureSearchParams,
    TasksParams,
    WeakAdmmParams,
)
from lies.pipeline.artifacts import Artifact, FormulaArtifact, NetworkArtifact, TaskArtifact
from lies.pipeline.engine import by_model, map_tasks
from lies.symbolic.coefficients import log_linear_fit, optimize_coefficients
from lies.symbolic.formula import Formula, parse_formula
from lies.symbolic.metrics import r2_score
from lies.symbolic.rounding import final_round, released, round_to_zero
from lies.symbolic.search import SearchResult, search
from lies.symbolic.scaling import Reduction, find_reduction
from lies.symbolic.separability import (Split, description_length, find_split, part_rows, recombine,
                                       reference_point)
from lies.symbolic.translation import Translation, find_translation
from lies.training.admm import fraction_small, log_r2
from lies.training.kinds import NetworkKind, check_kind, kind_for
from lies.training.oversampling import ModelData, oversample
from lies.training.pruning import (
    choose_restart,
    exact_fit_floor,
    gradient_prune_restarts,
    prune_restarts,
    restart_errors,
    select_restart,
)


# ------------------------------------------------------------------------------------------------ the base
class Stage:
    """A pipeline stage: ``run(inputs, tasks, params, runtime)`` maps one input artifact per task to one output.

    Subclass it for a custom stage: set ``name``, ``Params`` (a `lies.params.StageParams` model), ``input_kind``
    and ``output_kind`` (`TaskArtifact`, `NetworkArtifact` or `FormulaArtifact`; `Prepare` takes None), and
    implement `run`.
    """

    name: ClassVar[str]
    Params: ClassVar[type[StageParams]] = StageParams
    input_kind: ClassVar[type[Artifact] | None]
    output_kind: ClassVar[type[Artifact]]

    @property
    def skippable(self) -> bool:
        """Whether ``ablation.skip`` may name it (declared in `lies.params.SKIPPABLE_STAGES`)."""
        return self.name in SKIPPABLE_STAGES

    def run(self, inputs: list, tasks: list[TaskData], params: StageParams, runtime: RuntimeParams) -> list:
        raise NotImplementedError

    def __repr__(self) -> str:
        source = self.input_kind.kind if self.input_kind is not None else "nothing"
        return f"<stage {self.name}: {source} -> {self.output_kind.kind}>"


def skipped(stage_name: str, artifact: Artifact, note: str | None = None) -> Artifact:
    """``artifact`` passed through a skipped stage: the same content, a summary that says so (and why: ``note``)."""
    summary = {"stage": stage_name, "skipped": True, "seconds": 0.0}
    for key in ("out_of_time", "r2_train", "complexity", "log_r2", "nonzero", "fraction_small"):
        if key in artifact.summary:
            summary[key] = artifact.summary[key]
    if note is not None:
        summary["note"] = note
    if not isinstance(artifact, (NetworkArtifact, FormulaArtifact)):
        raise TypeError(f"cannot skip a {type(artifact).__name__}")
    return replace(artifact, summary=summary)


def by_group(keys: Sequence[str], inputs: list, tasks: list, run: Callable[[str, list, list], list]) -> list:
    """``run(key, inputs, tasks)`` once per distinct key on the tasks of that key, the outputs back in task order:
    how a stage handles a task set whose tasks train different network kinds (``network.kind: auto``). One key:
    one call on everything, as before."""
    if len(set(keys)) <= 1:
        return run(keys[0], inputs, tasks) if keys else []
    out: list = [None] * len(keys)
    for key in dict.fromkeys(keys):
        index = [i for i, k in enumerate(keys) if k == key]
        for i, art in zip(index, run(key, [inputs[i] for i in index], [tasks[i] for i in index])):
            out[i] = art
    return out


def run_stages(stages: Sequence[Stage], inputs: list, tasks: Sequence[TaskData], params: Mapping[str, StageParams],
               runtime: RuntimeParams, skip: Sequence[str] = (),
               on_stage: Callable[[str, float], None] | None = None, depth: int = 0) -> dict[str, list]:
    """Run ``stages`` in order on one input artifact per task: each stage gets the previous one's outputs and
    ``params[stage.name]``; a stage in ``skip`` passes its inputs through (`skipped`). Returns every stage's
    outputs by name; ``on_stage(name, seconds)`` after each. A stage that reads the run it is part of
    (``uses_upstream``: the structure search, the decomposition) also gets an `Upstream` of this run, ``depth`` deep
    in the decomposition's recursion."""
    outputs: dict[str, list] = {}
    current = list(inputs)
    for stage in stages:
        start = time.perf_counter()
        if stage.name in skip:
            current = [skipped(stage.name, a) for a in current]
        elif getattr(stage, "uses_upstream", False):
            current = stage.run(current, list(tasks), params[stage.name], runtime,
                                upstream=Upstream.of(stage, stages, params, skip, depth))
        else:
            current = stage.run(current, list(tasks), params[stage.name], runtime)
        outputs[stage.name] = current
        if on_stage is not None:
            on_stage(stage.name, time.perf_counter() - start)
    return outputs


class Prepare(Stage):
    name = "prepare"
    Params = TasksParams
    input_kind = None
    output_kind = TaskArtifact

    def run(self, inputs, tasks, params: TasksParams, runtime) -> list[TaskArtifact]:
        return [TaskArtifact(prepare_task(spec, params.n_train, params.n_test)) for spec in task_specs(params)]


# ------------------------------------------------------------------------------------------------ data
def _network_rows(transform: Transform, data: Dataset) -> Dataset:
    """The rows a network fits: in log space, those with a target > 0 (`lies.core.checks.MAX_NONPOSITIVE_TARGET`)."""
    keep = positive_target_rows(transform.sign * data.y) if transform.log else None
    return data if keep is None else data.subset(keep)


def _network_tensors(transform: Transform, data: Dataset, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, t): the network's inputs (N, n + 1, the constant last) and target (N,) of the rows it fits."""
    data = _network_rows(transform, data)
    x = torch.tensor(transform.inputs(data.X), dtype=torch.float32)
    return add_constant_column(x).to(device), torch.tensor(transform.target(data.y), dtype=torch.float32).to(device)


def _training_data(transform: Transform, added: Sequence[Dataset] | None, task: TaskData,
                   n_models: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(x, t) per restart: the task's training rows plus what oversampling added for that restart."""
    out = []
    for r in range(n_models):
        extra = added[r] if added is not None else None
        train = task.train.concat(extra) if extra is not None and extra.n_samples else task.train
        out.append(_network_tensors(transform, train, "cpu"))
    return out


# ------------------------------------------------------------------------------------------------ training
def _training_summary(stage: str, net: Network, data: Sequence[tuple[torch.Tensor, torch.Tensor]],
                      seconds: float, diverged: Sequence[bool], **extra) -> dict:
    """What `lies inspect` shows of a network stage: the restart with the best log-space fit, and every restart's
    fit (``restarts_log_r2``) when there are several; ``data``: (x, t) per restart; ``extra`` goes in as it is."""
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
    summary.update(extra)
    return summary


def _restart_history(stage: str, histories: Sequence[Sequence[dict]]) -> list[dict]:
    return [{"phase": stage, "restart": r, **h} for r, history in enumerate(histories) for h in history]


class _TrainingStage(Stage):
    """Every restart of every task is one model; models of the same size and config train together in one batched
    network (`lies.pipeline.engine.by_model`), then go back to their tasks."""

    def _train(self, nets: list[Network], data: list[list[tuple[torch.Tensor, torch.Tensor]]], seeds: list[int],
               configs: list, runtime: RuntimeParams, purpose: Purpose, kind: NetworkKind):
        """``nets[i]`` holds task i's restarts, ``data[i][r]`` restart r's (x, t). Returns, per task, the trained
        network, the per-restart histories and divergence flags, and the seconds per task; ``kind.fit`` trains."""
        device = runtime.torch_device()
        network = type(nets[0])

        def work(models):
            net = network.stack([nets[i].select([r]) for i, r in models]).to(device)
            x = torch.stack([data[i][r][0] for i, r in models]).to(device)
            t = torch.stack([data[i][r][1] for i, r in models]).to(device)
            generators = [generator(seeds[i], purpose, r) for i, r in models]
            result = kind.fit(net, x, t, configs[models[0][0]], self.name, generators=generators)
            return net, list(zip(result.history, result.diverged))

        done, seconds = by_model([n.n_models for n in nets], lambda i, r: (nets[i].arch, len(data[i][r][1]), configs[i]),
                                 work, runtime, device, desc=self.name)
        out = []
        for i, net in enumerate(nets):
            parts = [done[(i, r)] for r in range(net.n_models)]
            out.append((network.stack([p[0] for p in parts]), [p[1][0] for p in parts], [p[1][1] for p in parts],
                        seconds[i]))
        return out


class WeakAdmm(_TrainingStage):
    """Weak ADMM on fresh networks (``restarts`` per task), after fixing each task's transform (III-G)."""

    name = "weak_admm"
    Params = WeakAdmmParams
    input_kind = TaskArtifact
    output_kind = NetworkArtifact

    def run(self, inputs: list[TaskArtifact], tasks, params: WeakAdmmParams | ByKind,
            runtime) -> list[NetworkArtifact]:
        """With `lies.params.EqlParams` (``network.kind: eql``) the same stage trains EQL networks instead; with
        `lies.params.ByKind` (``auto``) LIES on the tasks that go to log space, EQL on the others."""
        if isinstance(params, ByKind):
            kinds = ["lies" if log_space(params.log, task) else "eql" for task in tasks]
            return by_group(kinds, inputs, tasks, lambda k, a, t: self.run(a, t, params.for_kind(k), runtime))
        kind = kind_for(params)
        transforms, nets, data = [], [], []
        for task in tasks:
            tr = Transform.fit(task.train.X, task.train.y, task.variables, task.train.target,
                               log=log_space(params.log, task))
            xt = _network_tensors(tr, task.train, "cpu")
            init = generator(task.spec.seed, Purpose.INITIALISATION)
            nets.append(kind.build(params, len(task.variables), init, xt[1]))
            transforms.append(tr)
            data.append([xt] * params.restarts)
        results = self._train(nets, data, [t.spec.seed for t in tasks], [params] * len(tasks), runtime,
                              Purpose.WEAK_ADMM, kind)
        out = []
        for task, tr, (net, histories, diverged, seconds), xt in zip(tasks, transforms, results, data):
            left_out = task.train.n_samples - len(xt[0][1])
            # a few targets <= 0 (noise near zero): not in log space, still in the formula stages
            extra = {"nonpositive_targets_left_out": left_out} if left_out else {}
            summary = _training_summary(self.name, net, xt, seconds, diverged,
                                        space="log" if tr.log else "raw", **extra)  # weak_admm.log: auto decides
            out.append(NetworkArtifact(net, tr, task.variables, task.train.target,
                                       _restart_history(self.name, histories), summary))
        return out


class Oversampling(_TrainingStage):
    """Algorithm 1 on every restart: new points where the network errs most, weak ADMM again, kept if better."""

    name = "oversampling"
    Params = OversamplingParams
    input_kind = NetworkArtifact
    output_kind = NetworkArtifact

    def run(self, inputs: list[NetworkArtifact], tasks, params: OversamplingParams, runtime) -> list[NetworkArtifact]:
        if len({a.net.admm_sparsified for a in inputs}) > 1:  # network.kind: auto, both kinds: each its way
            return by_group([a.net.kind for a in inputs], inputs, tasks,
                            lambda k, a, t: self.run(a, t, params, runtime))
        if any(not a.net.admm_sparsified for a in inputs):  # Algorithm 1 retrains with weak ADMM: LIES only
            return [skipped(self.name, a, f"LIES only: {a.net.kind} networks (network.kind: {a.net.kind}) pass "
                                          "through") for a in inputs]
        device = runtime.torch_device()

        def work(models):
            data = [self._model_data(tasks[i], inputs[i], r, params) for i, r in models]
            net = type(inputs[models[0][0]].net).stack([inputs[i].net.select([r]) for i, r in models]).to(device)
            return oversample(net, data, params, params.retrain, device), data

        nets = [a.net for a in inputs]
        done, seconds = by_model([n.n_models for n in nets], lambda i, r: (nets[i].arch.n_inputs,
                                                                           tasks[i].train.n_samples),
                                 work, runtime, device, desc=self.name)
        out = []
        for i, (art, task) in enumerate(zip(inputs, tasks)):
            parts = [done[(i, r)] for r in range(art.net.n_models)]
            net = type(art.net).stack([p[0] for p in parts])
            added = [Dataset(md.added_X, md.added_y, task.variables, task.train.target) for _, md in parts]
            history = [*art.history, *({"phase": self.name, "restart": r, **rnd}
                                       for r, (_, md) in enumerate(parts) for rnd in md.rounds)]
            summary = _training_summary(self.name, net, _training_data(art.transform, added, task, net.n_models),
                                        seconds[i], [False] * net.n_models)
            best = summary.get("best_restart", 0)  # what the best restart's rounds did
            summary = {**summary, "rounds": parts[best][1].rounds, "n_added": int(added[best].n_samples)}
            out.append(NetworkArtifact(net, art.transform, art.variables, art.target, history, summary, added))
        return out

    @staticmethod
    def _model_data(task: TaskData, art: NetworkArtifact, restart: int, params: OversamplingParams) -> ModelData:
        """Algorithm 1's view of one restart: its rows, its transform, where new points come from, its seeds."""
        eq = task.equation if params.source == "formula" else None
        rms = float(np.sqrt(np.mean(task.train.y**2)))
        sampler = None if eq is None else partial(_formula_points, eq, rms, task.spec.noise, art.transform)
        rows = _network_rows(art.transform, task.train)
        return ModelData(X=rows.X, y=rows.y, transform=art.transform, sampler=sampler,
                         rng=rng(task.spec.seed, Purpose.OVERSAMPLING_ROWS, restart),
                         generator=generator(task.spec.seed, Purpose.OVERSAMPLING_TRAINING, restart))


def _formula_points(eq, rms: float, noise: float, transform: Transform, low, high, n: int,
                    draw: np.random.Generator):
    """Algorithm 1's new points from a known formula, in the box [low, high], with the task's noise (and in log
    space only those whose target has the transform's sign, as `_network_rows` keeps)."""
    ds = eq.sample(n, draw, low=low, high=high)
    y = add_noise(ds.y, noise, rms, draw)
    keep = transform.sign * y > 0 if transform.log else np.ones(len(y), dtype=bool)
    return ds.X[keep], y[keep]


class StrongAdmm(_TrainingStage):
    """Strong ADMM on every restart, on the training rows plus what oversampling added for it."""

    name = "strong_admm"
    Params = StrongAdmmParams
    input_kind = NetworkArtifact
    output_kind = NetworkArtifact

    def run(self, inputs: list[NetworkArtifact], tasks, params: StrongAdmmParams | ByKind,
            runtime) -> list[NetworkArtifact]:
        """With `lies.params.EqlParams`: EQL's threshold-and-freeze, then fine-tuning on the data loss; with
        `lies.params.ByKind`, each task by the kind weak_admm trained."""
        if isinstance(params, ByKind):
            return by_group([a.net.kind for a in inputs], inputs, tasks,
                            lambda k, a, t: self.run(a, t, params.for_kind(k), runtime))
        kind = kind_for(params)
        check_kind(self.name, [a.net for a in inputs], kind)
        data = [_training_data(art.transform, art.added, task, art.net.n_models) for art, task in zip(inputs, tasks)]
        results = self._train([a.net for a in inputs], data, [t.spec.seed for t in tasks], [params] * len(inputs),
                              runtime, Purpose.STRONG_ADMM, kind)
        out = []
        for art, (net, histories, diverged, seconds), xt in zip(inputs, results, data):
            summary = _training_summary(self.name, net, xt, seconds, diverged)
            out.append(NetworkArtifact(net, art.transform, art.variables, art.target,
                                       [*art.history, *_restart_history(self.name, histories)], summary, art.added))
        return out


# ------------------------------------------------------------------------------------------------ pruning
class _PruningStage(Stage):
    """A network stage whose work is one task at a time (``prune_task``), fanned out across tasks."""

    input_kind = NetworkArtifact
    output_kind = NetworkArtifact

    def prune_task(self, art: NetworkArtifact, task: TaskData, params, device) -> NetworkArtifact:
        raise NotImplementedError

    def self_pruned_task(self, art: NetworkArtifact, task: TaskData, params, device) -> NetworkArtifact:
        """What the stage does with a network its own training pruned (`Network.admm_sparsified` false: EQL)."""
        raise NotImplementedError

    def run(self, inputs: list[NetworkArtifact], tasks, params, runtime):
        device = runtime.torch_device()
        if len({a.net.admm_sparsified for a in inputs}) > 1:  # network.kind: auto, both kinds: each its way
            return by_group([a.net.kind for a in inputs], inputs, tasks,
                            lambda k, a, t: self.run(a, t, params, runtime))
        jobs = [(art, task, params, device) for art, task in zip(inputs, tasks)]
        if any(not a.net.admm_sparsified for a in inputs):
            return [self.self_pruned_task(*job) for job in jobs]
        return map_tasks(self.prune_task, jobs, runtime, device, desc=self.name)


class GradientPruning(_PruningStage):
    """Theorem 2 on every restart (`lies.training.pruning.gradient_prune_restarts`); all restarts go on (node pruning, or
    extraction when it is skipped, chooses)."""

    name = "gradient_pruning"
    Params = GradientPruningParams

    def prune_task(self, art, task, params: GradientPruningParams, device):
        start = time.perf_counter()
        x, t = _network_tensors(art.transform, task.train, device)
        restarts = gradient_prune_restarts(art.net, x, params, task.spec.seed)
        summary = _training_summary(self.name, restarts, [(x.cpu(), t.cpu())] * restarts.n_models,
                                    time.perf_counter() - start, [False] * restarts.n_models)
        return NetworkArtifact(restarts, art.transform, art.variables, art.target, art.history, summary, art.added)

    def self_pruned_task(self, art, task, params, device):
        return skipped(self.name, art, f"{art.net.kind} (network.kind: {art.net.kind}): no Theorem 2 pruning (LIES "
                                       "only); its training pruned it")


class NodePruning(_PruningStage):
    """Node pruning with refit and Theorem 2 again on every restart, the exp-log motif candidate in log space, then
    the candidate to keep (`lies.training.pruning.prune_restarts`)."""

    name = "node_pruning"
    Params = NodePruningParams

    def prune_task(self, art, task, params: NodePruningParams, device):
        start = time.perf_counter()
        # Theorem 2 is gradient pruning's: with that stage skipped (Table I's row) its second pass is skipped too
        theorem_2 = not art.summary.get("skipped", False)
        x, t = _network_tensors(art.transform, task.train, device)
        result = prune_restarts(art.net, x, t, params, task.spec.seed, theorem_2,
                                scales=art.transform.scales if art.transform.log else None)
        history = [*art.history, *({"phase": self.name, "restart": r, **rec, "units": " ".join(rec["units"])}
                                   for r, trials in enumerate(result.trials) for rec in trials)]
        best = result.chosen
        extra = {"node_trials": result.trials[best], "mechanism": result.mechanism}
        if result.candidates.n_models > 1:
            extra.update(restarts=result.candidates.n_models, chosen_restart=best, restarts_error=result.errors,
                         restarts_nonzero=result.sizes, restarts_exact_below=result.floor,
                         **({"restarts_defined": result.defined} if result.defined is not None else {}),
                         **({"restarts_free_exponents": result.free} if result.free is not None else {}))
        kept = result.kept
        summary = _training_summary(self.name, kept, [(x.cpu(), t.cpu())], time.perf_counter() - start, [False],
                                    **extra)
        added = art.added[best] if art.added is not None and best < len(art.added) else None  # the motif: none
        return NetworkArtifact(kept, art.transform, art.variables, art.target, history, summary,
                               [added] if added is not None else None)

    def self_pruned_task(self, art, task, params: NodePruningParams, device):
        """No node pruning (LIES only): the restart `select_restart` prefers is kept."""
        start = time.perf_counter()
        x, t = _network_tensors(art.transform, task.train, "cpu")
        errors = restart_errors(art.net, x[None], t[None])
        sizes = [c["total"] for c in art.net.nonzero_counts()]
        best = select_restart(errors, sizes, params.tolerance, exact_fit_floor(t))
        kept = art.net.select([best])
        extra = {"note": f"{art.net.kind} (network.kind: {art.net.kind}): no node pruning (LIES only), the best "
                         "restart is kept", "mechanism": "restart"}  # no linear hypothesis, no motif scan here
        if art.net.n_models > 1:
            extra.update(restarts=art.net.n_models, chosen_restart=best, restarts_error=errors, restarts_nonzero=sizes)
        summary = _training_summary(self.name, kept, [(x, t)], time.perf_counter() - start, [False], **extra)
        return NetworkArtifact(kept, art.transform, art.variables, art.target, art.history, summary,
                               [art.added[best]] if art.added is not None else None)


# ------------------------------------------------------------------------------------------------ formulas
def _formula_summary(stage: str, formula, task: TaskData, seconds: float, **extra) -> dict:

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
    sympy.core.cache.clear_cache()  # each task starts from the same sympy state, whatever the worker ran before
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

    output_kind = FormulaArtifact

    def transform(self, art, task: TaskData, params):
        raise NotImplementedError

    def run(self, inputs, tasks, params, runtime) -> list[FormulaArtifact]:
        jobs = [(self, a, t, params) for a, t in zip(inputs, tasks)]
        return map_tasks(_run_formula_task, jobs, runtime, torch.device("cpu"), desc=self.name)


class Extract(_FormulaStage):
    """The network read back as a formula (`lies.networks.extraction.extract_formula`)."""

    name = "extract"
    Params = ExtractParams
    input_kind = NetworkArtifact

    def transform(self, art: NetworkArtifact, task, params):
        net = art.net
        if net.n_models > 1:  # node pruning skipped: the choice among the restarts falls to extraction
            x, t = _network_tensors(art.transform, task.train, "cpu")
            net = net.select([choose_restart(net, x[None], t[None])])
        return extract_formula(net, art.transform, art.variables)


class RoundingToZero(_FormulaStage):
    """III-E, first use: negligible constants become 0 (`lies.symbolic.rounding.round_to_zero`)."""

    name = "rounding_to_zero"
    Params = RoundingToZeroParams
    input_kind = FormulaArtifact

    def transform(self, art: FormulaArtifact, task, params: RoundingToZeroParams):

        report: dict = {}
        formula = round_to_zero(art.formula, task.train.X, params.tau, scale=params.scale,
                                max_evaluations=params.max_evaluations, report=report)
        return formula, report


class CoefficientOptimization(_FormulaStage):
    """III-F: every constant refitted by least squares (`lies.symbolic.coefficients.optimize_coefficients`)."""

    name = "coefficient_optimization"
    Params = CoefficientOptimizationParams
    input_kind = FormulaArtifact

    def transform(self, art: FormulaArtifact, task, params: CoefficientOptimizationParams):

        report: dict = {}
        domain = box_points(task.train.X, params.domain_points) if params.domain_points else None
        formula = optimize_coefficients(art.formula, task.train.X, task.train.y, time_limit=params.fit_seconds,
                                        max_evaluations=params.max_evaluations, max_rows=params.max_rows,
                                        seed=task.spec.seed, report=report, domain=domain)
        return formula, report


class FinalRounding(_FormulaStage):
    """III-E, second use: constants snapped to simpler values, then simplified (`lies.symbolic.rounding.final_round`)."""

    name = "final_rounding"
    Params = FinalRoundingParams
    input_kind = FormulaArtifact

    def transform(self, art: FormulaArtifact, task, params: FinalRoundingParams):

        report: dict = {"r2_train_before": r2_score(task.train.y, art.formula(task.train.X))}
        formula = final_round(art.formula, task.train.X, task.train.y, params.tolerance, params.decimals,
                              simplify_timeout=params.simplify_seconds, max_nodes=params.max_nodes,
                              simplify_max_degree=params.simplify_max_degree,
                              max_evaluations=params.max_evaluations, report=report)
        return formula, report


# ------------------------------------------------------------------------------------------------ the run around a stage
@dataclass(frozen=True)
class Upstream:
    """What a stage that solves sub-tasks needs of the run it is part of: the stages before it (the run's when it
    starts at weak_admm, swapped and added stages included; else the built-in ones), their params (the run's, else
    the defaults), the stages skipped, and how deep in the recursion the run is."""

    stages: tuple[Stage, ...]
    params: Mapping[str, StageParams | ByKind]
    skip: tuple[str, ...]
    depth: int

    @classmethod
    def of(cls, stage: Stage, stages: Sequence[Stage], params: Mapping[str, StageParams], skip: Sequence[str],
           depth: int) -> "Upstream":
        names = [n for n in STAGES if n != "prepare"]
        stages = list(stages)
        if stages and stages[0].name == names[0] and stage in stages:  # a whole pipeline: its own stages
            chain = stages[: stages.index(stage) + 1]
        else:  # this stage alone (on disk, `apply_stage`): the built-in stages before it
            chain = [STAGES[n] for n in names[: names.index(stage.name) + 1]]
        return cls(tuple(chain), {s.name: params.get(s.name) or s.Params() for s in chain}, tuple(skip), depth)

    def param(self, name: str):
        return self.params[name]

    def polish(self, formula: Formula, task: TaskData, names: Sequence[str],
               updates: Mapping[str, dict] | None = None) -> Formula:
        """``formula`` through the run's own formula stages ``names`` (those it has and does not skip), in pipeline
        order, with their params (changed by ``updates``: stage name -> fields), on ``task``'s training rows."""
        for stage in self.stages:
            if stage.name in names and stage.name not in self.skip:
                params = self.param(stage.name)
                if updates and stage.name in updates:
                    params = params.model_copy(update=updates[stage.name])
                out = stage.transform(FormulaArtifact(formula), task, params)
                formula = out[0] if isinstance(out, tuple) else out
        return formula

    def solve(self, subtasks: list[TaskData], runtime: RuntimeParams, floor: float = 0.0) -> list[FormulaArtifact]:
        """The sub-tasks through the same stages, this stage included (one level deeper): their final artifacts.

        Under ``network.kind: auto`` a sub-task in raw space is solved twice, by EQL (what ``auto`` trains there)
        and by LIES in raw space, and keeps the formula of shorter description length on its held-out rows (the
        oracle's values at rows neither fit saw; ``floor``, or the sub-task's oracle error where larger: the relative
        RMS below which errors count as equal):
        neither kind dominates the other in raw space, and a part is small enough to train both."""
        quiet = runtime.model_copy(update={"progress": False})

        def run(params, tasks):
            out = run_stages(self.stages, [TaskArtifact(t) for t in tasks], tasks, params, quiet, self.skip,
                             depth=self.depth + 1)
            return out[self.stages[-1].name]

        found = run(self.params, subtasks)
        switch = next((p for p in self.params.values() if isinstance(p, ByKind)), None)
        raw = [i for i, t in enumerate(subtasks) if switch is not None and not log_space(switch.log, t)]
        if not raw:
            return found
        lies = {name: p.for_kind("lies") if isinstance(p, ByKind) else p for name, p in self.params.items()}
        for i, other in zip(raw, run(lies, [subtasks[i] for i in raw])):
            held = subtasks[i].test
            scale = (max(floor, subtasks[i].spec.oracle_error) * float(np.sqrt(np.mean(held.y**2)))) ** 2
            with np.errstate(all="ignore"):
                lengths = [description_length(held.y, a.formula(held.X), a.formula.complexity, scale)
                           if a.formula is not None else np.inf for a in (found[i], other)]
            if lengths[1] < lengths[0]:
                found[i] = replace(other, summary={**other.summary, "kind_chosen": "lies", "kind_lengths": lengths})
            else:
                found[i] = replace(found[i], summary={**found[i].summary, "kind_chosen": "eql", "kind_lengths": lengths})
        return found


def _exactness(formula, task: TaskData, exact_below: float) -> tuple[float, str | None]:
    """(the RMS error of ``formula`` on the training rows, why no structure stage need look at it: out of time, or
    exact: below ``exact_below`` of the target's RMS; None: worth a look). A formula that is not finite there (an
    extracted power that overflows in float64 where the network's bounded units did not) is worth a look most of
    all: the structure stages are its only repair."""
    if formula is None:
        return math.inf, "out of time upstream"
    X, y = task.train.X, task.train.y
    with np.errstate(all="ignore"):
        sigma = float(np.sqrt(np.mean((formula(X) - y) ** 2)))
    if np.isfinite(sigma) and sigma <= exact_below * float(np.sqrt(np.mean(y**2))):
        return sigma, "already exact"
    return sigma, None


def _validation_split(task: TaskData, purpose: Purpose, fraction: float,
                      n_rows: int | None = None) -> tuple[TaskData, Dataset]:
    """(the task on its fitting rows, the validation rows): a seeded draw of ``n_rows`` training rows (all: None),
    ``fraction`` of them held out from every fit, on which the structure stages compare description lengths."""
    order = rng(task.spec.seed, purpose, 1).permutation(task.train.n_samples)[:n_rows]
    n_val = max(1, int(round(fraction * order.size)))
    return TaskData(task.spec, task.train.subset(order[n_val:]), task.test), task.train.subset(order[:n_val])


def _relative_floor(task: TaskData, exact_below: float) -> float:
    """The RMS error, as a fraction of the target's RMS, below which two formulas of ``task`` fit equally well:
    ``exact_below``, the arithmetic's; on a decomposition's sub-task the oracle's error if larger, since its targets
    are the oracle's values and a formula closer to them than that fits the oracle's errors, not the function."""
    return max(exact_below, task.spec.oracle_error)


def _lengths(val: Dataset, formulas: Sequence[Formula], relative_floor: float) -> list[float]:
    """The description lengths of ``formulas`` on the validation rows (errors below ``relative_floor`` of the
    target's RMS count as equal: `_relative_floor`)."""
    floor = (relative_floor * float(np.sqrt(np.mean(val.y**2)))) ** 2
    with np.errstate(all="ignore"):
        return [description_length(val.y, f(val.X), f.complexity, floor) for f in formulas]


def _kept(stage: str, art, tree: dict, why: str, seconds: float) -> FormulaArtifact:
    """The input formula kept by a structure stage, with the input's summary (less final rounding's before/after
    figure), the stage's record under its own name and why."""
    tree.update(chosen="input", why=why)
    carried = {k: v for k, v in art.summary.items() if k != "r2_train_before"}
    return FormulaArtifact(art.formula, dict(carried, stage=stage, skipped=False, seconds=seconds, **{stage: tree}))


# ------------------------------------------------------------------------------------------------ structure search
class StructureSearch(Stage):
    """Sparse sums of the network's units on monomials (`lies.symbolic.search`), fitted on training rows, the size
    chosen by description length on validation rows, rounded by the run's final rounding; the chosen sum replaces a
    formula that is not exact when its description length there is shorter. The summary's ``structure_search``
    holds the error-complexity front."""

    name = "structure_search"
    Params = StructureSearchParams
    input_kind = FormulaArtifact
    output_kind = FormulaArtifact
    uses_upstream = True  # final rounding's params round the chosen sum

    def run(self, inputs, tasks, params: StructureSearchParams, runtime, upstream: Upstream | None = None) -> list:
        jobs = [(a, t, params, upstream) for a, t in zip(inputs, tasks)]
        return map_tasks(_search_task, jobs, runtime, torch.device("cpu"), desc=self.name)


def _search_task(art, task: TaskData, params: StructureSearchParams, upstream: Upstream | None) -> FormulaArtifact:
    """One task of `StructureSearch`, in a worker (out of ``time_limit``: the input kept, and said)."""
    torch.set_num_threads(1)
    sympy.core.cache.clear_cache()
    start = time.perf_counter()
    formula = None if art.summary.get("out_of_time") else getattr(art, "formula", None)
    _, why = _exactness(formula, task, params.exact_below)
    if why is None and params.max_terms == 0:
        why = "max_terms 0"
    if why is not None:
        return _kept("structure_search", art, {"tried": False}, why, time.perf_counter() - start)
    fit, val = _validation_split(task, Purpose.STRUCTURE_SEARCH, params.validation_fraction, params.n_rows)

    def found() -> tuple[SearchResult, Formula]:
        floor = (_relative_floor(task, params.exact_below) * float(np.sqrt(np.mean(val.y**2)))) ** 2
        result = search(task.variables, fit.train.X, fit.train.y, val.X, val.y, params.max_terms,
                        params.max_degree, params.unit_degree, params.beam, floor,
                        params.outers, len(task.variables) <= params.product_variables)
        best = result.best.formula
        return result, upstream.polish(best, fit, ("final_rounding",)) if upstream is not None else best

    try:
        result, candidate = call_with_timeout(found, params.time_limit)
    except TIME_LIMIT_ERRORS:
        return _kept("structure_search", art, {"tried": True}, f"out of time ({params.time_limit:g} s)",
                     time.perf_counter() - start)
    lengths = _lengths(val, [formula, candidate], _relative_floor(task, params.exact_below))
    tree = {"tried": True, "library": result.library_size, "chosen_terms": len(result.best.terms),
            "front": [c.to_dict() for c in result.front], "formula": candidate.text,
            "description_length": {"input": lengths[0], "search": lengths[1]}}
    if not lengths[1] < lengths[0]:
        return _kept("structure_search", art, tree, "the input describes the validation rows in fewer nats",
                     time.perf_counter() - start)
    tree["chosen"] = "search"
    summary = _formula_summary("structure_search", candidate, task, time.perf_counter() - start, mechanism="search",
                               structure_search=tree)
    return FormulaArtifact(candidate, summary)


# ------------------------------------------------------------------------------------------------ decomposition
@dataclass(frozen=True)
class _Plan:
    """One task's decomposition before its parts are solved: the split, the reference point and the oracle's
    value there, the parts' sub-tasks (None for a constant part, whose value is f at the reference point) and
    their reductions (None where the sub-task has the part's own variables; else a scale reduction, whose sub-task's
    one variable is u, or a translation, whose sub-task has a difference or sum in place of two variables)."""

    split: Split
    reference: np.ndarray
    at_reference: float
    subtasks: tuple
    sigma: float
    reductions: tuple[Reduction | Translation | None, ...]
    oracle: str  # "formula" or "surrogate": what the tests read (`_oracle`)


class Decomposition(Stage):
    """AI Feynman's decomposition (`lies.symbolic.separability`) through an oracle, the fitted formula or a dense
    surrogate of the data, whichever errs less on held-out rows (`_oracle`): a formula that is not exact is tested
    for a split of its variables into parts that add or multiply; each part (the whole, when nothing splits) is
    tested for fewer variables: one product of powers u (`find_reduction`), else a difference or sum of two variables
    in their place (`find_translation`); each part becomes a sub-task (the oracle along the
    part's variables, the others at a reference point) solved by the stages before this one and this one again
    (``max_depth``); the parts recombined (each its formula, a simpler candidate of its search's front or its
    sub-task's power law, as the data choose: `_recombined`), refitted on the training rows but a validation share,
    rounded, and kept when their description length on the validation rows is shorter than the input formula's. The
    summary's ``decomposition`` holds the tree."""

    name = "decomposition"
    Params = DecompositionParams
    input_kind = FormulaArtifact
    output_kind = FormulaArtifact
    uses_upstream = True

    def run(self, inputs, tasks, params: DecompositionParams, runtime, upstream: Upstream | None = None) -> list:
        depth = upstream.depth if upstream is not None else params.max_depth
        timed = map_tasks(_timed, [(self._plan, a, t, params, depth) for a, t in zip(inputs, tasks)], runtime,
                          torch.device("cpu"), desc=f"{self.name} tests")
        subtasks = [s for p, _ in timed if isinstance(p, _Plan) for s in p.subtasks if s is not None]
        start = time.perf_counter()
        solved = iter(upstream.solve(subtasks, runtime, params.exact_below) if subtasks else [])
        per_subtask = (time.perf_counter() - start) / max(1, len(subtasks))  # the sub-tasks run as one batch
        jobs = []
        for art, task, (plan, planned) in zip(inputs, tasks, timed):
            parts = [next(solved) if s is not None else None for s in plan.subtasks] if isinstance(plan, _Plan) else []
            share = per_subtask * sum(p is not None for p in parts)
            jobs.append((art, task, plan, parts, params, upstream, planned + share))
        return map_tasks(_decompose_task, jobs, runtime, torch.device("cpu"), desc=self.name)

    @staticmethod
    def _plan(art, task: TaskData, params: DecompositionParams, depth: int) -> _Plan | str:
        """The split of one task and its parts' sub-tasks, or why none is tried."""
        formula = getattr(art, "formula", None)
        if formula is None or art.summary.get("out_of_time"):
            return "out of time upstream"
        if len(task.variables) < 2:
            return "one variable"
        if depth >= params.max_depth:
            return f"max_depth {depth} reached"
        _, why = _exactness(formula, task, params.exact_below)
        if why is not None:
            return why
        X, scale = task.train.X, float(np.sqrt(np.mean(task.train.y**2)))
        draw = rng(task.spec.seed, Purpose.DECOMPOSITION)
        shifts = rng(task.spec.seed, Purpose.TRANSLATION)  # its own stream: the other tests draw as they did before it
        oracle, sigma, relative_sigma, oracle_kind = _oracle(formula, task, params)
        if not math.isfinite(sigma):  # the formula as the only oracle, and not finite on the held-out rows
            return "oracle not finite"
        split = find_split(oracle, X, sigma, draw, params.test_rows, params.error_multiple, params.product_offset)
        if split is not None and split.offset:  # f = c + a product: the parts, and f(x0), are those of f - c
            unshifted = oracle
            oracle = lambda rows, c=split.offset: unshifted(rows) - c  # noqa: E731
        if split is None:
            if not (params.scaling or params.translation):
                return "no separable split"
            split = Split("whole", (tuple(range(len(task.variables))),), ())
        reference = reference_point(oracle, X[: params.n_rows])
        at_reference = float(oracle(reference[None])[0])
        if not np.isfinite(at_reference) or (split.kind == "product" and abs(at_reference) <= 1e-12 * scale):
            return "oracle 0 at reference"
        rows = X[: params.n_rows]
        held = X[params.n_rows : params.n_rows + max(10, params.n_rows // 10)]
        if held.shape[0] < 10:
            held = X[-10:]
        relative = relative_sigma is not None  # scaling tests ln|f| where the data are of one sign
        # the parts' oracle error: this oracle's, and on a sub-task the error of the oracle its targets came from
        inherited = task.spec.oracle_error * float(np.sqrt(np.mean(task.train.y**2)))
        subtasks, reductions = [], []
        for group in split.groups:
            names = [task.variables[k] for k in group]
            part_y = oracle(part_rows(rows[:, group], group, reference))
            held_y = oracle(part_rows(held[:, group], group, reference))
            if not (np.all(np.isfinite(part_y)) and np.all(np.isfinite(held_y))):
                return "oracle not finite on a part"
            if float(np.std(part_y)) <= params.exact_below * max(abs(at_reference), 1e-300):
                subtasks.append(None)  # the part does not vary: f at the reference point stands for it
                reductions.append(None)
                continue
            target = f"{task.train.target}_{len(subtasks)}"
            while target in task.variables:  # an output y with an input named y_0
                target += "_"
            error = math.hypot(inherited, sigma) / max(float(np.sqrt(np.mean(part_y**2))), 1e-300)
            spec = TaskSpec(name=f"{task.name}[{','.join(names)}]", trial=task.spec.trial,
                            seed=task_seed(task.spec.seed, depth, ",".join(names)), oracle_error=error)
            reduction = None
            along_part = lambda values, group=group: oracle(part_rows(values, group, reference))  # noqa: E731
            if params.scaling and len(group) >= 2:
                reduction = find_reduction(along_part, rows[:, group], relative_sigma if relative else sigma, draw,
                                           params.test_rows, params.error_multiple, relative=relative)
            if reduction is None and params.translation and len(group) >= 2:
                reduction = find_translation(along_part, rows[:, group], sigma, shifts, params.test_rows,
                                             params.error_multiple)
            if reduction is None and split.kind == "whole" and not params.resolve_whole:
                return "no separable split and no reduction"
            reductions.append(reduction)
            if reduction is None:
                subtasks.append(TaskData(spec, Dataset(rows[:, group], part_y, names, target),
                                         Dataset(held[:, group], held_y, names, target)))
                continue
            reduced = [Dataset(reduction.rows(Z[:, group]), reduction.target(Z[:, group], v),
                               reduction.variables(names), target) for Z, v in ((rows, part_y), (held, held_y))]
            subtasks.append(TaskData(spec, *reduced))
        if all(s is None for s in subtasks):
            return "no part varies"
        return _Plan(split, reference, at_reference, tuple(subtasks), sigma, tuple(reductions), oracle_kind)


def _timed(fn: Callable, *args):
    """(``fn(*args)``, the seconds it took), in a worker: a task's own share of a stage that fans its tasks out."""
    start = time.perf_counter()
    return fn(*args), time.perf_counter() - start


def _oracle(formula: Formula, task: TaskData, params: DecompositionParams
            ) -> tuple[Callable[[np.ndarray], np.ndarray], float, float | None, str]:
    """(the oracle, its RMS error on the held-out rows, that error as a fraction of |y| for a formula where the
    training targets are of one sign and ``scaling`` is on (else None), its kind): the fitted formula or a dense
    surrogate fitted to the other training rows (`fit_surrogate`), as ``params.oracle`` says; "best" keeps the one
    that errs less on the held-out rows."""
    fit, held = _validation_split(task, Purpose.DECOMPOSITION, params.validation_fraction)
    candidates: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    if params.oracle in ("best", "formula"):
        candidates["formula"] = formula
    if params.oracle in ("best", "surrogate"):
        candidates["surrogate"] = fit_surrogate(
            fit.train.X, fit.train.y, generator(task.spec.seed, Purpose.SURROGATE), params.surrogate_width,
            params.surrogate_depth, params.surrogate_steps, params.surrogate_batch, params.surrogate_lr)
    errors = {}
    for kind, f in candidates.items():
        with np.errstate(all="ignore"):
            error = float(np.sqrt(np.mean((np.asarray(f(held.X), dtype=float) - held.y) ** 2)))
        errors[kind] = error if math.isfinite(error) else math.inf
    kind = min(errors, key=lambda k: (errors[k], k))
    chosen = candidates[kind]

    def oracle(rows: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.broadcast_to(np.asarray(chosen(rows), dtype=float), (rows.shape[0],))

    relative = None  # the surrogate is fitted by squared error in y's units: its error is absolute
    if params.scaling and kind == "formula" and (np.all(task.train.y > 0) or np.all(task.train.y < 0)):
        with np.errstate(all="ignore"):
            relative = float(np.sqrt(np.mean((oracle(held.X) / held.y - 1) ** 2)))
    return oracle, errors[kind], relative, kind


def _decompose_task(art, task: TaskData, plan, parts: list, params: DecompositionParams, upstream: Upstream | None,
                    seconds: float) -> FormulaArtifact:
    """One task's recombination, refit, rounding and choice (`Decomposition`), in a worker."""
    torch.set_num_threads(1)
    sympy.core.cache.clear_cache()
    start = time.perf_counter()
    if not isinstance(plan, _Plan):
        return _kept("decomposition", art, {"tried": False}, plan, seconds)
    split = plan.split
    tree = {"tried": True, "split": split.kind, "oracle": plan.oracle, "sigma": plan.sigma,
            "reference": dict(zip(task.variables, map(float, plan.reference))), "at_reference": plan.at_reference,
            **({"offset": split.offset} if split.offset else {}),
            "parts": []}
    choices = []  # per part: its formula, then the alternatives the data may choose instead
    for group, sub, part, reduction in zip(split.groups, plan.subtasks, parts, plan.reductions):
        names = [task.variables[k] for k in group]
        if sub is None:
            choices.append([sympy.Float(plan.at_reference)])
            tree["parts"].append({"variables": names, "formula": "constant"})
            continue
        formula = getattr(part, "formula", None)
        record = {"variables": names, "oracle_error": sub.spec.oracle_error,
                  "formula": str(formula.expr) if formula is not None else None,
                  "r2_train": part.summary.get("r2_train"), "kind": part.summary.get("kind_chosen"),
                  "decomposition": part.summary.get("decomposition")}
        tree["parts"].append(record)
        if formula is None:
            return _kept("decomposition", art, tree, "a part has no formula", seconds + time.perf_counter() - start)
        alternatives = _part_alternatives(part, formula) + _power_law(sub.train)
        if reduction is not None:  # the sub-task had fewer variables: P g(u(x)), or g(x_i - x_j, ...)
            record.update(reduction.describe(names))
            alternatives = [reduction.expression(e, names) for e in alternatives]
        choices.append(alternatives)
    fit, val = _validation_split(task, Purpose.DECOMPOSITION, params.validation_fraction)
    try:
        whole, chosen = _recombined(split, choices, plan.at_reference, task.variables, fit, val, upstream,
                                    params)
    except TIME_LIMIT_ERRORS:
        return _kept("decomposition", art, tree, "the refit ran out of time", seconds + time.perf_counter() - start)
    for record, alternatives, index in zip(tree["parts"], choices, chosen):
        if index:  # the data chose one of the part's simpler alternatives over its own formula
            record["alternative"] = str(alternatives[index])
    dl_input, dl_whole = _lengths(val, [art.formula, whole], _relative_floor(task, params.exact_below))
    tree.update(formula=str(whole.expr), description_length={"input": dl_input, "decomposition": dl_whole})
    if not dl_whole < dl_input:
        return _kept("decomposition", art, tree, "the input describes the validation rows in fewer nats",
                     seconds + time.perf_counter() - start)
    tree["chosen"] = "decomposition"
    summary = _formula_summary("decomposition", whole, task, seconds + time.perf_counter() - start,
                               mechanism="decomposition", decomposition=tree)
    return FormulaArtifact(whole, summary)


def _part_alternatives(part, formula: Formula) -> list[sympy.Expr]:
    """A part's formula, then the simpler candidates of its own structure search's front (fewer nodes, at least one
    term), simplest first: fitted to an oracle that is not exact, a part's best formula is the oracle's, errors
    included; the simpler candidates may be the data's. The part's formula comes with the numbers its own final
    rounding fixed `released`: the whole's refit on the data may move them (and round-to-zero drop an offset)."""
    front = (part.summary.get("structure_search") or {}).get("front") or []
    out = [released(formula.expr)]
    for candidate in sorted(front, key=lambda c: c["complexity"]):
        if candidate["terms"] and candidate["complexity"] < formula.complexity:
            try:
                expr = parse_formula(candidate["formula"], formula.variable_names)
            except LiesError:
                continue
            if expr not in out:
                out.append(expr)
    return out


def _power_law(part: Dataset) -> list[sympy.Expr]:
    """The log-linear hypothesis on a part's sub-task (`log_linear_fit`), its exponents Floats that the whole's
    refit moves and final rounding snaps; nothing where the part's inputs are not positive or its values change
    sign."""
    fitted = log_linear_fit(part.X, part.y)
    if fitted is None or not np.all(np.isfinite(fitted[1])) or not math.isfinite(fitted[2]):
        return []
    sign, exponents, log_c = fitted
    symbols = [sympy.Symbol(v) for v in part.variables]
    return [sympy.Float(sign * math.exp(log_c)) * sympy.Mul(*[v ** sympy.Float(float(a))
                                                              for v, a in zip(symbols, exponents)])]


def _recombined(split: Split, choices: list[list[sympy.Expr]], at_reference: float, variables: Sequence[str],
                fit: TaskData, val: Dataset, upstream: Upstream | None,
                params: DecompositionParams) -> tuple[Formula, list[int]]:
    """The whole from its parts (`recombine`), each part chosen among its ``choices`` one part at a time (the
    others held at their current choice) by the description length of the refitted whole on the validation rows,
    in up to ``choice_passes`` passes over the parts: the oracle proposes the parts, the data choose. The trial
    refits are bounded (``choice_rows``, ``choice_evaluations``): they rank the candidates, and only the chosen
    whole is refitted in full. Then the pipeline's own polish: round to zero, refit, snap (a part fitted to an
    inexact oracle carries offsets the data do not have; only after a refit has driven them to nothing can
    round-to-zero see it, and final rounding's normal form would otherwise make such an offset the fixed 1 of its
    sum: ``(2e16 F + 1)``). Returns the whole and the index chosen for each part."""
    def assembled(index: list[int]) -> Formula:
        return Formula(recombine(split.kind, [c[i] for c, i in zip(choices, index)], at_reference, split.offset),
                       variables)

    if upstream is None:  # nothing refits: the parts' own formulas, as they are
        index = [0] * len(choices)
        return assembled(index), index
    optimization = upstream.params.get("coefficient_optimization")
    bounded = {} if optimization is None else {"coefficient_optimization": {
        "max_rows": min(params.choice_rows, optimization.max_rows),
        "max_evaluations": min(params.choice_evaluations, optimization.max_evaluations)}}

    def refit(index: list[int]) -> tuple[Formula, float]:
        whole = upstream.polish(assembled(index), fit, ("coefficient_optimization",), bounded)
        return whole, _lengths(val, [whole], _relative_floor(fit, params.exact_below))[0]

    index = [0] * len(choices)
    whole, length = refit(index)
    tried = {tuple(index)}
    for _ in range(params.choice_passes):
        before = list(index)
        for part, alternatives in enumerate(choices):
            for j in range(len(alternatives)):
                trial = index[:part] + [j] + index[part + 1:]
                if tuple(trial) in tried:
                    continue
                tried.add(tuple(trial))
                candidate, trial_length = refit(trial)
                if trial_length < length:
                    index, whole, length = trial, candidate, trial_length
        if index == before:
            break
    whole = upstream.polish(whole, fit, ("coefficient_optimization",))  # from the screened coefficients, in full
    return upstream.polish(whole, fit, ("rounding_to_zero", "coefficient_optimization", "final_rounding")), index


# ------------------------------------------------------------------------------------------------ the table
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
        StructureSearch(),
        Decomposition(),
    )
}

#: The stages ``ablation.skip`` accepts, in pipeline order.
SKIPPABLE = tuple(name for name, s in STAGES.items() if s.skippable)
