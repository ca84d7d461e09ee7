"""Separability through an oracle (lies.symbolic.separability) and the decomposition stage that uses it."""

import math
from dataclasses import replace

import numpy as np
import pytest
import sympy

from lies.core.seeding import task_seed
from lies.data.dataset import Dataset
from lies.data.tasks import TaskData, TaskSpec
from lies.params import DecompositionParams
from lies.pipeline.artifacts import FormulaArtifact
from lies.pipeline.stages import STAGES, Upstream
from lies.symbolic.formula import Formula
from lies.symbolic.separability import (components, description_length, find_split, part_rows, recombine,
                                       reference_point)


def _rows(n=2000, dims=4, low=1.0, high=3.0, seed=0):
    return np.random.default_rng(seed).uniform(low, high, (n, dims))


def test_components_of_a_graph():
    adj = np.zeros((5, 5), dtype=bool)
    adj[0, 3] = adj[3, 0] = True
    adj[1, 2] = adj[2, 1] = True
    assert components(adj) == [(0, 3), (1, 2), (4,)]


@pytest.mark.parametrize(("f", "kind", "groups"), [
    (lambda X: X[:, 0] * X[:, 1] + np.sin(X[:, 2]) - X[:, 3] ** 2, "sum", ((0, 1), (2,), (3,))),
    (lambda X: X[:, 0] ** 2 * np.cos(X[:, 1]) * (X[:, 2] + X[:, 3]), "product", ((0,), (1,), (2, 3))),
    (lambda X: (X[:, 0] - X[:, 1]) * np.exp(-X[:, 2] * X[:, 3]), "product", ((0, 1), (2, 3))),
])
def test_the_finest_split_of_a_separable_function(f, kind, groups):
    split = find_split(f, _rows(), sigma=0.0, rng=np.random.default_rng(1))
    assert split is not None and split.kind == kind and split.groups == groups


def test_no_split_when_every_variable_interacts():
    f = lambda X: np.exp(X[:, 0] * X[:, 1] / (X[:, 2] + X[:, 3]))  # noqa: E731
    assert find_split(f, _rows(), sigma=0.0, rng=np.random.default_rng(1)) is None
    assert find_split(lambda X: X[:, 0], _rows(dims=1), 0.0, np.random.default_rng(1)) is None


def test_the_threshold_follows_the_oracles_error():
    """A weak interaction (0.01 x0 x1 beside terms of size 10) is seen through an exact oracle, and not through one
    whose error hides it: the test is as sharp as the oracle, no sharper."""
    f = lambda X: 10 * X[:, 0] + 10 * X[:, 1] + 0.01 * X[:, 0] * X[:, 1]  # noqa: E731
    X = _rows(dims=2)
    assert find_split(f, X, sigma=0.0, rng=np.random.default_rng(1), offset=False) is None
    split = find_split(f, X, sigma=0.05, rng=np.random.default_rng(1), offset=False)
    assert split is not None and split.groups == ((0,), (1,))
    # Through the exact oracle it is, exactly, a product up to a constant: 0.01 (x0 + 1000)(x1 + 1000) - 10^4.
    split = find_split(f, X, sigma=0.0, rng=np.random.default_rng(1), offset=True)
    assert split.kind == "product" and split.groups == ((0,), (1,)) and split.offset == pytest.approx(-1e4, rel=1e-6)


@pytest.mark.parametrize("kind", ["sum", "product"])
def test_recombined_parts_give_the_function_back(kind):
    x = sympy.symbols("x0:4")
    expr = (x[0] * x[1] + sympy.sin(x[2]) + x[3] ** 2) if kind == "sum" else (x[0] * x[1] * sympy.cos(x[2]) * x[3])
    groups = ((0, 1), (2,), (3,))
    reference = np.array([1.5, 2.0, 2.5, 1.2])
    fn = sympy.lambdify([x], expr)
    parts = [expr.subs({x[k]: reference[k] for k in range(4) if k not in g}) for g in groups]
    at_reference = float(fn(reference))
    whole = sympy.lambdify([x], recombine(kind, parts, at_reference))
    X = _rows()
    np.testing.assert_allclose(whole(X.T), fn(X.T), rtol=1e-10)
    rows = part_rows(X[:5, [2]], (2,), reference)
    assert np.all(rows[:, 2] == X[:5, 2]) and np.all(rows[:, [0, 1, 3]] == reference[[0, 1, 3]])


