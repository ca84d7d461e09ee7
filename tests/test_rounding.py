"""lies.symbolic.rounding: gradient-based rounding (III-E, Theorem 2), to zero and to one decimal."""

import warnings

import numpy as np
import pytest
import sympy

from lies.symbolic.formula import REFERENCE_NODES, Formula, count_nodes, evaluations_for, parametrize
from lies.symbolic.metrics import is_symbolic_solution
from lies.symbolic.rounding import (
    combine_roots,
    description_length,
    final_round,
    opaque_high_powers,
    positive_log_ratios,
    released,
    resolve_scale,
    restore_powers,
    round_to_zero,
    scale_free,
)

x, y = sympy.symbols("x y")
F = sympy.Float


@pytest.fixture(scope="module")
def X2():
    return np.random.default_rng(0).uniform(1.0, 5.0, size=(2000, 2))


def test_round_to_zero_drops_negligible_keeps_significant(X2):
    f = Formula(F(1e-5) * x**2 + x * y + F(0.5) * x, ["x", "y"])
    g = round_to_zero(f, X2)
    assert g.expr == x * y + F(0.5) * x
    assert g.variables == f.variables


def test_round_to_zero_keeps_everything_when_all_matter(X2):
    f = Formula(F(1.3) * x * y + F(0.7) * y, ["x", "y"])
    assert round_to_zero(f, X2) == f


def test_negligible_changes_do_not_add_up(X2):
    # Each term changes f by at most 0.075 < tau*scale = 0.1 (absolute, the paper's form), all three by 0.225.
    a = F(0.015)
    f = Formula(100 + a * x + a * y + a * x * y / 5, ["x", "y"])
    g = round_to_zero(f, X2, tau=0.1, scale=1.0)
    assert g.n_constants == 2  # exactly one of the three removed
    assert np.max(np.abs(g(X2) - f(X2))) < 0.1


def test_default_scale_makes_the_result_unit_free(X2):
    f = Formula(F(0.01) * x + x * y, ["x", "y"])
    f_big = Formula(1000 * f.expr, ["x", "y"])  # the same law in units 1000x smaller
    assert round_to_zero(f, X2).n_constants == round_to_zero(f_big, X2).n_constants == 0
    # the paper's absolute tau depends on the units: 0.01*x*1000 is not negligible in absolute terms
    assert round_to_zero(f, X2, scale=1.0).n_constants == 0
    assert round_to_zero(f_big, X2, scale="absolute").n_constants == 1


def test_resolve_scale():
    v = np.array([1.0, 3.0, np.nan])
    assert resolve_scale(v, "std") == pytest.approx(1.0)
    assert resolve_scale(v, "rms") == pytest.approx(np.sqrt(5.0))
    assert resolve_scale(np.array([2.0, 2.0]), "std") == pytest.approx(2.0)  # constant f: fall back to RMS
    assert resolve_scale(np.zeros(2), "std") == 1.0
    assert resolve_scale(v, 0.5) == 0.5
    assert resolve_scale(v, "absolute") == 1.0
    with pytest.raises(ValueError):
        resolve_scale(v, "mad")
    with warnings.catch_warnings():  # finite values whose squares overflow: the unit is 1, and nothing is printed
        warnings.simplefilter("error")
        assert resolve_scale(np.array([1e200, -3e200]), "std") == resolve_scale(np.array([1e200]), "rms") == 1.0


def test_zero_that_would_break_the_formula_is_refused(X2):
    f = Formula(x / (F(0.001) * y), ["x", "y"])  # c -> 0 divides by zero: infinite derivative
    assert round_to_zero(f, X2) == f


