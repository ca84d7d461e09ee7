"""Translation invariance through an oracle (lies.symbolic.translation)."""

import numpy as np
import pytest
import sympy

from lies.symbolic.translation import Translation, find_translation


def _rows(n=2000, dims=3, low=1.0, high=3.0, seed=0):
    return np.random.default_rng(seed).uniform(low, high, (n, dims))


@pytest.mark.parametrize(("f", "dims", "pairs"), [
    # a Gaussian of theta - theta1 of width sigma (one difference; sigma stays)
    (lambda X: np.exp(-((X[:, 1] - X[:, 2]) / X[:, 0]) ** 2 / 2) / X[:, 0], 3, ((1, 2, 1),)),
    # a distance: two differences at once
    (lambda X: np.sqrt((X[:, 1] - X[:, 0]) ** 2 + (X[:, 3] - X[:, 2]) ** 2), 4, ((0, 1, 1), (2, 3, 1))),
    # a sum of two angles
    (lambda X: X[:, 2] * np.sin(X[:, 0] + X[:, 1]), 3, ((0, 1, -1),)),
])
def test_a_function_of_a_difference_or_sum_is_found(f, dims, pairs):
    found = find_translation(f, _rows(dims=dims), sigma=0.0, rng=np.random.default_rng(1))
    assert found is not None and set(found.pairs) == set(pairs) and all(s <= 1 for s in found.scores)


def test_no_translation_where_no_pair_is_invariant():
    f = lambda X: X[:, 0] * X[:, 1] + np.exp(X[:, 2] / X[:, 0])  # noqa: E731
    assert find_translation(f, _rows(), sigma=0.0, rng=np.random.default_rng(1)) is None
    assert find_translation(lambda X: X[:, 0], _rows(dims=1), 0.0, np.random.default_rng(1)) is None


def test_the_test_is_as_sharp_as_the_oracle():
    """A weak dependence on x0 + x1 (0.01 of it beside a term of size about 1 in x0 - x1) is seen through an exact
    oracle, and not through one whose error hides it."""
    f = lambda X: np.cos(X[:, 0] - X[:, 1]) + 0.01 * (X[:, 0] + X[:, 1])  # noqa: E731
    X = _rows(dims=2)
    assert find_translation(f, X, sigma=0.0, rng=np.random.default_rng(1)) is None
    found = find_translation(f, X, sigma=0.05, rng=np.random.default_rng(1))
    assert found is not None and found.pairs == ((0, 1, 1),)


def test_the_sub_task_and_its_formula_map_back_to_the_group():
    """rows() gives the sub-task's inputs, expression() turns its formula back into one of the group's variables:
    both sides agree on the data; the new variable's name is none of the group's."""
    translation = Translation(((1, 2, 1), (3, 0, -1)), (0.1, 0.2))
    names = ["u", "a", "b", "c"]  # a variable already called u: the new ones are named around it
    new = translation.variables(names)
    assert new == ("u1", "u2")
    X = _rows(dims=4, low=-2.0, high=2.0)
    sub = sympy.Symbol(new[0]), sympy.Symbol(new[1])
    g = sympy.sin(sub[0]) * sub[1] ** 2
    whole = sympy.lambdify(sympy.symbols(names), translation.expression(g, names))
    values = sympy.lambdify(sub, g)(*translation.rows(X).T)
    np.testing.assert_allclose(whole(*X.T), values, rtol=1e-12)
    np.testing.assert_allclose(translation.rows(X), np.column_stack([X[:, 1] - X[:, 2], X[:, 3] + X[:, 0]]))
    assert translation.describe(names)["translation"] == {"u1": "a - b", "u2": "c + u"}
