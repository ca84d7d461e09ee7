"""The dense surrogate (lies.networks.surrogate): decomposition's oracle where the fitted formula is a poor one."""

import numpy as np
import torch

from lies.networks.surrogate import fit_surrogate


def _data(f, n=3000, seed=0, low=1.0, high=3.0, dims=3):
    X = np.random.default_rng(seed).uniform(low, high, (n, dims))
    return X, f(X)


def _relative_error(surrogate, X, y):
    return float(np.sqrt(np.mean((surrogate(X) - y) ** 2)) / np.sqrt(np.mean(y**2)))


def test_it_fits_a_smooth_function_on_rows_it_never_saw():
    f = lambda X: X[:, 0] * np.exp(-X[:, 0] * X[:, 1] / X[:, 2])  # noqa: E731
    X, y = _data(f)
    surrogate = fit_surrogate(X[:2400], y[:2400], torch.Generator().manual_seed(0), steps=1000)
    assert surrogate.logs.all()  # positive columns enter as logs
    error = _relative_error(surrogate, X[2400:], y[2400:])
    assert error < 0.02, error
    # far better than the best constant, which errs by the target's relative spread
    assert error < 0.1 * float(np.std(y) / np.sqrt(np.mean(y**2)))


def test_signed_inputs_enter_as_they_are_and_the_fit_still_holds():
    f = lambda X: X[:, 0] ** 2 - np.sin(X[:, 1]) * X[:, 2]  # noqa: E731
    X, y = _data(f, low=-2.0, high=2.0)
    surrogate = fit_surrogate(X[:2400], y[:2400], torch.Generator().manual_seed(0), steps=1000)
    assert not surrogate.logs.any()
    assert _relative_error(surrogate, X[2400:], y[2400:]) < 0.05


def test_the_same_generator_seed_gives_the_same_surrogate():
    X, y = _data(lambda X: X[:, 0] / X[:, 1] + X[:, 2])
    fit = lambda seed: fit_surrogate(X, y, torch.Generator().manual_seed(seed), steps=200)  # noqa: E731
    a, b, c = fit(1)(X), fit(1)(X), fit(2)(X)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
