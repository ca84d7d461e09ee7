"""`LiesRegressor`: the LIES pipeline as a scikit-learn-style regressor.

    from lies.estimator import LiesRegressor
    model = LiesRegressor(params={"weak_admm": {"epochs": 10}}).fit(X, y)
    model.formula_          # lies.formula.Formula, e.g. 1.0*x0*x1
    model.predict(X_new), model.score(X_test, y_test), model.sympy()

As in scikit-learn, ``__init__`` only stores its arguments and everything learned lives in attributes ending in
``_``; `fit` resolves the arguments into a `lies.pipeline.Pipeline` (validated there: a typo in ``params`` is a
`LiesError` with a "did you mean"), holds out a share of the rows as test data, and runs the pipeline in memory.
No scikit-learn import is needed; `get_params` and `set_params` make `sklearn.base.clone` work.
"""

from __future__ import annotations

import difflib
from typing import Any, Mapping, Sequence

import numpy as np

from lies.errors import LiesError

#: Share of the rows `fit` holds out to measure R^2 on data the pipeline never saw (``r2_test_``).
HELD_OUT = 0.2

#: Fewer rows than this cannot be split and still fit anything (the same floor as for a CSV file).
MIN_ROWS = 10

_ARGS = ("params", "skip", "random_state", "n_jobs", "log")


