"""Typed, file-aware plumbing: how every stage writes and reads its per-task output folder.

Two properties matter for DVC, which hashes outputs byte by byte:

* **Atomic**: a folder is built under a hidden temporary name beside its final place, with the final file names
  inside, and renamed into place only when complete. An interrupted stage leaves the previous output as it was.
* **Byte-stable**: the same content written twice gives identical bytes (sorted JSON keys, exact shortest floats,
  ``\\n`` line endings, safetensors with sorted metadata), so an unchanged output does not re-run what follows.

Formats: JSON for small structured values, CSV for tables, safetensors for tensors (never pickle: ``torch.save``
embeds the file name in its archive and can run code on load).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import secrets
import shutil
import struct
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pydantic
import safetensors
import safetensors.torch
import torch

from lies.errors import LiesError

SCHEMA_VERSION: int = 1
"""Version of the artifact layout; bump it when a stage changes what it writes, so old outputs are refused."""

META_FILE = "meta.json"

# --- single files -----------------------------------------------------------------------------------------------


def _write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write through a temporary sibling and rename, so a reader never sees half a file.

    Safe for these formats because none of them records its own file name. The file is created with
    ``os.open`` (mode 0o666 minus the umask), not ``tempfile``, whose 0o600 would survive the rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _read_bytes(path: str | os.PathLike) -> bytes:
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise LiesError(f"missing artifact file: {path}") from None
    except OSError as e:  # a folder where a file should be, no permission, ...
        raise LiesError(f"unreadable artifact file: {path} ({e.strerror or e})") from None


# --- JSON -------------------------------------------------------------------------------------------------------


def _json_values(obj: Any) -> Any:
    """Turn `obj` into plain JSON values: numpy, torch, Path and pydantic models converted; nan/inf as strings."""
    if isinstance(obj, pydantic.BaseModel):
        obj = obj.model_dump()
    elif isinstance(obj, torch.Tensor):
        obj = obj.detach().cpu().tolist()
    elif isinstance(obj, (np.ndarray, np.generic)):
        obj = obj.tolist()  # np.generic too: .tolist() on a scalar gives the Python scalar

    if isinstance(obj, Mapping):
        out = {}
        for key, value in obj.items():
            if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
                key = str(int(key))  # what json does itself, done early so that mixed keys still sort
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, got {key!r}")
            out[key] = _json_values(value)
        return out
    if isinstance(obj, (list, tuple)):
        return [_json_values(v) for v in obj]
    if obj is None or isinstance(obj, (str, int)):  # bool is an int
        return obj
    if isinstance(obj, float):
        if math.isfinite(obj):
            return float(obj)  # a float subclass would otherwise keep its own repr
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")  # JSON has no spelling for these
    if isinstance(obj, PurePath):
        return obj.as_posix()
    raise TypeError(f"cannot write {type(obj).__name__} as JSON: {obj!r}")


def dumps_json(obj: Any) -> str:
    """Byte-stable JSON: sorted keys, 2-space indent, UTF-8 text, trailing newline.

    Floats are written with ``repr`` (shortest text that reads back to the same float64). JSON has no NaN or
    infinity, so ``nan``, ``inf`` and ``-inf`` are written as the *strings* ``"nan"``, ``"inf"``, ``"-inf"``;
    reading gives the strings back and ``float(value)`` restores the number. numpy and torch values become Python
    numbers and lists, paths become POSIX strings, tuples become lists, integer keys become strings.
    """
    return json.dumps(_json_values(obj), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(path: str | os.PathLike, obj: Any) -> None:
    _write_bytes(path, dumps_json(obj).encode("utf-8"))


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON artifact file; a missing or unparsable file is a `LiesError` naming it."""
    data = _read_bytes(path)
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LiesError(f"corrupted artifact file: {path} ({e})") from None


# --- tables -----------------------------------------------------------------------------------------------------

# pandas >= 3 parses floats exactly by default (and deprecates the option); older versions need "round_trip".
_READ_CSV_FLOATS = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}


def write_frame(path: str | os.PathLike, df: pd.DataFrame) -> None:
    """Write a table as CSV without its index, floats as shortest exact text (``repr``), ``\\n`` line endings.

    NaN is written as an empty field, infinities as ``inf``/``-inf``. float32 columns are written as the exact
    float64 value of each entry (they read back as float64).
    """
    text = df.to_csv(index=False, lineterminator="\n", float_format=lambda v: repr(float(v)))
    _write_bytes(path, text.encode("utf-8"))


#: Columns of the result tables that hold text even when it looks like a number (a constant formula ``3``).
TEXT_COLUMNS = ("task", "equation", "formula", "target")


def read_frame(path: str | os.PathLike, text: Sequence[str] = ()) -> pd.DataFrame:
    """Read a table written by `write_frame`.

    Only an empty field is missing (NaN): strings such as ``"NA"`` or ``"None"`` stay strings, since pandas'
    default list of missing-value spellings would silently turn them into NaN. An empty string therefore reads
    back as NaN. The ``text`` columns stay strings (pandas would read a formula ``3`` as the int 3).
    """
    data = _read_bytes(path)
    try:
        return pd.read_csv(io.BytesIO(data), keep_default_na=False, na_values=[""], dtype=dict.fromkeys(text, str),
                           **_READ_CSV_FLOATS)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise LiesError(f"corrupted artifact file: {path} ({e})") from None


