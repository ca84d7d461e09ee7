"""``lies inspect``: what a run folder holds, as plain aligned text.

Without ``--stage``: one table per task, a row per stage in DAG order (R^2, non-zero weights, seconds, skipped or
out of time, formula on one line), then the evaluation row. With ``--stage``: one artifact in full (meta.json,
summary, and the formula, the network or the task data).

Only the small JSON and CSV files are read (no network weights, no sympy parsing), so this stays quick on a large
benchmark folder.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any, Iterable, Sequence

from lies.core.errors import LiesError, did_you_mean
from lies.core.files import TEXT_COLUMNS, hash_path, read_frame, read_json, tensor_file_problem
from lies.params import check_params
from lies.pipeline.artifacts import read_meta
from lies.pipeline.runner import DVC_STAGES, EVALUATION_INPUTS, data_folder, load_params, params_hash, read_timings

#: The R^2 a row shows, by artifact kind: networks are fitted in (log-)transformed space, formulas in raw units.
_R2_OF = {"network": ("log_r2", "log"), "formula": ("r2_train", "train")}


# ---------------------------------------------------------------------------------------------- formatting
def _number(value: Any, digits: int = 6) -> str:
    if value is None or value == "":
        return ""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.{digits}f}" if abs(v) < 1e4 else f"{v:.4g}"


def _one_line(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: max(0, width - 3)] + "..."


def table(rows: Sequence[Sequence[str]], indent: str = "  ", last_width: int | None = None) -> list[str]:
    """Rows of cells as aligned lines (left-aligned, two spaces apart); the last column is cut to ``last_width``."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for r in rows:
        last = r[-1] if last_width is None else _one_line(r[-1], last_width)
        cells = [c.ljust(w) for c, w in zip(r[:-1], widths)] + [last]
        lines.append((indent + "  ".join(cells)).rstrip())
    return lines


def _fields(items: Iterable[tuple[str, Any]], indent: str = "    ") -> list[str]:
    pairs = [(k, v if isinstance(v, str) else _as_text(v)) for k, v in items]
    if not pairs:
        return []
    width = max(len(k) for k, _ in pairs)
    return [f"{indent}{k.ljust(width)}  {v}".rstrip() for k, v in pairs]