def test_a_product_plus_a_constant_splits_only_when_offsets_are_tested():
    """A sum split's part holds the other parts' value at the reference point: 9 + x0 x1 sin(x2), signed. Neither
    plain test splits it; the product test of f - c, c in closed form, does, and recombines to f. A function that
    is no product up to any constant, and a sum, are not taken for one."""
    f = lambda X: 9 + X[:, 0] * X[:, 1] * np.sin(X[:, 2])  # noqa: E731
    X = _rows(dims=3, low=1.0, high=5.0)  # sin(x2) changes sign
    assert find_split(f, X, sigma=1e-3, rng=np.random.default_rng(1), offset=False) is None
    split = find_split(f, X, sigma=1e-3, rng=np.random.default_rng(1), offset=True)
    assert split is not None and split.kind == "product" and split.groups == ((0,), (1,), (2,))
    assert split.offset == pytest.approx(9.0, rel=1e-6)
    x = sympy.symbols("x0:3")
    expr = 9 + x[0] * x[1] * sympy.sin(x[2])
    reference = np.array([2.0, 3.0, 1.0])
    shifted = expr - split.offset
    parts = [shifted.subs({x[k]: reference[k] for k in range(3) if k != g[0]}) for g in split.groups]
    whole = sympy.lambdify([x], recombine("product", parts, float(f(reference[None])[0]) - split.offset, split.offset))
    np.testing.assert_allclose(whole(X.T), f(X), rtol=1e-9)
    never = lambda Z: np.exp(Z[:, 0] * Z[:, 1] / (Z[:, 2] + Z[:, 3]))  # noqa: E731
    assert find_split(never, _rows(), sigma=0.0, rng=np.random.default_rng(1), offset=True) is None
    additive = lambda Z: Z[:, 0] * Z[:, 1] + np.sin(Z[:, 2]) - Z[:, 3] ** 2  # noqa: E731
    split = find_split(additive, _rows(), sigma=0.0, rng=np.random.default_rng(1), offset=True)
    assert split.kind == "sum" and split.offset == 0.0


def test_the_reference_point_avoids_a_zero_of_the_function():
    X = _rows(low=1.0, high=5.0)
    log_ratio = lambda Z: Z[:, 0] * np.log(Z[:, 2] / Z[:, 1])  # noqa: E731  0 where x1 = x2, as at their median
    median = np.median(X, axis=0)
    assert abs(log_ratio(median[None])[0]) < 0.1 * np.median(np.abs(log_ratio(X)))
    x0 = reference_point(log_ratio, X)
    assert abs(log_ratio(x0[None])[0]) >= np.median(np.abs(log_ratio(X)))
    assert any(np.array_equal(x0, row) for row in X)  # a row of the data, inside their box
    product = lambda Z: Z[:, 0] * Z[:, 1]  # noqa: E731  the median is far from any zero: kept
    assert np.array_equal(reference_point(product, X), median)


def test_description_length_trades_error_against_size():
    rng = np.random.default_rng(0)
    y = rng.normal(size=1000)
    exact, close = y.copy(), y + 1e-3 * rng.normal(size=1000)
    assert description_length(y, exact, 20, floor=1e-12) < description_length(y, close, 5, floor=1e-12)
    # below the floor only the size counts
    assert description_length(y, close, 5, floor=1.0) < description_length(y, exact, 20, floor=1.0)
    assert description_length(y, np.full(1000, np.nan), 1, floor=1e-12) == math.inf


