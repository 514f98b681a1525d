"""Samples to batches: the collate function and deterministic DataLoader settings.

:class:`ReferringCollator` stacks the sample dicts of ``docs/architecture.md`` into the batch dict
(``frames (B, T, 3, H, W)``, ``tokens (B, L)``, ``token_mask (B, L)``, ``target (B, H, W)`` and
per-sample lists). It is a plain picklable object, so it works in DataLoader workers.

Determinism: :func:`build_dataloader` gives the loader a seeded generator (so the per-worker
seeds are fixed) and, under ``torch.distributed``, a ``DistributedSampler`` with the same seed;
:func:`seed_worker` derives ``random``/``numpy`` seeds from torch's per-worker seed. Call
:func:`set_epoch` at the start of every epoch.
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from cmpcv.data.referring import Skipped
from cmpcv.data.text import PAD_ID, UNK_ID, Vocabulary, tokenize
from cmpcv.data.transforms import pad_geometry

_LIST_KEYS = ("mask", "query", "sample_id", "video_id", "frame_idx", "instance_id", "geometry")


class ReferringCollator:
    """Collate referring samples; words are left-aligned, padded with ``<pad>`` = 0.

    Frames of different sizes (short-side resizing) are zero-padded at the bottom/right to the
    largest in the batch, and each sample's ``geometry`` is updated to match. Dropped samples
    (:class:`~cmpcv.data.referring.Skipped`) are removed and their ids, with those a substitute
    stands in for, listed in ``batch["skipped"]``. If every sample was dropped, ``frames``,
    ``tokens``, ``token_mask`` and ``target`` are None and ``batch_size`` is 0.
    """

    def __init__(self, vocab: Vocabulary, max_words: int = 20) -> None:
        self.vocab = vocab
        self.max_words = int(max_words)

    def encode(self, queries: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """``tokens (B, L)`` int64 and ``token_mask (B, L)`` bool for a list of sentences."""
        # An empty sentence still gets one <unk>, so no sample has zero words to attend to.
        ids = [self.vocab.encode(tokenize(q, self.max_words)) or [UNK_ID] for q in queries]
        length = max((len(x) for x in ids), default=1)
        tokens = torch.full((len(ids), length), PAD_ID, dtype=torch.int64)
        for b, x in enumerate(ids):
            tokens[b, : len(x)] = torch.tensor(x, dtype=torch.int64)
        mask = torch.arange(length)[None, :] < torch.tensor([len(x) for x in ids])[:, None]
        return tokens, mask

    def __call__(self, items: Sequence[dict[str, Any] | Skipped]) -> dict[str, Any]:
        skipped = [s.sample_id for s in items if isinstance(s, Skipped)]
        items = [s for s in items if not isinstance(s, Skipped)]
        for s in items:
            skipped.extend(s.get("skipped", ()))
        batch: dict[str, Any] = {"batch_size": len(items), "skipped": skipped}
        batch.update({k: [s[k] for s in items] for k in _LIST_KEYS})
        if not items:
            batch.update(frames=None, tokens=None, token_mask=None, target=None)
            return batch
        H = max(s["frames"].shape[-2] for s in items)
        W = max(s["frames"].shape[-1] for s in items)
        frames, targets, geometries = [], [], []
        for s in items:
            ph, pw = H - s["frames"].shape[-2], W - s["frames"].shape[-1]
            frames.append(F.pad(s["frames"], (0, pw, 0, ph)) if ph or pw else s["frames"])
            targets.append(F.pad(s["target"], (0, pw, 0, ph)) if (ph or pw) and s["target"] is not None
                           else s["target"])
            geometries.append(pad_geometry(s["geometry"], (H, W)) if ph or pw else s["geometry"])
        batch["frames"] = torch.stack(frames)
        missing = sum(t is None for t in targets)
        if missing not in (0, len(targets)):
            raise ValueError(f"{missing} of {len(targets)} samples have no target: a batch mixes samples with and "
                             f"without ground truth ({batch['sample_id'][0]!r}, ...)")
        # Splits without public ground truth (server-scored) have no target.
        batch["target"] = None if missing else torch.stack(targets)
        batch["geometry"] = geometries
        batch["tokens"], batch["token_mask"] = self.encode(batch["query"])
        return batch

    def __repr__(self) -> str:
        return f"ReferringCollator(vocab={self.vocab!r}, max_words={self.max_words})"


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed ``random`` and ``numpy`` from torch's per-worker seed.

    torch seeds each worker with ``base_seed + worker_id`` (``base_seed`` drawn from the loader's
    generator); numpy and ``random`` would otherwise start from copies of the parent's state.
    """
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def build_dataloader(dataset: Dataset, collate_fn: ReferringCollator, *, batch_size: int = 1,
                     shuffle: bool = False, num_workers: int = 0, seed: int = 0, drop_last: bool = False,
                     distributed: bool | None = None, pin_memory: bool = False) -> DataLoader:
    """A DataLoader that gives the same batches for the same ``seed``, with or without workers.

    ``distributed=None`` uses a ``DistributedSampler`` when ``torch.distributed`` is initialised
    (each rank then sees its own shard; shuffling is done by the sampler with ``seed``).
    """
    if distributed is None:
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    sampler = DistributedSampler(dataset, shuffle=shuffle, seed=seed, drop_last=drop_last) if distributed else None
    rank = torch.distributed.get_rank() if distributed else 0
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
                        num_workers=num_workers, collate_fn=collate_fn, drop_last=drop_last, pin_memory=pin_memory,
                        worker_init_fn=seed_worker, generator=torch.Generator().manual_seed(seed + rank),
                        persistent_workers=False)
    loader.cmpcv_seed = seed + rank  # read by set_epoch
    return loader


def set_epoch(loader: DataLoader, epoch: int) -> None:
    """Tell the sampler and the dataset (augmentation draw) which epoch starts."""
    if isinstance(loader.sampler, DistributedSampler):
        loader.sampler.set_epoch(epoch)
    if hasattr(loader.dataset, "set_epoch"):
        loader.dataset.set_epoch(epoch)
    if loader.generator is not None and hasattr(loader, "cmpcv_seed"):
        # Reseeding per epoch makes epoch e's order (and worker seeds) independent of the epochs
        # before it, so a run resumed at epoch e sees the same batches as an uninterrupted one.
        loader.generator.manual_seed(loader.cmpcv_seed + 1_000_003 * epoch)
