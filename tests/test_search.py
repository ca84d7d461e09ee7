"""The structure search (lies.symbolic.search) and its stage: sparse sums of library terms chosen by description
length on validation rows."""

from dataclasses import replace

import numpy as np
import sympy

from lies.data.dataset import Dataset
from lies.data.tasks import TaskData, TaskSpec
from lies.core.seeding import task_seed
from lies.params import RuntimeParams, StructureSearchParams
from lies.pipeline.artifacts import FormulaArtifact
from lies.pipeline.stages import STAGES, Upstream
from lies.symbolic.formula import Formula
from lies.symbolic.search import library, monomials, search, select_terms

x, z = sympy.symbols("x z")


def _floor(y):
    return (1e-6 * float(np.sqrt(np.mean(y**2)))) ** 2


def test_the_library_follows_each_variables_range():
    X = np.column_stack([np.linspace(-1, 1, 50), np.linspace(0.5, 2, 50)])  # x crosses 0, z > 0
    monos = monomials([x, z], X, max_degree=4)
    assert x**2 in monos and x**4 in monos and z**-2 in monos and sympy.sqrt(z) in monos and x * z**3 in monos
    assert not any(m.has(x) and any(e < 0 or e.q != 1 for b, e in m.as_powers_dict().items() if b == x)
                   for m in monos)  # no 1/x, no sqrt(x) for a variable that reaches 0
    assert x**5 not in monos and x**3 * z**2 not in monos  # total degree <= 4
    terms = library([x, z], X, max_degree=4, unit_degree=2)
    assert {sympy.sin(x), sympy.cos(x * z), sympy.exp(-x**2), sympy.log(z)} <= set(terms)
    assert sympy.log(x) not in terms and sympy.sin(x**3) not in terms and len(set(terms)) == len(terms)


def test_products_add_one_layer_of_the_network_to_the_library():
    X = np.column_stack([np.linspace(-1, 1, 50), np.linspace(0.5, 2, 50)])  # x crosses 0, z > 0
    plain, more = library([x, z], X, 4, 2), library([x, z], X, 4, 2, products=True)
    assert set(plain) < set(more) and len(set(more)) == len(more)
    added = {sympy.sin(z) ** 2, sympy.sin(x) * sympy.cos(x), sympy.exp(-x) * sympy.cos(z), x * z * sympy.cos(z),
             sympy.sqrt(z) * x * sympy.sin(x)}  # a unit times a unit, a two-variable monomial times a unit
    assert added <= set(more) and not added & set(plain)
    assert sympy.sin(x**2) * sympy.cos(z) not in more  # inside a product's unit: one variable, degree <= 1


def test_a_square_of_a_unit_and_a_monomial_times_a_unit_are_found_with_products_only():
    """sin(u)^2 and a b cos d are no sums of single units on monomials; with the products each is one term."""
    rng = np.random.default_rng(4)
    for names, f, low, high in ((["u"], lambda X: np.sin(X[:, 0]) ** 2, 0.5, 4.0),
                                (["a", "b", "d"], lambda X: X[:, 0] * X[:, 1] * np.cos(X[:, 2]), 1.0, 3.0)):
        X = rng.uniform(low, high, (1500, len(names)))
        y = f(X)
        found = search(names, X[:1200], y[:1200], X[1200:], y[1200:], 4, 4, 2, 10, _floor(y), products=True)
        assert len(found.best.terms) == 1 and found.best.mse < 1e-20
        plain = search(names, X[:1200], y[:1200], X[1200:], y[1200:], 4, 4, 2, 10, _floor(y))
        assert plain.best.mse > 1e6 * max(found.best.mse, 1e-30)


def test_the_beam_finds_an_exact_set_among_nearly_collinear_terms():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.uniform(-1, 1, 800), rng.uniform(-2, 2, 800)])
    terms = library([x, z], X, 4, 2)
    A = np.column_stack([sympy.lambdify([x, z], t)(*X.T) * np.ones(len(X)) for t in terms])
    y = X[:, 0] ** 3 + X[:, 0] ** 2 + X[:, 0] - np.sin(X[:, 1])  # x, x^2, x^3 look like e^x, sin x on [-1, 1]
    sets = select_terms(A, y, max_terms=5, beam=StructureSearchParams().beam)
    assert [len(s) for s in sets] == [1, 2, 3, 4, 5]
    assert {terms[j] for j in sets[3]} == {x, x**2, x**3, sympy.sin(z)}
    greedy = select_terms(A, y, max_terms=4, beam=1, swap_rounds=0)[3]
    assert {terms[j] for j in greedy} != {x, x**2, x**3, sympy.sin(z)}  # what the beam and the elimination are for


