"""Where every random number of a task comes from: one seed per task (`task_seed`), split by purpose.

A task's samples come from its seed itself (`sampling_rng`), the SRBench noise on its training target from a
stream of its own (`noise_rng`), and each random draw of the pipeline names its purpose and, for the training and pruning stages, the restart it
belongs to; the three together seed a `numpy.random.SeedSequence`. Streams of different purposes never overlap, a
stage added later takes a new purpose without moving anyone else's numbers, and restart 0 keeps the seeds of a
single-restart run (the restart is only mixed in from 1 on).

The purposes' numbers are part of the results: changing one changes every formula that draws from it.
"""

from __future__ import annotations

import zlib
from enum import IntEnum

import numpy as np
import torch


def task_seed(base_seed: int, trial: int, source: str) -> int:
    """A 31-bit seed from (base seed, trial, source name: a Feynman id or "data"): one per task and trial."""
    seq = np.random.SeedSequence([base_seed, trial, zlib.crc32(source.encode())])
    return int(seq.generate_state(1)[0] & 0x7FFFFFFF)


def sampling_rng(seed: int) -> np.random.Generator:
    """A task's samples: its training rows, then its test rows (a CSV: the train/test split)."""
    return np.random.default_rng(seed)


def noise_rng(seed: int) -> np.random.Generator:
    """SRBench's noise on a task's training target, apart from the sampling stream (the noiseless rows stay the
    same rows). Its seed material, ``[seed, 7, 0]``, is older than the purposes below and is kept as it is: it
    never meets `Purpose.MOTIFS`'s stream, whose material is ``[seed, 7]``."""
    return np.random.default_rng([seed, 7, 0])


class Purpose(IntEnum):
    """What a stream of random numbers is for (the value is the seed material: never renumber)."""

    INITIALISATION = 1  # weak_admm: the networks' initial weights and gates
    WEAK_ADMM = 2  # weak_admm: mini-batch order
    OVERSAMPLING_ROWS = 3  # oversampling: new points (numpy)
    OVERSAMPLING_TRAINING = 4  # oversampling: the weak ADMM that retrains after each round
    STRONG_ADMM = 5  # strong_admm: mini-batch order
    PRUNING = 6  # gradient_pruning and node_pruning: the rows Theorem 2 and the refits see
    MOTIFS = 7  # node_pruning: the rows the exp-log motif scan fits (lies.training.motifs)
    DECOMPOSITION = 8  # decomposition: the four-point tests and the validation rows (lies.symbolic.separability)
    STRUCTURE_SEARCH = 9  # structure_search: the rows it fits and the validation rows (lies.symbolic.search)
    SURROGATE = 10  # decomposition: the dense surrogate's initial weights and mini-batches (lies.networks.surrogate)
    TRANSLATION = 11  # decomposition: the shifts of the translation tests (lies.symbolic.translation)


def entropy(seed: int, purpose: Purpose, restart: int = 0) -> list[int]:
    """Seed material of one purpose of one task's restart."""
    return [seed, int(purpose)] + ([restart] if restart else [])


def generator(seed: int, purpose: Purpose, restart: int = 0) -> torch.Generator:
    """A torch generator (CPU) for one purpose of one task's restart."""
    state = np.random.SeedSequence(entropy(seed, purpose, restart)).generate_state(1)
    return torch.Generator().manual_seed(int(state[0]))


def rng(seed: int, purpose: Purpose, restart: int = 0) -> np.random.Generator:
    """A numpy generator for one purpose of one task's restart."""
    return np.random.default_rng(entropy(seed, purpose, restart))


# ------------------------------------------------------------------------------------------------ rows
# Every random choice of rows goes through one of these three: a mini-batch order, a subset for torch code, a
# subset for numpy code. Each draws exactly what it did before it moved here (the formulas depend on it).


def data_order(generators: torch.Generator | list[torch.Generator] | None, n_models: int,
               n_samples: int) -> torch.Tensor:
    """One random permutation of the samples per model, (M, N): the mini-batch order of one epoch."""
    if generators is None or isinstance(generators, torch.Generator):
        return torch.argsort(torch.rand(n_models, n_samples, generator=generators), dim=1)
    if len(generators) != n_models:
        raise ValueError(f"{len(generators)} generators for {n_models} models")
    return torch.stack([torch.randperm(n_samples, generator=g) for g in generators])


def row_subset(n: int, max_rows: int, generator: torch.Generator | None = None) -> torch.Tensor | None:
    """Indices of a random subset of ``max_rows`` of ``n`` rows (one draw from ``generator``), or None when all
    ``n`` rows are used (no draw)."""
    if n <= max_rows:
        return None
    return torch.randperm(n, generator=generator)[:max_rows]


def sorted_row_subset(n: int, max_rows: int, seed: int) -> np.ndarray | None:
    """Sorted indices of a uniform subset without replacement of ``max_rows`` of ``n`` rows, from ``seed`` alone
    (numpy), or None when all ``n`` rows are used."""
    if n <= max_rows:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))
