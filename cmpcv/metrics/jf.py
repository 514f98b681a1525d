"""Region similarity J, contour accuracy F and their per-object statistics, as the DAVIS-2017
toolkit computes them (``db_eval_iou``, ``db_eval_boundary`` / ``f_measure``, ``db_statistics``).

The numbers are the toolkit's own, quirks included (see docs/evaluation.md, section "J&F"):

* J = |G ∩ P| / |G ∪ P| over non-void pixels, and 1 where the union is empty;
* F compares one-pixel boundaries (:func:`cmpcv.metrics.contours.boundary_map`) within a disk of
  radius ``ceil(0.008 * ||(H, W)||)``, with fixed values when a boundary is empty: P = 1, R = 0
  for an empty prediction boundary, P = 0, R = 1 for an empty ground-truth one, F = 1 for both;
* statistics: mean and decay ignore NaN, recall counts a NaN frame as a miss, and decay uses the
  toolkit's ``uint8`` bin indices (see :func:`statistics`).

``(H, W)`` inputs give a float, ``(T, H, W)`` inputs a ``(T,)`` float64 array. Masks are
anything bool-castable; ``void`` marks pixels that count for neither mask.
"""
from __future__ import annotations

import warnings

import numpy as np

from cmpcv.metrics.contours import Contour, contours_of_labels, tolerance_radius

__all__ = [
    "DECAY_MODES",
    "contour_accuracy",
    "f_from_counts",
    "label_pair_scores",
    "region_similarity",
    "statistics",
]

#: ``toolkit``: the toolkit under NumPy >= 2 (the default); ``toolkit-numpy1``: the toolkit under
#: NumPy 1.x; ``corrected``: the intended bins, without ``uint8`` wrap-around.
DECAY_MODES = ("toolkit", "toolkit-numpy1", "corrected")


def _masks(gt, pred, void, name: str):
    gt = np.asarray(gt).astype(bool)
    pred = np.asarray(pred).astype(bool)
    if gt.shape != pred.shape:
        raise ValueError(f"{name}: ground truth {gt.shape} and prediction {pred.shape} differ in shape")
    if gt.ndim not in (2, 3):
        raise ValueError(f"{name}: expected (H, W) or (T, H, W) masks, got shape {gt.shape}")
    if void is not None:
        void = np.asarray(void).astype(bool)
        if void.shape != gt.shape:
            raise ValueError(f"{name}: void {void.shape} and ground truth {gt.shape} differ in shape")
    return gt, pred, void


