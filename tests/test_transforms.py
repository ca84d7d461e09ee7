import numpy as np
import pytest
import sympy

from lies.core.errors import LiesError
from lies.data.transforms import Transform


def test_round_trip_and_range():
    rng = np.random.default_rng(0)
    X = rng.uniform(0.2, 7.0, (500, 3))
    y = X.prod(axis=1)
    tr = Transform.fit(X, y, ["a", "b", "c"], "y")
    z = tr.inputs(X)
    assert np.abs(z).max() <= 1.0 + 1e-12 and np.isclose(np.abs(z).max(axis=0), 1.0).all()
    assert np.allclose(tr.inverse_inputs(z), X)
    assert np.allclose(tr.inverse_target(tr.target(y)), y)


def test_symbolic_inverse_matches_numeric():
    rng = np.random.default_rng(1)
    X = rng.uniform(1, 5, (50, 2))
    y = X[:, 0] ** 2 / X[:, 1]
    tr = Transform.fit(X, y, ["a", "b"], "y")
    a, b = sympy.symbols("a b")
    za, zb = tr.symbolic_inputs([a, b])
    f = sympy.lambdify((a, b), tr.symbolic_output(2 * tr.scales[0] * za - tr.scales[1] * zb))
    assert np.allclose(f(X[:, 0], X[:, 1]), y)


def test_variables_below_one_are_scaled_by_largest_magnitude():
    X = np.array([[0.1, 2.0], [0.5, 3.0], [0.9, 4.0]])
    tr = Transform.fit(X, np.ones(3), ["n", "d"], "y")
    assert tr.scales[0] == pytest.approx(-np.log(0.1))
    assert np.abs(tr.inputs(X)).max() <= 1.0 + 1e-12


def test_non_positive_values_are_a_clear_error():
    X = np.array([[1.0, -2.0], [1.0, 0.0], [2.0, 3.0]])
    with pytest.raises(LiesError, match=r"column 'b' has 2 of 3 values <= 0"):
        Transform.fit(X, np.ones(3), ["a", "b"], "y")
    with pytest.raises(LiesError, match=r"column 'y' has 1 of 3 values <= 0"):
        Transform.fit(np.ones((3, 1)), np.array([1.0, -1.0, 2.0]), ["a"], "y")
    Transform.fit(X, np.ones(3), ["a", "b"], "y", log=False)  # raw space accepts them


def test_nan_rows_are_a_clear_error():
    X = np.array([[1.0, np.nan], [np.inf, 2.0], [2.0, 3.0]])
    with pytest.raises(LiesError, match=r"^2 of 3 rows hold missing, NaN or inf values \(columns 'a', 'b'\)"):
        Transform.fit(X, np.ones(3), ["a", "b"], "y")


def test_dict_round_trip():
    tr = Transform(scales=(1.5, 2.0), log=True)
    assert Transform.from_dict(tr.to_dict()) == tr


def test_log_auto_is_log_space_only_where_every_value_is_positive():
    from lies.data.dataset import Dataset
    from lies.data.tasks import TaskData, TaskSpec, log_space

    def task(values, equation=None):
        data = Dataset(np.c_[values], np.abs(values) + 1, ["x"], "y")
        spec = TaskSpec(name="t", trial=0, seed=0, equation=equation, csv=None if equation else "t.csv", target="y")
        return TaskData(spec=spec, train=data.subset(slice(1, None)), test=data.subset(slice(0, 1)))

    positive, signed_in_test = task([1.0, 2.0, 3.0]), task([-1.0, 2.0, 3.0])  # the one value <= 0 is held out
    assert log_space("auto", positive) is True and log_space("auto", signed_in_test) is False
    assert log_space(True, signed_in_test) is True and log_space(False, positive) is False
    assert log_space("auto", task([-1.0, 2.0, 3.0], equation="I.12.1")) is False  # a signed Feynman range: raw


def test_a_negative_target_goes_to_log_space_with_its_sign():
    """y = -x0^2 / x1 < 0 throughout is a product of powers with a sign: log space fits ln(-y), the model is
    -exp(t), numerically and in sympy, and the sign survives the artifact's dict."""
    from lies.data.transforms import use_log

    rng = np.random.default_rng(2)
    X = rng.uniform(1, 5, (200, 2))
    y = -X[:, 0] ** 2 / X[:, 1]
    assert use_log("auto", X, y) is True and use_log("auto", X, np.r_[y[:100], -y[100:]]) is False
    tr = Transform.fit(X, y, ["a", "b"], "y")
    assert tr.sign == -1 and np.allclose(tr.target(y), np.log(-y))
    assert np.allclose(tr.inverse_target(tr.target(y)), y)
    a, b = sympy.symbols("a b")
    za, zb = tr.symbolic_inputs([a, b])
    f = sympy.lambdify((a, b), tr.symbolic_output(2 * tr.scales[0] * za - tr.scales[1] * zb))
    assert np.allclose(f(X[:, 0], X[:, 1]), y)
    assert Transform.from_dict(tr.to_dict()) == tr and "sign" not in Transform.fit(X, -y, ["a", "b"], "y").to_dict()
