"""Restarts: several networks per task from different initialisations, the best kept after pruning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lies.networks.base import add_constant_column
from lies.networks.lies import LiesNetwork
from lies.params import RuntimeParams, TasksParams, parse_params
from lies.pipeline.runner import Pipeline
from lies.pipeline.stages import STAGES
from lies.training.pruning import choose_restart, exact_fit_floor, restart_errors

TASKS = {"set": ["I.12.1"], "n_train": 600, "n_test": 100, "seed": 0}
TINY = {"weak_admm": {"epochs": 3, "restarts": 3}, "strong_admm": {"epochs": 3},
        "oversampling": {"max_iter": 1, "retrain": {"epochs": 1}}, "node_pruning": {"refit_iterations": 10}}
RUNTIME = {"n_jobs": 1}


@pytest.fixture(scope="module")
def tasks():
    runtime = parse_params(RuntimeParams, RUNTIME, "runtime")
    return [a.data for a in STAGES["prepare"].run([], [], TasksParams(**TASKS), runtime)]


@pytest.fixture(scope="module")
def run(tasks):
    return Pipeline(params=TINY).run(tasks, RUNTIME)


def _product_data(rows: int = 500):
    rng = np.random.default_rng(0)
    X = rng.uniform(1, 5, size=(rows, 2))
    x = add_constant_column(torch.tensor(np.log(X) / np.log(5), dtype=torch.float32))[None]
    t = torch.tensor(np.log(X[:, 0] * X[:, 1]), dtype=torch.float32)[None]
    return x, t


def _models(*edits):
    """One model per list of (tensor name, index, value) edits on an all-zero network."""
    net = LiesNetwork(2, len(edits))
    with torch.no_grad():
        net.flat.zero_()
        for m, model_edits in enumerate(edits):
            for name, index, value in model_edits:
                net.view(net.flat, name)[(m, *index)] = value
    return net


def test_choose_restart_takes_the_sparsest_of_the_best_fits():
    x, t = _product_data()
    s = float(np.log(5))
    exact = [("output", (0, 0), s), ("output", (0, 1), s)]
    noise = [("layer0", (3, 0), 1e-3), ("gates", (0, 3), 1.0), ("output", (0, 3 + 3), 1e-3)]  # a near-silent sine
    net = _models(exact + noise, exact, [("output", (0, 0), 2 * s)])  # dense exact, sparse exact, sparser but wrong
    errors = restart_errors(net, x, t)
    assert errors[0] < exact_fit_floor(t) and errors[1] < exact_fit_floor(t) and errors[2] > 0.1
    assert choose_restart(net, x, t) == 1
    # a model that fits clearly better wins even when it is denser
    net = _models(exact + noise, [("output", (0, 0), s), ("output", (0, 1), 0.9 * s)])
    assert choose_restart(net, x, t) == 0


def test_every_training_stage_carries_all_restarts_and_pruning_keeps_one(run):
    for stage in ("weak_admm", "oversampling", "strong_admm"):
        art = run.artifacts[stage][0]
        assert art.net.n_models == 3
        assert len(art.summary["restarts_log_r2"]) == 3
        assert {h["restart"] for h in art.history if h["phase"] == stage} == {0, 1, 2}
    assert len(run.artifacts["oversampling"][0].added) == 3
    assert run.artifacts["gradient_pruning"][0].net.n_models == 3  # Theorem 2 prunes every restart, keeps them all
    pruned = run.artifacts["node_pruning"][0]
    assert pruned.net.n_models == 1 and len(pruned.added) == 1
    summary = pruned.summary
    best = summary["chosen_restart"]
    assert summary["restarts"] == 3 and len(summary["restarts_error"]) == 3
    floor = summary["restarts_exact_below"]
    qualified = [e <= max(min(summary["restarts_error"]) * 1.1, floor) for e in summary["restarts_error"]]
    assert qualified[best]
    assert summary["restarts_nonzero"][best] == min(n for n, q in zip(summary["restarts_nonzero"], qualified) if q)
    trials = summary["node_trials"]  # the kept restart's: its first is the linear hypothesis
    assert summary["mechanism"] == ("loglinear" if trials and trials[0]["accepted"] else "restart")
    assert run.rows[0]["mechanism"] == summary["mechanism"]


def test_restart_zero_trains_as_a_single_run(tasks, run):
    """Restarts only add networks: restart 0 is the network a run with one restart trains (same seeds)."""
    params = {"weak_admm": {"epochs": 3, "restarts": 1}}
    single = Pipeline([STAGES["weak_admm"]], params=params).run(tasks, RUNTIME)
    one = single.artifacts["weak_admm"][0].net
    three = run.artifacts["weak_admm"][0].net
    assert one.n_models == 1
    torch.testing.assert_close(three.flat[:1], one.flat, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(three.flat[1], three.flat[0])


def test_extraction_chooses_a_restart_when_pruning_is_skipped(tasks):
    names = ["weak_admm", "oversampling", "strong_admm", "gradient_pruning", "node_pruning", "extract"]
    result = Pipeline([STAGES[n] for n in names], params=TINY, skip=["node_pruning"]).run(tasks, RUNTIME)
    assert result.artifacts["gradient_pruning"][0].net.n_models == 3
    assert result.artifacts["strong_admm"][0].net.n_models == 3
    assert result.artifacts["extract"][0].formula is not None


def test_without_gradient_pruning_node_pruning_applies_no_theorem_2(tasks, run):
    """Table I's "w/o Gradient Pruning": Theorem 2 is that stage's, so node pruning's second pass goes with it."""
    from lies.pipeline.runner import apply_stage
    from lies.pipeline.stages import skipped

    strong = run.artifacts["strong_admm"][0]
    params = {"refit_iterations": 0, "linear_hypothesis": False, "tolerance": 0.0, "slack": 0.0,
              "threshold": 1.0}  # no unit goes; a threshold of 1 (a factor e in y) would prune nearly everything
    without = apply_stage("node_pruning", skipped("gradient_pruning", strong), tasks[0], params)
    from dataclasses import replace

    ran = replace(strong, summary={**strong.summary, "skipped": False})  # as if gradient pruning had run
    no_threshold = apply_stage("node_pruning", ran, tasks[0], {**params, "threshold": 0.0})
    assert torch.equal(without.net.flat, no_threshold.net.flat)  # the threshold played no part
    pruned = apply_stage("node_pruning", ran, tasks[0], params)
    assert pruned.net.nonzero_counts()[0]["total"] < without.net.nonzero_counts()[0]["total"]
