"""Evaluation rows say where a wall-clock safety net decided something (the work is otherwise bounded by counts)."""

from types import SimpleNamespace

from lies.data.feynman import get_equation
from lies.pipeline.evaluation import evaluate_task, symbolic_flags, wall_clock_caps
from lies.symbolic.formula import Formula


def test_wall_clock_caps_name_the_stages_whose_safety_net_stopped_the_work():
    summaries = {
        "extract": {"stage": "extract"},
        "coefficient_optimization": {"stopped_by": "wall clock"},
        "final_rounding": {"simplify": "timeout (wall clock)"},
        "rounding_to_zero": {"stopped_by": "time_limit (wall clock)"},
        "node_pruning": {"stopped_by": "evaluations"},  # a count: the same on any machine
    }
    assert wall_clock_caps(summaries) == ["coefficient_optimization", "final_rounding", "rounding_to_zero"]


def test_a_symbolic_check_stopped_by_its_timeout_is_reported():
    eq = get_equation("I.12.1")
    truth = Formula(str(eq.expr), eq.variable_names)
    timed_out: list[str] = []
    assert symbolic_flags(truth, eq, 1.0, timeout=1e-9, timed_out=timed_out) == (False, False)
    assert timed_out == ["literal", "positive"]
    timed_out.clear()
    assert symbolic_flags(truth, eq, 1.0, timeout=30.0, timed_out=timed_out) == (True, True)
    assert timed_out == []


def test_the_row_names_the_mechanism_node_pruning_recorded_and_restart_without_one():
    """Node pruning skipped, or an artifact from before mechanisms were recorded: the trained network as it is."""
    task = SimpleNamespace(name="I.12.1-t0", spec=SimpleNamespace(equation="I.12.1", trial=0))
    summaries = {"node_pruning": {"seconds": 1.0, "mechanism": "scan"}}
    assert evaluate_task(task, summaries, None)["mechanism"] == "scan"
    assert evaluate_task(task, {"node_pruning": {"seconds": 1.0, "skipped": True}}, None)["mechanism"] == "restart"


def test_the_row_names_the_oracle_a_chosen_decomposition_read():
    task = SimpleNamespace(name="I.12.1-t0", spec=SimpleNamespace(equation="I.12.1", trial=0))
    chosen = {"tried": True, "oracle": "surrogate", "chosen": "decomposition"}
    row = evaluate_task(task, {"decomposition": {"seconds": 1.0, "mechanism": "decomposition",
                                                 "decomposition": chosen}}, None)
    assert (row["mechanism"], row["oracle"]) == ("decomposition", "surrogate")
    kept = {**chosen, "chosen": "input"}  # the tree was read but the input formula kept: no oracle made it
    row = evaluate_task(task, {"node_pruning": {"seconds": 1.0, "mechanism": "scan"},
                               "decomposition": {"seconds": 1.0, "decomposition": kept}}, None)
    assert (row["mechanism"], row["oracle"]) == ("scan", "")