def test_subsampled_bounds_are_guarded_on_all_rows():
    rng = np.random.default_rng(4)
    X = np.column_stack([rng.uniform(0.0, 1.0, 2000), rng.uniform(0.0, 10.0, 2000)])
    X[123, 0] = 100.0  # one row where the x**2 term matters
    f = Formula(y + F(1e-4) * x**2, ["x", "y"])
    assert round_to_zero(f, X, max_rows=None) == f
    assert round_to_zero(f, X, max_rows=50) == f  # bounds from 50 rows miss it; the all-row guard does not
    assert round_to_zero(f, np.delete(X, 123, axis=0), max_rows=50).expr == y


def test_final_round_gives_exact_integers():
    X = np.random.default_rng(1).uniform(1.0, 5.0, size=(1000, 1))
    f = Formula(F(1.9999) * x ** F(1.0002), ["x"])
    g = final_round(f, X, 2 * X[:, 0])
    assert g.expr == 2 * x
    assert g == Formula("2*x", ["x"])


def test_final_round_exponent_one_half_becomes_sqrt(X2):
    f = Formula(F(0.50001) * x ** F(0.49999) * y, ["x", "y"])
    g = final_round(f, X2, np.sqrt(X2[:, 0]) * X2[:, 1] / 2)
    assert g.expr == sympy.sqrt(x) * y / 2
    assert g.n_constants == 0


def test_final_round_snaps_to_a_square_root_not_to_one_decimal():
    """sqrt(2*G*M/r) refitted as 1.41421*sqrt(G*M/r): one decimal (1.4) would cost R^2 0.999; sqrt(2) costs
    nothing, so that is what it becomes."""
    from lies.symbolic.metrics import r2_score

    X = np.random.default_rng(3).uniform(1.0, 5.0, size=(2000, 3))
    truth = np.sqrt(2 * X[:, 0] * X[:, 1] / X[:, 2])
    g_, m_, r_ = sympy.symbols("G M r")
    f = Formula(F(1.4142135) * sympy.sqrt(g_) * sympy.sqrt(m_) / sympy.sqrt(r_), ["G", "M", "r"])
    report = {}
    g = final_round(f, X, truth, report=report)
    assert g.expr.has(sympy.sqrt(2)) and g.n_constants == 0 and report["snapped"] == 1
    assert r2_score(truth, g(X)) > 1 - 1e-12
    one_decimal = Formula(F(1.4) * sympy.sqrt(g_) * sympy.sqrt(m_) / sympy.sqrt(r_), ["G", "M", "r"])
    assert r2_score(truth, one_decimal(X)) < 0.9995  # what the old rule made of it


def test_final_round_keeps_a_constant_the_data_tells_apart_and_snaps_within_noise(X2):
    rng = np.random.default_rng(5)
    exact = 1.37 * X2[:, 0] * X2[:, 1]
    f = Formula(F(1.37) * x * y, ["x", "y"])
    assert final_round(f, X2, exact).n_constants == 1  # 1.37 is not 1.4 on noiseless data
    g = Formula(F(1.3701) * x * y, ["x", "y"])
    rms = np.sqrt(np.mean(exact**2))
    assert final_round(g, X2, exact + rng.normal(0, 1e-3 * rms, exact.shape)) == g  # 0.1 % noise: 11/8 is too far
    snapped = final_round(g, X2, exact + rng.normal(0, 0.2 * rms, exact.shape))  # 20 % noise: it is not,
    assert snapped.expr == sympy.Rational(7, 5) * x * y  # and 7/5 is shorter to write than 11/8
    h = Formula(F(1.998) * x * y, ["x", "y"])
    y2 = 2 * X2[:, 0] * X2[:, 1]
    assert final_round(h, X2, y2 + rng.normal(0, 0.1 * np.sqrt(np.mean(y2**2)), y2.shape)).expr == 2 * x * y


def test_final_round_keeps_a_significant_exponent(X2):
    f = Formula(x ** F(1.37) * y, ["x", "y"])
    g = final_round(f, X2, X2[:, 0] ** 1.37 * X2[:, 1])
    assert g.n_constants == 1 and g.expr.has(F(1.37))


