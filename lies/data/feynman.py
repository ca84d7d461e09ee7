"""The AI Feynman registry: its formulas, their sampling boxes, the named subsets, and the sampler.

The registry (`FEYNMAN`) is read once from `lies/data/feynman.yaml`, our own copy of the AI Feynman table with
the variable list taken from each formula (the table's `# variables` column is wrong for six rows); the signed
formulas of this project (`SIGNED`) from `lies/data/signed.yaml`. A formula's samples are a `lies.data.dataset.Dataset`.

Heavy imports (sympy) are deferred to the functions that need them, and every formula is parsed
(`lies.symbolic.formula.parse_formula`) and compiled on first use only, so `import lies.data.feynman` stays cheap for the
command line.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from lies.core.errors import LiesError, did_you_mean
from lies.data.dataset import Dataset

if TYPE_CHECKING:
    import sympy

__all__ = [
    "Variable",
    "FeynmanEquation",
    "FEYNMAN",
    "SIGNED",
    "EQL_AUTHORS",
    "LITERATURE",
    "SUBSETS",
    "get_equation",
    "equations",
]


@dataclass(frozen=True)
class Variable:
    """One input of a registry formula and the box [low, high] the table samples it from."""

    name: str
    low: float
    high: float

    def __post_init__(self) -> None:
        low, high = float(self.low), float(self.high)
        if not (math.isfinite(low) and math.isfinite(high) and low <= high):
            raise LiesError(f"variable {self.name!r}: range [{self.low}, {self.high}] is not a finite interval")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)



@dataclass(frozen=True)
class FeynmanEquation:
    """One row of the AI Feynman table: output name, formula text, inputs with their sampling ranges."""

    id: str
    output: str
    formula: str
    variables: tuple[Variable, ...]
    source: str = ""  # where a formula outside AI Feynman comes from (a paper, a repository)

    def __post_init__(self) -> None:
        object.__setattr__(self, "variables", tuple(self.variables))
        names = [v.name for v in self.variables]
        if len(set(names)) != len(names):
            raise LiesError(f"{self.id}: repeated variable names in {names}")

    # The compiled function cannot be pickled (lambdify builds it from source), and the parse is cheap to
    # redo: drop both so equations travel to worker processes.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("expr", None)
        state.pop("_func", None)
        state.pop("product_of_powers", None)
        return state

    @property
    def variable_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables)

    @property
    def n_variables(self) -> int:
        return len(self.variables)

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The table's sampling box as (low, high) arrays in variable order."""
        return (
            np.array([v.low for v in self.variables], dtype=np.float64),
            np.array([v.high for v in self.variables], dtype=np.float64),
        )

    @cached_property
    def expr(self) -> sympy.Expr:
        """The parsed formula (plain Symbols named after the variables, `lies.symbolic.formula.parse_formula`); parsed on
        first use."""
        from lies.symbolic.formula import parse_formula

        try:
            return parse_formula(self.formula, self.variable_names)
        except LiesError as exc:
            raise LiesError(f"{self.id}: {exc}") from None

    @property
    def symbols(self) -> tuple[sympy.Symbol, ...]:
        import sympy

        return tuple(sympy.Symbol(name) for name in self.variable_names)

    @cached_property
    def product_of_powers(self) -> bool:
        """Whether the formula is ``C prod v_k^a_k``: its log, expanded, is a constant plus multiples of ``log(v)``
        (then a least-squares fit in log space, with no hidden unit, is exact)."""
        import sympy

        for term in sympy.Add.make_args(sympy.expand_log(sympy.log(self.expr), force=True)):
            _, factor = term.as_coeff_Mul()
            if factor.free_symbols and not (isinstance(factor, sympy.log) and factor.args[0].is_Symbol):
                return False
        return True

    @cached_property
    def _func(self) -> Any:
        import sympy

        return sympy.lambdify(self.symbols, self.expr, modules="numpy")

    def evaluate(self, X: np.ndarray) -> np.ndarray:
        """The formula on each row of X (N, n), columns in `variables` order; float64 (N,)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_variables:
            raise LiesError(
                f"{self.id}: expected X of shape (N, {self.n_variables}) with columns "
                f"{', '.join(self.variable_names)}; got shape {X.shape}"
            )
        out = np.asarray(self._func(*X.T), dtype=np.float64)
        if out.shape != (X.shape[0],):  # a formula constant in its inputs comes back as a scalar
            out = np.broadcast_to(out, (X.shape[0],)).copy()
        return out

    def sample(
        self,
        n_samples: int,
        rng: np.random.Generator | int,
        low: Sequence[float] | np.ndarray | None = None,
        high: Sequence[float] | np.ndarray | None = None,
    ) -> Dataset:
        """Draw each variable uniformly and independently (as AI Feynman does), then evaluate the formula.

        `low`/`high` (length n, default the table's box) select a sub-box, e.g. for oversampling a region;
        they may not leave the table's box, where the formula was never meant to be evaluated.
        """
        if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 1:
            raise LiesError(f"{self.id}: n_samples must be a positive integer, got {n_samples!r}")
        generator = _as_generator(rng)
        lo, hi = self._sub_box(low, high)
        X = np.empty((int(n_samples), self.n_variables), dtype=np.float64)
        for j in range(self.n_variables):
            X[:, j] = generator.uniform(lo[j], hi[j], int(n_samples))
        return Dataset(X, self.evaluate(X), self.variable_names, self.output)

    def _sub_box(self, low: Any, high: Any) -> tuple[np.ndarray, np.ndarray]:
        table_low, table_high = self.bounds
        lo = table_low if low is None else self._box_side(low, "low")
        hi = table_high if high is None else self._box_side(high, "high")
        for j, var in enumerate(self.variables):
            if not (var.low <= lo[j] <= hi[j] <= var.high):
                raise LiesError(
                    f"{self.id}: sampling box [{lo[j]:g}, {hi[j]:g}] for {var.name!r} is not an interval inside "
                    f"the table range [{var.low:g}, {var.high:g}]"
                )
        return lo, hi

    def _box_side(self, values: Any, which: str) -> np.ndarray:
        try:
            arr = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise LiesError(f"{self.id}: {which} must be {self.n_variables} numbers, got {values!r}") from None
        if arr.shape != (self.n_variables,) or not np.all(np.isfinite(arr)):
            raise LiesError(
                f"{self.id}: {which} must be {self.n_variables} finite numbers "
                f"({', '.join(self.variable_names)}), got {values!r}"
            )
        return arr


def _as_generator(rng: Any) -> np.random.Generator:
    """A Generator as is (the caller owns its stream), or a fresh one from an int seed; no unseeded default."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise LiesError(f"rng must be a numpy Generator or a non-negative integer seed, got {rng!r}")


# --------------------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------------------


def _load_registry(file: str = "feynman.yaml") -> dict[str, FeynmanEquation]:
    """Read lies/data/<file>. A malformed file is a packaging bug, hence RuntimeError, not LiesError."""
    text = resources.files("lies.data").joinpath(file).read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    entries = yaml.load(text, Loader=loader)
    registry: dict[str, FeynmanEquation] = {}
    try:
        for entry in entries:
            eq = FeynmanEquation(
                id=str(entry["id"]),
                output=str(entry["output"]),
                formula=str(entry["formula"]),
                variables=tuple(
                    Variable(str(v["name"]), float(v["low"]), float(v["high"])) for v in entry["variables"]
                ),
                source=str(entry.get("source", "")),
            )
            if eq.id in registry:
                raise ValueError(f"duplicate id {eq.id}")
            registry[eq.id] = eq
    except (KeyError, TypeError, ValueError, LiesError) as exc:
        raise RuntimeError(f"lies/data/{file} is malformed: {exc}") from exc
    return registry


FEYNMAN: Mapping[str, FeynmanEquation] = MappingProxyType(_load_registry())
"""All 100 main AI Feynman equations by id, in the table's row order."""

# The 61 formulas LIES reports on, as reconstructed in shared/reference/lies61_candidates.md ("best guess"):
# at most 4 variables by the table's (partly wrong) `# variables` column, as the LIES code reads it; no
# sin/cos/arcsin; no output that can be negative (the LIES code takes the log of the target).
_LIES61 = (
    "I.6.2a I.6.2 I.6.2b I.8.14 I.10.7 I.12.1 I.12.2 I.12.4 I.12.5 I.13.4 I.14.3 I.14.4 I.15.3x I.15.1 "
    "I.16.6 I.18.4 I.24.6 I.25.13 I.27.6 I.29.4 I.32.5 I.34.8 I.34.1 I.34.14 I.34.27 I.38.12 I.39.1 "
    "I.39.11 I.39.22 I.43.16 I.43.31 I.43.43 I.47.23 I.48.2 II.3.24 II.4.23 II.8.7 II.8.31 II.10.9 "
    "II.11.27 II.11.28 II.13.17 II.13.23 II.13.34 II.24.17 II.27.16 II.27.18 II.34.2a II.34.2 II.34.11 "
    "II.34.29a II.38.3 II.38.14 III.4.32 III.4.33 III.7.38 III.10.19 III.12.43 III.13.18 III.15.14 III.15.27"
).split()

SIGNED: Mapping[str, FeynmanEquation] = MappingProxyType(_load_registry("signed.yaml"))
"""Signed formulas of this project (lies/data/signed.yaml: negative inputs or outputs), the ``signed`` task set."""

EQL_AUTHORS: Mapping[str, FeynmanEquation] = MappingProxyType(_load_registry("eql_authors.yaml"))
"""The EQL authors' benchmark functions (lies/data/eql_authors.yaml, each with its `source`), every input on
[-1, 1]: the ``eql-authors`` task set."""

LITERATURE: Mapping[str, FeynmanEquation] = MappingProxyType(_load_registry("literature.yaml"))
"""Benchmark formulas of the SR literature (lies/data/literature.yaml: Nguyen, Keijzer, Vladislavleva,
ODE-Strogatz, each with its `source` and published range): the ``literature`` task set, a generalisation check
frozen in its first commit and never used to choose a default."""

#: Every formula a task can name: AI Feynman's, the signed ones, the EQL authors' and the literature's.
_REGISTRY: Mapping[str, FeynmanEquation] = MappingProxyType({**FEYNMAN, **SIGNED, **EQL_AUTHORS, **LITERATURE})

_clashes = len(FEYNMAN) + len(SIGNED) + len(EQL_AUTHORS) + len(LITERATURE) - len(_REGISTRY)
if _clashes:
    raise RuntimeError(f"{_clashes} ids are in more than one of lies/data/*.yaml")
del _clashes

# The 27 of them that are not products of powers (`FeynmanEquation.product_of_powers` is False; a test keeps the
# list equal to that test): sums, differences and compositions, where a log-linear fit cannot be the answer.
_LIES61_STRUCTURED = (
    "I.6.2a I.6.2 I.6.2b I.8.14 I.10.7 I.13.4 I.15.3x I.15.1 I.16.6 I.18.4 I.24.6 I.27.6 I.34.1 I.34.14 I.39.11 "
    "I.43.43 I.48.2 II.10.9 II.11.27 II.11.28 II.13.23 II.13.34 II.24.17 II.38.14 III.4.32 III.4.33 III.10.19"
).split()

SUBSETS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "lies61": tuple(_LIES61),
    "lies61-powers": tuple(i for i in _LIES61 if i not in _LIES61_STRUCTURED),
    "lies61-structured": tuple(_LIES61_STRUCTURED),
    "holdout": tuple(i for i in FEYNMAN if i not in _LIES61),  # never used to choose a default
    "all": tuple(FEYNMAN),
    "signed": tuple(SIGNED),
    "eql-authors": tuple(EQL_AUTHORS),
    "literature": tuple(LITERATURE),  # never used to choose a default
})
"""Named selections of registry ids, each in table order. ``holdout``: the AI-Feynman formulas outside LIES-61,
the generalisation check (defaults are tuned on LIES-61 only)."""

