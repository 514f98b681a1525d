"""Data loading for training and inference: a resumable, rank-sharded sample order and
per-sample seeding.

Workers end with the process that started them, even after a ``kill -9``
(:mod:`cmpcv.engine.workers`). A sample whose files cannot be read (a corrupt video, under the
dataset's ``on_error=raise``) reaches the main process as its
:class:`~cmpcv.data.errors.DataError` (:class:`LoadFailure`, :func:`raise_load_failure`), one line
naming the file and the sample, not as the worker's traceback inside a ``RuntimeError``.

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

from cmpcv.data.errors import DataError
from cmpcv.engine.workers import WorkerInit


class LoadFailure:
    """A sample that raised :class:`DataError`, handed from a worker to the main process as data:
    an exception raised inside a worker is re-raised there as a ``RuntimeError`` holding the
    worker's traceback as text."""

    def __init__(self, exc: DataError) -> None:
        self.path, self.reason, self.sample = exc.path, exc.reason, exc.sample

    def error(self) -> DataError:
        return DataError(self.path, self.reason, sample=self.sample)


class CatchDataErrors(Dataset):
    """``dataset[i]``, or a :class:`LoadFailure` where it raises :class:`DataError`."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: Any) -> Any:
        try:
            return self.dataset[key]
        except DataError as exc:
            return LoadFailure(exc)


class FailureAwareCollate:
    """``collate_fn`` of the samples, or ``{"load_failure": LoadFailure}`` when one failed."""

    def __init__(self, collate_fn: Callable[[Sequence[Any]], Any]) -> None:
        self.collate_fn = collate_fn

    def __call__(self, items: Sequence[Any]) -> Any:
        for item in items:
            if isinstance(item, LoadFailure):
                return {"load_failure": item}
        return self.collate_fn(items)


def raise_load_failure(batch: Any) -> None:
    """Raise the :class:`DataError` of a batch that :class:`FailureAwareCollate` marked."""
    if isinstance(batch, dict) and "load_failure" in batch:
        raise batch["load_failure"].error()


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
        CatchDataErrors(EpochSeeded(dataset, seed)),
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=FailureAwareCollate(collate_fn),
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


def frame_groups(dataset: Any, indices: Sequence[int] | None = None) -> list[list[int]] | None:
    """Positions in ``dataset`` (or in its ``indices`` subset) grouped by annotated frame
    ``(video_id, frame_idx)``, the groups in order of first appearance; None when the dataset
    cannot name a sample's frame without loading it (no ``sample_meta``)."""
    meta = getattr(dataset, "sample_meta", None)
    if meta is None:
        return None
    groups: dict[tuple, list[int]] = {}
    for pos, i in enumerate(indices if indices is not None else range(len(dataset))):
        m = meta(i)
        groups.setdefault((m["video_id"], m["frame_idx"]), []).append(pos)
    return list(groups.values())


class GroupedShardSampler(Sampler[list[int]]):
    """Evaluation batches that keep the samples of one annotated frame together (so their
    sentences share one pass of the clip), this rank's share of the groups (``groups[rank::world]``),
    packed into batches of at most ``batch_size`` samples; a group larger than a batch is split."""

    def __init__(self, groups: Sequence[Sequence[int]], batch_size: int, *, rank: int = 0, world_size: int = 1) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batches: list[list[int]] = []
        current: list[int] = []
        for group in list(groups)[rank::world_size]:
            for k in range(0, len(group), batch_size):
                chunk = list(group[k : k + batch_size])
                if len(current) + len(chunk) > batch_size:
                    self.batches.append(current)
                    current = []
                current += chunk
        if current:
            self.batches.append(current)

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def eval_loader(
    dataset: Dataset,
    *,
    collate_fn: Callable[[Sequence[Any]], Any],
    batch_size: int,
    rank: int = 0,
    world_size: int = 1,
    num_workers: int = 0,
    indices: Sequence[int] | None = None,
    group_frames: bool = True,
) -> DataLoader:
    """Loader over ``dataset`` (or its ``indices``), sharded across ranks without repeats.

    ``group_frames``: when the dataset names each sample's annotated frame (``sample_meta``), the
    samples of one frame come in one batch (:class:`GroupedShardSampler`), so that
    :func:`cmpcv.engine.inference.evaluate` runs their clip once for all their sentences; results
    are stored by sample order, so they do not depend on the batching. Otherwise: dataset order.
    """
    groups = frame_groups(dataset, indices) if group_frames else None
    if indices is not None:
        dataset = torch.utils.data.Subset(dataset, list(indices))
    common = {"collate_fn": FailureAwareCollate(collate_fn), "num_workers": num_workers,
              "worker_init_fn": WorkerInit() if num_workers > 0 else None}
    if groups is not None:
        batches = GroupedShardSampler(groups, batch_size, rank=rank, world_size=world_size)
        return DataLoader(CatchDataErrors(dataset), batch_sampler=batches, **common)
    return DataLoader(
        CatchDataErrors(dataset),
        batch_size=batch_size,
        sampler=ShardSampler(len(dataset), rank=rank, world_size=world_size),  # type: ignore[arg-type]
        drop_last=False,
        **common,
    )


def spread_indices(n: int, k: int | None) -> list[int] | None:
    """``k`` indices spread evenly over ``range(n)`` (a fixed validation subset), None for all."""
    if k is None or k <= 0 or k >= n:
        return None
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, k)})


def warn_long_sentences(dataset: Any, max_words: int, what: str) -> int:
    """Log a warning when sentences of ``dataset`` (one that names its samples' queries,
    ``sample_meta(i)["query"]``) have more words than the model reads (``trainer.max_words``):
    they are cut, which the user should know. Returns how many are."""
    import logging

    from cmpcv.data.text import tokenize

    if not hasattr(dataset, "sample_meta"):
        return 0
    long = []
    for i in range(len(dataset)):
        n = len(tokenize(dataset.sample_meta(i)["query"], None))
        if n > max_words:
            long.append((n, i))
    if long:
        n, i = max(long)
        name = dataset.sample_id(i) if hasattr(dataset, "sample_id") else str(i)
        logging.getLogger(__name__).warning(
            "%s: %d of %d sentences have more than %d words (the longest, sample %s, has %d); the model reads "
            "the first %d of each (trainer.max_words)", what, len(long), len(dataset), max_words, name, n, max_words)
    return len(long)