# ------------------------------------------------------------------------------------------------ the stage
class _Solved:
    """An `Upstream` stand-in whose sub-tasks come back as given formulas: the stage's own logic (plan, recombine,
    refit, choice) without training networks."""

    def __init__(self, parts: dict[tuple[str, ...], str]):
        self.parts, self.seen, self.polished = parts, [], []
        real = Upstream.of(STAGES["decomposition"], [], {}, (), 0)
        self.stages, self.params, self.skip, self.depth = real.stages, real.params, real.skip, 0

    def param(self, name):
        return self.params[name]

    def polish(self, formula, task, names, updates=None):
        self.polished.append((tuple(names), updates or {}))
        return Upstream.polish(self, formula, task, names, updates)

    def solve(self, subtasks, runtime, floor=0.0):
        """Each part's formula; a part given as (formula, [alternatives]) also has those in its search's front."""
        self.seen.extend(subtasks)
        out = []
        for t in subtasks:
            text, front = (self.parts[t.variables], []) if isinstance(self.parts[t.variables], str) \
                else self.parts[t.variables]
            front = [{"outer": "identity", "terms": 1, "formula": f, "complexity": Formula(f, t.variables).complexity}
                     for f in front]
            out.append(FormulaArtifact(Formula(text, t.variables), {"r2_train": 1.0,
                                                                    "structure_search": {"front": front}}))
        return out


def _task(f, names=("a", "b", "c"), n=3000, seed=3):
    X = np.random.default_rng(seed).uniform(1.0, 3.0, (n + 500, len(names)))
    spec = TaskSpec(name="t", trial=0, seed=task_seed(0, 0, "t"), csv="t.csv", target="y")
    return TaskData(spec, Dataset(X[:n], f(X[:n]), names, "y"), Dataset(X[n:], f(X[n:]), names, "y"))


def test_the_stage_replaces_an_inexact_formula_with_its_recombined_parts():
    task = _task(lambda X: X[:, 0] * X[:, 1] * np.sin(X[:, 2]))
    c = np.linspace(1.0, 3.0, 200)
    cubic = np.polyfit(c, np.sin(c), 3)  # a polynomial stand-in for sin(c), off by about 1e-3
    close = Formula("a*b*(" + " + ".join(f"{float(k)!r}*c**{3 - i}" for i, k in enumerate(cubic)) + ")", task.variables)
    upstream = _Solved({("a",): "1.3*a", ("b",): "0.7*b", ("c",): "2.1*sin(c)"})
    art = STAGES["decomposition"].run([FormulaArtifact(close, {"stage": "final_rounding"})], [task],
                                      DecompositionParams(), _runtime(), upstream=upstream)[0]
    assert [t.variables for t in upstream.seen] == [("a",), ("b",), ("c",)]
    assert art.summary["mechanism"] == "decomposition" and art.summary["decomposition"]["split"] == "product"
    np.testing.assert_allclose(art.formula(task.test.X), task.test.y, rtol=1e-6)


def _decomposed(f, parts: dict, inexact: str, params: DecompositionParams | None = None, upstream=None):
    task = _task(f)
    upstream = upstream or _Solved(parts)
    art = STAGES["decomposition"].run([FormulaArtifact(Formula(inexact, task.variables), {"stage": "final_rounding"})],
                                      [task], params or DecompositionParams(), _runtime(), upstream=upstream)[0]
    return art, task


def test_a_product_plus_a_constant_is_decomposed_only_with_product_offset():
    """9 + a b sin(c) through an inexact formula: with ``product_offset`` its parts are those of f - c, solved one
    variable each, and the whole is c plus their product, refitted; without it nothing splits."""
    f = lambda X: 9 + X[:, 0] * X[:, 1] * np.sin(X[:, 2])  # noqa: E731
    parts = {("a",): "1.3*a", ("b",): "0.7*b", ("c",): "2.1*sin(c)"}
    inexact = "9.02 + a*b*(1.01*sin(c) + 0.005*c)"
    plain = DecompositionParams(scaling=False, translation=False, resolve_whole=False, product_offset=False)
    art, _ = _decomposed(f, parts, inexact, plain)
    assert art.summary["decomposition"]["tried"] is False
    art, task = _decomposed(f, parts, inexact, plain.model_copy(update={"product_offset": True}))
    tree = art.summary["decomposition"]
    assert tree["split"] == "product" and tree["offset"] == pytest.approx(9.0, abs=0.1)
    assert art.summary["mechanism"] == "decomposition"
    assert art.formula.expr == Formula("a*b*sin(c) + 9", task.variables).expr


