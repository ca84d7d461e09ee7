"""Honest data settings: SRBench's target noise, a few targets <= 0 under noise, oversampling from the rows only."""

import numpy as np
import pytest

from lies.core.errors import LiesError
from lies.data.dataset import Dataset
from lies.data.tasks import TaskData, TaskSpec, make_tasks, prepare_task, task_specs
from lies.data.transforms import Transform, nonpositive_target_note
from lies.params import RuntimeParams, TasksParams
from lies.pipeline.runner import Pipeline

RUNTIME = RuntimeParams(n_jobs=1, progress=False)
TINY = {"weak_admm": {"epochs": 1, "restarts": 1}, "oversampling": {"max_iter": 1, "retrain": {"epochs": 1}},
        "strong_admm": {"epochs": 1}}


def test_noise_is_srbench_s_on_the_training_target_only():
    clean = prepare_task(make_tasks(["I.12.1"])[0], n_train=20_000, n_test=500)
    noisy = prepare_task(make_tasks(["I.12.1"], noise=0.01)[0], n_train=20_000, n_test=500)
    assert np.array_equal(noisy.train.X, clean.train.X) and np.array_equal(noisy.test.y, clean.test.y)
    diff = noisy.train.y - clean.train.y
    rms = np.sqrt(np.mean(clean.train.y**2))
    assert diff.std() == pytest.approx(0.01 * rms, rel=0.03) and abs(diff.mean()) < 0.001 * rms
    again = prepare_task(make_tasks(["I.12.1"], noise=0.01)[0], n_train=20_000, n_test=500)
    assert np.array_equal(again.train.y, noisy.train.y)  # seeded
    assert TaskSpec.from_dict(noisy.spec.to_dict()).noise == 0.01
    assert "noise" not in clean.spec.to_dict()  # noiseless task files stay as they were
    assert task_specs(TasksParams(noise=0.1))[0].noise == 0.1


def _near_zero_task(n_bad: int) -> TaskData:
    rng = np.random.default_rng(0)
    X = rng.uniform(0.01, 1.0, (800, 2))
    y = X[:, 0] * X[:, 1]
    y[np.argsort(y)[:n_bad]] *= -1  # what 1 % noise does to the smallest values
    data = Dataset(X, y, ("a", "b"), "y")
    spec = TaskSpec(name="near-t0", trial=0, seed=1, csv="near.csv", target="y", variables=("a", "b"))
    return TaskData(spec=spec, train=data.subset(np.arange(600)), test=data.subset(np.arange(600, 800)))


def test_a_few_nonpositive_targets_are_left_out_of_log_space_and_said():
    task = _near_zero_task(4)
    n_bad = int((task.train.y <= 0).sum())
    assert 0 < n_bad <= 6
    Transform.fit(task.train.X, task.train.y, ["a", "b"], "y")  # no error
    note = nonpositive_target_note(task.train.y, "near.csv")
    assert f"{n_bad} of 600 training targets are <= 0" in note and "leaves those rows out" in note
    result = Pipeline(params=TINY).run([task], RUNTIME)
    assert result.artifacts["weak_admm"][0].summary["nonpositive_targets_left_out"] == n_bad
    assert np.isfinite(result.rows[0]["r2_train"])  # the formula stages use every row, in raw units
    noisy = prepare_task(make_tasks(["I.32.5"], noise=0.01)[0], n_train=8000, n_test=10)
    assert (noisy.train.y <= 0).mean() > 0.03  # 1 % noise on values near zero
    Transform.fit(noisy.train.X, noisy.train.y, noisy.variables, noisy.train.target)  # left out, no error
    with pytest.raises(LiesError, match="column 'y' has 40 of 600 values <= 0"):  # -1 of 1: no noise
        Transform.fit(task.train.X, np.where(np.arange(600) < 40, -1.0, 1.0), ["a", "b"], "y")


def test_oversampling_from_rows_adds_only_given_rows():
    task = prepare_task(make_tasks(["I.12.1"])[0], n_train=400, n_test=100)
    given = {tuple(row) for row in task.train.X}
    added = {}
    for source in ("rows", "formula"):  # 3 retraining epochs: the round is accepted (120 points) either way
        params = {**TINY, "oversampling": {"max_iter": 1, "source": source, "retrain": {"epochs": 3}}}
        added[source] = Pipeline(params=params).run([task], RUNTIME).artifacts["oversampling"][0].added[0]
        assert added[source].n_samples == 120
    assert all(tuple(row) in given for row in added["rows"].X)
    assert not any(tuple(row) in given for row in added["formula"].X)  # new samples of the true formula


def test_lies_run_says_it_leaves_a_few_targets_out(tmp_path):
    import pandas as pd

    from lies.cli import check_run_data
    from lies.params import default_params

    rng = np.random.default_rng(0)
    X = rng.uniform(0.01, 1, (2000, 2))
    y = X[:, 0] * X[:, 1]
    y = y + rng.normal(0, 0.01 * np.sqrt(np.mean(y**2)), y.shape)  # 1 % noise: a few targets <= 0
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "y": y}).to_csv(tmp_path / "near.csv", index=False)
    params = default_params()
    params["tasks"].update(csv=str(tmp_path / "near.csv"), target="y")
    notes = check_run_data(params)
    left_out = [n for n in notes if "training targets are <= 0" in n and "leaves those rows out" in n]
    assert len(left_out) == 1 and any("fitting in log space (a few targets of the other sign" in n for n in notes)
