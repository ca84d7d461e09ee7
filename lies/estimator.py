"""`LiesRegressor`: the LIES pipeline as a scikit-learn-style regressor.

    from lies.estimator import LiesRegressor
    model = LiesRegressor(params={"weak_admm": {"epochs": 10}}).fit(X, y)
    model.formula_          # lies.symbolic.formula.Formula, e.g. 1.0*x0*x1
    model.predict(X_new), model.score(X_test, y_test), model.sympy()

As in scikit-learn, ``__init__`` only stores its arguments and everything learned lives in attributes ending in
``_``; `fit` resolves the arguments into a `lies.pipeline.runner.Pipeline` (validated there: a typo in ``params`` is a
`LiesError` with a "did you mean"), holds out a share of the rows as test data, and runs the pipeline in memory.
With scikit-learn installed it is a real scikit-learn regressor (``BaseEstimator``, ``RegressorMixin``, tags), so
``cross_val_score``, ``make_pipeline`` and ``check_estimator`` take it; without, `get_params` and `set_params`
still follow the protocol.
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping, Sequence

import numpy as np

from lies.core.checks import (
    as_numeric,
    check_columns,
    check_finite,
    check_magnitude,
    check_matrix,
    check_names,
    check_names_count,
    check_positive,
    check_rows,
    check_target_shape,
)
from lies.core.errors import LiesError, did_you_mean

try:  # a real scikit-learn estimator when scikit-learn is there (clone, Pipeline, cross_val_score, tags)
    from sklearn.base import BaseEstimator, RegressorMixin
    from sklearn.exceptions import DataConversionWarning as _ConversionWarning
    from sklearn.exceptions import NotFittedError as _SklearnNotFitted
except ImportError:  # pragma: no cover - scikit-learn is optional
    _BASES: tuple[type, ...] = ()
    _NOT_FITTED: tuple[type, ...] = (AttributeError,)
    _ConversionWarning = UserWarning
else:
    _BASES = (RegressorMixin, BaseEstimator)
    _NOT_FITTED = (_SklearnNotFitted,)

#: Share of the rows `fit` holds out to measure R^2 on data the pipeline never saw (``r2_test_``).
HELD_OUT = 0.2

_ARGS = ("params", "skip", "random_state", "n_jobs", "log", "network")
_DEFAULTS = {"params": None, "skip": (), "random_state": 0, "n_jobs": 1, "log": "auto", "network": "lies"}


class NotFittedError(LiesError, *_NOT_FITTED):
    """predict (or sympy, latex) before fit: a LiesError, and scikit-learn's NotFittedError when it is installed."""