def test_offsets_a_part_takes_from_an_inexact_oracle_are_rounded_away():
    """Parts fitted to an oracle that is not exact carry small offsets (a - 0.024): the recombined whole refitted on
    the data drives them to nothing, and rounding to zero drops them; final rounding's normal form alone made each
    offset the fixed 1 of its sum, 1e-33 (1e16 a + 1)(4e16 b + 1) sin(c), which no check calls a b sin(c)."""
    art, task = _decomposed(lambda X: X[:, 0] * X[:, 1] * np.sin(X[:, 2]),
                            {("a",): "1.76*a - 0.024", ("b",): "1.76*b + 0.066", ("c",): "9.07*sin(c)"},
                            "a*b*(1.02*sin(c) + 0.01)")
    assert art.summary["mechanism"] == "decomposition"
    assert art.formula.expr == Formula("a*b*sin(c)", task.variables).expr


def test_the_choice_s_trial_refits_are_bounded_and_the_chosen_whole_is_refitted_in_full():
    """The part-by-part choice only ranks: its refits see ``choice_rows`` rows and ``choice_evaluations``
    evaluations; then the chosen whole is refitted on all the fit's rows, rounded to zero and snapped."""
    parts = {("a",): "1.76*a - 0.024", ("b",): "1.76*b + 0.066", ("c",): "9.07*sin(c)"}
    upstream = _Solved(parts)
    art, task = _decomposed(lambda X: X[:, 0] * X[:, 1] * np.sin(X[:, 2]), parts, "a*b*(1.02*sin(c) + 0.01)",
                            DecompositionParams(choice_rows=50, choice_evaluations=300), upstream)
    assert art.formula.expr == Formula("a*b*sin(c)", task.variables).expr
    trials = [u for names, u in upstream.polished if u]
    assert trials and all(u == {"coefficient_optimization": {"max_rows": 50, "max_evaluations": 300}}
                          for u in trials)
    assert upstream.polished[-2:] == [(("coefficient_optimization",), {}),
                                      (("rounding_to_zero", "coefficient_optimization", "final_rounding"), {})]


def test_the_data_choose_a_simpler_alternative_of_a_part_from_its_front():
    """A part fitted to an inexact oracle is the oracle's curve (here a cubic with its error); its search's front
    holds simpler candidates, and the whole refitted on the data, not the oracle, picks the one that describes
    them in fewer nats; the tree says which."""
    c = np.linspace(1.0, 3.0, 200)
    cubic = np.polyfit(c, np.sin(c) + 0.01 * c**2, 3)  # the oracle's error in this part: 1 % of a curve
    overfit = " + ".join(f"{float(k)!r}*c**{3 - i}" for i, k in enumerate(cubic))
    art, task = _decomposed(lambda X: X[:, 0] * X[:, 1] * np.sin(X[:, 2]),
                            {("a",): "1.3*a", ("b",): "0.7*b", ("c",): (overfit, ["0.9*c", "0.1 + 2.1*sin(c)"])},
                            "a*b*(1.01*sin(c) + 0.01)")
    assert art.formula.expr == Formula("a*b*sin(c)", task.variables).expr
    parts = {tuple(p["variables"]): p for p in art.summary["decomposition"]["parts"]}
    assert "sin(c)" in parts[("c",)]["alternative"] and "alternative" not in parts[("a",)]


def test_each_sub_task_carries_its_oracles_error_relative_to_its_targets():
    """A part's sub-task is read off the oracle, so the oracle's held-out error, as a fraction of the part's own
    values, is its floor (`TaskSpec.oracle_error`); a sub-task split again passes its own error on with the new
    oracle's, as independent errors add."""
    parts = {("a",): "1.3*a", ("b",): "0.7*b", ("c",): "2.1*sin(c)"}
    art, _ = _decomposed(lambda X: X[:, 0] * X[:, 1] * np.sin(X[:, 2]), parts, "a*b*(1.01*sin(c) + 0.01)",
                         params=DecompositionParams(oracle="formula"), upstream=(upstream := _Solved(parts)))
    tree = art.summary["decomposition"]
    for sub, record in zip(upstream.seen, tree["parts"]):
        expected = tree["sigma"] / float(np.sqrt(np.mean(sub.train.y**2)))
        assert sub.spec.oracle_error == pytest.approx(expected, rel=1e-12) and record["oracle_error"] > 0
    nested = _Solved(parts)
    inner = _task(lambda X: X[:, 0] * X[:, 1] * np.sin(X[:, 2]))
    inner = replace(inner, spec=replace(inner.spec, oracle_error=0.05))
    STAGES["decomposition"].run([FormulaArtifact(Formula("a*b*(1.01*sin(c) + 0.01)", inner.variables))], [inner],
                                DecompositionParams(oracle="formula"), _runtime(), upstream=nested)
    for sub, outer in zip(nested.seen, upstream.seen):  # the same parts, the same oracle, and an inherited error
        inherited = 0.05 * float(np.sqrt(np.mean(inner.train.y**2))) / float(np.sqrt(np.mean(sub.train.y**2)))
        assert sub.spec.oracle_error == pytest.approx(math.hypot(inherited, outer.spec.oracle_error), rel=1e-9)