def test_final_round_leaves_huge_constants_alone(X2):
    f = Formula(F(8.9875517923e9) * x / y**2, ["x", "y"])
    assert final_round(f, X2).n_constants == 1


def test_final_round_with_simplify_timeout_keeps_unsimplified(X2):
    f = Formula(F(2.0) * x * y + x * y, ["x", "y"])
    report = {}
    g = final_round(f, X2, 3 * X2[:, 0] * X2[:, 1], simplify_timeout=1e-9, report=report)
    assert g.expr == 3 * x * y  # rounding happened; (nothing left for simplify to do here anyway)


def test_final_round_rounds_only_up_to_a_size(X2):
    # a big formula with a constant that snaps (2.0000001 -> 2) and sums that simplify shortens
    squares = sum((x + k) ** 2 - x**2 for k in range(1, 12))
    big, truth = Formula(F(2.0000001) * y + squares, ["x", "y"]), Formula(2 * y + squares, ["x", "y"])(X2)
    report = {}
    assert final_round(big, X2, truth, max_nodes=5, report=report) == big  # passed through: no snap, no simplify
    assert report["simplify"] == "too large" and report["snapped"] == 0
    rounded = final_round(big, X2, truth, max_nodes=None, report=report)
    assert rounded.complexity < big.complexity and report["simplify"] == "done" and report["snapped"] >= 1
    assert not rounded.expr.atoms(sympy.Float)


def test_final_round_simplifies_knowing_which_variables_the_data_keep_positive(X2):
    # x sqrt((x^2 + y^2)/x^2) is sqrt(x^2 + y^2) only where x > 0: shortened on positive data, kept on signed
    f = Formula(x * sympy.sqrt((x**2 + y**2) / x**2), ["x", "y"])
    report = {}
    assert final_round(f, X2, report=report).expr == sympy.sqrt(x**2 + y**2) and report["simplify"] == "done"
    assert final_round(f, X2 * np.array([[1.0, -1.0]])).expr == sympy.sqrt(x**2 + y**2)  # y's sign does not matter
    signed = X2 * np.where(np.arange(len(X2)) % 2, 1.0, -1.0)[:, None]
    kept = final_round(f, signed)
    assert kept.expr != sympy.sqrt(x**2 + y**2) and np.allclose(kept(signed), f(signed))  # |x|/x stays
    # positive symbols split sqrt(x y) into sqrt(x) sqrt(y): longer, so the plain form stays
    g = Formula(3 * sympy.sqrt(x * y), ["x", "y"])
    assert final_round(g, X2).expr == 3 * sympy.sqrt(x * y)
    assert all(not s.is_positive for s in final_round(f, X2).expr.free_symbols)  # plain symbols come back
    # a product of roots of positive bases is one root there (fewer nodes), not on signed data
    h = Formula(sympy.sqrt(x) * sympy.sqrt(y + 1), ["x", "y"])
    assert final_round(h, X2).expr == sympy.sqrt(x * (y + 1))
    assert final_round(h, X2 * np.array([[1.0, -1.0]])).expr == h.expr  # y + 1 < 0 there


def test_a_stopped_pass_on_the_domain_keeps_the_plain_simplification(X2, monkeypatch):
    import lies.symbolic.rounding as rounding

    def stopped(*args):
        raise TimeoutError("stopped")

    monkeypatch.setattr(rounding, "simplify_on_domain", stopped)
    rounding._simplify_work.cache_clear()  # a pass remembered from another test would not be stopped
    f = Formula(x * y / x + x * sympy.sqrt((x**2 + y**2) / x**2), ["x", "y"])
    report = {}
    g = final_round(f, X2, report=report)
    assert g.expr == sympy.simplify(f.expr) != f.expr and report["simplify"] == "done"
    assert report["simplify_on_domain"] == "timeout (wall clock)"


