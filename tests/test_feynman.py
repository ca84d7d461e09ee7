"""Tests of lies.data.feynman: the Feynman registry against the reference table, lookup, subsets and the sampler."""

from __future__ import annotations

import csv
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy

from lies.core.errors import LiesError
from lies.data.feynman import FEYNMAN, SUBSETS, FeynmanEquation, Variable, equations, get_equation
from lies.symbolic.formula import parse_formula

# The six rows whose `# variables` column is wrong in the AI Feynman table, with the true count.
MISCOUNTED = {"I.18.12": 3, "I.18.14": 4, "I.38.12": 4, "II.37.1": 3, "III.10.19": 4, "III.19.51": 5}


def _reference_file(name: str) -> Path | None:
    """A file of shared/reference: $LIES_SHARED_DIR first (the shared dir or its reference/), then the checkout's."""
    candidates = []
    if os.environ.get("LIES_SHARED_DIR"):
        shared = Path(os.environ["LIES_SHARED_DIR"])
        candidates += [shared / "reference" / name, shared / name]
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "reference" / name)
    return next((p for p in candidates if p.is_file()), None)


@pytest.fixture(scope="module")
def reference_rows() -> list[dict[str, str]]:
    path = _reference_file("FeynmanEquations.csv")
    if path is None:
        pytest.skip("shared/reference/FeynmanEquations.csv not available (set LIES_SHARED_DIR)")
    with open(path, encoding="utf-8-sig", newline="") as f:  # BOM, CRLF, trailing empty rows
        return [row for row in csv.DictReader(f) if row["Filename"].strip()]


def _row_variables(row: dict[str, str]) -> list[tuple[str, float, float]]:
    return [
        (row[f"v{k}_name"].strip(), float(row[f"v{k}_low"]), float(row[f"v{k}_high"]))
        for k in range(1, 11)
        if row.get(f"v{k}_name", "").strip()
    ]


# ----------------------------------------------------------------------------------------------- registry


def test_registry_has_the_100_equations_in_table_order():
    assert len(FEYNMAN) == 100
    ids = list(FEYNMAN)
    assert ids[0] == "I.6.2a" and ids[-1] == "III.21.20"
    assert ids.index("I.12.11") < ids.index("I.13.4")  # row order, not the table's `Number` column
    assert SUBSETS["all"] == tuple(ids)
    assert all(isinstance(eq, FeynmanEquation) and FEYNMAN[eq.id] is eq for eq in FEYNMAN.values())
    with pytest.raises(TypeError):
        FEYNMAN["x"] = FEYNMAN["I.12.1"]  # read-only


def test_lies61_is_61_distinct_registry_ids_in_table_order():
    ids = SUBSETS["lies61"]
    assert len(ids) == 61 and len(set(ids)) == 61
    assert set(ids) <= set(FEYNMAN)
    order = list(FEYNMAN)
    assert [order.index(i) for i in ids] == sorted(order.index(i) for i in ids)
    # The reconstruction rule: no trig, output never negative, II.37.1 out (table says 6 variables).
    for excluded in ("II.37.1", "I.15.3t", "III.21.20", "III.19.51", "I.30.5", "I.18.12"):
        assert excluded not in ids
    for eq in equations("lies61"):
        assert eq.n_variables <= 4, eq.id
        assert not eq.expr.has(sympy.sin, sympy.cos, sympy.asin), eq.id


def test_lies61_matches_the_candidates_document():
    path = _reference_file("lies61_candidates.md")
    if path is None:
        pytest.skip("shared/reference/lies61_candidates.md not available")
    text = path.read_text(encoding="utf-8")
    block = re.search(r"## The 61 \(best guess\).*?```\n(.*?)```", text, re.S)
    assert block is not None
    assert SUBSETS["lies61"] == tuple(block.group(1).split())


@pytest.mark.parametrize(("eq_id", "count"), sorted(MISCOUNTED.items()))
def test_miscounted_rows_use_the_formula_variables(eq_id, count):
    eq = get_equation(eq_id)
    assert eq.n_variables == count == len(eq.variable_names)
    assert len(eq.expr.free_symbols) == count


def test_every_formula_uses_exactly_its_variables():
    for eq in FEYNMAN.values():
        assert eq.expr.free_symbols == set(eq.symbols), eq.id
        assert eq.symbols == tuple(sympy.Symbol(n) for n in eq.variable_names)


