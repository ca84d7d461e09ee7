"""Where work runs: the Dask backend (a tiny pipeline on a LocalCluster of two workers gives the loky run's
formulas), a task's result independent of the run that holds it, and the progress bars (on a terminal only, off
with ``progress: false``)."""

import pytest
import torch

pytest.importorskip("distributed")

from distributed import LocalCluster  # noqa: E402

from lies.core.errors import LiesError  # noqa: E402
from lies.params import RuntimeParams, parse_params  # noqa: E402
from lies.pipeline.engine import _CLIENTS, dask_client, progress  # noqa: E402
from lies.pipeline.runner import Pipeline  # noqa: E402

TINY = {
    "weak_admm": {"epochs": 2, "restarts": 2},
    "oversampling": {"max_iter": 1, "retrain": {"epochs": 1}},
    "strong_admm": {"epochs": 2},
    "node_pruning": {"refit_iterations": 10},
}
TASKS = {"set": ["I.12.1", "II.8.31"], "trials": 1, "n_train": 400, "n_test": 100}


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        yield cluster
        client = _CLIENTS.pop(cluster.scheduler_address, None)  # the stages' cached client, before its cluster goes
        if client is not None:
            client.close()


@pytest.fixture(scope="module")
def loky():
    return Pipeline(params=TINY).run(TASKS, {"n_jobs": 2, "progress": False})


def test_dask_run_gives_the_loky_formulas(cluster, loky):
    runtime = {"n_jobs": 2, "progress": False, "backend": "dask", "scheduler": cluster.scheduler_address}
    client = dask_client(cluster.scheduler_address)
    dask = Pipeline(params=TINY).run(TASKS, runtime)
    executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
    assert len(executed) == 2 and min(executed.values()) > 0, executed  # the work really went to both workers
    columns = ("task", "formula", "symbolic_solution", "symbolic_solution_positive", "r2_test")
    assert [[r[c] for c in columns] for r in dask.rows] == [[r[c] for c in columns] for r in loky.rows]
    assert dask.metrics["ssr"] == loky.metrics["ssr"]


def test_a_task_trains_alike_alone_and_in_a_set(loky):
    """Alone on two workers each of I.12.1's two restarts trains as a batch of one; in the set, beside II.8.31's
    restarts, in batches of two: the networks agree bit for bit, so a run's formulas do not depend on what else
    it holds (trials, other formulas) nor on how its chunks fall (``n_jobs``)."""
    alone = Pipeline(params=TINY).run({**TASKS, "set": ["I.12.1"]}, {"n_jobs": 2, "progress": False})
    for stage in ("weak_admm", "strong_admm", "node_pruning"):
        assert torch.equal(alone.artifacts[stage][0].net.flat, loky.artifacts[stage][0].net.flat), stage
    assert alone.rows[0]["formula"] == loky.rows[0]["formula"]
    one_worker = Pipeline(params=TINY).run(TASKS, {"n_jobs": 1, "progress": False})  # other chunks, one process
    columns = ("task", "formula", "r2_test")
    assert [[r[c] for c in columns] for r in one_worker.rows] == [[r[c] for c in columns] for r in loky.rows]


def test_runtime_backend_is_checked():
    assert parse_params(RuntimeParams, {"backend": "dask"}, "runtime").scheduler is None
    with pytest.raises(LiesError, match="runtime.backend"):
        parse_params(RuntimeParams, {"backend": "ray"}, "runtime")


def test_progress_bars_only_on_a_terminal_and_when_asked(monkeypatch, capsys):
    assert progress(3, RuntimeParams(progress=False)).disable
    assert progress(3, RuntimeParams(progress=True)).disable  # pytest's stderr is no terminal
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    with progress(3, RuntimeParams(progress=True), desc="extract") as bar:
        assert not bar.disable
        bar.update(3)
    assert "extract" in capsys.readouterr().err
