"""The typed artifacts the stages hand each other, one folder per task with a ``meta.json`` that says what it is.

`ArtifactMeta` records the kind, the stage, the task, the params and the hashes of the inputs; `TaskArtifact`,
`NetworkArtifact` and `FormulaArtifact` write their files through `lies.core.files` (byte-stable, atomic) and read
themselves back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pydantic

from lies.core.errors import LiesError
from lies.core.files import json_values, load_tensors, read_frame, read_json, save_tensors, write_frame, write_json
from lies.data.csv_data import frame_to_dataset
from lies.data.dataset import Dataset
from lies.data.tasks import TaskData, TaskSpec
from lies.data.transforms import Transform
from lies.symbolic.formula import Formula
from lies.training.kinds import network_from

SCHEMA_VERSION: int = 1
"""Version of the artifact layout; bump it when a stage changes what it writes, so old outputs are refused."""

META_FILE = "meta.json"

# --- metadata ---------------------------------------------------------------------------------------------------


class ArtifactMeta(pydantic.BaseModel, extra="forbid", frozen=True):
    """What every artifact folder says about itself in ``meta.json``: what it is and how it was made."""

    kind: str  # e.g. "network", "formula", "dataset"
    schema_version: int = SCHEMA_VERSION
    stage: str  # the stage that wrote it
    task: str  # task name, e.g. "I.12.1-t0"
    params: dict[str, Any]  # the stage's params as plain JSON
    inputs: dict[str, str]  # name -> hash_path of each input artifact folder
    library_version: str  # lies.__version__
    skipped: bool = False
    params_hash: str | None = None  # runner.params_hash of the params it ran with (None: written before it existed)

    @pydantic.field_validator("params", mode="before")
    @classmethod
    def _params_as_plain_json(cls, value: Any) -> Any:
        # Normalised on the way in, so that a meta read back from disk equals the one that was written.
        return json_values(value) if isinstance(value, Mapping) else value


def write_meta(folder: str | os.PathLike, meta: ArtifactMeta) -> None:
    write_json(Path(folder) / META_FILE, meta.model_dump())


def read_meta(folder: str | os.PathLike, kind: str | None = None, *, stage: str | None = None) -> ArtifactMeta:
    """Read and check a folder's ``meta.json``; every problem is a one-line `LiesError` naming the folder.

    `kind`, if given, is the kind the caller expects. `stage`, if given, is the stage that writes this folder,
    named in the hint when the folder is missing.
    """
    folder = Path(folder)
    run_hint = f"run the '{stage}' stage first" if stage else "run the stage that writes it first (dvc repro)"
    if not folder.is_dir():
        raise LiesError(f"missing artifact folder: {folder} ({run_hint})")
    if not (folder / META_FILE).is_file():
        raise LiesError(f"incomplete artifact folder: {folder} has no {META_FILE} ({run_hint})")

    try:
        raw = read_json(folder / META_FILE)
    except LiesError as e:
        raise LiesError(f"corrupted artifact folder: {folder} ({e})") from None
    if not isinstance(raw, dict):
        raise LiesError(f"corrupted artifact folder: {folder} ({META_FILE} is not a JSON object)")

    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        # Checked before validation: another version may have other fields, and this is the useful message.
        raise LiesError(
            f"artifact folder {folder} has schema version {version!r}, this version of lies reads "
            f"{SCHEMA_VERSION}; re-run the '{raw.get('stage', '?')}' stage"
        )
    try:
        meta = ArtifactMeta.model_validate(raw)
    except pydantic.ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or '-'}: {err['msg']}" for err in e.errors())
        raise LiesError(f"corrupted artifact folder: {folder} ({META_FILE}: {problems})") from None

    if kind is not None and meta.kind != kind:
        raise LiesError(
            f"artifact folder {folder} holds a '{meta.kind}' artifact (from stage '{meta.stage}'), expected '{kind}'"
        )
    return meta


# --------------------------------------------------------------------------------------------------- typed artifacts
# What the stages pass to each other, with the files a person can open. Each class writes into a folder that the
# caller has made atomic (`atomic_folder`) and reads back from it; `meta.json` is the caller's business too.


def _dataset_frame(data) -> pd.DataFrame:
    return data.to_frame()


def _read_dataset(path: Path, variables, target: str, frame: pd.DataFrame | None = None):
    frame = read_frame(path) if frame is None else frame
    missing = [c for c in [*variables, target] if c not in frame.columns]
    if missing:
        raise LiesError(f"corrupted artifact file: {path} (missing columns {missing})")
    try:
        frame = frame[[*variables, target]].astype("float64")  # a header-only CSV reads back as text columns
    except (TypeError, ValueError) as exc:
        raise LiesError(f"corrupted artifact file: {path} ({exc})") from None
    return frame_to_dataset(frame, target=target, variables=list(variables))


def _read_added(path: Path, n_restarts: int, variables, target: str) -> list:
    """``added.csv`` -> one dataset per restart (restarts without a row get an empty one)."""
    frame = read_frame(path)
    if "restart" not in frame.columns:
        raise LiesError(f"corrupted artifact file: {path} (missing column 'restart')")
    data = _read_dataset(path, variables, target, frame)
    restart = pd.to_numeric(frame["restart"], errors="coerce").to_numpy()
    return [Dataset(data.X[restart == r], data.y[restart == r], data.variables, target) for r in range(n_restarts)]


class Artifact:
    """What a stage hands to the next one, per task: a typed, immutable value that writes itself into a folder and
    reads itself back. ``kind`` is the name ``meta.json`` gives it; a stage declares its input and output as these
    classes (`lies.pipeline.stages.Stage`). A summary, where there is one, is complete when the artifact is built."""

    kind: ClassVar[str]

    def write(self, folder: Path) -> None:
        raise NotImplementedError

    @classmethod
    def read(cls, folder: Path) -> "Artifact":
        raise NotImplementedError


@dataclass(frozen=True, eq=False)  # eq: arrays and tensors have no single truth value
class TaskArtifact(Artifact):
    """Output of ``prepare``: the task's identity and its training and held-out samples (raw units)."""

    kind: ClassVar[str] = "task"
    data: Any  # lies.data.tasks.TaskData

    def write(self, folder: Path) -> None:
        write_json(folder / "task.json", self.data.spec.to_dict() | {"target": self.data.train.target,
                                                                      "variables": list(self.data.variables)})
        write_frame(folder / "train.csv", _dataset_frame(self.data.train))
        write_frame(folder / "test.csv", _dataset_frame(self.data.test))

    @classmethod
    def read(cls, folder: Path) -> "TaskArtifact":
        spec = TaskSpec.from_dict(read_json(folder / "task.json"))
        variables, target = spec.variables, spec.target
        train = _read_dataset(folder / "train.csv", variables, target)
        test = _read_dataset(folder / "test.csv", variables, target)
        return cls(TaskData(spec=spec, train=train, test=test))