def region_similarity(gt, pred, void=None):
    """J per frame: ``|G ∩ P| / |G ∪ P|`` over non-void pixels; 1 where the union is empty."""
    gt, pred, void = _masks(gt, pred, void, "region_similarity")
    both, either = gt & pred, gt | pred
    if void is not None:
        both &= ~void
        either &= ~void
    inter = np.count_nonzero(both, axis=(-2, -1))
    union = np.count_nonzero(either, axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        j = np.true_divide(inter, union)
    if gt.ndim == 2:
        return 1.0 if union == 0 else float(j)
    j[union == 0] = 1.0
    return j


def f_from_counts(n_pred, n_gt, pred_matched, gt_matched) -> np.ndarray:
    """F from the boundary sizes and match counts (arrays of one shape), with the toolkit's
    values for empty boundaries and the same float operations, so results agree bit for bit."""
    n_pred, n_gt = np.asarray(n_pred), np.asarray(n_gt)
    n_pred, n_gt = np.broadcast_arrays(n_pred, n_gt)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.true_divide(pred_matched, n_pred)
        recall = np.true_divide(gt_matched, n_gt)
        precision = np.where(n_pred == 0, 1.0, np.where(n_gt == 0, 0.0, precision))
        recall = np.where(n_gt == 0, 1.0, np.where(n_pred == 0, 0.0, recall))
        f = 2 * precision * recall / (precision + recall)
    return np.where(precision + recall == 0, 0.0, f)


def _f_pair(pred: Contour, gt: Contour, radius: int) -> float:
    return float(f_from_counts(len(pred), len(gt), pred.count_within(gt, radius), gt.count_within(pred, radius)))


def contour_accuracy(gt, pred, void=None, bound_th: float = 0.008):
    """F per frame: the F-measure of boundary precision and recall within the tolerance disk."""
    gt, pred, void = _masks(gt, pred, void, "contour_accuracy")
    radius = tolerance_radius(gt.shape, bound_th)
    if void is not None:
        gt = gt & ~void
        pred = pred & ~void
    if gt.ndim == 2:
        return _f_pair(Contour.of_mask(pred), Contour.of_mask(gt), radius)
    return np.array([_f_pair(Contour.of_mask(p), Contour.of_mask(g), radius) for g, p in zip(gt, pred)],
                    dtype=np.float64)


def _decay_bins(n: int, mode: str) -> list[tuple[int, int]]:
    """``[start, stop)`` of the four overlapping decay bins of ``n`` frames."""
    ids = np.round(np.linspace(1, n, 5) + 1e-10) - 1
    if mode == "corrected":
        ids = ids.astype(np.int64)
        return [(int(ids[i]), int(ids[i + 1]) + 1) for i in range(4)]
    # The toolkit casts the bin edges to uint8: an edge >= 256 wraps (modulo 256).
    ids = [int(v) for v in ids.astype(np.uint8)]
    if mode == "toolkit":
        # NumPy >= 2 adds 1 to a uint8 scalar in uint8 as well: an edge of 255 gives stop 0.
        return [(ids[i], (ids[i + 1] + 1) % 256) for i in range(4)]
    return [(ids[i], ids[i + 1] + 1) for i in range(4)]


def statistics(per_frame, decay: str = "toolkit") -> tuple[float, float, float]:
    """``(mean, recall, decay)`` of one object's per-frame J or F, as ``db_statistics``.

    * mean: ``nanmean``;
    * recall: the fraction of frames with a value ``> 0.5`` (a NaN frame counts as a miss);
    * decay: ``nanmean(bin 0) - nanmean(bin 3)`` over four bins whose edges are
      ``round(linspace(1, T, 5)) - 1`` and which share their edge frames.

    ``decay="toolkit"`` reproduces the toolkit's ``uint8`` edges under NumPy >= 2: from 256
    frames on the edges wrap, so decay is NaN (an empty bin) or taken from the wrong frames;
    ``"toolkit-numpy1"`` is the same code under NumPy 1.x (edges wrap, the ``+ 1`` does not);
    ``"corrected"`` uses the intended edges. With fewer than 256 frames all three agree.
    """
    if decay not in DECAY_MODES:
        raise ValueError(f"decay must be one of {DECAY_MODES}, got {decay!r}")
    values = np.asarray(per_frame, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"statistics expects a (T,) array of per-frame values, got shape {values.shape}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        mean = np.nanmean(values)
        recall = np.nanmean(values > 0.5)
        bins = [values[start:stop] for start, stop in _decay_bins(len(values), decay)]
        drop = np.nanmean(bins[0]) - np.nanmean(bins[3])
    return float(mean), float(recall), float(drop)


def label_pair_scores(gt_labels: np.ndarray, n_gt: int, pred_labels: np.ndarray, n_pred: int,
                      void: np.ndarray | None = None, bound_th: float = 0.008,
                      diagonal: bool = False, gt_contours: list[Contour] | None = None,
                      ) -> tuple[np.ndarray, np.ndarray]:
    """J and F of every (proposal, object) pair of one frame, from two label images.

    ``gt_labels``, ``pred_labels``: ``(H, W)`` integer images; object ``k`` is ``gt_labels == k``
    for ``k = 1 .. n_gt`` (other values are background), proposal ``k`` is ``pred_labels == k``
    for ``k = 1 .. n_pred`` (absent ids are empty masks). ``void``: pixels removed from both.
    Returns ``(J, F)``, each ``(n_pred, n_gt)`` float64, or ``(min(n_pred, n_gt),)`` with
    ``diagonal=True`` (proposal ``k`` against object ``k`` only). ``gt_contours``: the objects'
    contours if already known (they do not depend on ``void``, which ground-truth labels carry
    as background already); their covers are kept, so several predictions reuse them.
    """
    gt = np.asarray(gt_labels)
    pred = np.asarray(pred_labels)
    if gt.shape != pred.shape or gt.ndim != 2:
        raise ValueError(f"label_pair_scores: ground truth {gt.shape} and prediction {pred.shape} must be equal (H, W)")
    if gt.size and min(gt.min(), pred.min()) < 0:
        raise ValueError("label_pair_scores: labels must be non-negative")
    if gt.size and gt.max() > n_gt:
        gt = np.where(gt <= n_gt, gt, 0)
    if pred.size and pred.max() > n_pred:
        pred = np.where(pred <= n_pred, pred, 0)
    if void is not None:
        void = np.asarray(void, dtype=bool)
        gt = np.where(void, 0, gt)
        pred = np.where(void, 0, pred)
    # Every pixel has one proposal id and one object id: one histogram gives all intersections.
    key = pred.astype(np.intp) * (n_gt + 1)
    key += gt
    hist = np.bincount(key.ravel(), minlength=(n_pred + 1) * (n_gt + 1)).reshape(n_pred + 1, n_gt + 1)
    inter = hist[1:, 1:]
    union = hist[1:, :].sum(axis=1)[:, None] + hist[:, 1:].sum(axis=0)[None, :] - inter
    radius = tolerance_radius(gt.shape, bound_th)
    if gt_contours is None:
        gt_contours = contours_of_labels(gt, n_gt)
    pred_contours = contours_of_labels(pred, n_pred)
    if diagonal:
        k = np.arange(min(n_pred, n_gt))
        inter, union = inter[k, k], union[k, k]
        pairs = [(i, i) for i in k]
        shape = (len(k),)
    else:
        pairs = [(p, g) for p in range(n_pred) for g in range(n_gt)]
        shape = (n_pred, n_gt)
    with np.errstate(divide="ignore", invalid="ignore"):
        j = np.true_divide(inter, union)
    j[union == 0] = 1.0
    n_pred_b = np.array([len(pred_contours[p]) for p, _ in pairs], np.int64)
    n_gt_b = np.array([len(gt_contours[g]) for _, g in pairs], np.int64)
    pred_hit = np.array([pred_contours[p].count_within(gt_contours[g], radius) for p, g in pairs], np.int64)
    gt_hit = np.array([gt_contours[g].count_within(pred_contours[p], radius) for p, g in pairs], np.int64)
    f = f_from_counts(n_pred_b, n_gt_b, pred_hit, gt_hit).reshape(shape)
    return j.astype(np.float64), f