def test_a_formula_is_simplified_once_per_process(X2, monkeypatch):
    import lies.symbolic.rounding as rounding

    calls = []

    def counted(*args):
        calls.append(args[0])
        return rounding.sympy.simplify(args[0])

    monkeypatch.setattr(rounding, "simplify_on_domain", counted)
    rounding._simplify_work.cache_clear()
    f = Formula(x * y / x + x * sympy.sqrt((x**2 + y**2) / x**2), ["x", "y"])
    report, other = {}, {}
    first, again = final_round(f, X2, report=report), final_round(f, X2, report=other)
    assert first.expr == again.expr == sympy.simplify(f.expr) and report == other
    assert calls == [f.expr]  # the second call read the first one's work
    final_round(f, X2 * np.array([[1.0, -1.0]]))  # y negative: another domain (x alone positive), simplified anew
    assert calls == [f.expr, f.expr]


def test_a_power_of_a_sum_above_the_degree_bound_is_one_opaque_factor():
    inner, outer = (1 + x) ** 40, (y + (1 + x) ** 40) ** -50
    opaque, hidden = opaque_high_powers(x * outer + (x + y) ** 3 + x**99, max_degree=32)
    assert list(hidden.values())[0] == inner and len(hidden) == 2  # innermost first; (x+y)^3 and x^99 stay
    assert not opaque.has(inner) and opaque.has((x + y) ** 3) and opaque.has(x**99)
    assert restore_powers(opaque, hidden) == x * outer + (x + y) ** 3 + x**99


def test_final_round_simplifies_around_a_high_power_without_expanding_it(X2, monkeypatch):
    import lies.symbolic.rounding as rounding

    seen, simplify = [], sympy.simplify

    def recorded(expr, *args, **kwargs):
        seen.append(expr)
        return simplify(expr, *args, **kwargs)

    monkeypatch.setattr(rounding.sympy, "simplify", recorded)
    rounding._simplify_work.cache_clear()
    power = (1 - x**2 / 100) ** 40  # above the default bound (32)
    f = Formula(power * x * (sympy.sin(y) ** 2 + sympy.cos(y) ** 2), ["x", "y"])
    report: dict = {}
    assert final_round(f, X2, report=report).expr == power * x and report["simplify"] == "done"
    assert seen and not any(e.has(power) for e in seen)  # sympy never saw the power of degree 40
    seen.clear()
    rounding._simplify_work.cache_clear()
    final_round(f, X2, simplify_max_degree=None)
    assert seen[0].has(power)  # without the bound it is simplified like the rest


def test_combine_roots_only_over_bases_known_positive():
    a, b = sympy.symbols("a b")
    assert combine_roots(sympy.sqrt(a) * sympy.sqrt(b) / sympy.sqrt(x), (a, b, x)) == sympy.sqrt(a * b / x)
    third = sympy.Rational(1, 3)
    assert combine_roots(a**third * b ** (2 * third), (a, b)) == (a * b**2) ** third
    assert combine_roots(sympy.sqrt(a) * sympy.sqrt(b), (a,)) == sympy.sqrt(a) * sympy.sqrt(b)  # b's sign unknown
    assert combine_roots(sympy.sqrt(a) * b ** sympy.Rational(1, 3), (a, b)) == sympy.sqrt(a) * b ** sympy.Rational(1, 3)


def test_no_constants_and_no_rows():
    f = Formula("x*y", ["x", "y"])
    assert round_to_zero(f, np.ones((5, 2))) == f
    g = Formula(F(0.001) * x, ["x"])
    assert round_to_zero(g, np.ones((0, 1))) == g


