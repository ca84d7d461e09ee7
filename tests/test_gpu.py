"""CUDA checks (``pytest -m gpu`` on a machine with a GPU; skipped elsewhere)."""

import pytest
import torch

from lies.admm import AdmmConfig, train_admm
from lies.network import LiesNetwork, add_constant_column

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def test_batched_training_on_cuda_matches_cpu_closely():
    g = torch.Generator().manual_seed(0)
    x = add_constant_column(torch.rand(16, 2048, 3, generator=g) + 0.1)
    t = (x[..., 0] + 2 * x[..., 1]).log()
    results = {}
    for device in ("cpu", "cuda"):
        net = LiesNetwork(3, 16, generator=torch.Generator().manual_seed(1)).to(device)
        train_admm(net, x.to(device), t.to(device), AdmmConfig(epochs=2, batch_size=256),
                   generators=[torch.Generator().manual_seed(i) for i in range(16)])
        results[device] = net.flat.detach().cpu()
    assert torch.isfinite(results["cuda"]).all()
    assert torch.allclose(results["cpu"], results["cuda"], atol=1e-3)


def test_pipeline_runs_on_cuda():
    from lies.pipeline import Pipeline

    tiny = {"weak_admm": {"epochs": 2}, "oversampling": {"max_iter": 1, "retrain": {"epochs": 1}},
            "strong_admm": {"epochs": 2}, "gradient_pruning": {"refit_iterations": 10}}
    result = Pipeline(params=tiny).run({"set": ["I.12.1"], "n_train": 500, "n_test": 100},
                                       {"device": "cuda", "n_jobs": 1, "progress": False})
    assert result.rows[0]["formula"]


def test_tasks_of_one_size_train_as_one_batched_network_on_cuda(monkeypatch):
    import lies.stages
    from lies.pipeline import apply_stage, Pipeline

    sizes = []
    train = lies.stages.train_admm

    def recording(net, *args, **kwargs):
        sizes.append((net.arch.n_inputs, net.n_models, net.flat.device.type))
        return train(net, *args, **kwargs)

    monkeypatch.setattr(lies.stages, "train_admm", recording)
    tasks = [a.data for a in apply_stage("prepare", [], [], {"set": ["I.12.1", "II.8.31", "I.6.2a"],
                                                                  "n_train": 500, "n_test": 100})]
    apply_stage("weak_admm", [None] * 3, tasks, {"epochs": 1, "restarts": 2}, {"device": "cuda", "n_jobs": 4})
    assert sorted(sizes) == [(1, 2, "cuda"), (2, 4, "cuda")]  # one network per size, every restart of each task