_missing = [i for ids in SUBSETS.values() for i in ids if i not in _REGISTRY]
if _missing:
    raise RuntimeError(f"subsets name ids missing from the registry: {_missing}")
del _missing


def get_equation(eq_id: str) -> FeynmanEquation:
    """The registry entry for an id like 'I.12.1'; a typo gets the closest ids as a hint."""
    if not isinstance(eq_id, str):
        raise LiesError(f"a Feynman equation id must be a string like 'I.12.1', got {eq_id!r}")
    try:
        return _REGISTRY[eq_id]
    except KeyError:
        pass
    hint = did_you_mean(eq_id, list(FEYNMAN), n=3)
    raise LiesError(
        f"unknown Feynman equation {eq_id!r}{hint or ' (ids look like I.12.1, II.3.24, III.4.32)'}"
    ) from None


def equations(subset_or_ids: str | Sequence[str]) -> list[FeynmanEquation]:
    """Equations named by a subset ('lies61', 'all'), a single id, or a list of ids (order kept)."""
    if isinstance(subset_or_ids, str):
        if subset_or_ids in SUBSETS:
            return [_REGISTRY[i] for i in SUBSETS[subset_or_ids]]
        if subset_or_ids in _REGISTRY:
            return [_REGISTRY[subset_or_ids]]
        hint = did_you_mean(subset_or_ids, [*SUBSETS, *FEYNMAN], n=3)
        raise LiesError(
            f"unknown subset or Feynman equation {subset_or_ids!r} (subsets: {', '.join(SUBSETS)}){hint}"
        )
    if not isinstance(subset_or_ids, Sequence):
        raise LiesError(f"expected a subset name or a list of equation ids, got {subset_or_ids!r}")
    unknown = [i for i in subset_or_ids if not (isinstance(i, str) and i in _REGISTRY)]
    if len(unknown) == 1:
        get_equation(unknown[0])  # raises, with its hint
    if unknown:
        raise LiesError(f"unknown Feynman equations: {', '.join(repr(i) for i in unknown)}")
    return [_REGISTRY[i] for i in subset_or_ids]
