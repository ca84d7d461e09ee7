"""`LiesRegressor`: scikit-learn conventions, shapes, names, and bad input as LiesError."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sympy

from lies.core.errors import LiesError
from lies.estimator import LiesRegressor, NotFittedError
from lies.pipeline.runner import PipelineResult
from lies.symbolic.formula import Formula

TINY = {
    "weak_admm": {"epochs": 10},
    "strong_admm": {"epochs": 10},
    "oversampling": {"max_iter": 1, "retrain": {"epochs": 1}},
    "coefficient_optimization": {"max_evaluations": 500},
}


@pytest.fixture(scope="module")
def data():
    X = np.random.default_rng(0).uniform(1, 5, size=(400, 2))
    return X, X[:, 0] * X[:, 1]


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return LiesRegressor(params=TINY).fit(X, y)


def test_init_only_stores_its_arguments():
    params = {"weak_admm": {"epoch": 1}}  # a typo: only fit() may notice it
    model = LiesRegressor(params=params, skip="oversamplin", random_state=3, n_jobs=2, log=False)
    assert model.params is params and model.skip == "oversamplin"
    assert model.get_params() == {"params": params, "skip": "oversamplin", "random_state": 3, "n_jobs": 2,
                                  "log": False, "network": "lies"}
    assert not [name for name in vars(model) if name.endswith("_")]
    assert repr(LiesRegressor()) == "LiesRegressor()"
    assert repr(LiesRegressor(log=True)) == "LiesRegressor(log=True)"
    assert repr(LiesRegressor(skip=["oversampling"], log=False)) == "LiesRegressor(skip=['oversampling'], log=False)"


def test_fit_predict_score(fitted, data):
    X, y = data
    assert isinstance(fitted.formula_, Formula)
    assert fitted.formula_.variable_names == ("x0", "x1")
    assert fitted.variable_names_ == ("x0", "x1") and fitted.n_features_in_ == 2 and fitted.target_name_ == "y"
    assert isinstance(fitted.result_, PipelineResult)
    assert len(fitted.result_.tasks[0].test.y) == 80  # 20 % held out
    prediction = fitted.predict(X)
    assert prediction.shape == (400,) and prediction.dtype == np.float64
    assert fitted.predict(X[:7]).shape == (7,)
    score = fitted.score(X, y)
    assert isinstance(score, float)
    np.testing.assert_array_equal(prediction, fitted.formula_(X))
    assert isinstance(fitted.sympy(), sympy.Expr) and fitted.sympy() == fitted.formula_.expr
    assert fitted.r2_test_ == fitted.result_.rows[0]["r2_test"] or np.isnan(fitted.r2_test_)
    assert repr(fitted).startswith("LiesRegressor(params=") and f"-> y = {fitted.formula_.text}" in repr(fitted)


def test_dataframe_columns_become_variable_names(data):
    X, y = data
    frame = pd.DataFrame({"mass": X[:, 0], "speed": X[:, 1]})
    model = LiesRegressor(params=TINY).fit(frame, pd.Series(y, name="energy"))
    assert model.formula_.variable_names == ("mass", "speed")
    assert {s.name for s in model.sympy().free_symbols} <= {"mass", "speed"}
    # columns are matched by name: another order gives the same predictions
    np.testing.assert_array_equal(model.predict(frame[["speed", "mass"]]), model.predict(frame))
    np.testing.assert_array_equal(model.predict(frame.to_numpy()), model.predict(frame))
    with pytest.raises(LiesError, match=r"variable column\(s\) 'mass' not found in X; available columns: m, speed"):
        model.predict(frame.rename(columns={"mass": "m"}))


def test_variable_names_argument(data):
    X, y = data
    model = LiesRegressor(params=TINY, skip=["oversampling", "final_rounding"]).fit(X, y, variable_names=["a", "y"])
    assert model.formula_.variable_names == ("a", "y")
    assert model.target_name_ == "target"  # "y" is taken by a variable
    assert model.result_.artifacts["oversampling"][0].summary["skipped"] is True


def test_same_seed_same_networks_and_extracted_formula(data, fitted):
    # The whole run is a function of the seed: the formula stages are bounded by counts, not by the wall clock.
    X, y = data
    again = LiesRegressor(params=TINY).fit(X, y).result_.artifacts
    first = fitted.result_.artifacts
    assert again["extract"][0].formula == first["extract"][0].formula
    assert again["final_rounding"][0].formula == first["final_rounding"][0].formula
    assert again["node_pruning"][0].summary["nonzero"] == first["node_pruning"][0].summary["nonzero"]


def test_sklearn_clone(fitted):
    base = pytest.importorskip("sklearn.base")
    copy = base.clone(fitted)
    assert copy.get_params() == fitted.get_params() and not hasattr(copy, "formula_")
    assert copy.set_params(random_state=5).random_state == 5
    with pytest.raises(LiesError, match="did you mean 'random_state'"):
        copy.set_params(random_sate=1)


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [
        (np.ones(20), np.ones(20), "X must be 2-D .*Reshape your data"),
        (np.ones((20, 2)), np.ones(19), r"y must have shape \(20,\)"),
        (np.ones((20, 2)), np.ones((20, 2)), r"y must have shape \(20,\)"),
        (np.where(np.eye(20, 2) > 0, np.nan, 2.0), np.ones(20), "NaN or inf .*'x0', 'x1'"),
        (np.full((20, 2), 2.0), np.r_[np.inf, np.ones(19)], "NaN or inf"),
        (np.full((5, 2), 2.0), np.ones(5), "at least 10 data rows are needed to fit, got 5 samples"),
        (np.full((1, 2), 2.0), np.ones(1), "got 1 sample$"),
        ([["a", "b"]] * 20, np.ones(20), "X must be numeric"),
        (np.ones((20, 0)), np.ones(20), "X has no columns"),
        (np.ones((20, 2)) * (1 + 1j), np.ones(20), "Complex data not supported"),
        (np.ones((20, 2)), np.ones(20) * 1j, "Complex data not supported: y"),
        (np.ones((20, 2)), None, "requires y to be passed"),
    ],
)
def test_bad_data(X, y, message):
    with pytest.raises(LiesError, match=message):
        LiesRegressor(params=TINY).fit(X, y)


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [
        (np.c_[np.linspace(-1, 1, 20), np.ones(20)], np.ones(20), r"column 'x0' has 10 of 20 values <= 0"),
        (np.full((20, 2), 2.0), np.zeros(20), r"column 'y' has 20 of 20 values <= 0.*LiesRegressor\(log='auto'\)"),
    ],
)
def test_log_space_needs_positive_data(X, y, message):
    with pytest.raises(LiesError, match=message):
        LiesRegressor(params=TINY, log=True).fit(X, y)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"params": {"weak_admm": {"epoch": 1}}}, "did you mean 'epochs'"),
        ({"params": {"strong_adm": {}}}, "did you mean 'strong_admm'"),
        ({"params": {"tasks": {"set": "lies61"}}}, "data comes from fit"),
        ({"params": {"ablation": {"skip": []}}}, "skip="),
        ({"params": {"weak_admm": {"log": False}}}, "contradicts log='auto'"),
        ({"random_state": -1}, "random_state must be None"),
        ({"skip": "oversamplin"}, "did you mean 'oversampling'"),
        ({"skip": ["extract"]}, "not a stage that can be skipped"),
        ({"n_jobs": 0}, "runtime.n_jobs"),
        ({"network": "eq"}, "network.kind"),
        ({"network": "eql", "params": {"network": {"kind": "lies"}}}, "contradicts network='eql'"),
    ],
)
def test_bad_arguments_fail_at_fit(kwargs, message, data):
    X, y = data
    with pytest.raises(LiesError, match=message):
        LiesRegressor(**kwargs).fit(X, y)


def test_duplicate_and_mismatched_names(data):
    X, y = data
    with pytest.raises(LiesError, match="repeated column names: a"):
        LiesRegressor().fit(X, y, variable_names=["a", "a"])
    with pytest.raises(LiesError, match="2 columns but 3 variable names"):
        LiesRegressor().fit(X, y, variable_names=["a", "b", "c"])


def test_predict_before_fit_and_with_wrong_columns(fitted):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        LiesRegressor().predict(np.ones((3, 2)))
    with pytest.raises(LiesError, match="not fitted yet"):
        LiesRegressor().sympy()
    with pytest.raises(LiesError, match="X has 3 features, but LiesRegressor is expecting 2 features as input"):
        fitted.predict(np.ones((4, 3)))
    with pytest.raises(LiesError, match="NaN or inf"):
        fitted.predict(np.array([[1.0, np.nan]]))


def test_raw_space_accepts_negative_values():
    x = np.random.default_rng(1).uniform(-2, 2, size=(300, 1))
    model = LiesRegressor(params=TINY, log=False, skip="oversampling").fit(x, 3 * x[:, 0] - 1)
    assert isinstance(model.formula_, Formula)
    assert model.predict(x).shape == (300,)
    assert model.result_.artifacts["weak_admm"][0].transform.log is False


def test_signed_data_fits_in_raw_space_by_default():
    x = np.random.default_rng(1).uniform(-2, 2, size=(300, 1))
    model = LiesRegressor(params=TINY, skip="oversampling").fit(x, 3 * x[:, 0] - 1)
    assert model.log_ is False and model.result_.artifacts["weak_admm"][0].transform.log is False
    positive = LiesRegressor(params=TINY, skip="oversampling").fit(x + 3, 3 * x[:, 0] + 10)
    assert positive.log_ is True and positive.result_.artifacts["weak_admm"][0].transform.log is True


def test_integer_dataframe_columns_are_not_symbols(data):
    X, y = data
    model = LiesRegressor(params=TINY).fit(pd.DataFrame(X), y)  # columns 0 and 1, as pandas numbers them
    assert model.variable_names_ == ("x0", "x1") and not hasattr(model, "feature_names_in_")
    assert {s.name for s in model.sympy().free_symbols} <= {"x0", "x1"}
    named = LiesRegressor(params=TINY).fit(pd.DataFrame(X, columns=["a", "b"]), y)
    assert list(named.feature_names_in_) == ["a", "b"]
    with pytest.raises(LiesError, match="'1.5' look like numbers"):
        LiesRegressor(params=TINY).fit(pd.DataFrame(X, columns=["a", "1.5"]), y)


def test_random_state_as_scikit_learn_takes_it(data):
    X, y = data
    quick = {**TINY, "weak_admm": {"epochs": 1, "restarts": 1}, "strong_admm": {"epochs": 1}}
    seeds = {LiesRegressor(params=quick, skip=SKIP_ALL, random_state=None).fit(X, y).seed_ for _ in range(2)}
    assert len(seeds) == 2  # None: a fresh seed per fit
    generator = LiesRegressor(params=quick, skip=SKIP_ALL, random_state=np.random.RandomState(4)).fit(X, y)
    assert generator.seed_ == np.random.RandomState(4).randint(0, 2**31 - 1)
    assert LiesRegressor(params=quick, skip=SKIP_ALL, random_state=7).fit(X, y).seed_ == 7


# --------------------------------------------------------------------------------------------- scikit-learn
#: Settings under which a fit takes a fraction of a second: one short training, every weight pruned (the formula
#: is a constant), the formula stages passed through. check_estimator fits some hundred times.
QUICK = {"weak_admm": {"epochs": 1, "restarts": 1}, "strong_admm": {"epochs": 1}, "oversampling": {"max_iter": 0},
         "gradient_pruning": {"threshold": 1e9}, "evaluation": {"symbolic_timeout": 1}}
SKIP_ALL = ["oversampling", "node_pruning", "rounding_to_zero", "coefficient_optimization", "final_rounding"]

#: The checks that cannot apply, by name, with the reason (none: check_regressors_train's R^2 > 0.5 on
#: make_regression, which QUICK's constant formula cannot give, comes from the structure search's linear sum).
NOT_APPLICABLE: dict[str, str] = {}


def test_check_estimator():
    estimator_checks = pytest.importorskip("sklearn.utils.estimator_checks")
    estimator = LiesRegressor(params=QUICK, skip=SKIP_ALL)
    results = estimator_checks.check_estimator(estimator, on_fail=None, expected_failed_checks=NOT_APPLICABLE)
    failed = [(r["check_name"], repr(r["exception"])) for r in results if r["status"] == "failed"]
    assert not failed
    passed = {r["check_name"] for r in results if r["status"] == "passed"}
    assert len(passed) >= 40 and {"check_estimators_unfitted", "check_n_features_in", "check_regressors_train"} <= passed
    assert {r["check_name"] for r in results if r["status"] == "xfail"} == set(NOT_APPLICABLE)
    # scikit-learn skips this one itself unless SCIPY_ARRAY_API=1 is set; LiesRegressor computes in numpy anyway
    assert {r["check_name"] for r in results if r["status"] == "skipped"} <= {"check_array_api_input"}


def test_scikit_learn_tools_take_it(data):
    pytest.importorskip("sklearn")
    from sklearn.base import is_regressor
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = data
    model = LiesRegressor(params=QUICK, skip=SKIP_ALL, random_state=None)
    assert is_regressor(model)
    scores = cross_val_score(model, X, y, cv=2)
    assert scores.shape == (2,) and np.isfinite(scores).all()
    pipeline = make_pipeline(StandardScaler(), model).fit(X, y)  # scaled data is signed: raw space, by auto
    assert pipeline[-1].log_ is False and pipeline.predict(X[:3]).shape == (3,)
    assert LiesRegressor(log=True).__sklearn_tags__().input_tags.positive_only
    assert not LiesRegressor().__sklearn_tags__().input_tags.positive_only


def test_network_eql_trains_an_equation_learner_on_signed_data():
    from lies.networks.eql import EqlNetwork

    x = np.random.default_rng(2).uniform(-2, 2, size=(300, 2))
    eql = {"restarts": 1, "warmup_epochs": 1, "epochs": 10, "finetune_epochs": 3, "batch_size": 64, "threshold": 0.5}
    model = LiesRegressor(params={**TINY, "eql": eql}, network="eql").fit(x, x[:, 0] - x[:, 1])
    assert isinstance(model.result_.artifacts["strong_admm"][0].net, EqlNetwork)
    assert model.predict(x).shape == (300,) and np.isfinite(model.predict(x)).all()
    assert repr(LiesRegressor(network="eql")) == "LiesRegressor(network='eql')"


@pytest.mark.parametrize("magnitude", [1e-200, 1e160])
def test_extreme_magnitudes_are_refused_by_column_not_fitted_wrongly(magnitude):
    """y = a*b with a near 1e-200 used to come out as y = a with R^2 1.0 (squares underflowing to 0/0)."""
    X = np.random.default_rng(2).uniform(1, 5, size=(60, 2))
    X[:, 0] *= magnitude
    power = int(np.floor(np.log10(X[:, 0].max())))
    with pytest.raises(LiesError, match=rf"column 'x0' has values of magnitude 1e{power}, .*x0 \* 1e{-power}$") as info:
        LiesRegressor(params=TINY).fit(X, X[:, 0] * X[:, 1])
    assert "\n" not in str(info.value)
    Xs = X.copy()
    Xs[:, 0] *= 10.0 ** -power  # the rescaling the message names is accepted
    assert LiesRegressor(params=TINY, skip=("oversampling",)).fit(Xs[:20], (Xs[:, 0] * Xs[:, 1])[:20]).formula_


def test_weighted_score_is_the_same_at_any_magnitude(fitted, data):
    X, y = data
    w = np.linspace(1, 2, len(y))
    noisy = y * (1 + 0.05 * np.sin(np.arange(len(y))))
    base = fitted.score(X, noisy, sample_weight=w)
    assert base < 0.999
    scaled = type(fitted).__new__(type(fitted))
    scaled.__dict__.update(fitted.__dict__)
    scaled.predict = lambda X_: fitted.predict(X_) * 1e-200
    assert np.isclose(scaled.score(X, noisy * 1e-200, sample_weight=w), base, rtol=1e-12)
