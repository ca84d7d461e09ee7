"""How the stages' work runs: models batched into chunks, chunks and tasks fanned out, threads, progress bars.

Two shapes of work:

* `by_model` — training and Algorithm 1. Restart r of task i is the model ``(i, r)``; models that can share one
  batched network (same size, same config: the caller's ``key``) are grouped, each group is cut into ``n_jobs``
  chunks, and every chunk trains as one batched network (`lies.networks.lies`'s model axis).
* `map_tasks` — everything else: one call per task (pruning, the formula stages, evaluation).

Both fan out over ``runtime.n_jobs`` CPU processes (joblib's loky, or the workers of a Dask cluster with
``runtime.backend: dask``), one torch thread each, when the work runs on the CPU; on a GPU they run in this
process, which feeds the device best. Worker processes exit with the process that started them
(`call_in_worker`). Nothing here changes a result: the chunking depends on ``n_jobs`` alone, never on the
backend or on timing, and a model trains alike in a chunk of any size (`lies.networks.lies.output_unit`).
"""

from __future__ import annotations

import math
import os
import threading
import time
from typing import Any, Callable, Sequence

import torch

from lies.core.errors import LiesError
from lies.params import RuntimeParams


# ------------------------------------------------------------------------------------------------ models
def groups(keys: Sequence, n_chunks: int) -> list[list[int]]:
    """Indices grouped by key (models that can share a batched network), each group split into ``n_chunks``."""
    by_key: dict = {}
    for i, k in enumerate(keys):
        by_key.setdefault(k, []).append(i)
    chunks = []
    for group in by_key.values():
        size = math.ceil(len(group) / max(1, min(n_chunks, len(group))))
        chunks.extend(group[i : i + size] for i in range(0, len(group), size))
    return chunks


def by_model(n_models: Sequence[int], key: Callable[[int, int], Any], work: Callable, runtime: RuntimeParams,
             device: torch.device, desc: str = "") -> tuple[dict, list[float]]:
    """Run ``work(models)`` on chunks of models and gather the results per model.

    ``n_models[i]``: how many restarts task i has; models with equal ``key(i, r)`` share a chunk. ``work`` gets a
    list of ``(i, r)`` and returns the trained batched network of its chunk and one payload per model. Returns
    ``(i, r) -> (network of that model alone, payload)`` and, per task, the seconds its models took (each chunk's
    time shared out over its models).
    """
    models = [(i, r) for i, n in enumerate(n_models) for r in range(n)]
    chunks = groups([key(i, r) for i, r in models], runtime.n_jobs if device.type == "cpu" else 1)

    def run_chunk(chunk):
        start = time.perf_counter()
        net, payloads = work([models[k] for k in chunk])
        return chunk, net.cpu(), payloads, time.perf_counter() - start

    done: dict[tuple[int, int], tuple] = {}
    seconds = [0.0] * len(n_models)
    jobs = [(c,) for c in chunks]
    for chunk, net, payloads, chunk_seconds in map_tasks(run_chunk, jobs, runtime, device, desc=desc, unit="model",
                                                         sizes=[len(c) for c in chunks]):
        for j, k in enumerate(chunk):
            done[models[k]] = (net.select([j]), payloads[j])
            seconds[models[k][0]] += chunk_seconds / len(chunk)
    return done, seconds


# ------------------------------------------------------------------------------------------------ tasks
def map_tasks(fn: Callable, jobs: list[tuple], runtime: RuntimeParams, device: torch.device, desc: str = "",
              unit: str = "task", sizes: Sequence[int] | None = None,
              postfix: Callable[[list], str] | None = None) -> list:
    """``fn(*job)`` for every job, in order: fanned out over ``runtime.n_jobs`` joblib workers (loky processes or
    Dask workers; ``runtime.torch_threads`` torch threads each) when the work runs on the CPU, else in this
    process. A progress bar counts ``sizes[k]`` units per finished job and shows ``postfix(results so far)``."""
    bar = progress(sum(sizes) if sizes is not None else len(jobs), runtime, desc, unit)
    out: list = []
    if device.type != "cpu" or runtime.n_jobs == 1 or len(jobs) == 1:
        # tiny matrices: more threads only add overhead (two threads made one-task runs 10-30x slower here)
        torch.set_num_threads(runtime.torch_threads)
        results = (fn(*job) for job in jobs)
    else:
        from joblib import Parallel, delayed

        n_jobs = min(runtime.n_jobs, len(jobs))
        results = _with_backend(runtime, lambda: Parallel(n_jobs=n_jobs, return_as="generator")(  # backend: here
            delayed(call_in_worker)(os.getpid(), _with_threads, fn, job, runtime.torch_threads) for job in jobs))
    with bar:
        for k, result in enumerate(results):
            out.append(result)
            bar.update(sizes[k] if sizes is not None else 1)
            if postfix is not None:
                bar.set_postfix_str(postfix(out), refresh=False)
    return out