class LiesRegressor:
    """Symbolic regression with LIES networks: fit finds one closed-form formula for y(X).

    Parameters
    ----------
    params : dict, optional
        Stage name -> params (a dict of the keys to change, or a params model), as in params.yaml, e.g.
        ``{"weak_admm": {"epochs": 10}, "final_rounding": {"decimals": 2}}``. ``runtime`` and ``evaluation`` are
        accepted too; ``tasks`` and ``ablation`` are not (the data comes from `fit`, the ablation from ``skip``).
    skip : sequence of str
        Stages to pass through (``oversampling``, ``gradient_pruning``, ``node_pruning``, ``rounding_to_zero``,
        ``coefficient_optimization``, ``final_rounding``); a bare string is one stage.
    random_state : int
        Seed of every random choice (held-out split, initialisation, data order, oversampling).
    n_jobs : int
        Worker processes for the formula stages (``runtime.n_jobs``; this argument wins over ``params``).
    log : bool
        Fit in log space (the paper; every input and the target must be > 0). False: raw space.
    """

    def __init__(
        self,
        params: Mapping[str, Any] | None = None,
        skip: str | Sequence[str] = (),
        random_state: int = 0,
        n_jobs: int = 1,
        log: bool = True,
    ) -> None:
        self.params = params
        self.skip = skip
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.log = log

    # ---------------------------------------------------------------- scikit-learn protocol
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _ARGS}

    def set_params(self, **params: Any) -> "LiesRegressor":
        for name, value in params.items():
            if name not in _ARGS:
                close = difflib.get_close_matches(name, _ARGS, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f" (arguments: {', '.join(_ARGS)})"
                raise LiesError(f"LiesRegressor has no argument {name!r}{hint}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {"params": None, "skip": (), "random_state": 0, "n_jobs": 1, "log": True}
        args = []
        for name in _ARGS:
            value = getattr(self, name)
            same = value == defaults[name] or (name == "skip" and not value)
            if not same:
                args.append(f"{name}={value!r}")
        text = f"LiesRegressor({', '.join(args)})"
        if getattr(self, "formula_", None) is not None:
            text += f" -> {self.target_name_} = {self.formula_.text}"
        return text

    # ---------------------------------------------------------------- fitting
    def _pipeline(self):
        """The arguments resolved into a validated Pipeline, the runtime params and the evaluation params."""
        from lies.pipeline import EvaluationParams, Pipeline
        from lies.stages import RuntimeParams, StageParams, check_skip, parse_params

        params = dict(self.params or {})
        for section in ("tasks", "ablation"):
            if section in params:
                what = "the data comes from fit(X, y)" if section == "tasks" else "use LiesRegressor(skip=...)"
                raise LiesError(f"LiesRegressor: params[{section!r}] is not used here: {what}")
        weak = params.get("weak_admm") or {}
        weak = weak.model_dump() if isinstance(weak, StageParams) else dict(weak)
        if "log" in weak and bool(weak["log"]) != bool(self.log):
            raise LiesError(f"LiesRegressor: params['weak_admm']['log'] = {weak['log']!r} contradicts "
                            f"log={self.log!r}; set only log=")
        weak["log"] = bool(self.log)
        pipeline = Pipeline(params={**params, "weak_admm": weak}, skip=check_skip(self.skip))
        runtime = params.get("runtime") or {}
        runtime = runtime.model_dump() if isinstance(runtime, StageParams) else dict(runtime)
        runtime = parse_params(RuntimeParams, {**runtime, "n_jobs": self.n_jobs, "progress": False}, "runtime")
        evaluation = params.get("evaluation")
        if not isinstance(evaluation, EvaluationParams):
            evaluation = parse_params(EvaluationParams, evaluation, "evaluation")
        return pipeline, runtime, evaluation

    def fit(self, X: Any, y: Any, variable_names: Sequence[str] | None = None) -> "LiesRegressor":
        """Find a formula for ``y`` from ``X`` (an (N, n) array, or a DataFrame whose columns name the variables)."""
        from lies.datasets import Dataset
        from lies.tasks import TaskData, TaskSpec, task_seed

        pipeline, runtime, evaluation = self._pipeline()  # bad params fail before any work on the data
        X, names = _as_matrix(X, variable_names)
        y = _as_target(y, X.shape[0])
        _check_finite(X, y, names)
        if X.shape[0] < MIN_ROWS:
            raise LiesError(f"LiesRegressor.fit needs at least {MIN_ROWS} rows, got {X.shape[0]}")
        target = next(t for t in ("y", "target", "y_") if t not in names)
        if self.log:
            _check_positive(X, y, names, target)
        data = Dataset(X, y, names, target)
        seed = int(self.random_state)
        order = np.random.default_rng(seed).permutation(data.n_samples)
        n_test = max(1, int(round(HELD_OUT * data.n_samples)))
        spec = TaskSpec(name="data-t0", trial=0, seed=task_seed(seed, 0, "data"), target=target, variables=names)
        task = TaskData(spec=spec, train=data.subset(order[n_test:]), test=data.subset(order[:n_test]))

        result = pipeline.run([task], runtime, evaluation_timeout=evaluation.symbolic_timeout)
        self.result_ = result
        self.variable_names_ = names
        self.n_features_in_ = len(names)
        self.target_name_ = target
        self.r2_test_ = float(result.rows[0]["r2_test"])
        self.formula_ = result.formula(0)
        if self.formula_ is None or result.rows[0]["out_of_time"]:
            late = [n for n, arts in result.artifacts.items() if arts[0].summary.get("out_of_time")]
            self.formula_ = None
            raise LiesError(f"LiesRegressor: stage {late[0] if late else '?'} ran out of time on this data; "
                            "raise its time_limit in params")
        return self

    # ---------------------------------------------------------------- using the fit
    def _fitted(self):
        formula = getattr(self, "formula_", None)
        if formula is None:
            raise LiesError("this LiesRegressor is not fitted yet: call fit(X, y) first")
        return formula

    def predict(self, X: Any) -> np.ndarray:
        """The formula evaluated on ``X`` (same columns as in `fit`; a DataFrame is matched by column name)."""
        formula = self._fitted()
        X = _columns_for_predict(X, self.variable_names_)
        return formula(X)

    def score(self, X: Any, y: Any) -> float:
        """R^2 of the formula on (X, y)."""
        from lies.metrics import r2_score

        prediction = self.predict(X)
        return float(r2_score(_as_target(y, len(prediction)), prediction))

    def sympy(self):
        """The formula as a sympy expression."""
        return self._fitted().expr

    def latex(self) -> str:
        return self._fitted().latex


# -------------------------------------------------------------------------------------------------- checks
def _as_matrix(X: Any, variable_names: Sequence[str] | None) -> tuple[np.ndarray, tuple[str, ...]]:
    """X as float64 (N, n) and the variable names (DataFrame columns, ``variable_names``, or x0, x1, ...)."""
    names: Sequence[str] | None = None
    if hasattr(X, "columns") and hasattr(X, "to_numpy"):  # a pandas DataFrame, without importing pandas here
        names = [str(c) for c in X.columns]
        try:
            X = X.to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise LiesError(f"X has non-numeric columns: {exc}") from None
    else:
        try:
            X = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise LiesError(f"X must be numeric: {exc}") from None
    if X.ndim != 2:
        hint = "; for one variable use X.reshape(-1, 1)" if X.ndim == 1 else ""
        raise LiesError(f"X must be 2-D (samples, variables), got shape {X.shape}{hint}")
    if X.shape[1] == 0:
        raise LiesError("X has no columns")
    if variable_names is not None:
        if isinstance(variable_names, str):
            raise LiesError("variable_names must be a list of names, not one string")
        names = [str(v) for v in variable_names]
    if names is None:
        names = [f"x{j}" for j in range(X.shape[1])]
    if len(names) != X.shape[1]:
        raise LiesError(f"X has {X.shape[1]} columns but {len(names)} variable names were given")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise LiesError(f"variable names must be unique; repeated: {', '.join(repeated)}")
    return X, tuple(names)


def _as_target(y: Any, n_rows: int) -> np.ndarray:
    try:
        y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise LiesError(f"y must be numeric: {exc}") from None
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.shape[0] != n_rows:
        raise LiesError(f"y must have shape ({n_rows},) to match X, got {y.shape}")
    return y


def _check_finite(X: np.ndarray, y: np.ndarray, names: Sequence[str]) -> None:
    bad_x, bad_y = ~np.isfinite(X), ~np.isfinite(y)
    if bad_x.any() or bad_y.any():
        columns = [n for n, b in zip(names, bad_x.any(axis=0)) if b] + (["y"] if bad_y.any() else [])
        rows = int((bad_x.any(axis=1) | bad_y).sum())
        raise LiesError(f"{rows} rows hold NaN or inf (in {', '.join(columns)}); drop or fix them before fit")


def _check_positive(X: np.ndarray, y: np.ndarray, names: Sequence[str], target: str) -> None:
    from lies.transforms import log_space_problem

    problem = log_space_problem(X, y, names, target)
    if problem:
        raise LiesError(f"{problem}, but log space needs every value > 0: use LiesRegressor(log=False) to fit in "
                        "raw space")


def _columns_for_predict(X: Any, names: Sequence[str]) -> np.ndarray:
    if hasattr(X, "columns") and hasattr(X, "to_numpy"):
        by_name = {str(c): c for c in X.columns}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise LiesError(f"X lacks the column(s) {', '.join(missing)} the formula was fitted on")
        X = X[[by_name[n] for n in names]]
    X, _ = _as_matrix(X, None)
    if X.shape[1] != len(names):
        raise LiesError(f"X has {X.shape[1]} columns, the formula was fitted on {len(names)} ({', '.join(names)})")
    bad = ~np.isfinite(X)
    if bad.any():
        raise LiesError(f"{int(bad.any(axis=1).sum())} rows of X hold NaN or inf")
    return X