# --- tensors ----------------------------------------------------------------------------------------------------


def _split_safetensors(data: bytes) -> tuple[dict[str, Any], bytes]:
    """A safetensors file is: 8-byte little-endian header length, JSON header, raw tensor bytes."""
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n].decode("utf-8")), data[8 + n :]


def save_tensors(
    path: str | os.PathLike, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None
) -> None:
    """Save tensors as safetensors: CPU copies, contiguous, byte-stable for equal inputs.

    safetensors writes its metadata from a Rust ``HashMap``, whose order changes from one call to the next (8
    keys saved 20 times gave 20 different files), so the header is re-written here with the metadata sorted.
    Copies (not views) so that tensors sharing storage, which safetensors refuses, can be saved too.
    """
    cpu = {name: t.detach().to("cpu", copy=True).contiguous() for name, t in tensors.items()}
    data = safetensors.torch.save(cpu, metadata=dict(metadata) if metadata else None)
    header, body = _split_safetensors(data)
    if "__metadata__" in header:
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)  # safetensors pads the header with spaces to keep tensor data 8-byte aligned
    _write_bytes(path, struct.pack("<Q", len(text)) + text + body)


def tensor_file_problem(path: str | os.PathLike) -> str | None:
    """What is wrong with a safetensors file, judged from its header and its size alone (no tensor is read):
    missing, unreadable, or shorter than its header says (a copy or a write cut short); None when it looks whole."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if 8 + n > size:
                return f"truncated ({size} bytes, its header alone needs {8 + n})"
            header = json.loads(f.read(n).decode("utf-8"))
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
    except FileNotFoundError:
        return "missing"
    except (OSError, struct.error, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError, IndexError):
        return "unreadable header"
    if size < 8 + n + end:
        return f"truncated ({size} of {8 + n + end} bytes)"
    return None


def load_tensors(path: str | os.PathLike, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Load tensors saved by `save_tensors` onto `device`.

    The file is read whole rather than memory-mapped, so the tensors do not pin a file that a later run replaces.
    """
    data = _read_bytes(path)
    try:
        tensors = safetensors.torch.load(data)
    except safetensors.SafetensorError as e:
        raise LiesError(f"corrupted artifact file: {path} ({e})") from None
    return {name: t.to(device) for name, t in tensors.items()}


def load_tensor_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The string metadata saved beside the tensors by `save_tensors` (empty if none)."""
    data = _read_bytes(path)
    try:
        header, _ = _split_safetensors(data)
        return dict(header.get("__metadata__") or {})
    except (struct.error, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as e:
        raise LiesError(f"corrupted artifact file: {path} ({e})") from None


# --- hashing ----------------------------------------------------------------------------------------------------


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def hash_path(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, or of a folder: its files' relative POSIX paths (sorted) and their hashes.

    Empty sub-folders do not count; file times and permissions do not count. Used to record which inputs an
    artifact was built from.
    """
    path = Path(path)
    if path.is_file():
        return _file_sha256(path)
    if not path.is_dir():
        raise LiesError(f"missing artifact: {path}")
    h = hashlib.sha256()
    files = sorted((p.relative_to(path).as_posix(), p) for p in path.rglob("*") if p.is_file())
    for rel, p in files:
        # Each file's digest has a fixed length and paths hold no NUL, so the encoding is unambiguous.
        h.update(rel.encode("utf-8") + b"\0" + _file_sha256(p).encode("ascii") + b"\n")
    return h.hexdigest()


# --- folders ----------------------------------------------------------------------------------------------------


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