def progress(total: int, runtime: RuntimeParams, desc: str = "", unit: str = "task"):
    """A tqdm bar on stderr, shown only on a terminal and when ``runtime.progress`` (``-q`` turns it off)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=None if runtime.progress else True, leave=False,
                dynamic_ncols=True)


def _with_threads(fn, job, threads: int):
    torch.set_num_threads(threads)
    return fn(*job)


# ------------------------------------------------------------------------------------------------ backends
def _with_backend(runtime: RuntimeParams, start: Callable):
    """Run ``start()`` (a joblib call; `Parallel` takes its backend when it is made, so make it in there) under the
    runtime's backend and yield its results; loky and Dask share every line of the fan-out but this one (joblib's
    Dask backend sends each job to a worker of the cluster)."""
    from joblib import parallel_config

    if runtime.backend == "dask":
        config = parallel_config(backend="dask", client=dask_client(runtime.scheduler))
    else:
        config = parallel_config(backend="loky")
    with config:
        yield from start()


_CLIENTS: dict = {}

#: Seconds `check_scheduler` waits for a TCP connection to the scheduler.
CONNECT_SECONDS = 3.0


def check_scheduler(runtime: RuntimeParams, timeout: float = CONNECT_SECONDS) -> None:
    """With a Dask scheduler address, check that it accepts a connection, in seconds and before anything is
    written: `dask_client` would wait 30 s and fail only when the first stage fans out, mid-run."""
    import socket

    from lies.params import scheduler_host_port

    if runtime.backend != "dask" or runtime.scheduler is None:
        return
    host, port = scheduler_host_port(runtime.scheduler)  # checked by RuntimeParams already
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        why = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__)
        raise LiesError(f"runtime.scheduler: cannot reach the Dask scheduler at {runtime.scheduler}: {why} (connect "
                        f"timeout {timeout:g} s); start it (dask scheduler) or fix the address") from None


def dask_client(scheduler: str | None):
    """A `distributed.Client` for ``scheduler`` (``tcp://host:port``), or, for None, for a `LocalCluster` of one
    single-threaded worker process per CPU core, started once per process and reused by every stage."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise LiesError("runtime.backend: dask needs dask.distributed (pip install 'lies[dask]')") from None
    if scheduler not in _CLIENTS:
        if scheduler is None:
            cluster = LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            _CLIENTS[None] = Client(cluster)
        else:
            try:
                _CLIENTS[scheduler] = Client(scheduler, timeout=30)
            except OSError as exc:
                raise LiesError(f"runtime.scheduler: cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    return _CLIENTS[scheduler]


# ------------------------------------------------------------------------------------------------ workers
#: Seconds between two looks at the parent.
POLL_SECONDS = 0.5

_watched: set[int] = set()


def exit_with_parent(parent: int) -> None:
    """In a process whose parent is ``parent``, start (once) a daemon thread that exits the process when the
    parent dies. In ``parent`` itself (work run in-process) it does nothing.

    joblib's loky workers outlive a parent killed by SIGKILL (or the OOM killer): the busy ones finish their job and
    all of them idle for minutes before loky's timeout, holding memory and cores."""
    if os.getpid() == parent or parent in _watched or os.getppid() != parent:
        return
    _watched.add(parent)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(POLL_SECONDS)
        os._exit(1)  # no cleanup to wait for: the results have nobody to go to

    threading.Thread(target=watch, name="lies-exit-with-parent", daemon=True).start()


def call_in_worker(parent: int, fn: Callable, *args: Any) -> Any:
    """``fn(*args)`` in a joblib worker that exits with ``parent`` (pass ``os.getpid()`` of the caller)."""
    exit_with_parent(parent)
    return fn(*args)
