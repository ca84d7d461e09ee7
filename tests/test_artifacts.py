"""Tests for lies.pipeline.artifacts: exact round trips, byte stability, atomic folder writes, helpful errors."""

import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import safetensors
import torch

from lies.core.errors import LiesError
from lies.core.files import (
    atomic_folder,
    dumps_json,
    hash_path,
    load_tensor_metadata,
    load_tensors,
    read_frame,
    read_json,
    save_tensors,
    write_frame,
    write_json,
)
from lies.pipeline.artifacts import META_FILE, SCHEMA_VERSION, ArtifactMeta, read_meta, write_meta

# Floats whose text form is easy to get wrong: shortest repr, subnormal, extremes, negative zero.
TRICKY_FLOATS = [0.1, 1 / 3, 2 / 3 * 1e-7, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -0.0, 2.0**60]


def _meta(**changes) -> ArtifactMeta:
    fields = dict(
        kind="network",
        stage="training",
        task="I.12.1-t0",
        params={"lr": 0.015, "epochs": 3},
        inputs={"dataset": "ab" * 32},
        library_version="0.1.0",
    )
    return ArtifactMeta(**(fields | changes))


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- JSON -------------------------------------------------------------------------------------------------------


def test_json_round_trips_floats_and_numpy_exactly(tmp_path):
    rng = np.random.default_rng(0)
    random = rng.standard_normal(50) * np.exp(rng.uniform(-300, 300, 50))
    obj = {
        "tricky": TRICKY_FLOATS,
        "random": random,  # ndarray
        "scalars": [np.float64(0.1), np.float32(0.1), np.int64(7), np.bool_(True)],
        "path": Path("data") / "training",
        "tuple": (1, "two"),
        7: "int key",
    }
    write_json(tmp_path / "x.json", obj)
    back = read_json(tmp_path / "x.json")

    assert back["tricky"] == TRICKY_FLOATS
    assert math.copysign(1, back["tricky"][6]) == -1  # -0.0 keeps its sign
    assert back["random"] == random.tolist()
    assert back["scalars"] == [0.1, float(np.float32(0.1)), 7, True]
    assert type(back["scalars"][2]) is int and type(back["scalars"][3]) is bool
    assert back["path"] == "data/training"
    assert back["tuple"] == [1, "two"]
    assert back["7"] == "int key"


def test_json_writes_non_finite_floats_as_strings(tmp_path):
    write_json(tmp_path / "x.json", {"a": math.nan, "b": [math.inf, -math.inf], "c": np.array([np.nan])})
    text = (tmp_path / "x.json").read_text()
    assert "NaN" not in text and "Infinity" not in text  # would be invalid JSON for other readers
    back = read_json(tmp_path / "x.json")
    assert back == {"a": "nan", "b": ["inf", "-inf"], "c": ["nan"]}
    assert math.isnan(float(back["a"])) and float(back["b"][1]) == -math.inf


def test_dumps_json_is_byte_stable_and_sorted():
    a = {"b": 1, "a": {"d": [0.5, None], "c": "é"}}
    b = {"a": {"c": "é", "d": [0.5, None]}, "b": 1}
    assert dumps_json(a) == dumps_json(b)
    assert dumps_json(a) == '{\n  "a": {\n    "c": "é",\n    "d": [\n      0.5,\n      null\n    ]\n  },\n  "b": 1\n}\n'


def test_dumps_json_refuses_what_it_cannot_write_exactly():
    with pytest.raises(TypeError):
        dumps_json({"s": {1, 2}})
    with pytest.raises(TypeError):
        dumps_json({(1, 2): "tuple key"})