def test_names_that_sympy_would_misread_stay_plain_symbols():
    gamma = sympy.Symbol("gamma")
    expr = get_equation("I.39.11").expr
    assert gamma in expr.free_symbols
    assert not expr.has(sympy.gamma)
    assert get_equation("I.39.11").evaluate(np.array([[3.0, 2.0, 5.0]]))[0] == pytest.approx(5.0)  # pr*V/(g-1)

    expr = get_equation("II.13.17").expr
    assert sympy.Symbol("I") in expr.free_symbols
    assert not expr.has(sympy.I)
    y = get_equation("II.13.17").evaluate(np.array([[1.0, 1.0, 2.0, 1.0]]))  # epsilon, c, I, r
    assert y.dtype == np.float64 and y[0] == pytest.approx(1 / np.pi)

    assert sympy.Symbol("beta") in get_equation("III.17.37").expr.free_symbols
    assert not get_equation("III.17.37").expr.has(sympy.beta)
    assert sympy.Symbol("lambd") in get_equation("I.30.5").expr.free_symbols
    assert get_equation("I.30.5").expr.has(sympy.asin)
    assert get_equation("I.44.4").expr.has(sympy.log)  # `ln` in the table
    assert sympy.Symbol("E_n") in get_equation("III.15.14").expr.free_symbols
    assert get_equation("II.24.17").expr.has(sympy.pi)


def test_parse_formula_rejects_unknown_names_and_functions():
    with pytest.raises(LiesError, match="not its variables: y"):
        parse_formula("x*y", ["x"])
    with pytest.raises(LiesError, match="unknown function.*foo"):
        parse_formula("foo(x)", ["x"])
    with pytest.raises(LiesError, match="cannot parse"):
        parse_formula("x*(", ["x"])
    gamma, imag, e = sympy.symbols("gamma I E")  # plain symbols, not the gamma function, 1j or Euler's number
    assert parse_formula("gamma*I*E", ["gamma", "I", "E"]) == gamma * imag * e


def test_registry_matches_the_reference_table(reference_rows):
    assert [r["Filename"].strip() for r in reference_rows] == list(FEYNMAN)
    arcsin = {"arcsin": sympy.asin, "ln": sympy.log}
    miscounted = set()
    for row in reference_rows:
        eq = FEYNMAN[row["Filename"].strip()]
        variables = _row_variables(row)
        assert eq.output == row["Output"].strip(), eq.id
        assert eq.formula == row["Formula"].strip(), eq.id
        assert [(v.name, v.low, v.high) for v in eq.variables] == variables, eq.id
        # An independent parse of the table's text must give the same expression.
        local = {name: sympy.Symbol(name) for name, _, _ in variables}
        theirs = sympy.parse_expr(row["Formula"], local_dict={**arcsin, **local})
        assert theirs == eq.expr or sympy.simplify(theirs - eq.expr) == 0, eq.id
        if int(row["# variables"]) != len(variables):
            miscounted.add(eq.id)
    assert miscounted == set(MISCOUNTED)


def test_equations_pickle_after_use():
    eq = get_equation("I.12.1")
    eq.evaluate(np.ones((2, 2)))  # fills the compiled-function cache, which cannot be pickled
    clone = pickle.loads(pickle.dumps(eq))
    assert clone == eq
    assert clone.evaluate(np.array([[2.0, 3.0]]))[0] == 6.0


def test_import_does_not_parse_formulas():
    code = "import lies.data.feynman as d; print(sum('expr' in e.__dict__ for e in d.FEYNMAN.values()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


# ----------------------------------------------------------------------------------------------- lookup


def test_get_equation_hints_on_typos():
    with pytest.raises(LiesError, match=r"unknown Feynman equation 'I\.15\.10'; did you mean .*'I\.15\.1'"):
        get_equation("I.15.10")
    with pytest.raises(LiesError, match=r"did you mean 'II\.13\.17'"):
        get_equation("ii.13.17")
    with pytest.raises(LiesError, match="ids look like"):
        get_equation("zzz")


def test_equations_by_subset_id_or_list():
    assert [e.id for e in equations("lies61")] == list(SUBSETS["lies61"])
    assert len(equations("all")) == 100
    assert [e.id for e in equations(["II.3.24", "I.12.1"])] == ["II.3.24", "I.12.1"]
    assert [e.id for e in equations("I.12.1")] == ["I.12.1"]
    with pytest.raises(LiesError, match=r"subsets: lies61, lies61-powers, .*did you mean .lies61."):
        equations("lies60")
    with pytest.raises(LiesError, match=r"'I\.99\.9'"):
        equations(["I.12.1", "I.99.9"])
    with pytest.raises(LiesError, match=r"'x', 'y'"):
        equations(["x", "y"])


# ----------------------------------------------------------------------------------------------- sampling


def test_sample_stays_in_the_table_box_and_evaluates_the_formula():
    eq = get_equation("I.15.3x")  # ranges differ per variable: x 5..10, u 1..2, c 3..20, t 1..2
    ds = eq.sample(5000, 0)
    low, high = eq.bounds
    assert ds.X.shape == (5000, 4) and ds.X.dtype == np.float64 and ds.y.dtype == np.float64
    assert ds.variables == ("x", "u", "c", "t") and ds.target == "x1"
    assert np.all(ds.X >= low) and np.all(ds.X <= high)
    assert np.all(ds.X.min(axis=0) < low + 0.01 * (high - low))  # fills the box, not a corner of it
    assert np.all(ds.X.max(axis=0) > high - 0.01 * (high - low))
    np.testing.assert_array_equal(ds.y, eq.evaluate(ds.X))
    x, u, c, t = ds.X.T
    np.testing.assert_allclose(ds.y, (x - u * t) / np.sqrt(1 - u**2 / c**2), rtol=1e-12)


