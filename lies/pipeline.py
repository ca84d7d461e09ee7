"""Compose stages into a pipeline, in memory or on disk (the DVC shims call `run_stage`).

In memory::

    from lies.pipeline import Pipeline
    result = Pipeline().skip("oversampling").run()          # the default task set, params from the models' defaults
    print(result.metrics["ssr"], result.rows[0]["formula"])

On disk, one stage at a time, each reading its predecessor's folder ``data/<previous>/<task>/`` and writing
``data/<name>/<task>/`` atomically (the whole ``data/<name>/`` appears at once, or not at all).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import yaml

from lies import __version__
from lies.artifacts import (
    ARTIFACT_TYPES,
    ArtifactMeta,
    TaskArtifact,
    atomic_folder,
    hash_path,
    read_json,
    read_meta,
    write_frame,
    write_json,
    write_meta,
)
from lies.errors import LiesError
from lies.evaluation import evaluate_task, summarize
from lies.stages import (
    SKIPPABLE,
    STAGES,
    RuntimeParams,
    Stage,
    StageParams,
    TasksParams,
    check_skip,
    parse_params,
    skipped,
)
from lies.tasks import TaskData

#: Sections of params.yaml that are not stages.
OTHER_SECTIONS = ("tasks", "ablation", "evaluation", "runtime")


@dataclass
class PipelineResult:
    """Everything a pipeline run produced: per stage, one artifact per task; per task, one evaluation row."""

    tasks: list[TaskData]
    artifacts: dict[str, list] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)

    def formula(self, task: int | str = 0):
        """The final formula of a task (by index or name)."""
        i = task if isinstance(task, int) else [t.name for t in self.tasks].index(task)
        return self.artifacts[list(self.artifacts)[-1]][i].formula


class Pipeline:
    """An ordered list of stages (``prepare`` excluded) with their params; immutable, each edit returns a copy.

    ``params`` maps a stage name to a params model instance or a plain dict (validated here).
    """

    def __init__(
        self,
        stages: Sequence[Stage] | None = None,
        params: Mapping[str, Any] | None = None,
        skip: Sequence[str] = (),
    ) -> None:
        self.stages: tuple[Stage, ...] = tuple(stages) if stages is not None else tuple(
            s for name, s in STAGES.items() if name != "prepare"
        )
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise LiesError(f"a pipeline cannot hold a stage twice: {names}")
        params = dict(params or {})
        unknown = set(params) - set(names) - set(OTHER_SECTIONS) - {"prepare"}
        if unknown:
            raise LiesError(f"params for unknown stages: {sorted(unknown)} (stages: {', '.join(names)})")
        self.params: dict[str, StageParams] = {
            s.name: p if isinstance(p := params.get(s.name), StageParams) else parse_params(s.Params, p, s.name)
            for s in self.stages
        }
        for name in skip:
            self._stage(name)
        self.skipped: tuple[str, ...] = tuple(skip)
        self._check_kinds()

    # ---------------------------------------------------------------- composition
    def _stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise LiesError(f"no stage {name!r} in this pipeline (stages: {', '.join(s.name for s in self.stages)})")

    def _check_kinds(self) -> None:
        kind = "task"
        for s in self.stages:
            if s.name in self.skipped:
                if s.input_kind != s.output_kind:
                    raise LiesError(f"stage {s.name!r} cannot be skipped: it turns a {s.input_kind} into a "
                                    f"{s.output_kind}")
                continue
            if s.input_kind != kind:
                raise LiesError(f"stage {s.name!r} takes a {s.input_kind}, but the stage before it gives a {kind}")
            kind = s.output_kind

    def _copy(self, stages=None, params=None, skip=None) -> "Pipeline":
        return Pipeline(stages if stages is not None else self.stages, params if params is not None else self.params,
                        skip if skip is not None else self.skipped)

    def skip(self, *names: str) -> "Pipeline":
        """Skip stages: each passes its input through unchanged and says ``skipped`` in its summary."""
        for name in names:
            if not self._stage(name).skippable and self._stage(name).input_kind != self._stage(name).output_kind:
                raise LiesError(f"stage {name!r} cannot be skipped")
        return self._copy(skip=tuple(dict.fromkeys([*self.skipped, *names])))

    def replace(self, name: str, stage: Stage, params: StageParams | Mapping | None = None) -> "Pipeline":
        """Put ``stage`` where ``name`` was (for instance another pruning method)."""
        self._stage(name)
        stages = [stage if s.name == name else s for s in self.stages]
        new_params = {k: v for k, v in self.params.items() if k != name}
        if params is not None:
            new_params[stage.name] = params
        return self._copy(stages=stages, params=new_params, skip=[s for s in self.skipped if s != name])

    def insert_after(self, name: str, stage: Stage, params: StageParams | Mapping | None = None) -> "Pipeline":
        """Add a stage (e.g. a user-defined one) right after ``name``."""
        self._stage(name)
        stages: list[Stage] = []
        for s in self.stages:
            stages.append(s)
            if s.name == name:
                stages.append(stage)
        new_params = dict(self.params)
        if params is not None:
            new_params[stage.name] = params
        return self._copy(stages=stages, params=new_params)

    def with_params(self, name: str, **changes: Any) -> "Pipeline":
        """A copy with some params of one stage changed, e.g. ``with_params("strong_admm", epochs=60)``."""
        current = self.params[self._stage(name).name]
        new = parse_params(type(current), {**current.model_dump(), **changes}, name)
        return self._copy(params={**self.params, name: new})

    def __repr__(self) -> str:
        names = [f"{s.name} (skipped)" if s.name in self.skipped else s.name for s in self.stages]
        return "Pipeline(" + " -> ".join(names) + ")"

    # ---------------------------------------------------------------- running
    def run(
        self,
        tasks: Sequence[TaskData] | TasksParams | Mapping | None = None,
        runtime: RuntimeParams | Mapping | None = None,
        evaluation_timeout: float = 10.0,
        on_stage: Callable[[str, float], None] | None = None,
    ) -> PipelineResult:
        """Run every stage over the tasks (prepared data, or a `TasksParams`/dict to prepare), then evaluate."""
        runtime = runtime if isinstance(runtime, RuntimeParams) else parse_params(RuntimeParams, runtime, "runtime")
        if not (isinstance(tasks, Sequence) and all(isinstance(t, TaskData) for t in tasks)):
            tasks_params = tasks if isinstance(tasks, TasksParams) else parse_params(TasksParams, tasks, "tasks")
            tasks = [a.data for a in STAGES["prepare"].run([], [], tasks_params, runtime)]
        tasks = list(tasks)
        result = PipelineResult(tasks=tasks)
        current: list = [TaskArtifact(t) for t in tasks]
        for stage in self.stages:
            start = time.perf_counter()
            if stage.name in self.skipped:
                current = [skipped(stage.name, a) for a in current]
            else:
                current = stage.run(current, tasks, self.params[stage.name], runtime)
            result.artifacts[stage.name] = current
            if on_stage is not None:
                on_stage(stage.name, time.perf_counter() - start)
        result.rows = evaluation_rows(tasks, result.artifacts, evaluation_timeout)
        result.metrics = summarize(result.rows)
        return result


def evaluation_rows(tasks: Sequence[TaskData], artifacts: Mapping[str, list], timeout: float) -> list[dict]:
    last = list(artifacts)[-1]
    rows = []
    for i, task in enumerate(tasks):
        summaries = {name: arts[i].summary for name, arts in artifacts.items()}
        rows.append(evaluate_task(task, summaries, getattr(artifacts[last][i], "formula", None), timeout))
    return rows


# ------------------------------------------------------------------------------------------------ on disk
def load_params(path: str | Path = "params.yaml") -> dict:
    """Read params.yaml (LiesError when missing or not YAML)."""
    path = Path(path)
    if not path.exists():
        raise LiesError(f"missing params file: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise LiesError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise LiesError(f"{path} must hold a mapping of sections")
    known = [*STAGES, *OTHER_SECTIONS]
    for key in data:
        if key not in known:
            import difflib

            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise LiesError(f"{path}: unknown section {key!r}{hint}")
    return data


def previous_stage(name: str) -> str:
    names = list(STAGES)
    return names[names.index(name) - 1]


def _task_folders(data_dir: Path, stage: str) -> list[Path]:
    root = data_dir / stage
    if not root.is_dir():
        raise LiesError(f"missing artifact folder: {root} (run the {stage!r} stage first: dvc repro)")
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def read_tasks(data_dir: Path) -> list[TaskData]:
    tasks = []
    for folder in _task_folders(data_dir, "prepare"):
        read_meta(folder, "task", stage="prepare")
        tasks.append(TaskArtifact.read(folder).data)
    return tasks


def read_stage(data_dir: Path, stage: str, tasks: Sequence[TaskData]) -> list:
    out = []
    for task in tasks:
        folder = data_dir / stage / task.name
        meta = read_meta(folder, stage=stage)
        out.append(ARTIFACT_TYPES[meta.kind].read(folder))
    return out


def skip_switch(data_dir: Path, stage: str) -> bool:
    """The ablation switch of a stage, written by the ``ablation`` stage into data/ablation/<stage>.json."""
    path = data_dir / "ablation" / f"{stage}.json"
    return bool(read_json(path)["skip"]) if path.exists() else False


def write_stage(data_dir: Path, stage: str, artifacts: Sequence, tasks: Sequence[TaskData], params: StageParams,
                inputs: Mapping[str, str], skipped_flag: bool = False) -> None:
    """Write ``data/<stage>/<task>/`` for every task, atomically for the whole stage."""
    with atomic_folder(data_dir / stage) as tmp:
        for art, task in zip(artifacts, tasks):
            folder = tmp / task.name
            folder.mkdir()
            art.write(folder)
            write_meta(folder, ArtifactMeta(kind=art.kind, stage=stage, task=task.name,
                                            params=params.model_dump(mode="json"), inputs=dict(inputs),
                                            library_version=__version__, skipped=skipped_flag))


def run_stage(name: str, root: str | Path = ".", progress: bool | None = None) -> None:
    """Run one stage on disk, as ``stages/<name>.py`` does: params from ``root/params.yaml``, data in ``root/data``."""
    root = Path(root)
    params = load_params(root / "params.yaml")
    data_dir = root / "data"
    runtime = parse_params(RuntimeParams, params.get("runtime"), "runtime")
    if progress is not None:
        runtime = runtime.model_copy(update={"progress": progress})
    if name == "ablation":
        skip = check_skip((params.get("ablation") or {}).get("skip"))
        with atomic_folder(data_dir / "ablation") as tmp:
            for stage in SKIPPABLE:
                write_json(tmp / f"{stage}.json", {"skip": stage in skip})
        return
    if name == "evaluation":
        return run_evaluation(root, params)
    if name not in STAGES:
        raise LiesError(f"unknown stage {name!r} (stages: {', '.join(['ablation', *STAGES, 'evaluation'])})")
    stage = STAGES[name]
    stage_params = parse_params(stage.Params, params.get("tasks" if name == "prepare" else name), name)
    if name == "prepare":
        arts = stage.run([], [], stage_params, runtime)
        write_stage(data_dir, name, arts, [a.data for a in arts], stage_params, {})
        return
    tasks = read_tasks(data_dir)
    prev = previous_stage(name)
    inputs = read_stage(data_dir, prev, tasks)
    hashes = {"prepare": hash_path(data_dir / "prepare"), prev: hash_path(data_dir / prev)}
    skip = stage.skippable and skip_switch(data_dir, name)
    outputs = [skipped(name, a) for a in inputs] if skip else stage.run(inputs, tasks, stage_params, runtime)
    write_stage(data_dir, name, outputs, tasks, stage_params, hashes, skipped_flag=skip)


def run_evaluation(root: Path, params: Mapping) -> None:
    """Evaluate the final formulas: data/evaluation/{metrics.json, results.csv, curves.csv}."""
    import pandas as pd

    data_dir = root / "data"
    timeout = float((params.get("evaluation") or {}).get("symbolic_timeout", 10.0))
    tasks = read_tasks(data_dir)
    artifacts = {name: read_stage(data_dir, name, tasks) for name in STAGES if name != "prepare"}
    rows = evaluation_rows(tasks, artifacts, timeout)
    curves = []
    for task, art in zip(tasks, artifacts["strong_admm"]):
        for h in art.history:
            if "loss" in h and h.get("phase") in ("weak_admm", "strong_admm"):
                curves.append({"task": task.name, "phase": h["phase"], "epoch": h["epoch"], "loss": h["loss"],
                               "exp_loss": h["exp_loss"]})
    with atomic_folder(data_dir / "evaluation") as tmp:
        write_json(tmp / "metrics.json", summarize(rows))
        write_frame(tmp / "results.csv", pd.DataFrame(rows))
        write_frame(tmp / "curves.csv", pd.DataFrame(curves, columns=["task", "phase", "epoch", "loss", "exp_loss"]))
