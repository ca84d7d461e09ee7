"""EQL (lies.networks.eql, lies.training.kinds): units, the smoothed L0.5 penalty, masks through training, extraction = forward
pass, artifacts, and one EQL run through every stage with ``-S network.kind=eql``."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import sympy
import torch

from lies.core.errors import LiesError
from lies.data.transforms import Transform
from lies.networks.base import add_constant_column
from lies.networks.eql import EXP_MAX, EqlArchitecture, EqlNetwork, eql_units, smooth_l12, train_eql
from lies.networks.extraction import extract_formula
from lies.networks.lies import LiesNetwork
from lies.params import ByKind, EqlParams, WeakAdmmParams
from lies.pipeline.artifacts import NetworkArtifact

#: A penalised phase as the authors run it (lr 1e-2, L0.5 weight 5e-3, a = 0.05, warm-up at 10 x lr).
PENALISED = dict(lr=1e-2, smooth_a=0.05, reg_weight=5e-3, warmup_lr_factor=10.0)

def _data(n_models: int, n_inputs: int, n: int = 512, seed: int = 0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    X = (2 * torch.rand(n_models, n, n_inputs, generator=g) - 1).to(dtype)
    return add_constant_column(X), X


# ------------------------------------------------------------------------------------------------ units
def test_units_are_sorted_into_blocks_and_products_read_two_pre_activations():
    arch = EqlArchitecture.build(2, 1, ["product", "sin", "identity", "product", "exp", "square", "sigmoid"])
    assert arch.units == ("identity", "square", "sin", "exp", "sigmoid", "product", "product")
    assert arch.n_units == 7 and arch.n_pre == 9
    z = torch.tensor([0.3, -0.7, 1.1, 12.0, -0.4, 2.0, 3.0, -0.5, 0.25])
    h = eql_units(z, arch)
    expected = [0.3, 0.49, math.sin(1.1), math.exp(EXP_MAX), 1 / (1 + math.exp(0.4)), 6.0, -0.125]
    assert torch.allclose(h, torch.tensor(expected), rtol=1e-6)


def test_unknown_units_are_refused():
    with pytest.raises(ValueError, match="EQL units"):
        EqlArchitecture.build(1, 2, ["identity", "tanh"])
    with pytest.raises(LiesError, match="eql.units"):
        from lies.params import parse_params

        parse_params(EqlParams, {"units": ["identity", "tanh"]}, "eql")


# ------------------------------------------------------------------------------------------------ regulariser
def test_smooth_l12_value_matches_sqrt_abs_above_a_and_the_polynomial_below():
    a = 0.05
    w = torch.tensor([[0.0, 0.5, -2.0, a, 0.02]], dtype=torch.float64)
    poly = lambda v: -(v**4) / (8 * a**3) + 3 * v**2 / (4 * a) + 3 * a / 8  # noqa: E731
    expected = math.sqrt(3 * a / 8) + math.sqrt(0.5) + math.sqrt(2.0) + math.sqrt(a) + math.sqrt(poly(0.02))
    assert smooth_l12(w, a).item() == pytest.approx(expected, rel=1e-12)
    # continuous in value and slope at |w| = a
    below, above = torch.tensor([[a * (1 - 1e-9)]], dtype=torch.float64), torch.tensor([[a * (1 + 1e-9)]],
                                                                                        dtype=torch.float64)
    assert smooth_l12(below, a).item() == pytest.approx(smooth_l12(above, a).item(), rel=1e-7)


def test_smooth_l12_gradient_is_zero_at_zero_finite_near_it_and_l12_beyond_a():
    w = torch.tensor([[0.0, 1e-8, -1e-6, 0.3, -0.8]], dtype=torch.float64, requires_grad=True)
    smooth_l12(w).sum().backward()
    g = w.grad[0]
    assert g[0] == 0.0
    assert torch.isfinite(g).all() and g[1:3].abs().max() < 1e-3  # L0.5's own gradient would be ~5000 and ~500
    assert g[3].item() == pytest.approx(0.5 / math.sqrt(0.3)) and g[4].item() == pytest.approx(-0.5 / math.sqrt(0.8))


def test_penalty_per_model_is_independent():
    w = torch.tensor([[0.0, 1.0], [4.0, 0.0]])
    assert torch.allclose(smooth_l12(w), torch.tensor([math.sqrt(3 * 0.05 / 8) + 1.0, 2.0 + math.sqrt(3 * 0.05 / 8)]))


# ------------------------------------------------------------------------------------------------ training
def test_pruned_weights_stay_exactly_zero_through_every_phase():
    x, X = _data(2, 2)
    y = X[..., 0] * X[..., 1] - X[..., 0]
    net = EqlNetwork(2, 2, generator=torch.Generator().manual_seed(1))
    keep = torch.rand(net.flat.shape, generator=torch.Generator().manual_seed(2)) > 0.3
    net.prune(keep)
    before = net.flat.detach().clone()
    result = train_eql(net, x, y, EqlParams(epochs=3, warmup_epochs=1, batch_size=64, **PENALISED), "penalised",
                       generators=[torch.Generator().manual_seed(s) for s in (3, 4)])
    assert torch.all(net.flat[~keep] == 0.0)
    assert not torch.equal(net.flat[keep], before[keep])  # the others did train
    assert len(result.history[0]) == 4 and result.diverged == [False, False]
    # threshold-and-freeze: |w| < threshold goes, and stays zero while the data loss alone fine-tunes the rest
    small = net.flat.detach().abs() < 0.05
    train_eql(net, x, y, EqlParams(finetune_epochs=2, lr=1e-2, finetune_lr_factor=1.0, smooth_a=0.05, threshold=0.05,
                                   batch_size=64), "finetune")
    assert small.any() and torch.all(net.flat[small] == 0.0) and torch.all(net.mask[small] == 0.0)
    assert torch.all(net.flat[~small].abs() > 0)


def test_training_reduces_the_data_loss_and_models_train_independently():
    x, X = _data(2, 1, seed=5)
    y = torch.stack([X[0, :, 0] ** 2, torch.sin(2 * X[1, :, 0])])
    config = EqlParams(epochs=15, warmup_epochs=1, batch_size=64, **PENALISED)
    net = EqlNetwork(1, 2, generator=torch.Generator().manual_seed(0))
    alone = net.select([1])
    gens = lambda: [torch.Generator().manual_seed(s) for s in (7, 8)]  # noqa: E731
    history = train_eql(net, x, y, config, "penalised", generators=gens()).history
    assert history[0][-1]["mse"] < 0.2 * history[0][0]["mse"]
    assert history[1][-1]["mse"] < 0.2 * history[1][0]["mse"]
    train_eql(alone, x[1:], y[1:], config, "penalised", generators=gens()[1:])
    # one model's run does not depend on its neighbours (up to float32 round-off)
    assert torch.allclose(alone.flat, net.flat[1:], rtol=1e-3, atol=1e-3)


def test_seeded_initialisation_is_reproducible_and_scale_travels_with_select_and_stack():
    a = EqlNetwork(3, 2, generator=torch.Generator().manual_seed(9))
    b = EqlNetwork(3, 2, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a.flat, b.flat)
    a.scale.copy_(torch.tensor([2.0, 5.0]))
    assert a.select([1]).scale.tolist() == [5.0]
    assert EqlNetwork.stack([a.select([1]), a]).scale.tolist() == [5.0, 2.0, 5.0]


# ------------------------------------------------------------------------------------------------ extraction
@pytest.mark.parametrize("seed", range(8))
def test_extracted_formula_equals_the_forward_pass_on_random_sparse_networks(seed):
    rng = np.random.default_rng(seed)
    n_inputs, n_layers = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    units = list(rng.choice(["identity", "square", "sin", "exp", "sigmoid", "product"], size=int(rng.integers(3, 9))))
    g = torch.Generator().manual_seed(seed)
    net = EqlNetwork(n_inputs, 2, n_layers=n_layers, units=units, generator=g, dtype=torch.float64)
    net.prune(torch.rand(net.flat.shape, generator=g, dtype=torch.float64) < 0.4)
    net.scale.copy_(torch.tensor([1.0, 3.5], dtype=torch.float64))
    x, _ = _data(2, n_inputs, n=200, seed=seed, dtype=torch.float64)
    with torch.no_grad():
        y = net(x).y
    symbols = sympy.symbols(f"v0:{n_inputs}")
    for m in range(2):
        expr = net.expression(list(symbols), m)
        f = sympy.lambdify(symbols, expr, "numpy")
        values = np.broadcast_to(f(*x[m, :, :n_inputs].T.numpy()), (200,))
        assert np.allclose(values, y[m].numpy(), rtol=1e-6, atol=1e-6)


def test_formula_in_raw_units_matches_the_network_on_signed_data():
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 2, size=(300, 2))
    tr = Transform.fit(X, X[:, 0] - X[:, 1], ["a", "b"], "y", log=False)
    net = EqlNetwork(2, 1, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    net.prune(torch.rand(net.flat.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64) < 0.3)
    net.scale.fill_(7.0)
    formula = extract_formula(net, tr, ["a", "b"])
    with torch.no_grad():
        y = net(add_constant_column(torch.tensor(tr.inputs(X)))[None]).y[0].numpy()
    assert formula.variable_names == ("a", "b")
    assert np.allclose(formula(X), y, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------------------------------------ artifacts
def test_eql_network_artifact_round_trips(tmp_path):
    from lies.pipeline.artifacts import ArtifactMeta, write_meta
    from lies.pipeline.runner import load_artifact

    net = EqlNetwork(2, 3, n_layers=3, units=["sin", "product", "identity"], generator=torch.Generator().manual_seed(0))
    net.prune(net.flat.detach().abs() > 0.1)
    net.scale.copy_(torch.tensor([1.0, 2.0, 3.0]))
    tr = Transform(scales=(2.0, 3.0), log=False)
    art = NetworkArtifact(net, tr, ["a", "b"], "y", [{"phase": "weak_admm", "epoch": 0, "mse": 0.5}], {"nonzero": 3})
    art.write(tmp_path)
    write_meta(tmp_path, ArtifactMeta(kind="network", stage="weak_admm", task="t", params={}, inputs={},
                                      library_version="test"))
    back = load_artifact(tmp_path)
    assert isinstance(back.net, EqlNetwork) and back.net.arch == net.arch
    for name, t in net.tensors().items():
        assert torch.equal(back.net.tensors()[name], t), name
    x, _ = _data(3, 2, n=20)
    assert torch.equal(back.net(x).y, net(x).y)
    assert back.transform == tr


def test_strong_admm_refuses_networks_of_the_other_kind():
    from lies.data.tasks import TaskSpec, prepare_task
    from lies.pipeline.runner import apply_stage

    task = prepare_task(TaskSpec(name="I.12.1-t0", trial=0, seed=0, equation="I.12.1"), 50, 10)
    tr = Transform.fit(task.train.X, task.train.y, task.variables, task.train.target)
    lies_art = NetworkArtifact(LiesNetwork(2), tr, task.variables, task.train.target)
    with pytest.raises(LiesError, match="network.kind is 'eql'"):
        apply_stage("strong_admm", lies_art, task, EqlParams(finetune_epochs=1))
    eql_art = NetworkArtifact(EqlNetwork(2), tr, task.variables, task.train.target)
    with pytest.raises(LiesError, match="network.kind is 'lies'"):
        apply_stage("strong_admm", eql_art, task, {"epochs": 1})


# ------------------------------------------------------------------------------------------------ pipeline
TINY_EQL = [
    "-S", "network.kind=eql", "-S", "tasks.n_train=300", "-S", "tasks.n_test=50",
    "-S", "eql.restarts=2", "-S", "eql.warmup_epochs=1", "-S", "eql.epochs=20", "-S", "eql.finetune_epochs=5",
    "-S", "eql.batch_size=64", "-S", "eql.reg_weight=0.05", "-S", "eql.threshold=0.6",
    "-S", "coefficient_optimization.fit_seconds=2", "-S", "final_rounding.simplify_seconds=2",
    "-S", "runtime.n_jobs=1",
]


@pytest.fixture(scope="module")
def eql_run(tmp_path_factory):
    from test_cli import run_cli

    out = tmp_path_factory.mktemp("runs") / "eql"
    code, stdout, stderr = run_cli("run", "--equation", "I.12.1", "--out", out, *TINY_EQL)
    assert code == 0, stderr
    return out, stdout


def test_eql_runs_through_every_stage_and_reloads(eql_run):
    from lies.pipeline.runner import load_artifact, read_json

    out, _ = eql_run
    data = out / "data"
    for stage in ("weak_admm", "strong_admm", "gradient_pruning", "node_pruning"):
        art = load_artifact(data / stage / "I.12.1-t0")
        assert isinstance(art.net, EqlNetwork) and not art.transform.log, stage
    weak, strong = (load_artifact(data / s / "I.12.1-t0") for s in ("weak_admm", "strong_admm"))
    assert weak.net.n_models == 2 and load_artifact(data / "gradient_pruning" / "I.12.1-t0").net.n_models == 2
    assert load_artifact(data / "node_pruning" / "I.12.1-t0").net.n_models == 1  # the restart it kept
    assert torch.all(strong.net.flat[strong.net.mask == 0] == 0) and (strong.net.mask == 0).any()
    assert load_artifact(data / "oversampling" / "I.12.1-t0").summary["skipped"]
    final = load_artifact(data / "final_rounding" / "I.12.1-t0")
    assert final.formula is not None and final.formula.variable_names == ("mu", "Nn")
    metrics = read_json(data / "evaluation" / "metrics.json")
    assert metrics["tasks"] == 1 and math.isfinite(metrics["mean_r2"])


def test_inspect_and_stage_work_on_an_eql_run(eql_run):
    from test_cli import run_cli

    out, _ = eql_run
    code, text, err = run_cli("inspect", out)
    assert code == 0, err
    assert "strong_admm" in text and "final_rounding" in text
    code, text, err = run_cli("inspect", out, "--stage", "strong_admm")
    assert code == 0, err
    assert re.search(r"network.json\n    kind +eql\n", text) and "mse" in text  # EQL's architecture and history
    before = (out / "data" / "extract" / "I.12.1-t0" / "formula.json").read_text()
    code, _, err = run_cli("stage", "extract", "--root", out)
    assert code == 0, err
    assert (out / "data" / "extract" / "I.12.1-t0" / "formula.json").read_text() == before


def test_the_switch_survives_pipeline_edits_and_rejects_unknown_kinds():
    from lies.pipeline.runner import Pipeline

    pipeline = Pipeline(params={"network": {"kind": "eql"}, "eql": {"epochs": 7}})
    assert isinstance(pipeline.params["weak_admm"], EqlParams) and pipeline.params["strong_admm"].epochs == 7
    edited = pipeline.with_params("weak_admm", epochs=3).skip("final_rounding")
    assert edited.network.kind == "eql" and edited.params["weak_admm"].epochs == 3
    assert Pipeline().network.kind == "auto" and isinstance(Pipeline().params["weak_admm"], ByKind)
    lies = Pipeline(params={"network": {"kind": "lies"}})
    assert isinstance(lies.params["weak_admm"], WeakAdmmParams)
    auto = Pipeline(params={"eql": {"epochs": 7}}).with_params("weak_admm", epochs=3).skip("final_rounding")
    assert auto.params["weak_admm"].lies.epochs == 3 and auto.params["strong_admm"].eql.epochs == 7
    with pytest.raises(LiesError, match="network.kind"):
        Pipeline(params={"network": {"kind": "eqn"}})