def test_sample_ranges_touching_zero():
    ds = get_equation("II.11.28").sample(2000, 3)  # n, alpha in [0, 1]
    assert ds.X.min() >= 0.0 and ds.X.max() <= 1.0 and np.all(np.isfinite(ds.y))


def test_sample_is_deterministic_per_seed():
    eq = get_equation("I.8.14")
    a, b, c = eq.sample(100, 7), eq.sample(100, 7), eq.sample(100, 8)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)
    g1, g2 = np.random.default_rng(7), np.random.default_rng(7)
    np.testing.assert_array_equal(eq.sample(100, g1).X, a.X)  # an int seed == a fresh Generator of it
    first, second = eq.sample(50, g2), eq.sample(50, g2)
    assert not np.array_equal(first.X, second.X)  # a Generator advances


def test_sample_within_a_sub_box():
    eq = get_equation("I.12.2")  # q1, q2, epsilon, r all in [1, 5]
    low, high = np.array([1.0, 2.0, 3.0, 4.5]), np.array([1.5, 2.0, 5.0, 5.0])
    ds = eq.sample(1000, 1, low=low, high=high)
    assert np.all(ds.X >= low) and np.all(ds.X <= high)
    assert np.all(ds.X[:, 1] == 2.0)  # a degenerate side is allowed
    ds = eq.sample(1000, 1, low=[4, 4, 4, 4])  # high defaults to the table's
    assert ds.X.min() >= 4 and ds.X.max() <= 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"low": [0.5, 1, 1, 1]}, r"'q1' is not an interval inside the table range \[1, 5\]"),
        ({"high": [5, 5, 5, 6]}, r"'r' is not an interval inside"),
        ({"low": [3, 1, 1, 1], "high": [2, 5, 5, 5]}, r"\[3, 2\] for 'q1'"),
        ({"low": [1, 1, 1]}, "low must be 4 finite numbers"),
        ({"high": [5, 5, np.nan, 5]}, "high must be 4 finite numbers"),
    ],
)
def test_sample_rejects_boxes_outside_the_table(kwargs, message):
    with pytest.raises(LiesError, match=message):
        get_equation("I.12.2").sample(10, 0, **kwargs)


@pytest.mark.parametrize(("n", "rng"), [(0, 0), (-5, 0), (2.5, 0), (True, 0), (10, None), (10, -1), (10, 1.5)])
def test_sample_rejects_bad_arguments(n, rng):
    with pytest.raises(LiesError, match="n_samples|rng"):
        get_equation("I.12.1").sample(n, rng)


def test_evaluate_checks_the_shape():
    with pytest.raises(LiesError, match=r"shape \(N, 2\) with columns mu, Nn"):
        get_equation("I.12.1").evaluate(np.ones((3, 3)))
    with pytest.raises(LiesError):
        get_equation("I.12.1").evaluate(np.ones(2))


def test_variable_validates_its_range():
    assert Variable("x", 1, 2).low == 1.0 and isinstance(Variable("x", 1, 2).high, float)
    with pytest.raises(LiesError, match="'x'"):
        Variable("x", 2, 1)


def test_structured_subset_is_what_is_not_a_product_of_powers():
    structured = {i for i in SUBSETS["lies61"] if not FEYNMAN[i].product_of_powers}
    assert set(SUBSETS["lies61-structured"]) == structured
    assert len(structured) == 27 and len(SUBSETS["lies61-powers"]) == 34
    assert FEYNMAN["I.12.1"].product_of_powers and not FEYNMAN["I.10.7"].product_of_powers
    assert set(SUBSETS["holdout"]) | set(SUBSETS["lies61"]) == set(SUBSETS["all"])
    assert not set(SUBSETS["holdout"]) & set(SUBSETS["lies61"]) and len(SUBSETS["holdout"]) == 39


def test_eql_authors_set_is_the_twelve_benchmark_functions_on_the_unit_box():
    ids = SUBSETS["eql-authors"]
    assert len(ids) == 12 and len(set(ids)) == 12 and not set(ids) & set(SUBSETS["all"])
    for eq in equations("eql-authors"):
        assert eq.source.startswith("Kim et al. arXiv 1912.04825"), eq.id
        assert all((v.low, v.high) == (-1.0, 1.0) for v in eq.variables), eq.id
        assert {str(s) for s in eq.expr.free_symbols} == set(eq.variable_names), eq.id
    rng = np.random.default_rng(0)
    xy = equations(["E.6"])[0].sample(200, rng)
    assert np.allclose(xy.y, xy.X[:, 0] * xy.X[:, 1]) and (xy.y < 0).any()  # signed: raw space
    assert get_equation("E.11").evaluate(np.zeros((1, 1)))[0] == pytest.approx(0.5)
