"""lies.formula: the Formula value type and constant parametrisation."""

import pickle
import warnings

import numpy as np
import pytest
import sympy

from lies.errors import LiesError
from lies.formula import Formula, parametrize

x, y = sympy.symbols("x y")


def test_construction_from_text_and_expr_agree():
    a = Formula("2.5*x**1.5*y + 0.3", ["x", "y"])
    b = Formula(sympy.Float(2.5) * x ** sympy.Float(1.5) * y + sympy.Float(0.3), [x, y])
    assert a == b and hash(a) == hash(b)
    assert a.variables == (x, y)
    assert a.text == str(a.expr) and a.srepr == sympy.srepr(a.expr)
    assert "2.5" in repr(a)


def test_columns_follow_the_variable_order_not_the_alphabet():
    f = Formula("x - y", ["y", "x"])  # column 0 is y
    np.testing.assert_allclose(f(np.array([[1.0, 5.0]])), [4.0])


def test_latex_uses_ln():
    assert r"\ln" in Formula("log(x)", ["x"]).latex


def test_compiled_once_and_cached(monkeypatch):
    calls = []
    real = sympy.lambdify

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(sympy, "lambdify", counting)
    f = Formula("x*y", ["x", "y"])
    X = np.ones((4, 2))
    f(X)
    f(X)
    assert len(calls) == 1


def test_constant_formula_broadcasts():
    out = Formula("3", ["x", "y"])(np.zeros((5, 2)))
    assert out.shape == (5,) and out.dtype == np.float64 and np.all(out == 3.0)
    out = Formula("2*x + y - 2*x", ["x", "y"])(np.zeros((3, 2)))  # the y-free part still has shape (N,)
    assert out.shape == (3,)


def test_numerical_errors_give_nan_silently():
    f = Formula("log(x) + sqrt(y) + 1/(x - 2)", ["x", "y"])
    X = np.array([[-1.0, 1.0], [1.0, -1.0], [2.0, 1.0], [1.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = f(X)
    assert np.isnan(out[0]) and np.isnan(out[1]) and np.isinf(out[2])
    np.testing.assert_allclose(out[3], 0.0)


def test_bad_shape_is_an_error():
    with pytest.raises(ValueError):
        Formula("x*y", ["x", "y"])(np.ones((3, 3)))


def test_with_expr_keeps_variables_and_formula_is_immutable():
    f = Formula("x", ["y", "x"])
    g = f.with_expr(2 * x)
    assert g.variables == f.variables and g.text == "2*x"
    with pytest.raises(AttributeError):
        f.expr = y


def test_dict_round_trip_is_exact():
    expr = sympy.Float("0.1") * x + sympy.Float("3.14159265358979323846264", 30) * y ** sympy.Rational(1, 2)
    f = Formula(expr, ["y", "x"])
    d = f.to_dict()
    assert set(d) == {"text", "srepr", "latex", "variables"} and d["variables"] == ["y", "x"]
    g = Formula.from_dict(d)
    assert g == f and g.srepr == f.srepr


def test_equality_sees_floats_and_variable_order():
    assert Formula("2.0*x", ["x"]) != Formula("2*x", ["x"])
    assert Formula("x*y", ["x", "y"]) != Formula("x*y", ["y", "x"])


def test_complexity_and_constants():
    f = Formula("2.0*x + 2.0*y + 1", ["x", "y"])
    assert f.complexity == sum(1 for _ in sympy.preorder_traversal(f.expr))
    assert f.n_constants == 2  # the two 2.0 are separate constants; the Integer 1 is structure


def test_symbols_are_plain_and_names_are_checked():
    xp = sympy.Symbol("x", positive=True)
    f = Formula(2 * xp, ["x"])
    assert f.expr == 2 * x  # assumption-free symbol
    with pytest.raises(LiesError):
        Formula("x*z", ["x", "y"])
    with pytest.raises(LiesError):
        Formula("x", ["x", "x"])
    with pytest.raises(LiesError):
        Formula("x*(", ["x"])


def test_sympy_names_are_variables_when_listed():
    f = Formula("gamma*E + I", ["gamma", "E", "I"])
    assert {s.name for s in f.expr.free_symbols} == {"gamma", "E", "I"}
    np.testing.assert_allclose(f(np.array([[2.0, 3.0, 1.0]])), [7.0])


def test_pickles_without_the_compiled_function():
    f = Formula("x*y + 1.5", ["x", "y"])
    f(np.ones((2, 2)))
    g = pickle.loads(pickle.dumps(f))
    assert g == f
    np.testing.assert_allclose(g(np.ones((2, 2))), [2.5, 2.5])


def test_parametrize_each_float_occurrence():
    f = Formula("2.0*x + 2.0*y**1.5 + 1", ["y", "x"])
    par = parametrize(f)
    assert len(par.params) == 3 and sorted(par.values) == [1.5, 2.0, 2.0]
    X = np.array([[4.0, 1.0]])  # y=4, x=1
    np.testing.assert_allclose(par.evaluate(X, par.values), f(X))
    assert par.rebuild(list(par.floats)) == f
    g = par.rebuild([sympy.Integer(3) if v == 1.5 else sympy.Float(v) for v in par.values])
    assert g.expr == sympy.Float(2.0) * x + sympy.Float(2.0) * y**3 + 1
