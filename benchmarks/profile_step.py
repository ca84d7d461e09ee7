"""Cost of one optimiser step of `lies.training.admm.train_admm`: microseconds, operators and host synchronisations.

Two trainings that differ only in their number of steps (one epoch each) are profiled with torch.profiler; their
difference divided by the extra steps is the cost of a step, free of the once-per-epoch work (the data order, the
ADMM update, the history). Operators are the aten calls made by the Python code and by autograd's backward, not
the calls they make inside themselves. A host synchronisation is an operator that, on CUDA, waits for the device:
reading a value (``.item()``, ``float()``, ``bool()``: ``aten::_local_scalar_dense``), a boolean index or
``nonzero`` (the size of the result is on the device), or a tensor made from host data (``aten::lift_fresh``: a
Python list as an index is copied to the device and waited for). On CUDA torch's own sync debug mode counts too.

    python benchmarks/profile_step.py                  # CPU
    python benchmarks/profile_step.py --device cuda
"""

import argparse
import time
import warnings

import torch
from torch.profiler import ProfilerActivity, profile

from lies.networks.lies import LiesNetwork
from lies.params import AdmmParams
from lies.training.admm import train_admm

#: Operators that make the host wait for the device (see the module's docstring).
SYNCING = ("aten::_local_scalar_dense", "aten::nonzero", "aten::lift_fresh")


def top_level_ops(events) -> list[str]:
    """Names of the aten operators not called from inside another aten operator."""
    names = []
    for e in events:
        if not e.name.startswith("aten::"):
            continue
        parent = e.cpu_parent
        while parent is not None and not parent.name.startswith("aten::"):
            parent = parent.cpu_parent
        if parent is None:
            names.append(e.name)
    return names


def train(n_steps: int, args, device: torch.device) -> None:
    """One epoch of ``n_steps`` steps on a batch of ``args.models`` networks of ``args.inputs`` inputs."""
    g = torch.Generator().manual_seed(0)
    net = LiesNetwork(args.inputs, args.models, generator=g).to(device)
    n = n_steps * args.batch
    x = torch.rand(args.models, n, args.inputs + 1, generator=g) + 0.5
    x[..., -1] = 1.0
    y = x[..., :-1].log().sum(-1)
    gens = [torch.Generator().manual_seed(m) for m in range(args.models)]
    train_admm(net, x.to(device), y.to(device), AdmmParams(epochs=1, batch_size=args.batch), generators=gens)


def measure(n_steps: int, args, device: torch.device) -> tuple[float, float, list[str], int]:
    """(wall seconds, CPU seconds of this process, top-level operators, CUDA sync warnings) of one training."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with warnings.catch_warnings(record=True) as caught, profile(activities=activities) as prof:
        warnings.simplefilter("always")
        if device.type == "cuda":
            torch.cuda.set_sync_debug_mode("warn")
        start, cpu = time.perf_counter(), time.process_time()
        train(n_steps, args, device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        if device.type == "cuda":
            torch.cuda.set_sync_debug_mode("default")
    syncs = sum("synchroniz" in str(w.message) for w in caught)
    return wall, cpu, top_level_ops(prof.events()), syncs


def timed(n_steps: int, args, device: torch.device) -> tuple[float, float]:
    """Best of ``args.repeat`` (wall, CPU) seconds of an unprofiled training: the least disturbed by other load."""
    best = (float("inf"), float("inf"))
    for _ in range(args.repeat):
        start, cpu = time.perf_counter(), time.process_time()
        train(n_steps, args, device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - start, time.process_time() - cpu))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", type=int, default=12, help="networks trained together (restarts x tasks)")
    parser.add_argument("--inputs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20, help="the extra steps of the longer training")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the pipeline's default: 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    train(2, args, device)  # warm-up: first calls, allocator, kernels
    short, long = measure(2, args, device), measure(2 + args.steps, args, device)
    ops = (len(long[2]) - len(short[2])) / args.steps
    syncs = (sum(n in SYNCING for n in long[2]) - sum(n in SYNCING for n in short[2])) / args.steps
    cuda_syncs = (long[3] - short[3]) / args.steps
    (w0, c0), (w1, c1) = timed(2, args, device), timed(2 + args.steps, args, device)
    print(f"device {device}, {args.models} models x {args.inputs} inputs, batch {args.batch}, torch "
          f"{torch.__version__}, {args.threads} thread(s)")
    print(f"per step: {1e6 * (w1 - w0) / args.steps:.0f} us wall, {1e6 * (c1 - c0) / args.steps:.0f} us CPU; "
          f"{ops:.1f} operators; {syncs:.2f} host syncs"
          + (f" ({cuda_syncs:.2f} by torch's CUDA sync debug mode)" if device.type == "cuda" else ""))
    per_name: dict[str, float] = {}
    for name in long[2]:
        per_name[name] = per_name.get(name, 0) + 1
    for name in short[2]:
        per_name[name] = per_name.get(name, 0) - 1
    top = sorted(per_name.items(), key=lambda kv: -kv[1])[:8]
    print("most frequent per step: " + ", ".join(f"{k[6:]} {v / args.steps:.1f}" for k, v in top if v > 0))


if __name__ == "__main__":
    main()
