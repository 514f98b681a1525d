"""The public entry points: score a list of samples, or a :class:`MatchStats`, by protocol."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cmpcv.metrics.coco_ap import coco_ap
from cmpcv.metrics.iou import precision_iou_cmpc, precision_iou_mttr
from cmpcv.metrics.stats import MatchStats, count_samples

PROTOCOLS = ("mttr", "cmpc")
#: Keys of every result dict, values as fractions in [0, 1] (-1 = COCO "no ground truth in this
#: area range"; NaN = not defined by the protocol).
METRIC_KEYS = (
    "P@0.5", "P@0.6", "P@0.7", "P@0.8", "P@0.9",
    "overall_iou", "mean_iou",
    "mAP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
)


def compute_metrics(stats: MatchStats, protocol: str = "mttr") -> dict[str, float]:
    """All :data:`METRIC_KEYS` for counted samples.

    ``mttr``: MTTR/ReferFormer P@K/IoU rules (spec §3.3) + COCO mask AP over every scored mask
    (§3.4). ``cmpc``: the released CMPC-V rules on the top mask of each sample.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")
    if stats.num_samples == 0:
        raise ValueError("no samples to evaluate")
    if protocol == "mttr":
        out = precision_iou_mttr(stats)
        out.update(coco_ap(stats))
    else:
        out = precision_iou_cmpc(stats)
    return {k: float(out[k]) for k in METRIC_KEYS}


def evaluate_samples(samples, protocol: str = "mttr") -> dict[str, float]:
    """Score ``samples = [(gt_mask, [(pred_mask, score), ...]), ...]``.

    ``gt_mask`` and every ``pred_mask`` are ``(H, W)`` bool/uint8 arrays of the same shape (the
    ground-truth resolution); each sample needs at least one prediction. Samples are COCO images
    in input order. Returns :data:`METRIC_KEYS` as fractions.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")
    return compute_metrics(count_samples(samples), protocol)


def breakdown_stats(
    stats: MatchStats, groups: Sequence[str | None], protocol: str = "mttr"
) -> dict[str, dict[str, float]]:
    """Metrics of the samples of each group, ``{group: metrics}``, groups in sorted order.

    ``groups`` gives one name per sample; samples whose group is None belong to no group.
    """
    if len(groups) != stats.num_samples:
        raise ValueError(f"groups: expected one name per sample ({stats.num_samples}), got {len(groups)}")
    names = np.asarray(["" if g is None else str(g) for g in groups], dtype=object)
    present = np.asarray([g is not None for g in groups], dtype=bool)
    return {
        name: compute_metrics(stats.select(present & (names == name)), protocol)
        for name in sorted(set(names[present]))
    }


def breakdown(samples, groups: Sequence[str | None], protocol: str = "mttr") -> dict[str, dict[str, float]]:
    """:func:`evaluate_samples` per group name (e.g. the ``shapes`` demo's ``entity`` /
    ``attribute`` / ``relation`` / ``action`` tags); ``groups`` has one name per sample."""
    return breakdown_stats(count_samples(samples), groups, protocol)
