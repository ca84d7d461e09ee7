"""The `literature` task set (lies/data/literature.yaml): SR-literature benchmark formulas, a frozen
generalisation check beside `holdout`."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import sympy

from lies.core.errors import LiesError
from lies.data.feynman import (
    EQL_AUTHORS,
    FEYNMAN,
    LITERATURE,
    SIGNED,
    SUBSETS,
    equations,
    get_equation,
)
from lies.data.tasks import make_tasks, resolve_equations, task_specs
from lies.params import TasksParams
from lies.symbolic.formula import parse_formula


def test_the_set_loads_with_unique_ids_that_name_nothing_else():
    ids = SUBSETS["literature"]
    assert ids == tuple(LITERATURE) and 20 <= len(ids) <= 30 and len(set(ids)) == len(ids)
    assert all(i.startswith("L.") for i in ids)
    assert not set(ids) & (set(FEYNMAN) | set(SIGNED) | set(EQL_AUTHORS))
    assert [eq.id for eq in equations("literature")] == list(ids)


@pytest.mark.parametrize("eq_id", list(LITERATURE))
def test_every_entry_names_its_source_parses_and_is_finite_on_its_box(eq_id):
    eq = get_equation(eq_id)
    assert eq.source.strip() and eq.id.split(".", 1)[1].split("-")[0] in eq.source
    assert all(v.low < v.high for v in eq.variables), "no zero-width range"
    expr = parse_formula(eq.formula, eq.variable_names)
    assert {str(s) for s in expr.free_symbols} == set(eq.variable_names)
    data = eq.sample(2000, np.random.default_rng(0))
    low, high = eq.bounds
    assert ((data.X >= low) & (data.X <= high)).all()
    assert np.isfinite(data.y).all() and np.ptp(data.y) > 0
    corners = np.array(list(itertools.product(*zip(low, high))))  # the box's corners, where a log or root is 0
    assert np.isfinite(eq.evaluate(corners)).all()


def _same_up_to_renaming(a, a_names, b, b_names) -> bool:
    if len(a_names) != len(b_names):
        return False
    for perm in itertools.permutations(b_names):
        renamed = b.xreplace({sympy.Symbol(n): sympy.Symbol(m) for n, m in zip(perm, a_names)})
        if renamed == a:
            return True
    return False


def test_no_formula_repeats_another_registry_formula_or_one_of_the_set():
    others = [*FEYNMAN.values(), *SIGNED.values(), *EQL_AUTHORS.values()]
    literature = list(LITERATURE.values())
    for k, eq in enumerate(literature):
        for other in others + literature[:k]:
            if len(other.variables) == len(eq.variables) <= 4:
                assert not _same_up_to_renaming(eq.expr, eq.variable_names, other.expr, other.variable_names), (
                    f"{eq.id} repeats {other.id}")


def test_published_ranges_and_values():
    assert [(v.low, v.high) for v in LITERATURE["L.Nguyen-7"].variables] == [(0.0, 2.0)]
    assert [(v.low, v.high) for v in LITERATURE["L.Nguyen-8"].variables] == [(0.0, 4.0)]
    assert [(v.low, v.high) for v in LITERATURE["L.Nguyen-11"].variables] == [(0.0, 1.0)] * 2
    assert [(v.low, v.high) for v in LITERATURE["L.Keijzer-7"].variables] == [(1.0, 100.0)]
    assert get_equation("L.Nguyen-1").evaluate(np.array([[1.0]]))[0] == pytest.approx(3.0)
    assert get_equation("L.Keijzer-14").evaluate(np.zeros((1, 2)))[0] == pytest.approx(4.0)
    assert get_equation("L.Nguyen-11").evaluate(np.array([[0.25, 0.5]]))[0] == pytest.approx(0.5)


def test_the_tasks_machinery_takes_the_set_by_name_and_its_ids():
    ids = list(SUBSETS["literature"])
    assert resolve_equations("literature") == ids
    specs = task_specs(TasksParams(set="literature", trials=2))
    assert [s.equation for s in specs] == [i for i in ids for _ in range(2)]
    assert len({s.name for s in specs}) == len(specs) and len({s.seed for s in specs}) == len(specs)
    assert [s.equation for s in make_tasks(["L.Nguyen-1", "L.Vlad-1"])] == ["L.Nguyen-1", "L.Vlad-1"]
    assert resolve_equations("L.Keijzer-4") == ["L.Keijzer-4"]
    with pytest.raises(LiesError, match="literature"):
        resolve_equations("literatur")
