"""Per-prediction match statistics: everything both protocols need, without the masks.

Every referring sample has exactly one ground truth, so a scored mask is fully described, for
every metric of both protocols, by four numbers: the intersection ``I`` with the ground truth, its
own area ``A``, its score, and the ground-truth area ``G`` of its sample (``U = A + G - I``).
:class:`MatchStats` holds those numbers for a whole evaluation set; the metric functions
(:mod:`cmpcv.metrics.iou`, :mod:`cmpcv.metrics.coco_ap`) work on it alone. This is what makes the
evaluator fast (one intersection count per scored mask) and lets the streaming evaluator forget
the dense masks as soon as a batch is counted.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MatchStats:
    """Counts for ``N`` samples carrying ``P`` scored masks in total.

    Attributes:
        gt_area: ``(N,)`` int64, ground-truth pixel count per sample.
        sample: ``(P,)`` int64, the sample each scored mask belongs to; non-decreasing, and within
            a sample the masks keep their submission order (ties are broken by it).
        inter: ``(P,)`` int64, ``|pred ∧ gt|``.
        area: ``(P,)`` int64, ``|pred|``.
        score: ``(P,)`` float64.
    """

    gt_area: np.ndarray
    sample: np.ndarray
    inter: np.ndarray
    area: np.ndarray
    score: np.ndarray

    @property
    def num_samples(self) -> int:
        return int(self.gt_area.shape[0])

    @property
    def union(self) -> np.ndarray:
        """``(P,)`` int64, ``|pred ∨ gt|``."""
        return self.area + self.gt_area[self.sample] - self.inter

    def select(self, keep: np.ndarray) -> "MatchStats":
        """The samples where the ``(N,)`` bool ``keep`` is true, renumbered in their order."""
        return self.take(np.flatnonzero(np.asarray(keep, dtype=bool)))

    def take(self, order: np.ndarray) -> "MatchStats":
        """Samples reordered (or subset) by the ``(M,)`` sample indices ``order``."""
        order = np.asarray(order, dtype=np.int64)
        starts, counts = self.sample_slices()
        c, s = counts[order], starts[order]
        # Row r of the output is row s[j] + (r - first output row of j) of the input.
        out_start = np.cumsum(c) - c
        rows = np.arange(int(c.sum()), dtype=np.int64) + np.repeat(s - out_start, c)
        return MatchStats(
            gt_area=self.gt_area[order],
            sample=np.repeat(np.arange(len(order), dtype=np.int64), c),
            inter=self.inter[rows],
            area=self.area[rows],
            score=self.score[rows],
        )

    def sample_slices(self) -> tuple[np.ndarray, np.ndarray]:
        """``(starts, counts)``, both ``(N,)``: the rows of each sample."""
        counts = np.bincount(self.sample, minlength=self.num_samples)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        return starts, counts

    @staticmethod
    def concatenate(parts: Sequence["MatchStats"]) -> "MatchStats":
        """Join sample sets one after the other."""
        if not parts:
            return empty_stats()
        offsets = np.cumsum([0] + [p.num_samples for p in parts[:-1]])
        return MatchStats(
            gt_area=np.concatenate([p.gt_area for p in parts]),
            sample=np.concatenate([p.sample + off for p, off in zip(parts, offsets)]),
            inter=np.concatenate([p.inter for p in parts]),
            area=np.concatenate([p.area for p in parts]),
            score=np.concatenate([p.score for p in parts]),
        )


def empty_stats() -> MatchStats:
    z = np.zeros(0, np.int64)
    return MatchStats(gt_area=z, sample=z, inter=z, area=z, score=np.zeros(0, np.float64))


def _label(index: int, sample_id: str | None) -> str:
    return f"sample {index}" + (f" ({sample_id!r})" if sample_id is not None else "")


def as_binary_mask(mask, what: str) -> np.ndarray:
    """``mask`` as a 2-D bool array; ``what`` names it in the error message."""
    a = np.asarray(mask)
    if a.ndim != 2:
        raise ValueError(f"{what}: expected a 2-D (H, W) mask, got shape {a.shape}")
    if a.dtype == np.bool_:
        return a
    if a.dtype.kind in "ui":
        return a != 0
    raise ValueError(
        f"{what}: expected a bool or integer mask, got dtype {a.dtype} "
        "(binarise probabilities first, e.g. sigmoid > 0.5)"
    )


def check_score(score, what: str) -> float:
    try:
        value = float(score)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: score must be a real number, got {score!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{what}: score must be finite, got {value}")
    return value


def count_samples(samples, sample_ids: Sequence[str] | None = None) -> MatchStats:
    """Count ``samples`` = ``[(gt_mask, [(pred_mask, score), ...]), ...]`` into :class:`MatchStats`.

    Masks are ``(H, W)`` bool or integer arrays (non-zero = foreground); each sample needs at least
    one prediction, all of its ground-truth shape. One pass per mask: the ground truth and every
    prediction are counted once, plus one intersection count per prediction.
    """
    gt_area: list[int] = []
    sample: list[int] = []
    inter: list[int] = []
    area: list[int] = []
    score: list[float] = []
    for i, item in enumerate(samples):
        sid = sample_ids[i] if sample_ids is not None else None
        label = _label(i, sid)
        try:
            gt, preds = item
        except (TypeError, ValueError):
            raise ValueError(f"{label}: expected a (gt_mask, predictions) pair") from None
        g = as_binary_mask(gt, f"{label}: ground truth")
        g_count = int(np.count_nonzero(g))
        if isinstance(preds, np.ndarray) or len(preds) == 0:
            raise ValueError(
                f"{label}: expected a non-empty list of (pred_mask, score) pairs, got "
                + ("an array" if isinstance(preds, np.ndarray) else "an empty list")
            )
        for k, pair in enumerate(preds):
            what = f"{label}, prediction {k}"
            try:
                mask, s = pair
            except (TypeError, ValueError):
                raise ValueError(f"{what}: expected a (pred_mask, score) pair") from None
            p = as_binary_mask(mask, what)
            if p.shape != g.shape:
                raise ValueError(f"{what}: mask shape {p.shape} differs from the ground truth {g.shape}")
            a_count = int(np.count_nonzero(p))
            # An empty mask on either side cannot intersect: skip the AND pass.
            i_count = int(np.count_nonzero(np.logical_and(p, g))) if a_count and g_count else 0
            sample.append(i)
            inter.append(i_count)
            area.append(a_count)
            score.append(check_score(s, what))
        gt_area.append(g_count)
    return MatchStats(
        gt_area=np.asarray(gt_area, np.int64),
        sample=np.asarray(sample, np.int64),
        inter=np.asarray(inter, np.int64),
        area=np.asarray(area, np.int64),
        score=np.asarray(score, np.float64),
    )


def count_rle(
    gt_rle: dict, pred_rles: Sequence[dict], scores: Sequence[float], *, checked: bool = False
) -> MatchStats:
    """One sample whose masks are COCO RLEs (pycocotools dicts): counts without decoding.

    Every RLE is first checked with :func:`cmpcv.data.rle.check_rle` (pycocotools loops forever
    on counts that do not cover the mask); ``checked=True`` skips that for RLEs a reader has
    already checked."""
    from pycocotools import mask as mask_utils

    if not checked:
        from cmpcv.data.rle import check_rle

        size = check_rle(gt_rle, "ground truth")["size"]
        for k, rle in enumerate(pred_rles):
            check_rle(rle, f"prediction {k}", size=size)

    g = int(mask_utils.area(gt_rle))
    areas = mask_utils.area(list(pred_rles)).astype(np.int64)
    inter = np.zeros(len(pred_rles), np.int64)
    for k, rle in enumerate(pred_rles):
        if areas[k] and g:
            inter[k] = int(mask_utils.area(mask_utils.merge([rle, gt_rle], intersect=True)))
    return MatchStats(
        gt_area=np.asarray([g], np.int64),
        sample=np.zeros(len(pred_rles), np.int64),
        inter=inter,
        area=areas,
        score=np.asarray(scores, np.float64),
    )
