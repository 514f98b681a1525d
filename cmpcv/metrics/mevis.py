"""MeViS J&F of a results folder, as MeViS's ``tools/eval_mevis.py`` computes it.

* ground truth of an expression, per frame: the union of the masks of its ``anno_id`` s in
  ``mask_dict.json`` (``null`` is empty), so a no-target expression has an empty ground truth
  (an empty prediction scores J = F = 1 there);
* prediction: ``<results>/<video>/<exp_id>/<frame>.png`` for every frame of the video, any
  non-zero grey pixel foreground (:func:`cmpcv.data.mevis.format.read_prediction_mask`);
* J and F per expression: the means over its frames of the DAVIS per-frame J and F;
  the split's J and F: means over expressions (no object weighting, no recall or decay), and
  ``J&F = (J + F) / 2``;
* a video without a prediction folder scores J = F = 0 for each of its expressions, as there;
  those videos are listed under ``missing_videos``.

Where the script would crash (a missing frame or expression folder, a size that does not match
the ground truth, an ``anno_id`` absent from ``mask_dict.json``) a
:class:`~cmpcv.data.errors.DataError` names the file, the video, the expression and the frame.
The masks of one frame are decoded once for all expressions of the video, and the contour of
each distinct ground truth is computed once.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cmpcv.data.errors import DataError
from cmpcv.data.mevis.format import decode_rle, read_mask_dict, read_meta_expressions, read_prediction_mask
from cmpcv.metrics.contours import Contour, tolerance_radius
from cmpcv.metrics.jf import f_from_counts

__all__ = ["evaluate_mevis"]


def _frame_ground_truth(masks: dict, mask_path: Path, vid: str, anno_ids, t: int, n_frames: int, decoded: dict):
    """The union of the frame's masks of ``anno_ids`` (None when all are empty) and the size of
    the RLEs (None when there are none)."""
    union = None
    size = None
    for anno in anno_ids:
        key = str(anno)
        if key not in decoded:
            frames = masks.get(key)
            if frames is None:
                raise DataError(mask_path, f"anno_id {anno} of video {vid} is not in mask_dict.json")
            if len(frames) != n_frames:
                raise DataError(mask_path, f"anno_id {anno} has {len(frames)} frames, video {vid} lists {n_frames}")
            rle = frames[t]
            decoded[key] = None if rle is None else decode_rle(rle).astype(bool)
        mask = decoded[key]
        if mask is None:
            continue
        size = mask.shape
        union = mask if union is None else union | mask  # (never written to in place)
    return union, size


def _score_video(job: tuple) -> list[tuple[str, tuple[float, float]]]:
    """``[("<video>_<exp_id>", (J, F))]`` of one video whose prediction folder exists."""
    vid, video, masks, mask_path, root, bound_th = job
    n_frames = len(video.frames)
    j = {exp_id: np.zeros(n_frames) for exp_id in video.expressions}
    f = {exp_id: np.zeros(n_frames) for exp_id in video.expressions}
    for t, frame in enumerate(video.frames):
        decoded: dict = {}
        truths: dict = {}  # distinct ground truths of this frame: (mask, size, contour)
        for exp_id, exp in video.expressions.items():
            sample = f"{vid}/{exp_id}/{frame}"
            path = root / vid / exp_id / f"{frame}.png"
            if not path.is_file():
                raise DataError(path, "prediction not found (every listed frame of every expression needs "
                                      "<results>/<video>/<exp_id>/<frame>.png)", sample=sample)
            try:
                pred = read_prediction_mask(path)
            except DataError as err:
                raise err.for_sample(sample) from None
            key = frozenset(exp.anno_id)
            if key not in truths:
                union, size = _frame_ground_truth(masks, mask_path, vid, sorted(key), t, n_frames, decoded)
                contour = Contour.empty(pred.shape) if union is None else Contour.of_mask(union)
                truths[key] = (union, size, contour, 0 if union is None else int(np.count_nonzero(union)))
            union, size, gt_contour, gt_area = truths[key]
            if size is not None and size != pred.shape:
                raise DataError(path, f"prediction is {pred.shape[0]}x{pred.shape[1]}, the ground truth "
                                      f"{size[0]}x{size[1]}", sample=sample)
            if gt_contour.shape != pred.shape:  # an empty ground truth takes the prediction's size
                gt_contour = Contour.empty(pred.shape)
            # J from counts: |G & P| / (|G| + |P| - |G & P|), 1 where both are empty
            inter = 0 if union is None else int(np.count_nonzero(union & pred))
            total = gt_area + int(np.count_nonzero(pred)) - inter
            j[exp_id][t] = 1.0 if total == 0 else inter / total
            radius = tolerance_radius(pred.shape, bound_th)
            pred_contour = Contour.of_mask(pred)
            f[exp_id][t] = f_from_counts(len(pred_contour), len(gt_contour),
                                         pred_contour.count_within(gt_contour, radius),
                                         gt_contour.count_within(pred_contour, radius))
    return [(f"{vid}_{exp_id}", (float(j[exp_id].mean()), float(f[exp_id].mean()))) for exp_id in video.expressions]


def evaluate_mevis(meta_expressions_json: str | os.PathLike, mask_dict_json: str | os.PathLike,
                   results_root: str | os.PathLike, *, bound_th: float = 0.008, progress: bool = False,
                   workers: int = 1) -> dict:
    """MeViS's figures for one results folder.

    Returns ``{"J", "F", "J&F"}`` (fractions), ``per_expression: {"<video>_<exp_id>": (J, F)}``
    in the order of ``meta_expressions.json``, ``missing_videos`` (videos with no prediction
    folder, scored 0 / 0), and the counts ``videos`` and ``expressions``. ``workers > 1``
    scores videos in that many processes (same figures).
    """
    meta_path, mask_path, root = Path(meta_expressions_json), Path(mask_dict_json), Path(results_root)
    videos = read_meta_expressions(meta_path)
    masks = read_mask_dict(mask_path)
    if not root.is_dir():
        raise DataError(root, "results folder not found")
    missing = [vid for vid in videos if not (root / vid).exists()]
    jobs = []
    for vid, video in videos.items():
        if vid not in missing:
            annos = {str(a) for e in video.expressions.values() for a in e.anno_id}
            jobs.append((vid, video, {a: masks[a] for a in annos if a in masks}, mask_path, root, bound_th))
    pool = None
    if workers > 1 and jobs:
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(min(workers, len(jobs)))
    scored = map(_score_video, jobs) if pool is None else pool.map(_score_video, jobs)
    if progress:
        from tqdm import tqdm

        scored = tqdm(scored, total=len(jobs), desc="MeViS", unit="video")
    try:
        done = {job[0]: result for job, result in zip(jobs, scored)}
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    per_expression: dict[str, tuple[float, float]] = {}
    for vid, video in videos.items():
        if vid in done:
            per_expression.update(done[vid])
        else:
            per_expression.update({f"{vid}_{exp_id}": (0.0, 0.0) for exp_id in video.expressions})
    if not per_expression:
        raise DataError(meta_path, "no expression to score")
    j_mean = np.mean([v[0] for v in per_expression.values()])
    f_mean = np.mean([v[1] for v in per_expression.values()])
    return {"J": float(j_mean), "F": float(f_mean), "J&F": float((j_mean + f_mean) / 2),
            "per_expression": per_expression, "missing_videos": missing, "videos": len(videos),
            "expressions": len(per_expression)}
