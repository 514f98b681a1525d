"""COCO mask AP for one-ground-truth-per-sample sets, vectorised over the whole set.

Equal to pycocotools' ``COCOeval(iouType="segm")`` with ``params.useCats = 0`` and default params
(spec §3.4), samples taken as COCO images in input order, but without its per-image Python loop:

* mask IoU from the counts: ``I / U``, and 0 whenever ``I = 0`` (``maskUtils.iou`` gives 0 for
  empty masks, even empty on empty);
* per sample, masks sorted by score (stable) and cut to ``maxDets = 100``; with one ground truth,
  the matching of ``evaluateImg`` reduces to "the first mask in that order with IoU >= t takes the
  ground truth, every other mask is a false positive";
* ignore flags per area range (inclusive bounds) as in ``evaluateImg``;
* accumulation over the stable score order of the concatenated per-sample lists, precision made
  monotone and read at the 101 recall points, as in ``accumulate``;
* the averages of ``summarize`` (``stats[0..5]``), -1 when a range holds no ground truth.
"""
from __future__ import annotations

import numpy as np

from cmpcv.metrics.stats import MatchStats

# Built exactly as pycocotools' Params.setDetParams builds them, so float comparisons agree bit
# for bit (e.g. an exact IoU of 0.6 against the 0.6 of this linspace).
IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
RECALL_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
MAX_DETS = 100
AREA_RANGES = {
    "all": (0.0, 1e5**2),
    "small": (0.0, 32.0**2),
    "medium": (32.0**2, 96.0**2),
    "large": (96.0**2, 1e5**2),
}


def coco_mask_iou(stats: MatchStats) -> np.ndarray:
    """``(P,)`` float64 IoU as ``maskUtils.iou`` computes it from RLEs."""
    union = stats.union
    safe = np.where(stats.inter > 0, union, 1)
    return np.where(stats.inter > 0, stats.inter / safe, 0.0)


def _ranked_detections(stats: MatchStats) -> np.ndarray:
    """Rows in (sample, score descending, submission) order, at most ``MAX_DETS`` per sample."""
    order = np.lexsort((-stats.score, stats.sample))
    starts, _ = stats.sample_slices()
    sample_sorted = stats.sample[order]
    rank = np.arange(order.shape[0]) - starts[sample_sorted]
    return order[rank < MAX_DETS]


def precision_table(stats: MatchStats) -> dict[str, np.ndarray]:
    """COCOeval's ``eval['precision']`` for the single pooled category and ``maxDets = 100``.

    Returns ``{area_name: (T, R) float64}`` with T = 10 IoU thresholds and R = 101 recall points;
    -1 everywhere when the area range holds no ground truth.
    """
    rows = _ranked_detections(stats)
    sample = stats.sample[rows]
    iou = coco_mask_iou(stats)[rows]
    det_area = stats.area[rows]
    score = stats.score[rows]
    num_det = rows.shape[0]
    num_thr = IOU_THRESHOLDS.shape[0]

    # Matching: the first mask of its sample (in ranked order) clearing the threshold.
    passes = iou[:, None] >= np.minimum(IOU_THRESHOLDS, 1 - 1e-10)[None, :]
    running = np.cumsum(passes, axis=0, dtype=np.int64)
    first_row = np.flatnonzero(np.r_[True, sample[1:] != sample[:-1]]) if num_det else np.zeros(0, np.int64)
    before = np.zeros((num_det, num_thr), np.int64)
    if num_det:
        group_start = np.repeat(first_row, np.diff(np.r_[first_row, num_det]))
        before = np.where(group_start[:, None] > 0, running[np.maximum(group_start - 1, 0)], 0)
    matched = passes & (running - before == 1)

    # accumulate() concatenates the per-image lists in image order and stable-sorts by -score.
    global_order = np.argsort(-score, kind="mergesort")
    matched = matched[global_order]
    det_area = det_area[global_order]
    det_gt_area = stats.gt_area[sample[global_order]]

    out: dict[str, np.ndarray] = {}
    for name, (lo, hi) in AREA_RANGES.items():
        gt_ignored = (stats.gt_area < lo) | (stats.gt_area > hi)
        num_gt = int(np.count_nonzero(~gt_ignored))
        if num_gt == 0:
            out[name] = -np.ones((num_thr, RECALL_THRESHOLDS.shape[0]))
            continue
        det_outside = (det_area < lo) | (det_area > hi)
        # A match on an ignored ground truth is ignored; an unmatched mask outside the range too.
        ignored = np.where(matched, ((det_gt_area < lo) | (det_gt_area > hi))[:, None], det_outside[:, None])
        tp = np.cumsum(matched & ~ignored, axis=0).astype(np.float64)
        fp = np.cumsum(~matched & ~ignored, axis=0).astype(np.float64)
        out[name] = _interpolated_precision(tp, fp, num_gt)
    return out


def _interpolated_precision(tp: np.ndarray, fp: np.ndarray, num_gt: int) -> np.ndarray:
    """``(D, T)`` cumulative TP/FP -> ``(T, R)`` precision at the recall points."""
    num_det, num_thr = tp.shape
    table = np.zeros((num_thr, RECALL_THRESHOLDS.shape[0]))
    if num_det == 0:
        return table
    recall = tp / num_gt
    precision = tp / (fp + tp + np.spacing(1))
    # Monotone from the right (max is exact, so this equals pycocotools' Python loop bit for bit).
    precision = np.maximum.accumulate(precision[::-1], axis=0)[::-1]
    for t in range(num_thr):
        idx = np.searchsorted(recall[:, t], RECALL_THRESHOLDS, side="left")
        inside = idx < num_det
        table[t, inside] = precision[idx[inside], t]
    return table


def _average(table: np.ndarray) -> float:
    valid = table[table > -1]
    return float(np.mean(valid)) if valid.size else -1.0


def coco_ap(stats: MatchStats) -> dict[str, float]:
    """``mAP`` (stats[0]), ``AP50``, ``AP75``, ``AP_small``, ``AP_medium``, ``AP_large`` as fractions."""
    tables = precision_table(stats)
    at_50 = np.where(IOU_THRESHOLDS == 0.5)[0]
    at_75 = np.where(IOU_THRESHOLDS == 0.75)[0]
    return {
        "mAP": _average(tables["all"]),
        "AP50": _average(tables["all"][at_50]),
        "AP75": _average(tables["all"][at_75]),
        "AP_small": _average(tables["small"]),
        "AP_medium": _average(tables["medium"]),
        "AP_large": _average(tables["large"]),
    }
