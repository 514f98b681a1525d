"""DAVIS-2017 J&F of a results folder, and the Ref-DAVIS17 mean over its four expression sets.

Follows the DAVIS-2017 toolkit (``DAVISEvaluation`` + ``evaluation_method.py``):

* ground truth: ``Annotations_unsupervised/480p`` (``Annotations`` for ``semi-supervised``),
  one indexed PNG per frame; 255 is void; the objects are ids ``1 .. max id of the first frame``;
* results: ``<results>/<sequence>/<frame>.png`` for every ground-truth frame; proposal ``k`` is
  pixel value ``k``, and the number of proposals is the largest value over the sequence;
* ``unsupervised``: all frames, void pixels removed, at most 20 proposals; J and F of every
  (proposal, object) pair, and the Hungarian assignment (``linear_sum_assignment``) that
  maximises the time-mean of (J + F) / 2 picks one proposal per object;
* ``semi-supervised``: first and last frame dropped, proposal ``k`` scored against object ``k``,
  void pixels count as background, no id may exceed the number of objects;
* per object: mean, recall and decay of J and of F; the global figures are plain means over all
  objects of all sequences (object-weighted), and ``J&F-Mean = (J-Mean + F-Mean) / 2``.

Where the toolkit exits, a :class:`~cmpcv.data.errors.DataError` names the file, the sequence
and the frame. Nothing is cached between runs.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from cmpcv.data.davis17.format import TASKS, VOID, DAVIS17Paths, read_label_png
from cmpcv.data.errors import DataError
from cmpcv.metrics.contours import Contour, contours_of_labels
from cmpcv.metrics.jf import DECAY_MODES, label_pair_scores, statistics

__all__ = ["DAVIS_KEYS", "evaluate_davis", "evaluate_refdavis"]

#: The global figures, in the toolkit's column order.
DAVIS_KEYS = ("J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")
MAX_PROPOSALS = 20


@dataclass
class _GroundTruth:
    """One sequence's ground truth: ``labels`` ``(T, H, W)`` uint8 with void and ids above
    ``n_objects`` set to 0, ``void`` ``(T, H, W)`` bool, and the object contours per frame."""

    sequence: str
    frames: list[str]
    files: list[Path]
    labels: np.ndarray
    void: np.ndarray
    n_objects: int
    contours: list[list[Contour] | None] = field(default_factory=list)

    def frame_contours(self, t: int) -> list[Contour]:
        if self.contours[t] is None:
            self.contours[t] = contours_of_labels(self.labels[t], self.n_objects)
        return self.contours[t]


def _read_ground_truth(paths: DAVIS17Paths, sequence: str, task: str) -> _GroundTruth:
    folder = paths.mask_dir(sequence, task)
    frames = paths.frames(sequence, task)
    files = [folder / f"{name}.png" for name in frames]
    first = read_label_png(files[0], "ground-truth mask")
    labels = np.zeros((len(frames), *first.shape), np.uint8)
    void = np.zeros(labels.shape, bool)
    for t, path in enumerate(files):
        frame = first if t == 0 else read_label_png(path, "ground-truth mask")
        if frame.shape != first.shape:
            raise DataError(path, f"ground-truth mask is {frame.shape[0]}x{frame.shape[1]}, frame "
                                  f"{frames[0]} is {first.shape[0]}x{first.shape[1]}", sample=f"{sequence}/{frames[t]}")
        void[t] = frame == VOID
        labels[t] = np.where(void[t], 0, np.minimum(frame, 255))
    n_objects = int(labels[0].max())
    labels[labels > n_objects] = 0
    return _GroundTruth(sequence, frames, files, labels, void, n_objects, [None] * len(frames))


def _read_predictions(root: Path, gt: _GroundTruth, frames: range) -> tuple[np.ndarray, int]:
    """``(T', H, W)`` int32 proposal ids of the given ground-truth frames, and the largest id."""
    shape = gt.labels.shape[1:]
    pred = np.zeros((len(frames), *shape), np.int32)
    for i, t in enumerate(frames):
        path = root / gt.sequence / f"{gt.frames[t]}.png"
        sample = f"{gt.sequence}/{gt.frames[t]}"
        if not path.is_file():
            raise DataError(path, "prediction not found (every ground-truth frame needs "
                                  "<results>/<sequence>/<frame>.png)", sample=sample)
        try:
            frame = read_label_png(path, "prediction")
        except DataError as err:
            raise err.for_sample(sample) from None
        if frame.shape != shape:
            raise DataError(path, f"prediction is {frame.shape[0]}x{frame.shape[1]}, the ground truth "
                                  f"{shape[0]}x{shape[1]}", sample=sample)
        pred[i] = frame
    return pred, int(pred.max()) if pred.size else 0


def _largest_id_error(root: Path, gt: _GroundTruth, frames: range, pred: np.ndarray, limit: int, why: str):
    i = int(np.argmax(pred.reshape(len(pred), -1).max(axis=1)))
    name = gt.frames[frames[i]]
    return DataError(root / gt.sequence / f"{name}.png",
                     f"proposal id {int(pred[i].max())} exceeds {limit}: {why}", sample=f"{gt.sequence}/{name}")


def _score_sequence(gt: _GroundTruth, root: Path, task: str, bound_th: float, max_proposals: int):
    """Per-object ``(J, F)`` arrays ``(N, T')`` in the toolkit's order, and the matching."""
    n = gt.n_objects
    frames = range(1, len(gt.frames) - 1) if task == "semi-supervised" else range(len(gt.frames))
    if not frames:
        raise DataError(gt.files[0].parent, f"the semi-supervised task drops the first and last frame, and "
                                            f"sequence {gt.sequence} has only {len(gt.frames)}")
    pred, n_pred = _read_predictions(root, gt, frames)
    if task == "semi-supervised":
        if n_pred > n:
            raise _largest_id_error(root, gt, frames, pred, n, f"the sequence has {n} objects")
        pred = pred.astype(np.uint8)
        j = np.zeros((n, len(frames)))
        f = np.zeros((n, len(frames)))
        for i, t in enumerate(frames):
            j[:, i], f[:, i] = label_pair_scores(gt.labels[t], n, pred[i], n, None, bound_th, diagonal=True,
                                                 gt_contours=gt.frame_contours(t))
        return j, f, None
    if n_pred > max_proposals:
        raise _largest_id_error(root, gt, frames, pred, max_proposals,
                                f"the unsupervised task allows at most {max_proposals} proposals")
    pred = pred.astype(np.uint8)  # ids are at most 20 now
    # Fewer proposals than objects: the missing ones are empty masks.
    rows = max(n_pred, n)
    j = np.zeros((rows, n, len(frames)))
    f = np.zeros((rows, n, len(frames)))
    for i, t in enumerate(frames):
        j[:, :, i], f[:, :, i] = label_pair_scores(gt.labels[t], n, pred[i], rows, gt.void[t], bound_th,
                                                   gt_contours=gt.frame_contours(t))
    cost = (np.mean(j, axis=2) + np.mean(f, axis=2)) / 2
    proposal, obj = linear_sum_assignment(-cost)
    # The toolkit keeps the pairs in proposal order and names the k-th pair "<sequence>_<k>".
    matching = [(int(o) + 1, int(p) + 1 if p < n_pred else 0) for p, o in zip(proposal, obj)]
    return j[proposal, obj, :], f[proposal, obj, :], matching


def _sequence_scores(job: tuple) -> tuple[int, list]:
    """One sequence against every results folder: ``(objects, [(J, F, matching) per folder])``."""
    paths, seq, roots, task, bound_th, max_proposals = job
    gt = _read_ground_truth(paths, seq, task)
    return gt.n_objects, [_score_sequence(gt, root, task, bound_th, max_proposals) for root in roots]


def _evaluate(davis_root, results_roots: Sequence, task: str, split: str, sequences, bound_th: float,
              decay: str, max_proposals: int, progress: bool, workers: int = 1) -> list[dict]:
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if decay not in DECAY_MODES:
        raise ValueError(f"decay must be one of {DECAY_MODES}, got {decay!r}")
    paths = DAVIS17Paths(Path(davis_root))
    roots = [Path(r) for r in results_roots]
    for root in roots:
        if not root.is_dir():
            raise DataError(root, "results folder not found")
    names = paths.sequences(split, task) if sequences is None else list(sequences)
    acc = [{"J": ([], [], []), "F": ([], [], []), "per_object": {}, "matching": {}} for _ in roots]
    jobs = [(paths, seq, roots, task, bound_th, max_proposals) for seq in names]
    pool = None
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(min(workers, len(jobs)))
    scored = map(_sequence_scores, jobs) if pool is None else pool.map(_sequence_scores, jobs)
    if progress:
        from tqdm import tqdm

        scored = tqdm(scored, total=len(jobs), desc=f"DAVIS {task} {split}", unit="seq")
    try:
        # Sequences are taken in the image set's order whatever the pool's schedule, so the
        # figures do not depend on ``workers``.
        _collect(names, scored, acc, decay)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return _figures(names, roots, acc, task, split)


def _collect(names: list[str], scored, acc: list[dict], decay: str) -> None:
    for seq, (n_objects, per_root) in zip(names, scored):
        for out, (j, f, matching) in zip(acc, per_root):
            for k in range(n_objects):
                key = f"{seq}_{k + 1}"
                js, fs = statistics(j[k], decay), statistics(f[k], decay)
                for lists, stats in ((out["J"], js), (out["F"], fs)):
                    for values, v in zip(lists, stats):
                        values.append(v)
                out["per_object"][key] = {"J-Mean": js[0], "J-Recall": js[1], "J-Decay": js[2],
                                          "F-Mean": fs[0], "F-Recall": fs[1], "F-Decay": fs[2]}
                if matching is not None:
                    out["matching"][key] = {"object": matching[k][0], "proposal": matching[k][1]}


def _figures(names: list[str], roots: list[Path], acc: list[dict], task: str, split: str) -> list[dict]:
    results = []
    for root, out in zip(roots, acc):
        if not out["per_object"]:
            raise DataError(root, f"no object to score: the first ground-truth frames of {split} have no object")
        (jm, jr, jd), (fm, fr, fd) = out["J"], out["F"]
        figures = [(np.mean(jm) + np.mean(fm)) / 2.0, np.mean(jm), np.mean(jr), np.mean(jd),
                   np.mean(fm), np.mean(fr), np.mean(fd)]
        metrics = {key: float(v) for key, v in zip(DAVIS_KEYS, figures)}
        metrics.update(per_object=out["per_object"], task=task, split=split, results=str(root),
                       sequences=len(names), objects=len(out["per_object"]))
        if task == "unsupervised":
            metrics["matching"] = out["matching"]
        results.append(metrics)
    return results


def evaluate_davis(davis_root: str | os.PathLike, results_root: str | os.PathLike, task: str = "unsupervised",
                   split: str = "val", *, sequences: Sequence[str] | None = None, bound_th: float = 0.008,
                   decay: str = "toolkit", max_proposals: int = MAX_PROPOSALS, progress: bool = False,
                   workers: int = 1) -> dict:
    """The DAVIS-2017 toolkit's figures for one results folder.

    Returns ``{"J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"}``
    (fractions), ``per_object: {"<sequence>_<k>": {"J-Mean", "J-Recall", "J-Decay", "F-Mean",
    "F-Recall", "F-Decay"}}`` named as the toolkit names them, and for the unsupervised task
    ``matching: {"<sequence>_<k>": {"object", "proposal"}}``: which ground-truth object and
    which proposal (0: none) that entry scores. The toolkit numbers its entries in proposal
    order, so where the assignment permutes the ids, ``<sequence>_<k>`` is not object ``k``;
    ``matching`` says which it is. ``sequences`` overrides the image set; ``decay``: see
    :func:`cmpcv.metrics.jf.statistics`; ``workers > 1`` scores sequences in that many
    processes (same figures).
    """
    return _evaluate(davis_root, [results_root], task, split, sequences, bound_th, decay, max_proposals,
                     progress, workers)[0]


def evaluate_refdavis(davis_root: str | os.PathLike, results_roots: Sequence[str | os.PathLike],
                      split: str = "val", *, sequences: Sequence[str] | None = None, bound_th: float = 0.008,
                      decay: str = "toolkit", progress: bool = False, workers: int = 1) -> dict:
    """Ref-DAVIS17: the four expression sets (annotator 1 / 2 x first-frame / full-video), each
    scored with the unsupervised task against ``Annotations_unsupervised``, and their mean.

    Returns ``{"sets": [four evaluate_davis results], <each DAVIS_KEYS figure averaged over the
    four sets>}``; the reported figure is ``J&F-Mean``, the mean of the four sets' J&F. The
    ground truth is read and its contours computed once for all four sets; ``workers > 1``
    scores sequences in that many processes.
    """
    if isinstance(results_roots, (str, os.PathLike)) or len(results_roots) != 4:
        raise ValueError("Ref-DAVIS17 needs four results folders (annotator 1 first-frame, annotator 1 full-video, "
                         f"annotator 2 first-frame, annotator 2 full-video), got {results_roots!r}")
    sets = _evaluate(davis_root, results_roots, "unsupervised", split, sequences, bound_th, decay, MAX_PROPOSALS,
                     progress, workers)
    out = {key: float(np.mean([s[key] for s in sets])) for key in DAVIS_KEYS}
    out["sets"] = sets
    return out