def test_an_evaluation_bound_stops_round_to_zero_where_it_says(X2):
    # six negligible terms: every round re-scores all that are left, so the work grows as k^2
    f = Formula(x * y + sum(F(1e-6 * (k + 1)) * x ** (k + 1) for k in range(6)), ["x", "y"])
    free: dict = {}
    assert round_to_zero(f, X2, report=free).expr == x * y
    assert free["stopped_by"] == "done" and free["evaluations"] > 12
    bounded: dict = {}
    g = round_to_zero(f, X2, max_evaluations=free["evaluations"] - 1, report=bounded)
    assert bounded["stopped_by"] == "evaluations" and bounded["evaluations"] <= free["evaluations"] - 1
    assert 0 < g.n_constants < 6  # some constants decided before the bound, the rest kept as they were


def test_the_bounds_count_a_large_formula_by_its_size():
    small = x * y + F(0.5)
    large = sum(F(0.1 * k) * sympy.sin(F(0.3 * k) * x + y) ** 2 for k in range(1, 40))
    assert count_nodes(small) < REFERENCE_NODES < count_nodes(large)
    assert evaluations_for(20_000, small) == 20_000
    assert evaluations_for(20_000, large) == int(20_000 * REFERENCE_NODES / count_nodes(large))
    assert evaluations_for(0, large) == 0 and evaluations_for(None, large) is None
    assert evaluations_for(1, large) == 1  # a positive bound leaves at least one evaluation


def test_round_to_zero_spends_no_more_than_the_scaled_bound_on_a_large_formula(X2):
    f = Formula(x * y + sum(F(1e-7 * k) * sympy.cos(F(0.1 * k) * x * y + F(0.2)) for k in range(1, 30)), ["x", "y"])
    report: dict = {}
    round_to_zero(f, X2, max_evaluations=1000, report=report)
    assert report["stopped_by"] == "evaluations"
    assert 0 < report["evaluations"] <= evaluations_for(1000, f.expr) < 1000


def test_an_evaluation_bound_stops_final_rounding_with_a_formula_as_good_as_its_input(X2):
    target = X2[:, 0] ** 2 * X2[:, 1] + 3 * X2[:, 1]
    f = Formula(F(1.0000001) * x ** F(2.0000001) * y ** F(0.9999999) + F(3.0000002) * y ** F(1.0000001), ["x", "y"])
    free: dict = {}
    assert sympy.expand(final_round(f, X2, target, report=free).expr) == x**2 * y + 3 * y
    assert free["stopped_by"] == "done" and free["evaluations"] >= 2
    bounded: dict = {}
    g = final_round(f, X2, target, max_evaluations=1, report=bounded)
    assert bounded["stopped_by"] == "evaluations" and bounded["evaluations"] <= 1
    assert g.n_constants == f.n_constants  # nothing snapped, nothing broken
    assert np.allclose(g(X2), f(X2))


def test_final_rounding_never_snaps_a_constant_into_a_division_by_zero(X2):
    # both constants are next to 0, and 0 for both under the division makes the formula zoo
    f = Formula(x / (F(1e-4) + F(1e-4) * y), ["x", "y"])
    target = f(X2)
    g = final_round(f, X2, target)
    assert not g.expr.has(sympy.zoo, sympy.nan)
    assert np.allclose(g(X2), target, rtol=1e-6)


def test_scale_free_takes_the_scale_out_of_sums_in_products_and_powers():
    z = sympy.Symbol("z")
    e = F(4.0) * x * y / (F(3.0) * x * z + F(6.0) * y) + F(0.5) * sympy.sqrt(F(2.0) + F(8.0) * z**2)
    out = scale_free(e)
    sums = [a for a in sympy.preorder_traversal(out) if a.is_Add and a != out]
    assert len(sums) == 2
    assert all(any(t.as_coeff_Mul()[0] == 1 and not isinstance(t.as_coeff_Mul()[0], sympy.Float) for t in s.args)
               for s in sums)  # each inner sum has a term with the exact coefficient 1
    point = {x: 0.7, y: 1.3, z: -0.4}
    assert float(out.subs(point)) == pytest.approx(float(e.subs(point)), rel=1e-12)
    fixed = F(2.0) * x / (x - F(0.3) * y)  # an exact coefficient fixes the sum's scale
    assert scale_free(fixed) == fixed
    assert scale_free(F(2.0) * x + F(3.0) * y) == F(2.0) * x + F(3.0) * y  # a sum at the top has no free scale


