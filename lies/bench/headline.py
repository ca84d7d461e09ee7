"""BENCHMARKS.md's first screen, rebuilt from the benchmark's own output folders.

    python -m lies.bench.headline                 # every folder under benchmarks/results/, into BENCHMARKS.md
    python -m lies.bench.headline DIR ... --print # the tables of some folders, printed

A folder is what ``lies benchmark --out DIR`` wrote (``report.md``, ``results.csv``, ``results_<peer>.csv``; with
several noise levels one ``noise-<level>/`` folder each). Each becomes one table: the pipeline and every peer
measured in that run on the same samples with the same check, SSR (SRBench's check, plain symbols: the headline)
split into products of powers and the rest, the raw-space and trigonometric rows, with the run's command, date,
machine and commit; below it, the pipeline's SSR by mechanism (what produced each formula: restart, loglinear,
scan, ...; only for folders whose results.csv records it). The tables replace what stands between the two markers
of BENCHMARKS.md; nothing else of the file changes.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sympy

from lies.core.errors import LiesError
from lies.core.files import TEXT_COLUMNS, read_frame
from lies.data.feynman import get_equation
from lies.pipeline.evaluation import ssr_by_mechanism

START = "<!-- headline:start (python -m lies.bench.headline writes this part; edit benchmarks/results/ instead) -->"
END = "<!-- headline:end -->"
RESULTS = Path("benchmarks/results")
#: The functions that make a formula trigonometric.
TRIGONOMETRIC = (sympy.sin, sympy.cos, sympy.tan, sympy.asin, sympy.acos, sympy.atan)


@dataclass
class Run:
    """One benchmark folder: its header (command, date, machine, code) and a result table per method."""

    folder: Path
    header: dict[str, str]
    methods: dict[str, pd.DataFrame]  # "LIES" (the pipeline), then each peer, in the run's order


def load_run(folder: Path) -> Run:
    report = folder / "report.md"
    if not report.is_file() or not (folder / "results.csv").is_file():
        raise LiesError(f"{folder}: not a benchmark folder (no report.md and results.csv)")
    header = {}
    for line in report.read_text().splitlines():
        m = re.match(r"^(Command|Machine|Settings|Date|Code|Wall seconds): (.*)$", line)
        if m:
            header[m.group(1)] = m.group(2).strip("`")
    methods = {"LIES": read_frame(folder / "results.csv", TEXT_COLUMNS)}
    for path in sorted(folder.glob("results_*.csv")):
        if not path.stem.startswith("results_without_"):  # an ablation is a row of Table I, not a peer
            methods[path.stem.removeprefix("results_")] = read_frame(path, TEXT_COLUMNS)
    return Run(folder, header, methods)


def _percent(flags: pd.Series) -> float:
    return float(100 * flags.astype(bool).mean()) if len(flags) else float("nan")


def _is_trigonometric(equation: str) -> bool:
    return any(get_equation(equation).expr.has(f) for f in TRIGONOMETRIC)


def method_table(run: Run) -> pd.DataFrame:
    """One row per method: SSR overall, by shape, in raw space and on trigonometric formulas, R^2, time per task.
    A task's space (log or raw) is the one the pipeline chose for it; peers are counted on the same tasks."""
    main = run.methods["LIES"]
    space = dict(zip(main["task"], main.get("space", pd.Series(["log"] * len(main)))))
    rows = []
    for name, df in run.methods.items():
        eqs = df["equation"].astype(str)
        powers = eqs.map(lambda e: get_equation(e).product_of_powers)
        trig = eqs.map(_is_trigonometric)
        raw = df["task"].map(space) == "raw"
        solved = df["symbolic_solution"].astype(bool)
        rows.append({
            "method": "LIES (this pipeline)" if name == "LIES" else name,
            "tasks": len(df),
            "SSR %": _percent(solved),
            "SSR % positive symbols": _percent(df["symbolic_solution_positive"]),
            "prod. of powers": f"{_percent(solved[powers]):.1f} ({int(solved[powers].sum())}/{int(powers.sum())})",
            "other": f"{_percent(solved[~powers]):.1f} ({int(solved[~powers].sum())}/{int((~powers).sum())})",
            "raw space": f"{int(solved[raw].sum())}/{int(raw.sum())}",
            "trigonometric": f"{int(solved[trig].sum())}/{int(trig.sum())}",
            "R2>0.99 %": _percent(df["r2_test"].astype(float) > 0.99),
            "median s/task": float(df["seconds_total"].median()) if "seconds_total" in df else float("nan"),
        })
    return pd.DataFrame(rows)


def _markdown(df: pd.DataFrame) -> str:
    cells = [[f"{v:.1f}" if isinstance(v, float) else str(v) for v in row] for row in df.itertuples(index=False)]
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def headline(folders: list[Path]) -> str:
    """The markdown of every run's table, in the order given."""
    parts = ["SSR is SRBench's symbolic-solution check with plain symbols (the headline); \"positive symbols\" is the "
             "reading with symbols declared positive, labelled as such. Every row of a table was measured in one run "
             "on the same samples with the same check. Regenerate with `python -m lies.bench.headline`.", ""]
    for folder in folders:
        run = load_run(folder)
        h = run.header
        parts += [f"### {folder.name}", "",
                  f"`{h.get('Command', '?')}`  ", f"{h.get('Date', '?')}, code {h.get('Code', 'unknown')}, "
                  f"{h.get('Machine', '?')}" + (f"; {h['Settings']}" if "Settings" in h else ""), "",
                  _markdown(method_table(run)), ""]
        mechanisms = ssr_by_mechanism(run.methods["LIES"].to_dict("records"))
        if mechanisms:  # a folder written before mechanisms were recorded has none: no table
            parts += ["SSR by mechanism (LIES; share: of all solved tasks):", "",
                      _markdown(pd.DataFrame(mechanisms)), ""]
    return "\n".join(parts)


def _runs_under(root: Path) -> list[Path]:
    return sorted({p.parent for p in root.rglob("report.md") if (p.parent / "results.csv").is_file()})


def write_headline(markdown_file: Path, text: str) -> None:
    """Put ``text`` between the markers of ``markdown_file`` (which must hold both, in order)."""
    content = markdown_file.read_text()
    start, end = content.find(START), content.find(END)
    if start < 0 or end < start:
        raise LiesError(f"{markdown_file} has no headline markers ({START} ... {END})")
    markdown_file.write_text(content[: start + len(START)] + "\n\n" + text.rstrip("\n") + "\n\n" + content[end:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lies.bench.headline", description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", type=Path, help=f"benchmark folders (default: every one under {RESULTS})")
    parser.add_argument("--into", type=Path, default=Path("BENCHMARKS.md"), help="the file whose headline is rewritten")
    parser.add_argument("--print", action="store_true", help="print the tables instead of writing them")
    args = parser.parse_args(argv)
    folders = args.folders or _runs_under(RESULTS)
    if not folders:
        raise SystemExit(f"no benchmark folders under {RESULTS}")
    text = headline(folders)
    if args.print:
        print(text)
    else:
        write_headline(args.into, text)
        print(f"{args.into}: headline rewritten from {len(folders)} benchmark folder(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