def test_description_length_chooses_the_exact_sum_not_the_longest():
    rng = np.random.default_rng(1)
    X = rng.uniform(-2, 2, (2000, 3))
    y = X[:, 0] * X[:, 1] + np.sin(X[:, 2]) - 0.5 * X[:, 2] ** 2
    result = search(["a", "b", "c"], X[:1600], y[:1600], X[1600:], y[1600:], 6, 4, 2, 10, _floor(y))
    assert len(result.front) == 7 and result.library_size > 50
    assert len(result.best.terms) == 3 and result.chosen == 3
    a, b, c = sympy.symbols("a b c")
    got = sympy.nsimplify(result.best.formula.expr, tolerance=1e-8, rational=True)
    assert sympy.simplify(got - (a * b + sympy.sin(c) - c**2 / 2)) == 0


def test_the_square_root_outer_finds_a_length_of_signed_differences():
    """y = sqrt(u^2 + 4 v^2) of signed u, v is no sum of library terms; y^2 is, and the sqrt outer gives y back.
    Without that outer (the search before it) the best candidate is not exact."""
    rng = np.random.default_rng(3)
    X = rng.uniform(-2, 2, (2000, 2))
    y = np.sqrt(X[:, 0] ** 2 + 4 * X[:, 1] ** 2)
    result = search(["u", "v"], X[:1600], y[:1600], X[1600:], y[1600:], 6, 4, 2, 10, _floor(y),
                    ("identity", "inverse", "sqrt", "exp"))
    u, v = sympy.symbols("u v")
    got = sympy.nsimplify(result.best.formula.expr, tolerance=1e-8, rational=True)
    assert result.best.outer == "sqrt" and sympy.simplify(got - sympy.sqrt(u**2 + 4 * v**2)) == 0
    without = search(["u", "v"], X[:1600], y[:1600], X[1600:], y[1600:], 6, 4, 2, 10, _floor(y),
                     ("identity", "inverse", "exp"))
    assert without.best.mse > 1e3 * max(result.best.mse, 1e-30)


def test_noise_keeps_the_front_short():
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, (2000, 1))
    y = 2 * X[:, 0] ** 2 + rng.normal(0, 0.05, 2000)
    result = search(["x"], X[:1600], y[:1600], X[1600:], y[1600:], 6, 4, 2, 10, _floor(y))
    assert result.best.terms and len(result.best.terms) <= 2  # more terms fit the noise, and pay for their nodes


def _task(f, box=(-1.0, 1.0), n=3000):
    X = np.random.default_rng(3).uniform(*box, (n + 500, 2))
    spec = TaskSpec(name="t", trial=0, seed=task_seed(0, 0, "t"), csv="t.csv", target="y")
    return TaskData(spec, Dataset(X[:n], f(X[:n]), ["x", "z"], "y"), Dataset(X[n:], f(X[n:]), ["x", "z"], "y"))


def _run(art, task, **params):
    upstream = Upstream.of(STAGES["structure_search"], [], {}, (), 0)  # the built-in final rounding, its defaults
    return STAGES["structure_search"].run([art], [task], StructureSearchParams(**params),
                                          RuntimeParams(n_jobs=1, progress=False), upstream=upstream)[0]


def test_the_stage_replaces_an_inexact_formula_with_a_shorter_exact_sum():
    task = _task(lambda X: X[:, 0] ** 3 + X[:, 0] ** 2 + X[:, 0] - np.sin(X[:, 1]))
    messy = Formula("1.7*exp(0.9*x) - 1.6 - 0.98*sin(z) + 0.01*z**2", ["x", "z"])  # R^2 about 0.99
    art = _run(FormulaArtifact(messy, {"stage": "final_rounding", "r2_train_before": 0.9}), task)
    assert art.formula.expr == sympy.sympify("x**3 + x**2 + x - sin(z)", locals={"x": x, "z": z})
    record = art.summary["structure_search"]
    assert art.summary["mechanism"] == "search" and record["chosen"] == "search" and record["chosen_terms"] == 4
    assert record["description_length"]["search"] < record["description_length"]["input"]
    assert "r2_train_before" not in art.summary


