"""CUDA checks (``pytest -m gpu`` on a machine with a GPU; skipped elsewhere)."""

import pytest
import torch

from lies.networks.base import add_constant_column
from lies.networks.lies import LiesNetwork
from lies.params import AdmmParams
from lies.training.admm import train_admm

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _lies_case(x):
    return (lambda: LiesNetwork(3, 16, generator=torch.Generator().manual_seed(1)), (x[..., 0] + 2 * x[..., 1]).log(),
            train_admm, AdmmParams(epochs=2, batch_size=256))


def _eql_case(x):
    from functools import partial

    from lies.networks.eql import EqlNetwork, train_eql
    from lies.params import EqlParams

    return (lambda: EqlNetwork(3, 16, generator=torch.Generator().manual_seed(1)), x[..., 0] * x[..., 1] - x[..., 2],
            partial(train_eql, phase="penalised"),
            EqlParams(epochs=2, warmup_epochs=1, lr=1e-2, smooth_a=0.05, batch_size=256, reg_weight=5e-3))


@pytest.mark.parametrize("case", [_lies_case, _eql_case], ids=["lies", "eql"])
def test_batched_training_on_cuda_matches_cpu_closely(case):
    g = torch.Generator().manual_seed(0)
    x = add_constant_column(torch.rand(16, 2048, 3, generator=g) + 0.1)
    new_network, t, fit, config = case(x)
    results = {}
    for device in ("cpu", "cuda"):
        net = new_network().to(device)
        fit(net, x.to(device), t.to(device), config, generators=[torch.Generator().manual_seed(i) for i in range(16)])
        results[device] = net.flat.detach().cpu()
    assert torch.isfinite(results["cuda"]).all()
    assert torch.allclose(results["cpu"], results["cuda"], atol=1e-3)


def test_pipeline_runs_on_cuda():
    from lies.pipeline.runner import Pipeline

    tiny = {"weak_admm": {"epochs": 2}, "oversampling": {"max_iter": 1, "retrain": {"epochs": 1}},
            "strong_admm": {"epochs": 2}, "node_pruning": {"refit_iterations": 10}}
    result = Pipeline(params=tiny).run({"set": ["I.12.1"], "n_train": 500, "n_test": 100},
                                       {"device": "cuda", "n_jobs": 1, "progress": False})
    assert result.rows[0]["formula"]


def test_eql_pipeline_runs_on_cuda():
    from lies.networks.eql import EqlNetwork
    from lies.pipeline.runner import Pipeline

    tiny = {"network": {"kind": "eql"}, "eql": {"restarts": 2, "warmup_epochs": 1, "epochs": 5, "finetune_epochs": 2,
                                                "threshold": 0.5}}
    result = Pipeline(params=tiny).run({"set": ["S.1"], "n_train": 500, "n_test": 100},
                                       {"device": "cuda", "n_jobs": 1, "progress": False})
    assert isinstance(result.artifacts["strong_admm"][0].net, EqlNetwork) and result.rows[0]["formula"]


def test_tasks_of_one_size_train_as_one_batched_network_on_cuda(monkeypatch):
    import lies.pipeline.stages
    from lies.pipeline.runner import apply_stage

    sizes = []
    train = lies.pipeline.stages.train_admm

    def recording(net, *args, **kwargs):
        sizes.append((net.arch.n_inputs, net.n_models, net.flat.device.type))
        return train(net, *args, **kwargs)

    monkeypatch.setattr(lies.pipeline.stages, "train_admm", recording)
    tasks = [a.data for a in apply_stage("prepare", [], [], {"set": ["I.12.1", "II.8.31", "I.6.2a"],
                                                                  "n_train": 500, "n_test": 100})]
    apply_stage("weak_admm", [None] * 3, tasks, {"epochs": 1, "restarts": 2}, {"device": "cuda", "n_jobs": 4})
    assert sorted(sizes) == [(1, 2, "cuda"), (2, 4, "cuda")]  # one network per size, every restart of each task