def test_read_json_errors_name_the_file(tmp_path):
    with pytest.raises(LiesError, match=r"missing artifact file: .*nope\.json"):
        read_json(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text('{"a": ')
    with pytest.raises(LiesError, match=r"corrupted artifact file: .*bad\.json"):
        read_json(tmp_path / "bad.json")


# --- CSV --------------------------------------------------------------------------------------------------------


def test_frame_round_trips_float64_exactly(tmp_path):
    rng = np.random.default_rng(1)
    random = rng.standard_normal(200) * 10.0 ** rng.integers(-300, 300, 200)
    x = np.concatenate([TRICKY_FLOATS, [np.nan, np.inf, -np.inf], random])
    df = pd.DataFrame({"x": x, "i": np.arange(len(x)), "f32": np.full(len(x), 0.1, dtype=np.float32)})
    write_frame(tmp_path / "t.csv", df)
    back = read_frame(tmp_path / "t.csv")

    assert list(back.columns) == ["x", "i", "f32"]
    np.testing.assert_array_equal(back["x"].to_numpy(), x)  # exact; NaN equals NaN here
    assert back["x"].dtype == np.float64 and back["i"].dtype == np.int64
    assert (back["f32"] == float(np.float32(0.1))).all()  # float32 read back exactly, as float64


def test_frame_keeps_strings_that_look_missing(tmp_path):
    df = pd.DataFrame({"s": ["NA", "None", "nan", "null", "x,y", 'q"z', "é"], "v": [1.0, np.nan, 2, 3, 4, 5, 6]})
    write_frame(tmp_path / "t.csv", df)
    back = read_frame(tmp_path / "t.csv")
    assert back["s"].tolist() == df["s"].tolist()
    assert np.isnan(back["v"][1])


def test_frame_bytes_are_stable_short_and_unix(tmp_path):
    df = pd.DataFrame({"x": [0.1, 1 / 3, np.nan], "name": ["a", "b", "c"]})
    write_frame(tmp_path / "a.csv", df)
    write_frame(tmp_path / "b.csv", df.copy())
    data = (tmp_path / "a.csv").read_bytes()
    assert data == (tmp_path / "b.csv").read_bytes()
    assert data == b"x,name\n0.1,a\n0.3333333333333333,b\n,c\n"


def test_read_frame_errors_name_the_file(tmp_path):
    with pytest.raises(LiesError, match=r"missing artifact file: .*nope\.csv"):
        read_frame(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(LiesError, match=r"corrupted artifact file: .*empty\.csv"):
        read_frame(tmp_path / "empty.csv")
    (tmp_path / "binary.csv").write_bytes(b"a,b\n\xff\xfe,\x80\n")
    with pytest.raises(LiesError, match=r"corrupted artifact file: .*binary\.csv"):
        read_frame(tmp_path / "binary.csv")


# --- tensors ----------------------------------------------------------------------------------------------------


def test_tensors_round_trip_exactly(tmp_path):
    base = torch.randn(4, 3, dtype=torch.float64)
    tensors = {
        "w64": base,
        "w64_view": base[1:],  # shares storage with w64: safetensors refuses that unless copied
        "transposed": torch.randn(3, 5).T,  # not contiguous
        "nan": torch.tensor([math.nan, math.inf, -0.0]),
        "mask": torch.tensor([True, False]),
        "idx": torch.arange(5),
        "grad": torch.ones(2, requires_grad=True),
    }
    save_tensors(tmp_path / "t.safetensors", tensors)
    back = load_tensors(tmp_path / "t.safetensors")

    assert back.keys() == tensors.keys()
    for name, t in tensors.items():
        assert back[name].dtype == t.dtype and back[name].device.type == "cpu"
        torch.testing.assert_close(back[name], t.detach(), rtol=0, atol=0, equal_nan=True)


def test_tensor_files_are_byte_stable_with_metadata(tmp_path):
    # safetensors writes metadata from a Rust HashMap: without sorting, each call orders these keys differently.
    metadata = {key: str(i) for i, key in enumerate("hgfedcba")}
    tensors = {"b": torch.ones(3), "a": torch.zeros(2, dtype=torch.float64), "c": torch.arange(3)}
    paths = [tmp_path / f"{i}.safetensors" for i in range(6)]
    for i, path in enumerate(paths):
        order = tensors if i % 2 else dict(reversed(tensors.items()))
        save_tensors(path, order, metadata=metadata if i % 3 else dict(reversed(metadata.items())))
    assert len({p.read_bytes() for p in paths}) == 1

    assert load_tensor_metadata(paths[0]) == metadata
    with safetensors.safe_open(paths[0], "pt") as f:  # the re-written header is valid for safetensors itself
        assert f.metadata() == metadata and sorted(f.keys()) == ["a", "b", "c"]

    save_tensors(tmp_path / "plain.safetensors", {"w": torch.ones(1)})
    assert load_tensor_metadata(tmp_path / "plain.safetensors") == {}


def test_load_tensors_errors_name_the_file(tmp_path):
    with pytest.raises(LiesError, match=r"missing artifact file: .*nope\.safetensors"):
        load_tensors(tmp_path / "nope.safetensors")
    path = tmp_path / "cut.safetensors"
    save_tensors(path, {"w": torch.ones(10)})
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(LiesError, match=r"corrupted artifact file: .*cut\.safetensors"):
        load_tensors(path)
    path.write_bytes(b"\x03")
    with pytest.raises(LiesError, match=r"corrupted artifact file: .*cut\.safetensors"):
        load_tensor_metadata(path)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_tensors_on_gpu_are_saved_from_cpu_and_loaded_onto_device(tmp_path):
    w = torch.randn(4, 4, device="cuda")
    save_tensors(tmp_path / "gpu.safetensors", {"w": w})
    save_tensors(tmp_path / "cpu.safetensors", {"w": w.cpu()})
    assert (tmp_path / "gpu.safetensors").read_bytes() == (tmp_path / "cpu.safetensors").read_bytes()
    back = load_tensors(tmp_path / "gpu.safetensors", device="cuda")
    assert back["w"].is_cuda and torch.equal(back["w"], w)


# --- hashing ----------------------------------------------------------------------------------------------------


def test_hash_path_of_a_file_is_its_sha256(tmp_path):
    (tmp_path / "f").write_bytes(b"hello")
    assert hash_path(tmp_path / "f") == hashlib.sha256(b"hello").hexdigest()


def test_hash_path_of_a_folder_sees_every_byte_and_name(tmp_path):
    folder = tmp_path / "a"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "w.bin").write_bytes(bytes(range(256)))
    (folder / "x.json").write_text("{}\n")
    before = hash_path(folder)
    assert hash_path(folder) == before

    os.utime(folder / "x.json", (0, 0))  # times do not count
    assert hash_path(folder) == before

    data = bytearray((folder / "sub" / "w.bin").read_bytes())
    data[100] ^= 1
    (folder / "sub" / "w.bin").write_bytes(bytes(data))
    changed = hash_path(folder)
    assert changed != before

    (folder / "x.json").rename(folder / "y.json")
    assert hash_path(folder) not in (before, changed)


def test_hash_path_missing_is_a_lies_error(tmp_path):
    with pytest.raises(LiesError, match="nope"):
        hash_path(tmp_path / "nope")


# --- atomic folders ---------------------------------------------------------------------------------------------


def _write_artifact(final: Path, reverse: bool = False) -> None:
    """One artifact folder with every kind of file; `reverse` builds the same content in another order."""

    def order(d):
        return dict(reversed(d.items())) if reverse else d

    with atomic_folder(final) as tmp:
        save_tensors(tmp / "weights.safetensors", order({"w": torch.linspace(0, 1, 7), "b": torch.zeros(2)}),
                     metadata=order({"arch": "5x4", "act": "lies"}))
        write_frame(tmp / "samples.csv", pd.DataFrame({"x": np.linspace(0, 1, 11), "y": np.sqrt(np.arange(11.0))}))
        write_json(tmp / "summary.json", order({"r2": 0.999, "formula": "x**2", "loss": math.nan}))
        write_meta(tmp, _meta(params=order({"lr": 0.015, "epochs": 3, "shape": (5, 4)})))


def test_same_artifact_written_twice_has_the_same_hash(tmp_path):
    _write_artifact(tmp_path / "one" / "I.12.1-t0")
    _write_artifact(tmp_path / "two" / "I.12.1-t0", reverse=True)
    _write_artifact(tmp_path / "three" / "other-name")  # the folder's own name is not in its hash
    files = [META_FILE, "samples.csv", "summary.json", "weights.safetensors"]
    assert _listing(tmp_path / "one" / "I.12.1-t0") == files
    assert hash_path(tmp_path / "one" / "I.12.1-t0") == hash_path(tmp_path / "two" / "I.12.1-t0")
    assert hash_path(tmp_path / "one" / "I.12.1-t0") == hash_path(tmp_path / "three" / "other-name")


def test_atomic_folder_commits_without_leftovers_and_with_normal_modes(tmp_path):
    final = tmp_path / "stage" / "task"
    with atomic_folder(final) as tmp:
        assert tmp.parent == final.parent and tmp.name.startswith(".") and _listing(tmp) == []
        assert not final.exists()  # nothing visible until the commit
        write_json(tmp / "a.json", {"a": 1})
    assert _listing(final.parent) == ["task"]
    assert read_json(final / "a.json") == {"a": 1}

    umask = os.umask(0)
    os.umask(umask)
    assert final.stat().st_mode & 0o777 == 0o777 & ~umask  # not tempfile's 0o700
    assert (final / "a.json").stat().st_mode & 0o777 == 0o666 & ~umask


def test_atomic_folder_replaces_an_existing_folder(tmp_path):
    final = tmp_path / "task"
    with atomic_folder(final) as tmp:
        write_json(tmp / "old.json", {"v": 1})
        write_json(tmp / "keep.json", {"v": 1})
    with atomic_folder(final) as tmp:
        write_json(tmp / "keep.json", {"v": 2})
    assert _listing(final) == ["keep.json"]  # replaced, not merged
    assert read_json(final / "keep.json") == {"v": 2}
    assert _listing(tmp_path) == ["task"]


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_interrupted_write_leaves_the_previous_folder_intact(tmp_path, error):
    final = tmp_path / "task"
    _write_artifact(final)
    before = hash_path(final)
    with pytest.raises(type(error)):
        with atomic_folder(final) as tmp:
            write_json(tmp / META_FILE, {"half": "written"})
            raise error
    assert hash_path(final) == before
    assert _listing(tmp_path) == ["task"]  # no temporary folder left behind


@pytest.mark.parametrize("error", [ValueError("boom"), KeyboardInterrupt()])
def test_failed_first_write_leaves_no_folder(tmp_path, error):
    final = tmp_path / "stage" / "task"
    with pytest.raises(type(error)):
        with atomic_folder(final) as tmp:
            write_json(tmp / "a.json", {})
            raise error
    assert not final.exists()
    assert _listing(final.parent) == []


def test_atomic_folder_removes_leftovers_of_a_killed_write(tmp_path):
    (tmp_path / ".task.tmp-dead0000").mkdir()
    (tmp_path / ".task.tmp-dead0000" / "x").write_text("half")
    (tmp_path / ".other.tmp-1234").mkdir()  # another folder's writer: not ours to touch
    with atomic_folder(tmp_path / "task") as tmp:
        write_json(tmp / "a.json", {})
    assert _listing(tmp_path) == [".other.tmp-1234", "task"]


# --- metadata ---------------------------------------------------------------------------------------------------


def test_meta_round_trip_and_plain_params(tmp_path):
    meta = _meta(params={"lr": np.float32(0.5), "dir": Path("a/b"), "shape": (5, 4), "lam": math.inf})
    assert meta.params == {"lr": 0.5, "dir": "a/b", "shape": [5, 4], "lam": "inf"}
    assert meta.schema_version == SCHEMA_VERSION and meta.skipped is False
    write_meta(tmp_path, meta)
    assert read_meta(tmp_path, kind="network") == meta
    assert read_meta(tmp_path) == meta


def test_meta_is_strict_and_frozen():
    with pytest.raises(ValueError, match="extra"):
        _meta(colour="red")
    with pytest.raises(ValueError):
        _meta().kind = "formula"


def test_read_meta_missing_folder_says_which_stage_to_run(tmp_path):
    folder = tmp_path / "training" / "I.12.1-t0"
    with pytest.raises(LiesError, match=r"missing artifact folder: .*I\.12\.1-t0 \(run the 'training' stage"):
        read_meta(folder, stage="training")
    with pytest.raises(LiesError, match=r"missing artifact folder: .*I\.12\.1-t0 .*dvc repro"):
        read_meta(folder)


def _meta_error(folder: Path, **kwargs) -> str:
    with pytest.raises(LiesError) as info:
        read_meta(folder, **kwargs)
    message = str(info.value)
    assert str(folder) in message and "\n" not in message
    return message


def test_read_meta_errors_name_the_folder_and_the_problem(tmp_path):
    folder = tmp_path / "task"
    folder.mkdir()
    assert "no meta.json" in _meta_error(folder, stage="training")

    (folder / META_FILE).write_text('{"kind": "network", ')
    assert "corrupted" in _meta_error(folder)

    (folder / META_FILE).write_text("[1, 2]")
    assert "not a JSON object" in _meta_error(folder)

    write_meta(folder, _meta())
    message = _meta_error(folder, kind="formula")
    assert "'network'" in message and "expected 'formula'" in message

    raw = json.loads((folder / META_FILE).read_text())
    (folder / META_FILE).write_text(json.dumps(raw | {"schema_version": SCHEMA_VERSION + 1, "new_field": 1}))
    message = _meta_error(folder)
    assert f"schema version {SCHEMA_VERSION + 1}" in message and "re-run the 'training' stage" in message

    del raw["task"]
    (folder / META_FILE).write_text(json.dumps(raw))
    message = _meta_error(folder)
    assert "corrupted" in message and "task" in message