def test_a_part_may_be_its_sub_tasks_power_law():
    """Parts with no search front, fitted to the oracle's errors: the log-linear hypothesis on each part's sub-task
    (c a^p, fitted to the oracle along the part) is an alternative the data can choose, its exponent refitted on the
    data and snapped."""
    art, task = _decomposed(lambda X: X[:, 0] * X[:, 1] ** 2 * np.sin(X[:, 2]),
                            {("a",): "1.3*a + 0.01*exp(a)", ("b",): "0.7*b**2 + 0.02*cos(b)", ("c",): "2.1*sin(c)"},
                            "a*b**2*(1.02*sin(c) + 0.01)")
    assert art.formula.expr == Formula("a*b**2*sin(c)", task.variables).expr
    parts = {tuple(p["variables"]): p for p in art.summary["decomposition"]["parts"]}
    assert "alternative" in parts[("a",)] and "alternative" in parts[("b",)] and "alternative" not in parts[("c",)]


def test_the_stage_keeps_an_exact_formula_and_a_better_one():
    task = _task(lambda X: X[:, 0] * X[:, 1] + X[:, 2])
    exact = Formula("a*b + c", task.variables)
    upstream = _Solved({})
    art = STAGES["decomposition"].run([FormulaArtifact(exact, {"stage": "final_rounding"})], [task],
                                      DecompositionParams(), _runtime(), upstream=upstream)[0]
    assert art.formula == exact and not art.summary["decomposition"]["tried"] and not upstream.seen
    # parts that recombine worse than the input (no power law of c is sin c): the input stays, and the summary
    # says why
    task = _task(lambda X: X[:, 0] * X[:, 1] + np.sin(X[:, 2]))
    close = Formula("a*b + 1.001*sin(c)", task.variables)
    upstream = _Solved({("a", "b"): "a*b + 0.3", ("c",): "2*log(c)"})
    art = STAGES["decomposition"].run([FormulaArtifact(close, {"stage": "final_rounding"})], [task],
                                      DecompositionParams(scaling=False), _runtime(), upstream=upstream)[0]
    assert art.formula == close and art.summary["decomposition"]["chosen"] == "input"


def _runtime():
    from lies.params import RuntimeParams

    return RuntimeParams(n_jobs=1, progress=False)


def test_a_part_is_never_named_after_one_of_its_inputs():
    """An output y with an input y_0: the part's target gets a name of its own (the Dataset refuses a clash)."""
    task = _task(lambda X: X[:, 0] * X[:, 1] * np.sin(X[:, 2]), names=("y_0", "b", "c"))
    close = Formula("y_0*b*(1.001*sin(c))", task.variables)
    upstream = _Solved({("y_0",): "1.3*y_0", ("b",): "0.7*b", ("c",): "2.1*sin(c) + 1e-3*c"})
    STAGES["decomposition"].run([FormulaArtifact(close, {"stage": "final_rounding"})], [task],
                                DecompositionParams(), _runtime(), upstream=upstream)
    assert [t.variables for t in upstream.seen] == [("y_0",), ("b",), ("c",)]
    assert all(t.train.target not in t.variables for t in upstream.seen)