class LiesRegressor(*_BASES):
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
    random_state : int, numpy Generator or RandomState, or None
        Seed of every random choice (held-out split, initialisation, data order, oversampling); None: a fresh
        seed per fit. The seed used is kept in ``seed_``.
    n_jobs : int
        Worker processes for the formula stages (``runtime.n_jobs``; this argument wins over ``params``).
    log : bool or "auto"
        True: fit in log space (the paper; every input and the target must be > 0). False: raw space. "auto"
        (default): log space when every value is > 0, raw space otherwise; ``log_`` says which was used.
    network : str
        ``"lies"``, ``"eql"`` or ``"auto"`` (params.yaml's ``network.kind``): ``"eql"`` trains Kim et al.'s Equation
        Learner (params in ``params["eql"]``) through the same stages; EQL fits in raw space, so ``log`` does not
        apply; ``"auto"`` trains LIES when the data go to log space, EQL otherwise (the pipeline's default; here
        ``"lies"`` stays the default, so that a fit keeps the one network its params tune).
    """

    def __init__(
        self,
        params: Mapping[str, Any] | None = None,
        skip: str | Sequence[str] = (),
        random_state: Any = 0,
        n_jobs: int = 1,
        log: bool | str = "auto",
        network: str = "lies",
    ) -> None:
        self.params = params
        self.skip = skip
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.log = log
        self.network = network

    # ---------------------------------------------------------------- scikit-learn protocol
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _ARGS}

    def set_params(self, **params: Any) -> "LiesRegressor":
        for name, value in params.items():
            if name not in _ARGS:
                hint = did_you_mean(name, _ARGS) or f" (arguments: {', '.join(_ARGS)})"
                raise LiesError(f"LiesRegressor has no argument {name!r}{hint}")
            setattr(self, name, value)
        return self

    def __sklearn_tags__(self):
        """scikit-learn's tags: a regressor; in log space (log=True) every input and target value must be > 0."""
        tags = super().__sklearn_tags__()
        positive = self.log is True
        tags.input_tags.positive_only = positive
        tags.target_tags.positive_only = positive
        tags.target_tags.required = True
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return getattr(self, "formula_", None) is not None

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:
        args = []
        for name in _ARGS:
            value = getattr(self, name)
            same = (name == "skip" and not value) or (type(value) is type(_DEFAULTS[name])
                                                      and value == _DEFAULTS[name])
            if not same:
                args.append(f"{name}={value!r}")
        text = f"LiesRegressor({', '.join(args)})"
        if getattr(self, "formula_", None) is not None:
            text += f" -> {self.target_name_} = {self.formula_.text}"
        return text

    # ---------------------------------------------------------------- fitting
    def _pipeline(self):
        """The arguments resolved into a validated Pipeline, the runtime params and the evaluation params."""
        from lies.params import NetworkParams, RuntimeParams, StageParams, check_skip, parse_params
        from lies.pipeline.runner import EvaluationParams, Pipeline

        params = dict(self.params or {})
        for section in ("tasks", "ablation"):
            if section in params:
                what = "the data comes from fit(X, y)" if section == "tasks" else "use LiesRegressor(skip=...)"
                raise LiesError(f"LiesRegressor: params[{section!r}] is not used here: {what}")
        weak = params.get("weak_admm") or {}
        weak = weak.model_dump() if isinstance(weak, StageParams) else dict(weak)
        if "log" in weak and weak["log"] != self.log:
            raise LiesError(f"LiesRegressor: params['weak_admm']['log'] = {weak['log']!r} contradicts "
                            f"log={self.log!r}; set only log=")
        weak["log"] = self.log
        kind = parse_params(NetworkParams, {"kind": self.network}, "network").kind
        given = params.get("network") or {}
        given = given.model_dump() if isinstance(given, StageParams) else dict(given)
        if given.get("kind", kind) != kind:
            raise LiesError(f"LiesRegressor: params['network']['kind'] = {given['kind']!r} contradicts "
                            f"network={self.network!r}; set only network=")
        pipeline = Pipeline(params={**params, "weak_admm": weak, "network": {"kind": kind}}, skip=check_skip(self.skip))
        runtime = params.get("runtime") or {}
        runtime = runtime.model_dump() if isinstance(runtime, StageParams) else dict(runtime)
        runtime = parse_params(RuntimeParams, {**runtime, "n_jobs": self.n_jobs, "progress": False}, "runtime")
        evaluation = params.get("evaluation")
        if not isinstance(evaluation, EvaluationParams):
            evaluation = parse_params(EvaluationParams, evaluation, "evaluation")
        return pipeline, runtime, evaluation

    def fit(self, X: Any, y: Any = None, variable_names: Sequence[str] | None = None) -> "LiesRegressor":
        """Find a formula for ``y`` from ``X`` (an (N, n) array, or a DataFrame whose columns name the variables)."""
        from lies.core.seeding import sampling_rng, task_seed
        from lies.data.dataset import Dataset
        from lies.data.tasks import TaskData, TaskSpec, log_space, split_rows

        pipeline, runtime, evaluation = self._pipeline()  # bad params fail before any work on the data
        if y is None:
            raise LiesError("LiesRegressor requires y to be passed, but the target y is None")
        X, names, from_frame = _as_matrix(X, variable_names)
        y = as_numeric(y, "y")
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn("A column-vector y was passed when a 1d array was expected; it is read as y.ravel()",
                          _ConversionWarning, stacklevel=2)
        y = _as_target(y, X.shape[0])
        check_rows(X.shape[0])
        target = next(t for t in ("y", "target", "y_") if t not in names)
        check_finite(X, y, names, target)
        check_magnitude(X, y, names, target)
        if self.log is True and pipeline.network.kind != "eql":  # EQL fits in raw space: any sign
            check_positive(X, y, names, target)
        data = Dataset(X, y, names, target)
        seed = _seed(self.random_state)
        train, test = split_rows(data, HELD_OUT, sampling_rng(seed))
        spec = TaskSpec(name="data-t0", trial=0, seed=task_seed(seed, 0, "data"), target=target, variables=names)
        task = TaskData(spec=spec, train=train, test=test)

        result = pipeline.run([task], runtime, evaluation_timeout=evaluation.symbolic_timeout)
        self.result_ = result
        self.seed_ = seed
        self.log_ = log_space(self.log, task)
        self.variable_names_ = names
        self.n_features_in_ = len(names)
        if from_frame:
            self.feature_names_in_ = np.array(names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
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
            raise NotFittedError("this LiesRegressor is not fitted yet: call fit(X, y) first")
        return formula

    def predict(self, X: Any) -> np.ndarray:
        """The formula evaluated on ``X`` (same columns as in `fit`; a DataFrame is matched by column name)."""
        formula = self._fitted()
        X = _columns_for_predict(X, self.variable_names_)
        return formula(X)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """R^2 of the formula on (X, y), optionally weighted per sample."""
        from lies.symbolic.metrics import r2_score, unit_scale

        prediction = self.predict(X)
        y = _as_target(y, len(prediction))
        if sample_weight is None:
            return float(r2_score(y, prediction))
        w = _as_target(sample_weight, len(prediction))
        scale = unit_scale(y)  # exact: the squares of y near 1e-200 or 1e160 stay in range
        y, prediction = y / scale, prediction / scale
        residual = np.sum(w * (y - prediction) ** 2)
        total = np.sum(w * (y - np.average(y, weights=w)) ** 2)
        return float(1.0 - residual / total) if total > 0 else (1.0 if residual == 0 else 0.0)

    def sympy(self):
        """The formula as a sympy expression."""
        return self._fitted().expr

    def latex(self) -> str:
        return self._fitted().latex


# -------------------------------------------------------------------------------------------------- checks
def _seed(random_state: Any) -> int:
    """``random_state`` as scikit-learn takes it (None, an int, a RandomState or Generator) -> one int seed."""
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0] & 0x7FFFFFFF)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**31 - 1))
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool) and random_state >= 0:
        return int(random_state)
    raise LiesError(f"random_state must be None, a non-negative int, a numpy RandomState or Generator; "
                    f"got {random_state!r}")


