"""The paper's benchmark from a script: the same as `lies benchmark` (see BENCHMARKS.md for the figures)."""

import argparse
import sys

from lies.bench.benchmark import add_arguments, main
from lies.cli import _guard

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    args = parser.parse_args()
    sys.exit(_guard(lambda: main(args, "python benchmarks/run_benchmark.py " + " ".join(sys.argv[1:]))))