@dataclass(frozen=True, eq=False)  # eq: arrays and tensors have no single truth value
class NetworkArtifact(Artifact):
    """Output of the training and pruning stages: the networks of one task, their transform and training history.

    ``net`` holds one model per restart (``weak_admm.restarts``; node pruning keeps the best one). ``added``
    holds, per restart, the samples oversampling added (raw units) for the next training stage; on disk one
    ``added.csv`` with a ``restart`` column. ``summary`` is what `lies inspect` shows (non-zero weights, log-space
    R^2, seconds, skipped).
    """

    kind: ClassVar[str] = "network"
    net: Any  # a lies.networks.base.Network of any kind (lies.training.kinds), one model per restart
    transform: Any  # lies.data.transforms.Transform
    variables: tuple[str, ...]
    target: str
    history: tuple[dict, ...] = ()
    summary: dict = field(default_factory=dict)
    added: tuple | None = None  # tuple[lies.data.dataset.Dataset, ...] (per restart) | None

    def __post_init__(self) -> None:  # plain containers of the declared types, whatever the caller passed
        object.__setattr__(self, "variables", tuple(self.variables))
        object.__setattr__(self, "history", tuple(self.history))
        object.__setattr__(self, "summary", dict(self.summary or {}))
        object.__setattr__(self, "added", tuple(self.added) if self.added is not None else None)

    def write(self, folder: Path) -> None:
        net = self.net
        save_tensors(folder / "weights.safetensors", net.tensors())
        counts = net.nonzero_counts()[0]
        architecture = net.describe()
        write_json(
            folder / "network.json",
            {
                **architecture,
                "variables": list(self.variables),
                "target": self.target,
                "transform": self.transform.to_dict(),
                "n_weights": net.n_weights(),
                "nonzero": counts,
                "shapes": {name: list(shape) for name, (_, shape) in net.layout.items()},
            },
        )
        write_frame(folder / "history.csv", pd.DataFrame(list(self.history), columns=_history_columns(self.history)))
        write_json(folder / "summary.json", self.summary)
        if self.added is not None:
            frames = [_dataset_frame(d).assign(restart=r) for r, d in enumerate(self.added)]
            frame = pd.concat(frames, ignore_index=True)
            write_frame(folder / "added.csv", frame[["restart", *frame.columns[:-1]]])

    @classmethod
    def read(cls, folder: Path) -> "NetworkArtifact":
        info = read_json(folder / "network.json")
        try:
            net = network_from(info, load_tensors(folder / "weights.safetensors"))
        except (KeyError, RuntimeError) as exc:
            raise LiesError(f"corrupted artifact file: {folder / 'weights.safetensors'} ({exc})") from None
        history = read_frame(folder / "history.csv").to_dict("records")
        added = folder / "added.csv"
        return cls(
            net=net,
            transform=Transform.from_dict(info["transform"]),
            variables=info["variables"],
            target=info["target"],
            history=history,
            summary=read_json(folder / "summary.json"),
            added=_read_added(added, net.n_models, info["variables"], info["target"]) if added.exists() else None,
        )


def _history_columns(history) -> list[str]:
    columns: list[str] = []
    for row in history:
        columns.extend(k for k in row if k not in columns)
    return columns


@dataclass(frozen=True, eq=False)  # eq: arrays and tensors have no single truth value
class FormulaArtifact(Artifact):
    """Output of extraction and the formula stages: the formula (text, srepr, latex) and a summary.

    ``formula`` is None when a stage ran out of time upstream; the summary then says ``out_of_time``.
    """

    kind: ClassVar[str] = "formula"
    formula: Any  # lies.symbolic.formula.Formula | None
    summary: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "summary", dict(self.summary or {}))

    def write(self, folder: Path) -> None:
        write_json(folder / "formula.json", self.formula.to_dict() if self.formula is not None else None)
        write_json(folder / "summary.json", self.summary)

    @classmethod
    def read(cls, folder: Path) -> "FormulaArtifact":
        d = read_json(folder / "formula.json")
        try:
            formula = Formula.from_dict(d) if d is not None else None
        except (KeyError, TypeError, ValueError, SyntaxError) as exc:
            raise LiesError(f"corrupted artifact file: {folder / 'formula.json'} ({exc})") from None
        return cls(formula, read_json(folder / "summary.json"))


ARTIFACT_TYPES = {cls.kind: cls for cls in (TaskArtifact, NetworkArtifact, FormulaArtifact)}