def test_description_length_counts_digits():
    assert description_length(sympy.Integer(1)) < description_length(sympy.Rational(7, 5)) \
        < description_length(sympy.Rational(11, 8)) < description_length(sympy.Integer(30027))


def test_final_round_makes_a_ratio_of_one_along_a_free_scale_exact_under_noise(X2):
    # x*y/(x*z + y) as a fit leaves it on noisy data: numerator and denominator scaled alike by 30026
    rng = np.random.default_rng(3)
    X = np.column_stack([X2, rng.uniform(1, 5, len(X2))])
    z = sympy.Symbol("z")
    truth = X[:, 0] * X[:, 1] / (X[:, 0] * X[:, 2] + X[:, 1])
    noisy = truth + rng.normal(0, 0.01 * np.sqrt(np.mean(truth**2)), truth.shape)
    f = Formula(F(120105 / 4) * x * y / (F(30026.3) * x * z + F(30027.1) * y), ["x", "y", "z"])
    assert final_round(f, X, noisy).expr == x * y / (x * z + y)


def test_a_noisy_coefficient_snaps_to_the_simple_value_not_to_a_root_it_happens_to_lie_next_to(X2):
    # 0.49835 lies within 0.1 % of 5/(4*sqrt(2*pi)) = 0.49868, and 1 % noise cannot tell either from 1/2
    rng = np.random.default_rng(4)
    truth = 0.5 * X2[:, 0] * X2[:, 1]
    noisy = truth + rng.normal(0, 0.01 * np.sqrt(np.mean(truth**2)), truth.shape)
    f = Formula(F(0.49835) * x ** F(1.0002) * y, ["x", "y"])
    assert final_round(f, X2, noisy).expr == x * y / 2


def test_final_round_turns_a_ratio_over_to_take_a_log_s_minus_sign(X2):
    # -c*log(x/y) and c*log(y/x) are one formula on positive data, but not to SRBench's plain-symbol check.
    f = Formula(F(-1.50001) * x * sympy.log(x / y), ["x", "y"])
    g = final_round(f, X2, -1.5 * X2[:, 0] * np.log(X2[:, 0] / X2[:, 1]))
    assert is_symbolic_solution(g, "3/2*x*log(y/x)")
    assert not is_symbolic_solution(g, "-3/2*x*log(x/y)")
    np.testing.assert_allclose(g(X2), f(X2), rtol=1e-4)
    assert positive_log_ratios(-2 * sympy.log(x)) == -2 * sympy.log(x)  # a log of no ratio keeps its sign


def test_released_frees_the_numbers_rounding_fixed_but_not_the_exponents():
    """A part rounded against an inexact oracle, 0.02 sqrt(1756 u^2 + 1755 v^2 + 1): its integers (the normal
    form's fixed 1 among them) become constants a refit can move; the square root, the squares and pi stay."""
    u, v = sympy.symbols("u v")
    part = sympy.Float(0.02) * sympy.sqrt(1756 * u**2 + 1755 * v**2 + 1) + sympy.pi * u / 3
    free = released(part)
    assert parametrize(Formula(part, [u, v])).values.size == 1
    assert parametrize(Formula(free, [u, v])).values.size == 5  # 0.02, 1756, 1755, 1 and 1/3
    assert free.has(sympy.pi) and {p.exp for p in free.atoms(sympy.Pow)} == {sympy.Rational(1, 2), 2}
    X = np.random.default_rng(0).uniform(-2, 2, (100, 2))
    np.testing.assert_allclose(Formula(free, [u, v])(X), Formula(part, [u, v])(X), rtol=1e-12, atol=1e-12)