@contextmanager
def atomic_folder(final: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder beside `final`; on normal exit it replaces `final`.

    The caller writes the *final* file names inside it. On any exception (KeyboardInterrupt included) the
    temporary folder is removed and `final` is left exactly as it was. The rename is the commit point; an existing
    `final` is first renamed aside and removed afterwards (POSIX cannot swap two folders in one step, so a crash
    in between leaves `final` missing, which DVC treats as "run again"). Leftovers of a killed earlier write to
    the same folder are removed first: one writer per folder at a time.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{final.name}.tmp-*"):
        _remove(stale)
    for stale in final.parent.glob(f".{final.name}.old-*"):
        _remove(stale)

    tmp = final.parent / f".{final.name}.tmp-{secrets.token_hex(4)}"
    tmp.mkdir()  # mkdir, not tempfile.mkdtemp: its 0o700 mode would become the output's mode
    try:
        yield tmp
        if final.exists() or final.is_symlink():
            old = final.parent / f".{final.name}.old-{secrets.token_hex(4)}"
            os.rename(final, old)
            try:
                os.rename(tmp, final)
            except BaseException:
                os.rename(old, final)
                raise
            _remove(old)
        else:
            os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already after a successful commit


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
    params_hash: str | None = None  # pipeline.params_hash of the params it ran with (None: written before it existed)

    @pydantic.field_validator("params", mode="before")
    @classmethod
    def _params_as_plain_json(cls, value: Any) -> Any:
        # Normalised on the way in, so that a meta read back from disk equals the one that was written.
        return _json_values(value) if isinstance(value, Mapping) else value


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
    from lies.dataset import Dataset

    frame = read_frame(path) if frame is None else frame
    missing = [c for c in [*variables, target] if c not in frame.columns]
    if missing:
        raise LiesError(f"corrupted artifact file: {path} (missing columns {missing})")
    try:
        frame = frame[[*variables, target]].astype("float64")  # a header-only CSV reads back as text columns
    except (TypeError, ValueError) as exc:
        raise LiesError(f"corrupted artifact file: {path} ({exc})") from None
    return Dataset.from_frame(frame, target=target, variables=list(variables))


def _read_added(path: Path, n_restarts: int, variables, target: str) -> list:
    """``added.csv`` -> one dataset per restart (restarts without a row get an empty one)."""
    from lies.dataset import Dataset

    frame = read_frame(path)
    if "restart" not in frame.columns:
        raise LiesError(f"corrupted artifact file: {path} (missing column 'restart')")
    data = _read_dataset(path, variables, target, frame)
    restart = pd.to_numeric(frame["restart"], errors="coerce").to_numpy()
    return [Dataset(data.X[restart == r], data.y[restart == r], data.variables, target) for r in range(n_restarts)]


class Artifact:
    """What a stage hands to the next one, per task: a typed, immutable value that writes itself into a folder and
    reads itself back. ``kind`` is the name ``meta.json`` gives it; a stage declares its input and output as these
    classes (`lies.stages.Stage`). A summary, where there is one, is complete when the artifact is built."""

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
    data: Any  # lies.tasks.TaskData

    def write(self, folder: Path) -> None:
        write_json(folder / "task.json", self.data.spec.to_dict() | {"target": self.data.train.target,
                                                                      "variables": list(self.data.variables)})
        write_frame(folder / "train.csv", _dataset_frame(self.data.train))
        write_frame(folder / "test.csv", _dataset_frame(self.data.test))

    @classmethod
    def read(cls, folder: Path) -> "TaskArtifact":
        from lies.tasks import TaskData, TaskSpec

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
    net: Any  # lies.network.LiesNetwork (or lies.eql.EqlNetwork), one model per restart
    transform: Any  # lies.transforms.Transform
    variables: tuple[str, ...]
    target: str
    history: tuple[dict, ...] = ()
    summary: dict = field(default_factory=dict)
    added: tuple | None = None  # tuple[lies.dataset.Dataset, ...] (per restart) | None

    def __post_init__(self) -> None:  # plain containers of the declared types, whatever the caller passed
        object.__setattr__(self, "variables", tuple(self.variables))
        object.__setattr__(self, "history", tuple(self.history))
        object.__setattr__(self, "summary", dict(self.summary or {}))
        object.__setattr__(self, "added", tuple(self.added) if self.added is not None else None)

    def write(self, folder: Path) -> None:
        net = self.net
        save_tensors(folder / "weights.safetensors", net.tensors())
        counts = net.nonzero_counts()[0]
        architecture = net.describe() if net.kind == "eql" else {
            "kind": net.kind,
            "n_inputs": net.arch.n_inputs,
            "n_layers": net.arch.n_layers,
            "units": ["log", "identity", "exp", "sin"],
            "x_l": net.x_l,
            "x_e": net.x_e,
        }
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
        from lies.network import LiesNetwork
        from lies.transforms import Transform

        info = read_json(folder / "network.json")
        try:
            if info.get("kind") == "eql":
                from lies.eql import EqlNetwork

                net = EqlNetwork.from_tensors(int(info["n_inputs"]), load_tensors(folder / "weights.safetensors"),
                                              n_layers=int(info["n_layers"]), units=info["units"],
                                              init_std=info["init_std"])
            else:
                net = LiesNetwork.from_tensors(int(info["n_inputs"]), load_tensors(folder / "weights.safetensors"),
                                               x_l=float(info["x_l"]), x_e=float(info["x_e"]))
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
    formula: Any  # lies.formula.Formula | None
    summary: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "summary", dict(self.summary or {}))

    def write(self, folder: Path) -> None:
        write_json(folder / "formula.json", self.formula.to_dict() if self.formula is not None else None)
        write_json(folder / "summary.json", self.summary)

    @classmethod
    def read(cls, folder: Path) -> "FormulaArtifact":
        from lies.formula import Formula

        d = read_json(folder / "formula.json")
        try:
            formula = Formula.from_dict(d) if d is not None else None
        except (KeyError, TypeError, ValueError, SyntaxError) as exc:
            raise LiesError(f"corrupted artifact file: {folder / 'formula.json'} ({exc})") from None
        return cls(formula, read_json(folder / "summary.json"))


ARTIFACT_TYPES = {cls.kind: cls for cls in (TaskArtifact, NetworkArtifact, FormulaArtifact)}
