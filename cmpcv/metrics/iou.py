"""Precision@K, overall IoU and mean IoU of the top mask per sample, under both protocols.

``mttr`` reproduces MTTR's ``calculate_precision_at_k_and_iou_metrics`` (which ReferFormer copies),
spec §3.3: float32 ``(I + 1e-6) / (U + 1e-6)``, strict ``>``, ``ΣI / ΣU``, ``np.mean``.
``cmpc`` reproduces the released CMPC-V test loop: exact ``I / U``, ``>=`` against the literal
thresholds ``.5, .55, ..., .95``, and "mAP" as the mean of those ten precisions.
"""
from __future__ import annotations

import numpy as np

from cmpcv.metrics.stats import MatchStats

#: The Precision@K thresholds every table reports.
PRECISION_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
#: CMPC-V's thresholds, written as its code writes them (Python float literals, not np.arange,
#: whose 0.6000000000000001 would fail an exact 3/5 under ``>=``).
CMPC_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
_MTTR_EPS = np.float32(1e-6)


def top_prediction(stats: MatchStats) -> np.ndarray:
    """``(N,)`` row index of each sample's highest-scored mask.

    MTTR takes ``sorted(preds, key=score)[-1]``: Python's sort is stable, so among tied maxima
    the one submitted *last* wins. ``np.lexsort`` is stable too, so the last row of each sample
    group in (sample, score) order is exactly that one.
    """
    order = np.lexsort((stats.score, stats.sample))
    starts, counts = stats.sample_slices()
    if np.any(counts == 0):
        raise ValueError(f"sample {int(np.argmin(counts))} has no prediction")
    return order[starts + counts - 1]


def mttr_sample_iou(inter: np.ndarray, union: np.ndarray) -> np.ndarray:
    """Per-sample IoU as MTTR computes it: float32 throughout, epsilon in numerator and denominator.

    Counts are exact in float32 up to 2**24 pixels, where MTTR's float32 ``sum`` is exact too.
    Empty prediction on empty ground truth gives exactly 1.0.
    """
    i32 = inter.astype(np.float32)
    u32 = union.astype(np.float32)
    return (i32 + _MTTR_EPS) / (u32 + _MTTR_EPS)


def precision_iou_mttr(stats: MatchStats) -> dict[str, float]:
    top = top_prediction(stats)
    inter = stats.inter[top]
    union = stats.union[top]
    # MTTR compares Python floats (float32 values widened to float64) with Python literals.
    iou = mttr_sample_iou(inter, union).astype(np.float64)
    n = iou.shape[0]
    out = {f"P@{k}": int(np.count_nonzero(iou > k)) / n for k in PRECISION_THRESHOLDS}
    total_u = int(union.sum())
    # MTTR divides by zero here (ZeroDivisionError); an all-empty set has no defined overall IoU.
    out["overall_iou"] = int(inter.sum()) / total_u if total_u else float("nan")
    out["mean_iou"] = float(np.mean(iou))
    return out


def precision_iou_cmpc(stats: MatchStats) -> dict[str, float]:
    """CMPC-V's rules. Samples with ``U = 0`` (empty prediction on empty ground truth) are skipped,
    as the released loop intends with its ``U == eps`` check; it also drops empty ground truths
    when building its batches, so such samples never reach its metric."""
    top = top_prediction(stats)
    inter = stats.inter[top]
    union = stats.union[top]
    keep = union > 0
    inter, union = inter[keep], union[keep]
    n = inter.shape[0]
    if n == 0:
        raise ValueError("protocol 'cmpc': every sample has an empty prediction and an empty ground truth")
    iou = inter / union
    precisions = {k: int(np.count_nonzero(iou >= k)) / n for k in CMPC_THRESHOLDS}
    out = {f"P@{k}": precisions[k] for k in PRECISION_THRESHOLDS}
    out["overall_iou"] = int(inter.sum()) / int(union.sum())
    # The released loop accumulates ``mean_IoU += I / U`` one sample at a time.
    out["mean_iou"] = float(np.add.accumulate(iou)[-1]) / n
    out["mAP"] = float(np.mean(list(precisions.values())))
    out["AP50"] = precisions[0.5]
    out["AP75"] = precisions[0.75]
    # CMPC-V reports no area breakdown.
    out["AP_small"] = out["AP_medium"] = out["AP_large"] = float("nan")
    return out
