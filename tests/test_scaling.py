"""Scale invariance through an oracle (lies.symbolic.scaling): f = P(x) g(u(x)) with u and P products of powers."""

from fractions import Fraction

import numpy as np
import pytest
import sympy

from lies.symbolic.scaling import find_reduction, snapped

F = Fraction


def _rows(n=2000, dims=4, low=1.0, high=5.0, seed=0):
    return np.random.default_rng(seed).uniform(low, high, (n, dims))


def _wobbly(f, relative_error):
    """An oracle that errs smoothly by about ``relative_error`` of f, as a fitted formula does."""
    return lambda X: f(X) * (1 + relative_error * np.sin(3 * X[:, 0] + X[:, 1]))


@pytest.mark.parametrize(("f", "exponents", "prefactor"), [
    (lambda X: np.exp(-X[:, 0] * X[:, 1] / (X[:, 2] * X[:, 3])), (1, 1, -1, -1), (0, 0, 0, 0)),
    (lambda X: X[:, 0] * np.tanh(X[:, 0] * X[:, 1] / (X[:, 2] * X[:, 3])), (1, 1, -1, -1), (1, 0, 0, 0)),
    (lambda X: np.exp(X[:, 0] ** 2 * X[:, 1] / (4 * X[:, 2] * X[:, 3])) - 1, (1, F(1, 2), F(-1, 2), F(-1, 2)),
     (0, 0, 0, 0)),
    (lambda X: np.sin(X[:, 0] * X[:, 1] / X[:, 2]) ** 2 + 0 * X[:, 3], (1, 1, -1, 0), (0, 0, 0, 0)),
])
@pytest.mark.parametrize("error", [0.0, 1e-3])
def test_a_function_of_one_product_of_powers_is_found(f, exponents, prefactor, error):
    X = _rows()
    relative = bool(np.all(f(X) > 0))
    sigma = error if relative else error * float(np.sqrt(np.mean(f(X) ** 2)))
    found = find_reduction(_wobbly(f, error), X, sigma, np.random.default_rng(1), relative=relative)
    assert found is not None and found.score <= 1
    assert found.exponents == tuple(map(F, exponents))  # of u and 1/u, the one whose first power is positive
    assert found.prefactor == tuple(map(F, prefactor))
    u, P = found.expressions(("a", "b", "c", "d"))
    point = dict(zip(sympy.symbols("a b c d"), (1.5, 2.0, 3.0, 4.5)))
    np.testing.assert_allclose(float(u.subs(point)), found.u(np.array([[1.5, 2.0, 3.0, 4.5]]))[0])
    np.testing.assert_allclose(float(P.subs(point)), found.P(np.array([[1.5, 2.0, 3.0, 4.5]]))[0])


def test_no_reduction_of_a_function_of_two_independent_products():
    f = lambda X: X[:, 0] + X[:, 1] * X[:, 2] + X[:, 3]  # noqa: E731
    assert find_reduction(f, _rows(), 0.0, np.random.default_rng(1)) is None
    assert find_reduction(_wobbly(f, 1e-3), _rows(), 1e-3, np.random.default_rng(1), relative=True) is None


def test_the_test_is_as_sharp_as_the_oracle():
    """exp(u) + 0.003 c depends on c beside u: an exact oracle shows it, one whose relative error (1 %) is larger
    than the term does not; a wrong guess of the error in relative units is no licence either way."""
    f = lambda X: np.exp(X[:, 0] * X[:, 1] / X[:, 2]) + 0.003 * X[:, 2]  # noqa: E731
    X = _rows(dims=3)
    assert find_reduction(f, X, 0.0, np.random.default_rng(1), relative=True) is None
    found = find_reduction(f, X, 0.01, np.random.default_rng(1), relative=True)
    assert found is not None and found.exponents == (1, 1, -1)


def test_signed_values_or_rows_are_not_tested_in_relative_units():
    X = _rows(dims=2)
    assert find_reduction(lambda X: np.sin(X[:, 0] * X[:, 1]), X, 0.0, np.random.default_rng(1), relative=True) is None
    signed = X.copy()
    signed[0, 0] = -1.0
    assert find_reduction(lambda X: X[:, 0] * X[:, 1], signed, 0.0, np.random.default_rng(1)) is None


def test_snapping_gives_one_of_u_and_1_over_u_at_each_denominator():
    assert snapped(np.array([0.49, -1.02, 0.0]), 2) == [(F(0), F(1), F(0)), (F(1, 2), F(-1), F(0))]
    assert snapped(np.array([-0.49, 1.02, 0.0]), 2)[1] == (F(1, 2), F(-1), F(0))