def _as_matrix(X: Any, variable_names: Sequence[str] | None) -> tuple[np.ndarray, tuple[str, ...], bool]:
    """X as float64 (N, n), the variable names (DataFrame columns, ``variable_names``, or x0, x1, ...), and
    whether they came from a DataFrame's string column names (scikit-learn's ``feature_names_in_``)."""
    names: Sequence[str] | None = None
    if hasattr(X, "columns") and hasattr(X, "to_numpy"):  # a pandas DataFrame, without importing pandas here
        if all(isinstance(c, str) for c in X.columns):  # as scikit-learn: only string columns name features
            names = list(X.columns)
        X = X.to_numpy()
    X = as_numeric(X, "X")
    check_matrix(X)
    if X.shape[1] == 0:
        raise LiesError(f"0 feature(s) (shape={X.shape}) while a minimum of 1 is required: X has no columns")
    from_frame = names is not None and variable_names is None
    if variable_names is not None:
        if isinstance(variable_names, str):
            raise LiesError("variable_names must be a list of names, not one string")
        names = [str(v) for v in variable_names]
    if names is None:
        names = [f"x{j}" for j in range(X.shape[1])]
    check_names_count(X.shape[1], names)
    check_names(names)
    return X, tuple(names), from_frame


def _as_target(y: Any, n_rows: int) -> np.ndarray:
    y = as_numeric(y, "y")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    check_target_shape(y, n_rows)
    return y


def _columns_for_predict(X: Any, names: Sequence[str]) -> np.ndarray:
    if hasattr(X, "columns") and hasattr(X, "to_numpy") and all(isinstance(c, str) for c in X.columns):
        check_columns(names, list(X.columns), "variable", "X")
        X = X[list(names)]
    X, _, _ = _as_matrix(X, None)
    if X.shape[1] != len(names):
        raise LiesError(f"X has {X.shape[1]} features, but LiesRegressor is expecting {len(names)} features as "
                        f"input ({', '.join(names)})")
    check_finite(X, None, names, None)
    return X
