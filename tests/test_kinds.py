"""The network kinds' registry (`lies.training.kinds`): every kind the params accept is registered, and every
registered kind keeps the base protocol that the stages and the artifacts rely on."""


import numpy as np
import pytest
import sympy
import torch

from lies.networks.base import add_constant_column
from lies.data.dataset import Dataset
from lies.data.tasks import TaskData, TaskSpec, make_tasks, prepare_task, split_rows
from lies.params import (
    NETWORK_KINDS,
    ByKind,
    RuntimeParams,
    WeakAdmmParams,
    check_params,
    training_params,
    training_section,
)
from lies.pipeline.artifacts import TaskArtifact
from lies.pipeline.runner import Pipeline
from lies.pipeline.stages import STAGES, by_group, run_stages
from lies.symbolic.metrics import is_symbolic_solution
from lies.training.kinds import KINDS, kind_for, network_from

KIND_NAMES = sorted(KINDS)


def _params_for(name):
    section = training_section("weak_admm", name)
    if section is None:
        return WeakAdmmParams(restarts=3)
    return KINDS[name].params(restarts=3)


def test_every_kind_params_accept_is_registered_and_no_other():
    assert set(NETWORK_KINDS) == {*KINDS, "auto"}  # auto chooses one of them per task


def test_auto_hands_the_training_stages_both_sections_and_the_others_their_own():
    sections = check_params({"network": {"kind": "auto"}, "eql": {"restarts": 2}, "weak_admm": {"epochs": 3}})
    weak = training_params("weak_admm", sections)
    assert isinstance(weak, ByKind) and weak.lies.epochs == 3 and weak.eql.restarts == 2 and weak.log == "auto"
    assert weak.for_kind("eql") is weak.eql and weak.for_kind("lies") is weak.lies
    assert isinstance(training_params("strong_admm", sections), ByKind)
    assert training_params("node_pruning", sections) is sections["node_pruning"]
    assert training_params("prepare", sections) is sections["tasks"]
    eql = check_params({"network": {"kind": "eql"}})
    assert training_params("weak_admm", eql) is eql["eql"]
    assert check_params({})["network"].kind == "auto"  # the default


def test_by_group_runs_each_key_once_on_its_tasks_and_keeps_task_order():
    calls = []

    def run(key, inputs, tasks):
        calls.append((key, list(inputs)))
        return [f"{key}:{i}" for i in inputs]

    assert by_group(["a", "b", "a", "b"], [0, 1, 2, 3], [10, 11, 12, 13], run) == ["a:0", "b:1", "a:2", "b:3"]
    assert calls == [("a", [0, 2]), ("b", [1, 3])]
    calls.clear()
    assert by_group(["a", "a"], [0, 1], [0, 1], run) == ["a:0", "a:1"] and calls == [("a", [0, 1])]
    assert by_group([], [], [], run) == []


def test_auto_trains_lies_in_log_space_and_eql_in_raw_space_per_task():
    """One task set, both kinds: each training stage splits the tasks by kind and hands them back in order."""
    tasks = [prepare_task(spec, n_train=200, n_test=50) for spec in make_tasks(["E.6", "I.12.1", "S.1"], 1, 0)]
    sections = check_params({"network": {"kind": "auto"}, "weak_admm": {"epochs": 1, "restarts": 2},
                             "strong_admm": {"epochs": 1}, "eql": {"restarts": 2, "warmup_epochs": 0, "epochs": 1,
                                                                   "finetune_epochs": 1}})
    stages = [STAGES[name] for name in ("weak_admm", "oversampling", "strong_admm", "gradient_pruning")]
    params = {s.name: training_params(s.name, sections) for s in stages}
    params["oversampling"] = check_params({"oversampling": {"max_iter": 1, "retrain": {"epochs": 1}}})["oversampling"]
    out = run_stages(stages, [TaskArtifact(t) for t in tasks], tasks, params, RuntimeParams(n_jobs=1))
    for name in params:
        assert [a.net.kind for a in out[name]] == ["eql", "lies", "eql"], name
    assert [a.transform.log for a in out["strong_admm"]] == [False, True, False]
    assert out["oversampling"][0].summary.get("skipped") and not out["oversampling"][1].summary.get("skipped")


@pytest.mark.parametrize("name", KIND_NAMES)
def test_a_kind_is_told_by_its_training_params(name):
    assert kind_for(_params_for(name)).name == name


@pytest.mark.parametrize("name", KIND_NAMES)
def test_a_kind_round_trips_through_its_file_and_reads_back_as_its_forward_pass(name):
    kind = KINDS[name]
    g = torch.Generator().manual_seed(3)
    x = add_constant_column(torch.rand(3, 64, 2, generator=g, dtype=torch.float64) + 0.5)
    net = kind.build(_params_for(name), 2, torch.Generator().manual_seed(0), torch.rand(64, dtype=torch.float64) + 1)
    net = net.to(torch.float64) if net.flat.dtype != torch.float64 else net
    assert net.kind == name and net.n_models == 3
    back = network_from(net.describe(), net.tensors())
    assert type(back) is type(net) and back.describe() == net.describe()
    assert torch.equal(back.flat, net.flat) and torch.equal(back.mask, net.mask)
    # one model chosen and stacked again is the same network
    again = type(net).stack([net.select([m]) for m in range(3)])
    assert torch.equal(again.flat, net.flat)
    # the read-back is the forward pass: the sympy expression evaluated on the rows gives the network's output.
    # Cut-offs are not written into a formula, so a LIES log unit (whose input at a random start is often below its
    # cut-off) is switched off by its gate: the comparison holds where no unit is cut off
    if "gates" in net.layout:
        keep = torch.ones_like(net.mask, dtype=torch.bool)
        net.view(keep, "gates")[..., 0] = False
        net.prune(keep)
    a, b = sympy.symbols("a b")
    out = net(x.to(net.flat.dtype))
    assert torch.all(out.violation == 0)
    y = out.y.detach().double().numpy()
    for m in range(3):
        f = sympy.lambdify((a, b), net.expression([a, b], m), "numpy")
        got = np.broadcast_to(f(x[m, :, 0].numpy(), x[m, :, 1].numpy()), (64,))
        np.testing.assert_allclose(got, y[m], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_default_pipeline_recovers_a_signed_formula_of_no_task_set():
    """`2 a^2 - b + c/2` on [-1, 1]^3 (a signed square plus a signed sum, in no registry set): raw space, where the
    default (network.kind: auto) trains EQL and reads back the exact structure; a LIES network there has no
    square of a signed value."""
    rng = np.random.default_rng(31)
    X = rng.uniform(-1.0, 1.0, (12_500, 3))  # 10,000 training rows, as a registry task
    data = Dataset(X, 2 * X[:, 0] ** 2 - X[:, 1] + X[:, 2] / 2, ("a", "b", "c"), "f")
    train, test = split_rows(data, 0.2, np.random.default_rng(0))
    task = TaskData(TaskSpec(name="own-t0", trial=0, seed=31, csv="own.csv", target="f"), train, test)
    result = Pipeline().run([task], {"n_jobs": 1, "progress": False})
    row = result.rows[0]
    assert row["space"] == "raw" and result.artifacts["weak_admm"][0].net.kind == "eql"
    a, b, c = sympy.symbols("a b c")
    formula = result.artifacts["final_rounding"][0].formula
    assert is_symbolic_solution(formula, 2 * a**2 - b + c / 2), row["formula"]
