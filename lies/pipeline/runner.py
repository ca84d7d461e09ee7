"""Compose stages into a pipeline, in memory or on disk (the DVC shims and ``lies run`` call `run_stage`).

In memory::

    from lies.pipeline.runner import Pipeline
    result = Pipeline().skip("oversampling").run()          # the default task set, params from the models' defaults
    print(result.metrics["ssr"], result.rows[0]["formula"])

One stage on one artifact (in memory or loaded from a run folder)::

    task = load_artifact("data/prepare/I.12.1-t0").data
    rounded = apply_stage("rounding_to_zero", load_artifact("data/extract/I.12.1-t0"), task, {"tau": 0.5})

On disk, one stage at a time, each reading its predecessor's folder ``data/<previous>/<task>/`` and writing
``data/<name>/<task>/`` atomically (the whole ``data/<name>/`` appears at once, or not at all).

Every stage loop here (in memory, one stage, one stage on disk) is `lies.pipeline.stages.run_stages`. The params models'
defaults (`lies.params`) are the project's defaults: ``params.yaml`` is written from them and
``tests/test_contract.py`` keeps it so, so that ``Pipeline().run()`` and ``dvc repro`` run the same thing.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
import yaml

from lies import __version__
from lies.core.errors import LiesError, did_you_mean
from lies.core.files import atomic_folder, dumps_json, hash_path, read_json, write_frame, write_json
from lies.data.tasks import TaskData, task_specs
from lies.params import (
    EQL_TRAINING_STAGES,
    OTHER_SECTIONS,
    SECTIONS,
    ByKind,
    EqlParams,
    EvaluationParams,
    NetworkParams,
    RuntimeParams,
    StageParams,
    TasksParams,
    check_params,
    parse_params,
    training_params,
    training_section,
)
from lies.pipeline.artifacts import ARTIFACT_TYPES, ArtifactMeta, TaskArtifact, read_meta, write_meta
from lies.pipeline.engine import map_tasks
from lies.pipeline.evaluation import evaluate_task, summarize
from lies.pipeline.stages import SKIPPABLE, STAGES, Stage, run_stages

#: The paper's stages after ``prepare``: what an in-memory `Pipeline` runs by default.
PIPELINE_STAGES: tuple[str, ...] = tuple(name for name in STAGES if name != "prepare")

#: Every stage of ``dvc.yaml`` in DAG order; ``lies run`` runs them in this order, ``lies inspect`` lists them so.
DVC_STAGES: tuple[str, ...] = ("prepare", "ablation", *PIPELINE_STAGES, "evaluation")


# ------------------------------------------------------------------------------------------------ in memory
@dataclass
class PipelineResult:
    """Everything a pipeline run produced: per stage, one artifact per task; per task, one evaluation row."""

    tasks: list[TaskData]
    artifacts: dict[str, list] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)

    def formula(self, task: int | str = 0):
        """The final formula of a task (by index or name)."""
        names = [t.name for t in self.tasks]
        if isinstance(task, str):
            if task not in names:
                raise LiesError(f"no task {task!r} in this result{did_you_mean(task, names)} "
                                f"(tasks: {', '.join(names)})")
            task = names.index(task)
        return self.artifacts[list(self.artifacts)[-1]][task].formula


class Pipeline:
    """An ordered list of stages (``prepare`` excluded) with their params; immutable, each edit returns a copy.

    ``params`` maps a stage name to a params model instance or a plain dict (validated here; a partial dict keeps
    the model's defaults for the other keys). Sections that are not stages (``tasks``, ``runtime``...) are
    accepted and ignored, so a whole params.yaml can be passed.
    """

    def __init__(
        self,
        stages: Sequence[Stage] | None = None,
        params: Mapping[str, Any] | None = None,
        skip: str | Sequence[str] = (),
    ) -> None:
        self.stages: tuple[Stage, ...] = tuple(stages) if stages is not None else tuple(
            STAGES[name] for name in PIPELINE_STAGES
        )
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise LiesError(f"a pipeline cannot hold a stage twice: {names}")
        params = dict(params or {})
        unknown = sorted(set(params) - set(names) - set(OTHER_SECTIONS) - {"prepare"})
        if unknown:
            raise LiesError(f"params for unknown stage {unknown[0]!r}{did_you_mean(unknown[0], names)} "
                            f"(stages: {', '.join(names)})")
        network = params.get("network")
        self.network = network if isinstance(network, NetworkParams) else parse_params(NetworkParams, network,
                                                                                        "network")
        self.params: dict[str, StageParams | ByKind] = {}
        for s in self.stages:  # under another network.kind the training stages may take its section (eql)
            section = training_section(s.name, self.network.kind) or s.name
            model = SECTIONS[section] if section != s.name else s.Params
            p = params.get(section)
            if isinstance(p, ByKind):  # a copy of an auto pipeline: its own part, the eql part comes below
                p = p.lies
            self.params[s.name] = p if isinstance(p, model) else parse_params(model, p, section)
            if self.network.kind == "auto" and s.name in EQL_TRAINING_STAGES:  # both kinds' params, split per task
                eql = params.get("eql")
                if isinstance(eql, ByKind) or eql is None:
                    eql = next((q.eql for q in params.values() if isinstance(q, ByKind)), None)
                eql = eql if isinstance(eql, EqlParams) else parse_params(EqlParams, eql, "eql")
                self.params[s.name] = ByKind(self.params[s.name], eql)
        skip = (skip,) if isinstance(skip, str) else tuple(skip)
        for name in skip:
            self._stage(name)
        self.skipped: tuple[str, ...] = tuple(dict.fromkeys(skip))
        self._check_kinds()

    # ---------------------------------------------------------------- composition
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)

    def _stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise LiesError(f"no stage {name!r} in this pipeline{did_you_mean(name, self.names)} "
                        f"(stages: {', '.join(self.names)})")

    def _check_kinds(self) -> None:
        kind = TaskArtifact
        for s in self.stages:
            if s.name in self.skipped:
                if s.input_kind is not s.output_kind:
                    raise LiesError(f"stage {s.name!r} cannot be skipped: it turns a {_kind(s.input_kind)} into a "
                                    f"{_kind(s.output_kind)}")
                continue
            if s.input_kind is not kind:
                raise LiesError(f"stage {s.name!r} takes a {_kind(s.input_kind)}, but the stage before it gives a "
                                f"{_kind(kind)}")
            kind = s.output_kind

    def _copy(self, stages=None, params=None, skip=None) -> "Pipeline":
        params = {**(params if params is not None else self.params), "network": self.network}
        shared = {}  # under another kind the training stages share its section: the first stage's params are it
        for name, p in params.items():
            section = training_section(name, self.network.kind)
            if section is not None:
                shared.setdefault(section, p)
        params.update(shared)
        return Pipeline(stages if stages is not None else self.stages, params,
                        skip if skip is not None else self.skipped)

    def skip(self, *names: str) -> "Pipeline":
        """Skip stages: each passes its input through unchanged and says ``skipped`` in its summary."""
        for name in names:
            stage = self._stage(name)
            if not stage.skippable and stage.input_kind is not stage.output_kind:
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
        own = current.lies if isinstance(current, ByKind) else current  # under auto: the stage's own section
        new = parse_params(type(own), {**own.model_dump(), **changes}, name)
        return self._copy(params={**self.params, name: ByKind(new, current.eql) if own is not current else new})

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
            prepared = run_stages([STAGES["prepare"]], [], [], {"prepare": tasks_params}, runtime)["prepare"]
            tasks = [a.data for a in prepared]
        tasks = list(tasks)
        if not tasks:
            raise LiesError("Pipeline.run: no tasks to run (give TaskData, a TasksParams or a dict of it, or None "
                            "for the default task set)")
        result = PipelineResult(tasks=tasks)
        result.artifacts = run_stages(self.stages, [TaskArtifact(t) for t in tasks], tasks, self.params, runtime,
                                      self.skipped, on_stage)
        start = time.perf_counter()
        result.rows = evaluation_rows(tasks, result.artifacts, evaluation_timeout, runtime)
        result.metrics = summarize(result.rows)
        if on_stage is not None:
            on_stage("evaluation", time.perf_counter() - start)
        return result


def _kind(artifact_type) -> str:
    return artifact_type.kind if artifact_type is not None else "nothing"


def evaluation_rows(tasks: Sequence[TaskData], artifacts: Mapping[str, list], timeout: float,
                    runtime: RuntimeParams | None = None) -> list[dict]:
    """One row per task (`evaluate_task`); the symbolic checks fan out over the runtime's workers like a stage's
    tasks (in this process when ``runtime`` is None), and the progress bar shows the running SSR."""
    last = list(artifacts)[-1]
    jobs = [(task, {name: arts[i].summary for name, arts in artifacts.items()},
             getattr(artifacts[last][i], "formula", None), timeout) for i, task in enumerate(tasks)]
    runtime = runtime or RuntimeParams(n_jobs=1, progress=False)

    def ssr(rows: list[dict]) -> str:
        return f"SSR {sum(bool(r['symbolic_solution']) for r in rows)}/{len(rows)}"

    return map_tasks(evaluate_task, jobs, runtime, torch.device("cpu"), desc="evaluation", postfix=ssr)


def get_stage(name: str) -> Stage:
    """A built-in stage by name (LiesError with a hint when there is none)."""
    if name not in STAGES:
        raise LiesError(f"unknown stage {name!r}{did_you_mean(name, list(STAGES))} (stages: {', '.join(STAGES)})")
    return STAGES[name]


def apply_stage(
    stage: str | Stage,
    inputs: Any,
    tasks: TaskData | Sequence[TaskData],
    params: StageParams | Mapping | None = None,
    runtime: RuntimeParams | Mapping | None = None,
) -> Any:
    """Run one stage on one artifact and its task (or on lists of both); params as a model or a partial dict."""
    stage = get_stage(stage) if isinstance(stage, str) else stage
    single = not isinstance(inputs, (list, tuple))
    inputs = [inputs] if single else list(inputs)
    tasks = [tasks] if isinstance(tasks, TaskData) else list(tasks)
    if len(tasks) != len(inputs):
        raise LiesError(f"stage {stage.name!r} got {len(inputs)} artifacts but {len(tasks)} tasks")
    wrong = next((a for a in inputs if stage.input_kind is not None and not isinstance(a, stage.input_kind)), None)
    if wrong is not None:  # caught here: inside the stage it is an AttributeError deep in the training code
        got = getattr(wrong, "kind", None) or type(wrong).__name__
        raise LiesError(f"stage {stage.name!r} takes a {_kind(stage.input_kind)} artifact, got a {got!r} (give it "
                        "the output of a stage that makes one)")
    params = params if isinstance(params, StageParams) else parse_params(stage.Params, params, stage.name)
    runtime = runtime if isinstance(runtime, RuntimeParams) else parse_params(
        RuntimeParams, runtime if runtime is not None else {"n_jobs": 1}, "runtime")
    out = run_stages([stage], inputs, tasks, {stage.name: params}, runtime)[stage.name]
    return out[0] if single else out


# ------------------------------------------------------------------------------------------------ on disk
class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error (YAML keeps the last one)."""


def _mapping_without_repeats(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice (again on line {key_node.start_mark.line + 1}); keep one")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_repeats)


def load_params(path: str | Path = "params.yaml") -> dict:
    """Read params.yaml (LiesError when missing, not UTF-8 YAML, with a repeated key or an unknown section)."""
    path = Path(path)
    if path.is_dir():
        raise LiesError(f"params file {path} is a folder, not a file")
    if not path.is_file():
        raise LiesError(f"missing params file: {path}")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader) or {}
    except UnicodeDecodeError as exc:
        raise LiesError(f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except yaml.YAMLError as exc:
        raise LiesError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise LiesError(f"{path} must hold a mapping of sections")
    for key in data:
        if key not in SECTIONS:
            raise LiesError(f"{path}: unknown section {key!r}{did_you_mean(key, list(SECTIONS))}")
    return data


def previous_stage(name: str) -> str:
    names = list(STAGES)
    return names[names.index(name) - 1]


def data_folder(path: str | Path) -> Path:
    """The ``data/`` folder of a run: ``path`` itself, or ``path/data``."""
    path = Path(path)
    for candidate in (path / "data", path):
        if (candidate / "prepare").is_dir():
            return candidate
    if not path.exists():
        raise LiesError(f"no such folder: {path}")
    raise LiesError(f"{path} holds no pipeline outputs (no prepare/ or data/prepare/ inside; "
                    "run dvc repro or lies run)")


def _task_folders(data_dir: Path, stage: str) -> list[Path]:
    root = data_dir / stage
    if not root.is_dir():
        raise LiesError(f"missing artifact folder: {root} (run the {stage!r} stage first: dvc repro)")
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _read_artifact(folder: Path, kind: str | None, stage: str | None):
    """Read one artifact folder; anything wrong inside it is a LiesError naming the folder."""
    meta = read_meta(folder, kind, stage=stage)
    try:
        return ARTIFACT_TYPES[meta.kind].read(folder)
    except LiesError:
        raise
    except (KeyError, ValueError, TypeError, IndexError, RuntimeError) as exc:
        raise LiesError(f"corrupted artifact folder: {folder} ({type(exc).__name__}: {exc})") from None


def load_artifact(folder: str | Path):
    """The artifact in ``folder`` (a `TaskArtifact`, `NetworkArtifact` or `FormulaArtifact`, as meta.json says)."""
    folder = Path(folder)
    kind = read_meta(folder).kind
    if kind not in ARTIFACT_TYPES:
        raise LiesError(f"artifact folder {folder} holds an unknown kind {kind!r}")
    return _read_artifact(folder, kind, None)


def read_tasks(data_dir: Path) -> list[TaskData]:
    return [_read_artifact(folder, "task", "prepare").data for folder in _task_folders(data_dir, "prepare")]


def read_stage(data_dir: Path, stage: str, tasks: Sequence[TaskData]) -> list:
    """A stage's artifacts, one per task, with the seconds each took (kept beside them: `TIMINGS`)."""
    kind = STAGES[stage].output_kind.kind if stage in STAGES else None
    seconds = read_timings(data_dir, stage)
    artifacts = [_read_artifact(data_dir / stage / task.name, kind, stage) for task in tasks]
    return [replace(art, summary={**art.summary, "seconds": seconds[task.name]}) if task.name in seconds else art
            for art, task in zip(artifacts, tasks)]


#: Wall seconds per task and stage live beside the outputs, not in them: a stage that re-runs and produces the same
#: artifacts must write the same bytes, or DVC would re-run everything after it.
TIMINGS = ".timings"


def read_timings(data_dir: Path, stage: str) -> dict[str, float]:
    """Seconds per task of one stage (empty when the stage has not run here)."""
    path = Path(data_dir) / TIMINGS / f"{stage}.json"
    return {k: float(v) for k, v in read_json(path).items()} if path.exists() else {}


#: The params.yaml sections each dvc.yaml stage reads (its ``params:`` list there); a stage's params hash covers them.
def _sections(name: str) -> tuple[str, ...]:
    if name == "prepare":
        return ("tasks",)
    if name in ("weak_admm", "strong_admm"):
        return (name, "network", "eql")
    if getattr(STAGES.get(name), "uses_upstream", False):  # it reads the run before it: its params and skips
        return (name, "network", "eql", *PIPELINE_STAGES[: PIPELINE_STAGES.index(name)], "ablation")
    return (name,)


STAGE_SECTIONS: dict[str, tuple[str, ...]] = {name: _sections(name) for name in DVC_STAGES}

#: Per stage, the files the run wrote into ``data/<stage>/`` (a sidecar like `TIMINGS`): ``lies run --force``
#: removes those and refuses to remove anything else a person put there.
WRITTEN = ".written"


def params_hash(name: str, checked: Mapping[str, Any]) -> str:
    """sha256 of what stage ``name`` reads from the validated params (its sections, and its ablation switch): recorded
    with its outputs, so that an edit of params.yaml afterwards shows the outputs as stale."""
    sections = {s: checked[s].model_dump(mode="json") for s in STAGE_SECTIONS[name]}
    if name in SKIPPABLE:
        sections["skip"] = name in checked["ablation"].skip
    return hashlib.sha256(dumps_json(sections).encode("utf-8")).hexdigest()


def record_written(data_dir: Path, stage: str, built: Path | None = None) -> None:
    """List the files now in ``data/<stage>/`` as the run's own, right after the stage's atomic commit. Called also
    just before it with the folder ``built`` about to replace it: the list then holds the old files and the new, so
    that a run killed between the commit and the final list leaves no file of its own looking foreign."""
    root = built or data_dir / stage
    files = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    record = data_dir / WRITTEN / f"{stage}.json"
    if built is not None and record.is_file():
        files |= set(read_json(record))
    write_json(record, sorted(files))


def foreign_files(data_dir: Path, stage: str) -> list[str]:
    """Files in ``data/<stage>/`` that no run wrote (relative paths). A folder without a record (an older version
    of lies, or dvc before this file existed) is taken as written whole by the run."""
    root, record = data_dir / stage, data_dir / WRITTEN / f"{stage}.json"
    if not root.is_dir() or not record.is_file():
        return []
    ours = set(read_json(record))
    return sorted(rel for rel in (p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
                  if rel not in ours)


def stage_is_current(name: str, root: str | Path) -> bool:
    """Whether ``root/data/<name>/`` is a complete output made with the params now in ``root/params.yaml`` from the
    input folders now there: what ``lies run --resume`` reuses instead of re-running. ``prepare`` and ``ablation``
    are cheap and read files outside data/ (a CSV): never reused."""
    root = Path(root)
    data_dir = root / "data"
    if name in ("prepare", "ablation") or not (data_dir / name).is_dir() or not (data_dir / "prepare").is_dir():
        return False
    checked = check_params(load_params(root / "params.yaml"))
    wanted = params_hash(name, checked)
    if name == "evaluation":
        path = data_dir / name / EVALUATION_INPUTS
        recorded = read_json(path) if path.is_file() else {}
        hashes = recorded.pop("params", None)
        return hashes == wanted and bool(recorded) and all(
            (data_dir / n).is_dir() and hash_path(data_dir / n) == h for n, h in recorded.items())
    tasks = sorted(p.name for p in (data_dir / "prepare").iterdir() if p.is_dir() and not p.name.startswith("."))
    current: dict[str, str] = {}
    for task in tasks:
        try:
            meta = read_meta(data_dir / name / task, stage=name)
        except LiesError:
            return False
        if meta.params_hash != wanted:
            return False
        for n, h in meta.inputs.items():
            if n not in current:
                current[n] = hash_path(data_dir / n) if (data_dir / n).is_dir() else ""
            if current[n] != h:
                return False
    return bool(tasks)


def skip_switch(data_dir: Path, stage: str) -> bool:
    """The ablation switch of a stage, written by the ``ablation`` stage into data/ablation/<stage>.json."""
    path = data_dir / "ablation" / f"{stage}.json"
    return bool(read_json(path)["skip"]) if path.exists() else False


def write_stage(data_dir: Path, stage: str, artifacts: Sequence, tasks: Sequence[TaskData], params: StageParams,
                inputs: Mapping[str, str], skipped_flag: bool = False, hashed: str | None = None) -> None:
    """Write ``data/<stage>/<task>/`` for every task, atomically for the whole stage, and the stage's seconds per
    task into ``data/.timings/<stage>.json`` (outside the DVC output, so that the output is byte-stable)."""
    seconds = {}
    with atomic_folder(data_dir / stage) as tmp:
        for art, task in zip(artifacts, tasks):
            folder = tmp / task.name
            folder.mkdir()
            timed = getattr(art, "summary", None)
            if timed is None:  # a task artifact: no summary, no timing
                art.write(folder)
            else:
                replace(art, summary={k: v for k, v in timed.items() if k != "seconds"}).write(folder)
                seconds[task.name] = float(timed.get("seconds", 0.0))
            write_meta(folder, ArtifactMeta(kind=art.kind, stage=stage, task=task.name,
                                            params=params.model_dump(mode="json"), inputs=dict(inputs),
                                            library_version=__version__, skipped=skipped_flag,
                                            params_hash=hashed))
        record_written(data_dir, stage, tmp)
    record_written(data_dir, stage)
    (data_dir / TIMINGS).mkdir(exist_ok=True)
    write_json(data_dir / TIMINGS / f"{stage}.json", seconds)


def run_stage(name: str, root: str | Path = ".", progress: bool | None = None) -> None:
    """Run one stage on disk, as ``stages/<name>.py`` does: params from ``root/params.yaml``, data in ``root/data``.

    The whole params.yaml is validated first, so that a typo anywhere stops ``dvc repro`` at its first stage
    rather than after the training.
    """
    root = Path(root)
    if name not in DVC_STAGES:
        raise LiesError(f"unknown stage {name!r}{did_you_mean(name, DVC_STAGES)} (stages: {', '.join(DVC_STAGES)})")
    params = load_params(root / "params.yaml")
    checked = check_params(params)
    task_specs(checked["tasks"])  # unknown equation ids, a CSV without a target: before the first stage writes
    data_dir = root / "data"
    runtime = checked["runtime"]
    if progress is not None:
        runtime = runtime.model_copy(update={"progress": progress})
    if name == "ablation":
        skip = checked["ablation"].skip
        with atomic_folder(data_dir / "ablation") as tmp:
            for stage in SKIPPABLE:
                write_json(tmp / f"{stage}.json", {"skip": stage in skip})
            record_written(data_dir, "ablation", tmp)
        record_written(data_dir, "ablation")
        return
    if name == "evaluation":
        return run_evaluation(root, params, runtime)
    hashed = params_hash(name, checked)
    stage = STAGES[name]
    stage_params = training_params(name, checked)
    if name == "prepare":
        arts = run_stages([stage], [], [], {name: stage_params}, runtime)[name]
        write_stage(data_dir, name, arts, [a.data for a in arts], stage_params, {}, hashed=hashed)
        return
    tasks = read_tasks(data_dir)
    prev = previous_stage(name)
    inputs = read_stage(data_dir, prev, tasks)
    hashes = {"prepare": hash_path(data_dir / "prepare"), prev: hash_path(data_dir / prev)}
    skip = stage.skippable and skip_switch(data_dir, name)
    # a stage that reads the run before it (structure search, decomposition) gets their params and skips
    upstream = {n: training_params(n, checked) for n in PIPELINE_STAGES} if getattr(stage, "uses_upstream", False) else {}
    skips = (*checked["ablation"].skip, name) if skip else tuple(s for s in checked["ablation"].skip if s != name)
    outputs = run_stages([stage], inputs, tasks, {**upstream, name: stage_params}, runtime, skip=skips)[name]
    write_stage(data_dir, name, outputs, tasks, stage_params, hashes, skipped_flag=skip, hashed=hashed)


#: The file of data/evaluation/ recording the hash of every stage folder the results were computed from, and under
#: ``params`` the hash of the evaluation params (`params_hash`).
EVALUATION_INPUTS = "inputs.json"


def run_evaluation(root: Path, params: Mapping, runtime: RuntimeParams | None = None) -> None:
    """Evaluate the final formulas: data/evaluation/{metrics.json, results.csv, curves.csv}."""
    import pandas as pd

    data_dir = root / "data"
    timeout = parse_params(EvaluationParams, params.get("evaluation"), "evaluation").symbolic_timeout
    tasks = read_tasks(data_dir)
    artifacts = {name: read_stage(data_dir, name, tasks) for name in PIPELINE_STAGES}
    runtime = runtime or parse_params(RuntimeParams, params.get("runtime"), "runtime")
    rows = evaluation_rows(tasks, artifacts, timeout, runtime)
    curves = []
    for task, art in zip(tasks, artifacts["strong_admm"]):
        for h in art.history:
            if "loss" in h and h.get("phase") in ("weak_admm", "strong_admm"):
                curves.append({"task": task.name, "phase": h["phase"], "epoch": h["epoch"], "loss": h["loss"],
                               "exp_loss": h.get("exp_loss")})  # EQL: no exp loss (its data loss is "mse")
    hashes = {name: hash_path(data_dir / name) for name in ("prepare", *PIPELINE_STAGES)}
    hashes["params"] = params_hash("evaluation", check_params(params))
    with atomic_folder(data_dir / "evaluation") as tmp:
        write_json(tmp / EVALUATION_INPUTS, hashes)  # what `lies inspect` compares to say the results are stale
        write_json(tmp / "metrics.json", summarize(rows))
        write_frame(tmp / "results.csv", pd.DataFrame(rows))
        write_frame(tmp / "curves.csv", pd.DataFrame(curves, columns=["task", "phase", "epoch", "loss", "exp_loss"]))
        record_written(data_dir, "evaluation", tmp)
    record_written(data_dir, "evaluation")
