"""Data loading for training and inference: a resumable, rank-sharded sample order and
per-sample seeding.

Workers end with the process that started them, even after a ``kill -9``
(:mod:`cmpcv.engine.workers`).

Exact resume needs two things from the input pipeline:

1. **The order.** :class:`ResumableSampler` is a ``DistributedSampler`` (same shuffle: a
   permutation seeded by ``seed + epoch``, independent of the number of ranks, so one process with
   global batch ``B`` sees the same samples per step as ``N`` processes with ``B / N`` each) that can
   start in the middle of an epoch.
2. **Any randomness inside** ``ds[i]`` (augmentation, the ``skip`` error policy). :class:`EpochSeeded`
   seeds python/numpy/torch-CPU from ``(seed, epoch, index)`` around each ``ds[i]`` and restores
   the previous states afterwards, so a sample's randomness depends neither on the worker that
   loads it nor on where the run was resumed, and the main process's generators are untouched
   when ``num_workers=0``.
"""

from __future__ import annotations

import random
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from cmpcv.engine.workers import WorkerInit


class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` (drop_last) yielding ``(epoch, index)`` pairs, from sample
    ``start`` of this rank's share of the epoch (see :meth:`set_position`)."""

    def __init__(
        self, dataset: Dataset, *, num_replicas: int = 1, rank: int = 0, shuffle: bool = True, seed: int = 0
    ) -> None:
        super().__init__(
            dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=True
        )
        self.start = 0

    def set_position(self, epoch: int, start: int) -> None:
        """Epoch ``epoch``, skipping the first ``start`` samples of this rank's share."""
        self.set_epoch(epoch)
        self.start = int(start)

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        indices = list(super().__iter__())
        return iter([(self.epoch, i) for i in indices[self.start :]])

    def __len__(self) -> int:
        return max(0, self.num_samples - self.start)


class ShardSampler(Sampler[int]):
    """Evaluation order: ``range(n)[rank::world]`` without padding, so no sample is scored twice
    (``DistributedSampler`` would repeat samples to even the shards out)."""

    def __init__(self, n: int, *, rank: int = 0, world_size: int = 1) -> None:
        self.indices = list(range(rank, n, world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class EpochSeeded(Dataset):
    """Wrap ``dataset`` so that item ``(epoch, i)`` is ``dataset[i]`` computed under generators
    seeded from ``(seed, epoch, i)``."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset = dataset
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        epoch, index = key
        if hasattr(self.dataset, "set_epoch") and getattr(self.dataset, "epoch", None) != epoch:
            # Datasets that draw augmentation from (seed, epoch, index) themselves (the referring
            # readers' flips) learn the epoch here, in whichever worker process loads the item.
            self.dataset.set_epoch(epoch)
        # A fixed mixing of the three numbers into 63 bits; any injective-enough map would do.
        s = (self.seed * 1_000_003 + epoch) * 1_000_033 + index
        s &= (1 << 63) - 1
        py, npst, th = random.getstate(), np.random.get_state(), torch.get_rng_state()
        try:
            random.seed(s)
            np.random.seed(s % (1 << 32))
            torch.default_generator.manual_seed(s)  # CPU only: never reseeds CUDA generators
            return self.dataset[index]
        finally:
            random.setstate(py)
            np.random.set_state(npst)
            torch.set_rng_state(th)


def train_loader(
    dataset: Dataset,
    *,
    collate_fn: Callable[[Sequence[Any]], Any],
    batch_size: int,
    seed: int,
    rank: int = 0,
    world_size: int = 1,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> tuple[DataLoader, ResumableSampler]:
    """Loader of full batches (``drop_last``) in the resumable order. Call
    ``sampler.set_position(epoch, start)`` before iterating each epoch."""
    sampler = ResumableSampler(dataset, num_replicas=world_size, rank=rank, seed=seed)
    if len(sampler) < batch_size:
        raise ValueError(
            f"training set has {sampler.total_size} usable samples ({sampler.num_samples} per rank), "
            f"fewer than one batch of {batch_size}"
        )
    # A dedicated generator for the workers' base seed: without it the DataLoader draws that seed
    # from the global torch generator, which would shift the model's random stream after a resume.
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(
        EpochSeeded(dataset, seed),
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=collate_fn,
        num_workers=num_workers,
        pin_memory=pin_memory,
        drop_last=True,
        generator=generator,
        # Workers end with this process, even after a kill -9 (engine/workers.py).
        worker_init_fn=WorkerInit() if num_workers > 0 else None,
        # Workers live across epochs: a dataset that keeps decoded clips in memory
        # (``keep_decoded``) keeps them, and no epoch pays the workers' start-up again.
        persistent_workers=num_workers > 0,
    )
    return loader, sampler


def eval_loader(
    dataset: Dataset,
    *,
    collate_fn: Callable[[Sequence[Any]], Any],
    batch_size: int,
    rank: int = 0,
    world_size: int = 1,
    num_workers: int = 0,
    indices: Sequence[int] | None = None,
) -> DataLoader:
    """Loader over ``dataset`` (or its ``indices``) in order, sharded across ranks without
    repeats."""
    if indices is not None:
        dataset = torch.utils.data.Subset(dataset, list(indices))
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=ShardSampler(len(dataset), rank=rank, world_size=world_size),  # type: ignore[arg-type]
        collate_fn=collate_fn,
        num_workers=num_workers,
        drop_last=False,
        worker_init_fn=WorkerInit() if num_workers > 0 else None,
    )


def spread_indices(n: int, k: int | None) -> list[int] | None:
    """``k`` indices spread evenly over ``range(n)`` (a fixed validation subset), None for all."""
    if k is None or k <= 0 or k >= n:
        return None
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, k)})
