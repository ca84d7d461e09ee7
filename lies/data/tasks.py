"""Tasks: what one run of the pipeline works on (an equation or a CSV, times one trial), and its prepared data.

A task is named ``<source>-t<trial>`` (``I.12.1-t0``, ``mydata-t2``). Every random choice of a task (sampling,
network initialisation, data order, oversampling) comes from one integer seed derived from the base seed, the
trial and the source name, so a trial is reproducible on its own, whatever else runs beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from lies.core.checks import MIN_ROWS
from lies.core.errors import LiesError
from lies.core.seeding import noise_rng, sampling_rng, task_seed
from lies.data.csv_data import load_csv
from lies.data.dataset import Dataset
from lies.data.feynman import SUBSETS, FeynmanEquation, equations, get_equation
from lies.data.transforms import use_log
from lies.params import TasksParams

#: The built-in default task set: easy formulas, so that the default pipeline runs in minutes on 2 CPU cores.
DEFAULT_SET = ("I.12.1", "II.8.31", "I.6.2a")


@dataclass(frozen=True)
class TaskSpec:
    """Identity of a task. Exactly one of ``equation`` and ``csv`` is set."""

    name: str
    trial: int
    seed: int
    equation: str | None = None
    csv: str | None = None
    target: str | None = None
    variables: tuple[str, ...] | None = None  # CSV only: the input columns (default: every other column)
    noise: float = 0.0  # SRBench's target noise: N(0, (noise * RMS(y_train))^2) added to the training target
    # a decomposition's sub-task: the RMS error of the oracle its targets are read from, as a fraction of the
    # targets' RMS. Below it a formula matches the oracle's errors, not the function: description lengths floor it.
    oracle_error: float = 0.0

    @property
    def source(self) -> str:
        return self.equation if self.equation is not None else Path(self.csv or "data").stem

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "trial": self.trial,
            "seed": self.seed,
            "equation": self.equation,
            "csv": self.csv,
            "target": self.target,
            "variables": list(self.variables) if self.variables is not None else None,
            **({"noise": self.noise} if self.noise else {}),  # absent when 0: noiseless task files stay as they were
            **({"oracle_error": self.oracle_error} if self.oracle_error else {}),  # only a sub-task has one
        }

    @classmethod
    def from_dict(cls, d: dict) -> "TaskSpec":
        v = d.get("variables")
        return cls(
            name=d["name"],
            trial=int(d["trial"]),
            seed=int(d["seed"]),
            equation=d.get("equation"),
            csv=d.get("csv"),
            target=d.get("target"),
            variables=tuple(v) if v is not None else None,
            noise=float(d.get("noise", 0.0)),
            oracle_error=float(d.get("oracle_error", 0.0)),
        )


def resolve_equations(selection: str | Sequence[str]) -> list[str]:
    """A named set (``default``, ``lies61``, ``all``) or a list of Feynman ids -> ids (LiesError when unknown)."""
    if isinstance(selection, str) and selection == "default":
        return list(DEFAULT_SET)
    if isinstance(selection, str) and selection not in SUBSETS:
        known = ", ".join(["default", *SUBSETS])
        try:
            return [get_equation(selection).id]
        except LiesError:
            raise LiesError(f"unknown task set {selection!r}: use one of {known}, or a list of equation ids") from None
    return [eq.id for eq in equations(selection)]


def task_specs(params: TasksParams) -> list[TaskSpec]:
    """The tasks of a params.yaml ``tasks`` section (unknown ids, a CSV without a target: one LiesError line)."""
    return make_tasks(params.set, params.trials, params.seed, params.csv, params.target, params.variables, params.noise)


def make_tasks(
    selection: str | Sequence[str] = "default",
    trials: int = 1,
    seed: int = 0,
    csv: str | None = None,
    target: str | None = None,
    variables: Sequence[str] | None = None,
    noise: float = 0.0,
) -> list[TaskSpec]:
    """The task set: every equation (or the one CSV) times ``trials``, each trial with its own seed."""
    if trials < 1:
        raise LiesError(f"tasks.trials must be at least 1, got {trials}")
    if csv is not None:
        if not target:
            raise LiesError("a CSV task needs a target column (tasks.target / --target)")
        source = Path(csv).stem
        return [
            TaskSpec(
                name=f"{source}-t{t}",
                trial=t,
                seed=task_seed(seed, t, source),
                csv=str(csv),
                target=target,
                variables=tuple(variables) if variables else None,
                noise=noise,
            )
            for t in range(trials)
        ]
    ids = resolve_equations(selection)
    return [TaskSpec(name=f"{e}-t{t}", trial=t, seed=task_seed(seed, t, e), equation=e, noise=noise)
            for e in ids for t in range(trials)]


@dataclass(frozen=True)
class TaskData:
    """A prepared task: training samples and held-out test samples in raw units.

    For a Feynman equation both are fresh uniform samples over the table's ranges (different seeds); for a CSV the
    rows are shuffled and split. ``equation`` is set when new samples can be drawn from a known formula (the
    oversampling stage and the held-out R^2 use it).
    """

    spec: TaskSpec
    train: Dataset
    test: Dataset

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def equation(self) -> FeynmanEquation | None:
        return get_equation(self.spec.equation) if self.spec.equation else None

    @property
    def variables(self) -> tuple[str, ...]:
        return self.train.variables


def log_space(setting: bool | str, task: TaskData) -> bool:
    """``weak_admm.log`` for one task. ``"auto"``: log space (the paper's setting) exactly when every value of every
    split is > 0 (a formula fitted in log space is NaN elsewhere), raw space otherwise; for a Feynman formula too,
    so that one whose range holds values <= 0 runs in raw space instead of stopping the task set."""
    X, y = np.concatenate([task.train.X, task.test.X]), np.concatenate([task.train.y, task.test.y])
    return use_log(setting, X, y)


def add_noise(y: np.ndarray, level: float, scale: float, rng: np.random.Generator) -> np.ndarray:
    """SRBench's target noise: y + N(0, (level * scale)^2), scale = RMS of the training target."""
    return y + rng.normal(0.0, level * scale, np.shape(y)) if level else y


def _with_noise(spec: TaskSpec, train: Dataset) -> Dataset:
    if not spec.noise:
        return train
    rms = float(np.sqrt(np.mean(train.y**2)))
    return Dataset(train.X, add_noise(train.y, spec.noise, rms, noise_rng(spec.seed)), train.variables, train.target)


#: Held-out rows of a formula task when ``tasks.n_test`` is null.
FORMULA_N_TEST = 2_000


def split_rows(data: Dataset, test_fraction: float, rng: np.random.Generator,
               n_test: int | None = None) -> tuple[Dataset, Dataset]:
    """(train, test): the rows shuffled by one ``rng.permutation``, the first ``n_test`` of them (default
    ``round(test_fraction * N)``, at least one) held out for testing. The one train/test split of given rows (a CSV
    task, ``LiesRegressor.fit``): the same seed holds out the same rows."""
    order = rng.permutation(data.n_samples)
    if n_test is None:
        n_test = max(1, int(round(test_fraction * data.n_samples)))
    return data.subset(order[n_test:]), data.subset(order[:n_test])


def prepare_task(spec: TaskSpec, n_train: int = 10_000, n_test: int | None = None,
                 test_fraction: float = 0.2) -> TaskData:
    """Sample (equation) or load and split (CSV) the data of one task; then the training target gets the task's
    noise (``spec.noise``), the test target none (SRBench's protocol). ``n_test``: held-out rows (None:
    `FORMULA_N_TEST` for a formula, ``test_fraction`` of a CSV's rows)."""
    rng = sampling_rng(spec.seed)
    if spec.equation is not None:
        eq = get_equation(spec.equation)
        train = eq.sample(n_train, rng)
        test = eq.sample(FORMULA_N_TEST if n_test is None else n_test, rng)
        return TaskData(spec=spec, train=_with_noise(spec, train), test=test)
    data = load_csv(spec.csv, spec.target, spec.variables)
    if n_test is not None and data.n_samples - n_test < MIN_ROWS:
        raise LiesError(f"tasks.n_test = {n_test} leaves {data.n_samples - n_test} of the {data.n_samples} rows of "
                        f"{spec.csv} for training; at least {MIN_ROWS} are needed (null: hold out 20 %)")
    train, test = split_rows(data, test_fraction, rng, n_test)
    if train.n_samples > n_train:
        train = train.subset(np.arange(n_train))
    spec = replace(spec, variables=data.variables)
    return TaskData(spec=spec, train=_with_noise(spec, train), test=test)
