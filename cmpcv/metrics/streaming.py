"""Batch-by-batch evaluation whose memory does not grow with the masks, DDP-aware.

Each ``update`` counts its batch straight away (:func:`cmpcv.metrics.stats.count_samples`) and
keeps only the per-sample ground-truth area and the per-mask (intersection, area, score): a few
dozen bytes per mask instead of the mask. ``compute`` gathers those counts from every rank,
puts them in global sample order and scores them with the same code as ``evaluate_samples``.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np

from cmpcv.metrics.evaluation import PROTOCOLS, breakdown_stats, compute_metrics
from cmpcv.metrics.stats import MatchStats, count_samples


def _process_group():
    """``torch.distributed`` when a process group is initialised, else None.

    Looks in ``sys.modules`` first: a process that never imported torch cannot have a process
    group, and the metrics must not pay torch's import time for nothing.
    """
    if "torch" not in sys.modules:
        return None
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return dist
    return None


class StreamingEvaluator:
    """Accumulate ``update(gt_masks, predictions)`` per batch, then ``compute()``.

    Args:
        protocol: ``"mttr"`` or ``"cmpc"`` (see :func:`cmpcv.metrics.compute_metrics`).

    Ordering: samples are COCO images in *global* order, which matters only for score ties
    across samples. ``indices`` (dataset indices) give that order explicitly; without them the
    ``j``-th sample seen by rank ``r`` of ``W`` is global sample ``j * W + r``, the order of a
    non-shuffled ``DistributedSampler``. Samples repeated across ranks (the sampler pads the last
    round with copies of the first samples) are dropped after their first occurrence when they
    carry a ``sample_id`` or an index, so the result equals the single-process run.
    """

    def __init__(self, protocol: str = "mttr") -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")
        self.protocol = protocol
        self.reset()

    def reset(self) -> None:
        self._parts: list[MatchStats] = []
        self._ids: list[str | None] = []
        self._groups: list[str | None] = []
        self._indices: list[int | None] = []
        self._seen_ids: set[str] = set()

    def __len__(self) -> int:
        return len(self._ids)

    def update(
        self,
        gt_masks: Sequence,
        predictions: Sequence,
        sample_ids: Sequence[str] | None = None,
        groups: Sequence[str | None] | None = None,
        indices: Sequence[int] | None = None,
    ) -> None:
        """Count one batch.

        Args:
            gt_masks: ``B`` ground truths, each ``(H_b, W_b)`` bool/uint8 at the original size.
            predictions: ``B`` non-empty lists of ``(pred_mask, score)``, masks shaped like their
                ground truth.
            sample_ids: optional ``B`` ids (named in errors, used to drop DDP padding copies).
            groups: optional ``B`` group names for :meth:`compute_breakdown` (None = no group).
            indices: optional ``B`` global dataset indices (see the class docstring).
        """
        n = len(gt_masks)
        if len(predictions) != n:
            raise ValueError(f"update: {n} ground truths but {len(predictions)} prediction lists")
        stats = count_samples(zip(gt_masks, predictions), sample_ids)
        self.update_stats(stats, sample_ids=sample_ids, groups=groups, indices=indices)

    def update_stats(
        self,
        stats: MatchStats,
        sample_ids: Sequence[str] | None = None,
        groups: Sequence[str | None] | None = None,
        indices: Sequence[int] | None = None,
    ) -> None:
        """Add already counted samples (e.g. from RLEs with :func:`cmpcv.metrics.count_rle`)."""
        n = stats.num_samples
        for name, values in (("sample_ids", sample_ids), ("groups", groups), ("indices", indices)):
            if values is not None and len(values) != n:
                raise ValueError(f"update: {name} has {len(values)} entries for {n} samples")
        if sample_ids is not None:
            for sid in sample_ids:
                if sid in self._seen_ids:
                    raise ValueError(f"update: sample id {sid!r} was already added on this rank")
                self._seen_ids.add(sid)
        self._parts.append(stats)
        self._ids.extend(sample_ids if sample_ids is not None else [None] * n)
        self._groups.extend(groups if groups is not None else [None] * n)
        self._indices.extend([int(i) for i in indices] if indices is not None else [None] * n)

    def _local(self) -> dict:
        return {
            "stats": MatchStats.concatenate(self._parts),
            "ids": list(self._ids),
            "groups": list(self._groups),
            "indices": list(self._indices),
        }

    def gathered(self) -> tuple[MatchStats, list[str | None], list[str | None]]:
        """``(stats, sample_ids, groups)`` of every rank in global order, duplicates dropped."""
        local = self._local()
        dist = _process_group()
        if dist is None:
            parts, world = [local], 1
        else:
            world = dist.get_world_size()
            parts = [None] * world
            dist.all_gather_object(parts, local)
        keys, ranks, positions = [], [], []
        for rank, part in enumerate(parts):
            for j, index in enumerate(part["indices"]):
                keys.append(index if index is not None else j * world + rank)
                ranks.append(rank)
                positions.append(j)
        order = sorted(range(len(keys)), key=lambda k: (keys[k], ranks[k], positions[k]))
        seen_ids, seen_keys = set(), set()
        chosen: list[tuple[int, int]] = []
        ids, groups = [], []
        for k in order:
            part = parts[ranks[k]]
            sid = part["ids"][positions[k]]
            explicit = part["indices"][positions[k]] is not None
            if (sid is not None and sid in seen_ids) or (explicit and keys[k] in seen_keys):
                continue
            if sid is not None:
                seen_ids.add(sid)
            if explicit:
                seen_keys.add(keys[k])
            chosen.append((ranks[k], positions[k]))
            ids.append(sid)
            groups.append(part["groups"][positions[k]])
        # All ranks' samples one after the other, then picked in the chosen global order.
        offsets = np.cumsum([0] + [part["stats"].num_samples for part in parts])
        everything = MatchStats.concatenate([part["stats"] for part in parts])
        stats = everything.take(np.asarray([offsets[r] + j for r, j in chosen], np.int64))
        return stats, ids, groups

    def compute(self) -> dict[str, float]:
        """The metrics of every sample added on every rank (equal to ``evaluate_samples``).

        Under DDP this is a collective: call it on every rank (each gets the same result)."""
        stats, _, _ = self.gathered()
        return compute_metrics(stats, self.protocol)

    def compute_breakdown(self) -> dict[str, dict[str, float]]:
        """``{group: metrics}`` over the samples that were given a group."""
        stats, _, groups = self.gathered()
        return breakdown_stats(stats, groups, self.protocol)