@pytest.mark.parametrize(("f", "parts", "inexact", "expected", "seen"), [
    # a product split, then its (b, c) part a function of b / c alone
    (lambda X: X[:, 0] * np.exp(-X[:, 1] / X[:, 2]), {("a",): "1.3*a", ("u",): "0.7*exp(-u)"},
     "a*(1.02*exp(-b/c) + 0.001)", "a*exp(-b/c)", [("a",), ("u",)]),
    # no split: the whole a function of a b / c, times a prefactor a
    (lambda X: X[:, 0] * np.exp(-X[:, 0] * X[:, 1] / X[:, 2]), {("u",): "1.2*exp(-u)"},
     "a*(1.001*exp(-a*b/c) + 0.0002*b)", "a*exp(-a*b/c)", [("u",)]),
])
def test_a_part_that_depends_on_one_product_of_powers_is_solved_in_it(f, parts, inexact, expected, seen):
    """With ``scaling`` on, a part (or the whole) that is P g(u) becomes a sub-task in u alone; its formula, u and
    P substituted back, is refitted and chosen like any other part; the tree records u and P."""
    task = _task(f)
    upstream = _Solved(parts)
    art = STAGES["decomposition"].run([FormulaArtifact(Formula(inexact, task.variables), {"stage": "final_rounding"})],
                                      [task], DecompositionParams(scaling=True), _runtime(), upstream=upstream)[0]
    assert [t.variables for t in upstream.seen] == seen
    assert art.summary["mechanism"] == "decomposition"
    assert art.formula.expr == Formula(expected, task.variables).expr
    reduced = [p for p in art.summary["decomposition"]["parts"] if "u" in p]
    assert len(reduced) == 1 and reduced[0]["scaling_score"] <= 1
    # off, the same task splits no further than separability does
    upstream = _Solved({("a",): "1.3*a", ("b", "c"): "0.7*exp(-b/c)"} if len(seen) == 2 else {})
    STAGES["decomposition"].run([FormulaArtifact(Formula(inexact, task.variables), {"stage": "final_rounding"})],
                                [task], DecompositionParams(scaling=False, translation=False), _runtime(),
                                upstream=upstream)
    assert all("u" not in t.variables for t in upstream.seen)


@pytest.mark.parametrize(("f", "parts", "inexact", "expected", "seen"), [
    # a product split, then its (b, c) part a function of b - c alone (its sub-task's one variable is signed)
    (lambda X: X[:, 0] * np.exp(-((X[:, 1] - X[:, 2]) ** 2)), {("a",): "1.3*a", ("u",): "0.7*exp(-u**2)"},
     "a*(1.02*exp(-(b - c)**2) + 0.001*b)", "a*exp(-(b - c)**2)", [("a",), ("u",)]),
    # no split and no product of powers: the whole a function of a and b - c (a Gaussian of width a)
    (lambda X: np.exp(-((X[:, 1] - X[:, 2]) / X[:, 0]) ** 2) / X[:, 0], {("a", "u"): "1.1*exp(-u**2/a**2)/a"},
     "(1.001*exp(-(b - c)**2/a**2) + 0.0002*b)/a", "exp(-(b - c)**2/a**2)/a", [("a", "u")]),
])
def test_a_part_that_depends_on_a_difference_is_solved_in_it(f, parts, inexact, expected, seen):
    """With ``translation`` on, a part (or the whole) that depends on b and c only through b - c becomes a sub-task
    with u = b - c in their place; its formula, b - c substituted back, is refitted and chosen like any other part;
    the tree records what u stands for. Off, no sub-task has u."""
    task = _task(f)
    upstream = _Solved(parts)
    art = STAGES["decomposition"].run([FormulaArtifact(Formula(inexact, task.variables), {"stage": "final_rounding"})],
                                      [task], DecompositionParams(), _runtime(), upstream=upstream)[0]
    assert [t.variables for t in upstream.seen] == seen
    u = [t for t in upstream.seen if "u" in t.variables][0]
    np.testing.assert_allclose(u.train.X[:, u.variables.index("u")],
                               task.train.X[: u.train.n_samples, 1] - task.train.X[: u.train.n_samples, 2])
    assert art.summary["mechanism"] == "decomposition"
    assert art.formula.expr == Formula(expected, task.variables).expr
    reduced = [p for p in art.summary["decomposition"]["parts"] if "translation" in p]
    assert len(reduced) == 1 and reduced[0]["translation"] == {"u": "b - c"}
    upstream = _Solved({("a",): "1.3*a", ("b", "c"): "0.7*exp(-(b - c)**2)", ("a", "b", "c"): inexact})
    STAGES["decomposition"].run([FormulaArtifact(Formula(inexact, task.variables), {"stage": "final_rounding"})],
                                [task], DecompositionParams(translation=False), _runtime(), upstream=upstream)
    assert upstream.seen and all("u" not in t.variables for t in upstream.seen)


