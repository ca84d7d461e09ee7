"""Command line: ``lies run``, ``lies inspect``, ``lies benchmark``, and the entry point of the DVC stage shims.

A `LiesError` (a user mistake) is printed as one line ``lies: error: ...`` with exit code 2 and no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Sequence

from lies.errors import LiesError


def _guard(fn: Callable[[], int | None]) -> int:
    """Run ``fn``; a LiesError becomes one line on stderr and exit code 2."""
    try:
        return int(fn() or 0)
    except LiesError as exc:
        print(f"lies: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lies: interrupted", file=sys.stderr)
        return 130


def stage_main(name: str) -> None:
    """Entry point of ``stages/<name>.py``: run one stage in the current folder (params.yaml, data/)."""
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    from lies.pipeline import run_stage

    sys.exit(_guard(lambda: run_stage(name, ".")))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lies", description="Symbolic regression with LIES networks.")
    sub = parser.add_subparsers(dest="command", required=True)
    stage = sub.add_parser("stage", help="run one pipeline stage in the current folder (what dvc repro calls)")
    stage.add_argument("name")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "stage":
        from lies.pipeline import run_stage

        return _guard(lambda: run_stage(args.name, "."))
    return 2


if __name__ == "__main__":
    sys.exit(main())