def test_the_stage_leaves_an_exact_formula_and_a_shorter_one_alone():
    task = _task(lambda X: X[:, 0] ** 3 + X[:, 0] ** 2 + X[:, 0] - np.sin(X[:, 1]))
    exact = Formula("x**3 + x**2 + x - sin(z)", ["x", "z"])
    art = _run(FormulaArtifact(exact, {"stage": "final_rounding"}), task)
    assert art.formula == exact and art.summary["structure_search"] == {"tried": False, "chosen": "input",
                                                                        "why": "already exact"}
    # exp(x sin z) is no sum of library terms: the input, a short exact-but-for-noise formula, stays
    task = _task(lambda X: np.exp(X[:, 0] * np.sin(X[:, 1])))
    close = Formula("exp(x*sin(z)) + 1e-4*x", ["x", "z"])
    art = _run(FormulaArtifact(close, {"stage": "final_rounding"}), task, outers=["identity"])
    assert art.formula == close and art.summary["structure_search"]["chosen"] == "input"
    assert "mechanism" not in art.summary and len(art.summary["structure_search"]["front"]) == 7
    # the products come with up to product_variables variables (two here)
    assert art.summary["structure_search"]["library"] > _run(FormulaArtifact(close, {"stage": "final_rounding"}),
                                                              task, outers=["identity"], product_variables=1
                                                              ).summary["structure_search"]["library"]


def test_on_a_sub_task_errors_below_its_oracles_count_as_equal():
    """A decomposition's sub-task holds an oracle's values, and the oracle's error is smooth: a search that scores
    fits to it as if they were data finds a long formula for that error. With the sub-task's ``oracle_error`` as
    the floor of its description lengths, the short sum within that error is chosen."""
    task = _task(lambda X: 3 + 2 * X[:, 0] + 0.004 * np.cos(3 * X[:, 0]), box=(1.0, 3.0))  # the error: 1e-3 of y
    messy = FormulaArtifact(Formula("3.1 + 1.9*x + 0.05*exp(x) + 0.001*z", ["x", "z"]), {"stage": "final_rounding"})
    measured = _run(messy, task)
    assert measured.summary["structure_search"]["chosen"] == "search" and measured.formula.complexity > 10
    read_off_an_oracle = replace(task, spec=replace(task.spec, oracle_error=0.003))
    art = _run(messy, read_off_an_oracle)
    assert art.formula.expr == sympy.sympify("2*x + 3", locals={"x": x})


def test_a_formula_that_overflows_on_the_training_rows_is_replaced_not_passed_over():
    """An extracted formula can overflow in float64 (a power of thousands) where the network's bounded units did
    not: the search is its only repair, so it runs, and any finite candidate is shorter than an infinite one."""
    task = _task(lambda X: X[:, 0] ** 3 + X[:, 0] ** 2 + X[:, 0] - np.sin(X[:, 1]))
    broken = Formula("x**3 + x**2 + x - sin(z) + 1e-9*exp(900*z**2)", ["x", "z"])  # inf where |z| > 0.9
    art = _run(FormulaArtifact(broken, {"stage": "final_rounding"}), task)
    assert art.summary["structure_search"]["chosen"] == "search"
    assert art.formula.expr == sympy.sympify("x**3 + x**2 + x - sin(z)", locals={"x": x, "z": z})


def test_an_outer_function_turns_a_product_or_a_ratio_into_a_sum():
    """ln y = x sin z under the Exp outer; 1/y = x^2 - z^2 under the inverse, each found from the data alone."""
    task = _task(lambda X: np.exp(X[:, 0] * np.sin(X[:, 1])))
    close = Formula("exp(x*sin(z)) + 1e-4*x", ["x", "z"])
    art = _run(FormulaArtifact(close, {"stage": "final_rounding"}), task)
    assert art.formula.expr == sympy.exp(x * sympy.sin(z)) and art.summary["mechanism"] == "search"
    outers = {c["outer"] for c in art.summary["structure_search"]["front"]}
    assert outers == {"identity", "inverse", "sqrt", "exp"}
    task = _task(lambda X: 1 / (X[:, 0] ** 2 - X[:, 1] ** 2), box=(1.0, 2.0))
    task = TaskData(task.spec, *(Dataset(np.column_stack([d.X[:, 0] + 2, d.X[:, 1]]), 1 / ((d.X[:, 0] + 2) ** 2
                                         - d.X[:, 1] ** 2), d.variables, "y") for d in (task.train, task.test)))
    art = _run(FormulaArtifact(Formula("0.1/x + 0.01*z", ["x", "z"]), {"stage": "final_rounding"}), task)
    assert art.formula.expr == 1 / (x**2 - z**2) and art.summary["structure_search"]["chosen"] == "search"