def test_a_whole_that_neither_splits_nor_reduces_is_re_solved_only_when_asked():
    """ln(a b + c) does not split, is no function of one product of powers and of no difference or sum of two of its
    variables: with ``resolve_whole`` the whole task is solved again as its own sub-task on the oracle's values;
    off, no sub-task is solved and the input stays, the summary saying why."""
    f = lambda X: np.log(X[:, 0] * X[:, 1] + X[:, 2])  # noqa: E731
    inexact = "1.001*log(a*b + c) + 0.0002*a"
    upstream = _Solved({("a", "b", "c"): "log(a*b + c)"})
    art, task = _decomposed(f, {}, inexact, DecompositionParams(resolve_whole=True), upstream)
    assert [t.variables for t in upstream.seen] == [("a", "b", "c")]
    assert art.summary["decomposition"]["split"] == "whole"
    assert art.formula.expr == Formula("log(a*b + c)", task.variables).expr
    upstream = _Solved({})
    art, task = _decomposed(f, {}, inexact, DecompositionParams(resolve_whole=False), upstream)
    assert not upstream.seen and art.formula.expr == Formula(inexact, task.variables).expr
    assert art.summary["decomposition"] == {"tried": False, "chosen": "input",
                                            "why": "no separable split and no reduction"}


def test_a_formula_that_overflows_on_the_training_rows_is_decomposed_through_the_surrogate():
    """A formula that is not finite on the training rows is no reason to stop: with ``oracle: best`` the dense
    surrogate is the oracle, the parts are solved and the finite recombined whole replaces it; with the formula as
    the only oracle there is nothing to test through, and the summary says so."""
    f = lambda X: X[:, 0] * X[:, 1] * np.sin(X[:, 2])  # noqa: E731
    broken = "a*b*sin(c) + 1e-9*exp(400*c)"  # inf where c > 1.8
    upstream = _Solved({("a",): "1.3*a", ("b",): "0.7*b", ("c",): "2.1*sin(c)"})
    art, task = _decomposed(f, {}, broken, DecompositionParams(surrogate_steps=1000, scaling=False), upstream)
    assert [t.variables for t in upstream.seen] == [("a",), ("b",), ("c",)]
    assert art.summary["decomposition"]["oracle"] == "surrogate"
    np.testing.assert_allclose(art.formula(task.test.X), task.test.y, rtol=1e-6)
    upstream = _Solved({})
    art, _ = _decomposed(f, {}, broken, DecompositionParams(oracle="formula"), upstream)
    assert not upstream.seen and art.summary["decomposition"]["why"] == "oracle not finite"


def test_a_poor_formula_gives_way_to_the_surrogate_as_the_oracle():
    """The fitted formula a b c / 4 + 1 is a poor fit of a + b c (and a product, so through it every variable
    splits off); the dense surrogate errs far less on the held-out rows, so ``oracle: best`` tests through it and
    finds the true split, a + (b, c); ``oracle: formula`` reads the formula's own structure."""
    task = _task(lambda X: X[:, 0] + X[:, 1] * X[:, 2])
    poor = Formula("a*b*c/4 + 1", task.variables)
    parts = {("a",): "a + 0.1", ("b", "c"): "b*c + 0.2", ("b",): "b", ("c",): "c"}
    runs = {}
    for oracle in ("best", "formula"):
        upstream = _Solved(parts)
        art = STAGES["decomposition"].run([FormulaArtifact(poor, {"stage": "final_rounding"})], [task],
                                          DecompositionParams(oracle=oracle, surrogate_steps=1000, scaling=False),
                                          _runtime(), upstream=upstream)[0]
        runs[oracle] = art.summary["decomposition"], [t.variables for t in upstream.seen], art
    tree, seen, art = runs["best"]
    assert tree["oracle"] == "surrogate" and tree["split"] == "sum" and seen == [("a",), ("b", "c")]
    assert art.formula.expr == Formula("a + b*c", task.variables).expr
    tree, seen, _ = runs["formula"]
    assert tree["oracle"] == "formula" and seen != [("a",), ("b", "c")]
