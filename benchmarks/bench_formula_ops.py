"""Wall time of the III-E/III-F post-processing on a formula with 30 constants and 10k rows.

    /work/venv/bin/python benchmarks/bench_formula_ops.py [--rows 10000] [--repeats 3] [--tau 0.1] [--twins]

Prints seconds per step (round_to_zero, optimize_coefficients, final_round), best and worst of the repeats.
Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import sympy

from lies.symbolic.coefficients import optimize_coefficients
from lies.symbolic.formula import Formula
from lies.symbolic.metrics import r2_score
from lies.symbolic.rounding import final_round, round_to_zero

F = sympy.Float


def build(rng: np.random.Generator, twins: bool = False) -> tuple[Formula, Formula, list[sympy.Symbol]]:
    """A truth of 8 terms a*u**b*exp(c*v) (24 constants) plus 6 planted negligible constants = 30 in the start."""
    names = ["x3", "x1", "x4", "x2"]  # deliberately not sorted
    s = [sympy.Symbol(n) for n in names]
    truth_terms, start_terms = [], []
    pairs = [(0, 1), (1, 2), (2, 3), (3, 0), (0, 2), (1, 3), (2, 0), (3, 1)]  # distinct: no twin terms
    if twins:  # terms k and k+4 share (u, v): a nearly degenerate, slowly converging fit
        pairs = [(k % 4, (k + 1) % 4) for k in range(8)]
    for i, j in pairs:
        u, v = s[i], s[j]
        a, b, c = rng.uniform(0.5, 2.0), rng.choice([1.0, 1.5, 2.0]), rng.uniform(-0.4, -0.1)
        truth_terms.append(F(a) * u ** F(b) * sympy.exp(F(c) * v))
        start_terms.append(F(a * 1.1) * u ** F(b + 0.03) * sympy.exp(F(c * 0.9) * v))
    for k in range(3):  # negligible: c*u*v with |c| ~ 1e-6 (2 constants each: coefficient and exponent)
        start_terms.append(F(1e-6 * (k + 1)) * s[k] * s[k + 1] ** F(1.0001))
    truth = Formula(sympy.Add(*truth_terms), names)
    start = Formula(sympy.Add(*start_terms), names)
    return truth, start, s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--twins", action="store_true", help="ill-conditioned variant (pairs of similar terms)")
    ap.add_argument("--tau", type=float, default=0.1, help="tau of both roundings (relative to std f)")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    truth, start, _ = build(rng, twins=args.twins)
    X = rng.uniform(1.0, 5.0, size=(args.rows, 4))
    y = truth(X)
    print(f"start: {start.n_constants} constants, complexity {start.complexity}, {args.rows} rows")
    times: dict[str, list[float]] = {"round_to_zero": [], "optimize_coefficients": [], "final_round": []}
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        f1 = round_to_zero(start, X, tau=args.tau)
        t1 = time.perf_counter()
        f2 = optimize_coefficients(f1, X, y, time_limit=60.0)
        t2 = time.perf_counter()
        f3 = final_round(f2, X, tau=args.tau)
        t3 = time.perf_counter()
        times["round_to_zero"].append(t1 - t0)
        times["optimize_coefficients"].append(t2 - t1)
        times["final_round"].append(t3 - t2)
    for label, f in [("start", start), ("round_to_zero", f1), ("optimize_coefficients", f2), ("final_round", f3)]:
        print(f"after {label:>22s}: {f.n_constants:2d} constants, R^2 {r2_score(y, f(X)):.6f}")
    for step, ts in times.items():
        print(f"{step:>22s}: best {min(ts):.3f} s, worst {max(ts):.3f} s")


if __name__ == "__main__":
    main()