def _as_text(value: Any) -> str:
    """A value as a table cell: yes/no, a float without trailing zeros, k=v pairs, a comma list, - for none."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return _number(value, 6).rstrip("0").rstrip(".") if math.isfinite(value) else _number(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_as_text(v)}" for k, v in value.items()) or "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(_as_text(v) for v in value) or "-"
    return "-" if value is None else str(value)


def _flatten(d: dict, prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.extend(_flatten(v, f"{prefix}{k}."))
        else:
            out.append((f"{prefix}{k}", v))
    return out


def _choose(name: str, known: Sequence[str], what: str) -> str:
    if name not in known:
        raise LiesError(f"no {what} {name!r} in this run{did_you_mean(name, known)} "
                        f"({what}s: {', '.join(known) or 'none'})")
    return name


# ---------------------------------------------------------------------------------------------- reading
def task_names(data_dir: Path) -> list[str]:
    root = data_dir / "prepare"
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _results(data_dir: Path) -> dict[str, dict]:
    path = data_dir / "evaluation" / "results.csv"
    if not path.is_file():
        return {}
    return {str(r["task"]): r for r in read_frame(path, TEXT_COLUMNS).to_dict("records")}


def _stage_row(data_dir: Path, stage: str, task: str) -> list[str]:
    folder = data_dir / stage / task
    if not (data_dir / stage).is_dir():
        return [stage, "", "", "", "", "not run", ""]
    if not folder.is_dir():
        return [stage, "", "", "", "", "missing", ""]
    meta = read_meta(folder, stage=stage)
    if meta.kind == "task":
        info = read_json(folder / "task.json")
        what = info.get("equation") or Path(str(info.get("csv"))).name
        text = (f"{info['target']}({', '.join(info['variables'])}) from {what}: "
                f"{_rows(folder / 'train.csv')} train, {_rows(folder / 'test.csv')} test")
        return [stage, "", "", "", "", "", text]
    summary = read_json(folder / "summary.json")
    key, of = _R2_OF.get(meta.kind, ("", ""))
    status = [s for s, flag in (("skipped", summary.get("skipped") or meta.skipped),
                                ("out of time", summary.get("out_of_time")),
                                ("diverged", summary.get("diverged")),
                                ("wall-clock cap", summary.get("stopped_by") == "wall clock"
                                 or summary.get("simplify") == "timeout (wall clock)")) if flag]
    if "r2_train_before" in summary:  # final rounding: what the snapping cost
        status.append(f"before {_number(summary['r2_train_before'])}")
    tree = summary.get(stage) if stage in ("structure_search", "decomposition") else None
    if isinstance(tree, dict) and not tree.get("tried"):  # a structure stage: whether it tried, what it kept
        status.append(f"not tried: {tree.get('why')}")
    elif isinstance(tree, dict) and stage == "decomposition":
        status.append(f"{tree.get('split')} of {len(tree.get('parts', []))} parts, kept {tree.get('chosen')}")
    elif isinstance(tree, dict) and "front" in tree:
        status.append(f"front of {len(tree['front'])}, kept {tree.get('chosen')}")
    elif isinstance(tree, dict):
        status.append(f"kept {tree.get('chosen')}: {tree.get('why')}")
    weights, text = "", ""
    problem = tensor_file_problem(folder / "weights.safetensors") if meta.kind == "network" else None
    if problem is not None:
        status.append(f"corrupted: weights.safetensors {problem}")
    if meta.kind == "network" and not read_json(folder / "network.json").get("transform", {}).get("log", True):
        of = "raw"  # weak_admm.log false or auto on signed data: the network fits raw values
    if meta.kind == "network" and "nonzero" in summary:
        total = summary.get("n_weights")
        if total is None:  # a skipped stage's summary may not carry it; the architecture file does
            total = read_json(folder / "network.json").get("n_weights", "?")
        weights = f"{summary['nonzero']}/{total}"
        mechanism = f" ({summary['mechanism']})" if "mechanism" in summary else ""  # what produced it
        if "chosen_restart" in summary:
            text = f"kept restart {summary['chosen_restart']} of {summary['restarts']}{mechanism}"
        elif mechanism:
            text = f"mechanism: {summary['mechanism']}"
        elif "restarts" in summary:
            text = f"{summary['restarts']} restarts, shown: the best fit (restart {summary['best_restart']})"
    if meta.kind == "formula":
        formula = read_json(folder / "formula.json")
        text = formula["text"] if formula else "(none)"
    seconds = summary.get("seconds", read_timings(folder.parent.parent, stage).get(folder.name))
    return [stage, _number(summary.get(key)), of if key in summary else "", weights,
            _number(seconds, 1), ", ".join(status), text]


def current_params_hashes(data_dir: Path) -> dict[str, str] | None:
    """`params_hash` of every stage under the params.yaml beside ``data_dir`` now (None: no params.yaml there)."""
    path = data_dir.parent / "params.yaml"
    if not path.is_file():
        return None
    try:
        checked = check_params(load_params(path))
    except LiesError:  # inspect still shows the run; `params_note` says why params are not compared
        return None
    return {name: params_hash(name, checked) for name in DVC_STAGES}


def params_note(data_dir: Path) -> str | None:
    """Why the params of the stages were not compared with params.yaml (None: they were)."""
    path = data_dir.parent / "params.yaml"
    if not path.is_file():  # a folder of outputs alone: nothing to compare with
        return None
    try:
        check_params(load_params(path))
    except LiesError as exc:
        return f"params: not compared with {path} ({exc})"
    return None


def staleness(data_dir: Path, tasks: Sequence[str]) -> dict[tuple[str, str], str]:
    """(stage, task) -> why that artifact no longer follows from its inputs: the params it ran with changed in
    params.yaml since (each meta.json records their hash), an input folder changed since it was made (each meta.json
    records its inputs' hashes), or it was made from an artifact that is itself stale. The evaluation is stale when
    a stage it reads is stale or changed since, or its params changed (its inputs.json holds those hashes)."""
    hashes: dict[str, str | None] = {}
    wanted = current_params_hashes(data_dir) or {}

    def current(name: str) -> str | None:
        if name not in hashes:
            hashes[name] = hash_path(data_dir / name) if (data_dir / name).is_dir() else None
        return hashes[name]

    stale: dict[tuple[str, str], str] = {}
    stages = [s for s in DVC_STAGES if s not in ("ablation", "evaluation")]
    switches = data_dir / "ablation"
    skip_now = _skip_now(data_dir) if wanted and switches.is_dir() else None
    ablation_changed = skip_now is not None and any(
        read_json(p).get("skip") != (p.stem in skip_now) for p in switches.glob("*.json"))
    for task in tasks:
        upstream = None
        if ablation_changed:
            stale["ablation", task] = "stale: params changed since"
        for stage in stages:
            folder = data_dir / stage / task
            if not (folder / "meta.json").is_file():
                continue
            meta = read_meta(folder, stage=stage)
            changed = [name for name, h in meta.inputs.items() if current(name) != h]
            if changed:
                stale[stage, task] = f"stale: {', '.join(changed)} changed since"
            elif meta.params_hash is not None and stage in wanted and meta.params_hash != wanted[stage]:
                stale[stage, task] = "stale: params changed since"
            elif upstream is not None:
                stale[stage, task] = f"stale: made from stale {upstream}"
            if (stage, task) in stale and upstream is None:
                upstream = stage
        inputs = data_dir / "evaluation" / EVALUATION_INPUTS
        recorded = read_json(inputs) if inputs.is_file() else {}
        params = recorded.pop("params", None)
        changed = [n for n, h in recorded.items() if current(n) != h]
        if upstream is not None:
            stale["evaluation", task] = f"stale: made from stale {upstream}"
        elif changed:
            stale["evaluation", task] = f"stale: {', '.join(changed)} changed since"
        elif params is not None and "evaluation" in wanted and params != wanted["evaluation"]:
            stale["evaluation", task] = "stale: params changed since"
    return stale


def _skip_now(data_dir: Path) -> set[str]:

    return set(check_params(load_params(data_dir.parent / "params.yaml"))["ablation"].skip)


def _rows(path: Path) -> int | str:
    """Data rows of a CSV written by `write_frame` (a header line, then one line per row), without parsing it."""
    try:
        with open(path, "rb") as f:
            return max(0, sum(1 for _ in f) - 1)
    except OSError:
        return "?"


def _ablation_row(data_dir: Path) -> list[str]:
    root = data_dir / "ablation"
    if not root.is_dir():
        return ["ablation", "", "", "", "", "not run", ""]
    skip = [p.stem for p in sorted(root.glob("*.json")) if read_json(p).get("skip")]
    order = {name: i for i, name in enumerate(DVC_STAGES)}
    skip.sort(key=lambda n: order.get(n, len(order)))
    return ["ablation", "", "", "", "", "", "skip: " + (", ".join(skip) if skip else "nothing")]


def _evaluation_row(data_dir: Path, task: str, results: dict[str, dict]) -> list[str]:
    if not (data_dir / "evaluation").is_dir():
        return ["evaluation", "", "", "", "", "not run", ""]
    row = results.get(task)
    if row is None:
        return ["evaluation", "", "", "", "", "missing", ""]
    formula = row.get("formula")
    formula = "" if formula is None or (isinstance(formula, float) and math.isnan(formula)) else str(formula)
    equation = row.get("equation")
    known = isinstance(equation, str) and equation != ""
    status = "out of time" if _true(row.get("out_of_time")) else (
        "" if not known else "solved" if _true(row.get("symbolic_solution")) else "not solved")
    return ["evaluation", _number(row.get("r2_test")), "test", "", _number(row.get("seconds_total"), 1), status,
            formula]


def _true(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "1.0", "yes")


# ---------------------------------------------------------------------------------------------- views
def overview(data_dir: Path, tasks: Sequence[str], width: int) -> list[str]:
    """One table per task: every stage in DAG order."""
    header = ["stage", "R^2", "of", "weights", "seconds", "status", "formula"]
    results = _results(data_dir)
    stale = staleness(data_dir, tasks)
    lines = [f"run: {data_dir}   tasks: {len(task_names(data_dir))}"]
    for task in tasks:
        rows = [header]
        for stage in DVC_STAGES:
            if stage == "ablation":
                rows.append(_ablation_row(data_dir))
            elif stage == "evaluation":
                rows.append(_evaluation_row(data_dir, task, results))
            else:
                rows.append(_stage_row(data_dir, stage, task))
            if (stage, task) in stale:
                rows[-1][5] = ", ".join(filter(None, [rows[-1][5], stale[stage, task]]))
        used = sum(max(len(r[i]) for r in rows) + 2 for i in range(len(header) - 1)) + 2
        lines += ["", f"task {task}"] + table(rows, last_width=max(30, width - used))
    lines += ["", "R^2 of: log / raw = the network's fit in its space, train / test = the formula on raw data"]
    note = params_note(data_dir)
    if note is not None:
        lines.append(note)
    if stale:
        lines.append("stale: made with params or from inputs that have changed since; re-run from the first stale "
                     "stage (dvc repro, lies run --out RUN --resume, or lies stage NAME --root RUN for each stage "
                     "in order)")
    metrics = data_dir / "evaluation" / "metrics.json"
    if metrics.is_file():
        m = read_json(metrics)
        lines.append(f"metrics: SSR {_number(m.get('ssr'), 3)} ({m.get('solved')} of {m.get('tasks')} tasks solved, "
                     f"SRBench's check; positive symbols {_number(m.get('ssr_positive', m.get('ssr')), 3)}), "
                     f"R^2 > 0.99 {_number(m.get('r2_gt_0.99'), 3)}, mean R^2 {_number(m.get('mean_r2'), 4)}, "
                     f"{_number(m.get('mean_seconds_per_task'), 1)} s per task")
    return lines


def detail(data_dir: Path, stage: str, task: str, history_rows: int = 5) -> list[str]:
    """One artifact in full."""
    if stage == "ablation":
        root = data_dir / "ablation"
        if not root.is_dir():
            raise LiesError(f"missing artifact folder: {root} (run the 'ablation' stage first)")
        return [f"{root}", "  switches (one file per skippable stage)"] + _fields(
            (p.name, "skip" if read_json(p).get("skip") else "run") for p in sorted(root.glob("*.json")))
    if stage == "evaluation":
        root = data_dir / "evaluation"
        if not (root / "results.csv").is_file():
            raise LiesError(f"missing artifact folder: {root} (run the 'evaluation' stage first)")
        row = _results(data_dir).get(task)
        if row is None:
            return [f"{root / 'results.csv'}: no row for task {task}"]
        return [f"{root / 'results.csv'}  (task {task})"] + _fields(row.items(), indent="  ")

    folder = data_dir / stage / task
    meta = read_meta(folder, stage=stage)
    lines = [f"{folder}", "  meta.json"]
    lines += _fields([("kind", meta.kind), ("stage", meta.stage), ("task", meta.task),
                      ("schema_version", meta.schema_version), ("library_version", meta.library_version),
                      ("skipped", meta.skipped)]
                     + [(f"input {k}", v[:16]) for k, v in meta.inputs.items()]
                     + [(f"params {k}", v) for k, v in _flatten(meta.params)])
    if meta.kind == "task":
        info = read_json(folder / "task.json")
        lines += ["  task.json"] + _fields(info.items())
        for part in ("train", "test"):
            frame = read_frame(folder / f"{part}.csv")
            lines += [f"  {part}.csv  ({len(frame)} rows)"]
            rows = [["column", "min", "max", "mean"]]
            for col in frame.columns:
                rows.append([str(col), _number(frame[col].min(), 4), _number(frame[col].max(), 4),
                             _number(frame[col].mean(), 4)])
            lines += table(rows, indent="    ")
        return lines

    summary = read_json(folder / "summary.json")
    search = summary.get("structure_search") if stage == "structure_search" else None
    front = search.get("front") if isinstance(search, dict) else None
    if front:
        summary = {**summary, "structure_search": {k: v for k, v in search.items() if k != "front"}}
    shown = {k: (f"{len(v)} entries (see history.csv)" if isinstance(v, list) and v and isinstance(v[0], dict)
                 else v) for k, v in summary.items()}
    lines += ["  summary.json"] + _fields(_flatten(shown))
    if front:  # the error-complexity front, its chosen candidate marked (before rounding)
        chosen = search.get("chosen_terms")
        rows = [["", "terms", "nodes", "validation MSE", "description length", "formula"]]
        rows += [["*" if c["terms"] == chosen else "", str(c["terms"]), str(c["complexity"]), _number(c["mse"], 4),
                  _number(c["description_length"], 6), c["formula"]] for c in front]
        lines += ["  error-complexity front (* = the candidate of shortest description length; "
                  f"{search.get('chosen')} kept)"] + table(rows, indent="    ", last_width=100)
    if meta.kind == "formula":
        formula = read_json(folder / "formula.json")
        lines += ["  formula.json"]
        if formula is None:
            lines += ["    (no formula: out of time upstream)"]
        else:
            lines += _fields([("variables", formula.get("variables")), ("text", formula.get("text")),
                              ("latex", formula.get("latex"))])
    elif meta.kind == "network":
        info = read_json(folder / "network.json")
        lines += ["  network.json"]
        keys = ("kind", "n_inputs", "n_layers", "units", "x_l", "x_e", "variables", "target", "transform", "n_weights")
        optional = ("kind", "x_l", "x_e")  # an EQL network has no cut-offs; runs before the switch have no kind
        lines += _fields([(k, info.get(k)) for k in keys if k in info or k not in optional])
        nonzero, shapes = info.get("nonzero", {}), info.get("shapes", {})
        rows = [["tensor", "shape", "non-zero"]]
        for name, shape in shapes.items():
            rows.append([name, "x".join(map(str, shape)), str(nonzero.get(name, "?"))])
        rows.append(["total", str(info.get("n_weights", "")), str(nonzero.get("total", "?"))])
        lines += ["  non-zero weights per tensor"] + table(rows, indent="    ")
        history = read_frame(folder / "history.csv")
        lines += [f"  history.csv  (last {min(history_rows, len(history))} of {len(history)} rows)"]
        if len(history):
            tail = history.tail(history_rows).dropna(axis=1, how="all")  # e.g. oversampling's columns
            columns = [str(c) for c in tail.columns]
            rows = [columns] + [[_cell(v) for v in r] for r in tail.itertuples(index=False)]
            lines += table(rows, indent="    ")
        if (folder / "added.csv").is_file():
            lines += [f"  added.csv  ({len(read_frame(folder / 'added.csv'))} samples added by oversampling)"]
    return lines


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def inspect_run(path: str | Path, task: str | None = None, stage: str | None = None,
                width: int | None = None) -> str:
    """The text ``lies inspect`` prints for a run folder (``path`` = a data/ folder or a folder holding one)."""
    data_dir = data_folder(path)
    tasks = task_names(data_dir)
    selected = [_choose(task, tasks, "task")] if task is not None else tasks
    width = width or shutil.get_terminal_size((120, 24)).columns
    if stage is None:
        return "\n".join(overview(data_dir, selected, width))
    _choose(stage, DVC_STAGES, "stage")
    if stage == "ablation":
        return "\n".join(detail(data_dir, stage, ""))
    blocks = ["\n".join(detail(data_dir, stage, t)) for t in selected]
    if stage == "evaluation":
        metrics = data_dir / "evaluation" / "metrics.json"
        blocks.insert(0, "\n".join([f"{metrics}"] + _fields(read_json(metrics).items(), indent="  ")))
    return "\n\n".join(blocks)
