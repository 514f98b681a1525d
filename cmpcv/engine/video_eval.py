"""Whole-video benchmarks (Ref-YouTube-VOS, Ref-DAVIS17, MeViS): every listed frame of every
video, for every expression, into a results folder, split across ranks.

A :class:`VideoTask` is one video: its frame source, the names of its listed frames (position
``i`` of the source is ``frames[i]``) and its expressions. :func:`video_tasks` reads them off any
reader that indexes videos with their expressions (``video_ids()``, ``videos[video_id]`` with
``frames`` and ``expressions``, ``frame_folder(video_id)``: the frame-folder datasets).
:func:`segment_videos` runs :class:`~cmpcv.engine.video_inference.VideoSegmenter` on this rank's
share (:func:`shard`) with a progress bar and an ETA, and hands each frame's predictions to a
writer:

* :class:`BinaryMaskWriter`: ``<root>/<video>/<exp_id>/<frame>.png``, binary 0/255, the folder
  that Ref-YouTube-VOS and MeViS zip or score;
* :class:`MergedLabelWriter`: per expression set, ``<root_s>/<video>/<frame>.png``, one label image
  merging the video's objects (the Ref-DAVIS17 protocol, :func:`cmpcv.data.submission.merge_objects`).

Folders are written under a temporary name and renamed into place once every rank is done
(:func:`results_folder`), so a results folder is complete or absent, never half written.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cmpcv.data.submission import merge_objects, write_mask_png

__all__ = ["BinaryMaskWriter", "MergedLabelWriter", "TaskExpression", "VideoTask", "results_folder",
           "segment_videos", "shard", "video_tasks"]


@dataclass(frozen=True)
class TaskExpression:
    exp_id: str
    text: str
    obj_ids: tuple[int, ...] = ()


@dataclass
class VideoTask:
    """One video: ``source()`` opens its frames, ``frames`` names them, ``expressions`` to segment."""

    video_id: str
    source: Callable[[], Any]
    frames: tuple[str, ...]
    expressions: list[TaskExpression]

    @property
    def cost(self) -> int:
        return len(self.frames) * len(self.expressions)


def video_tasks(dataset: Any, video_ids: Sequence[str] | None = None) -> list[VideoTask]:
    """The videos of a frame-folder reader (all of them, or ``video_ids``), with every expression
    of each video in id order and every listed frame, whichever samples the reader kept."""
    tasks = []
    for vid in (video_ids if video_ids is not None else dataset.video_ids()):
        video = dataset.videos[vid]
        ids = video.expression_ids() if hasattr(video, "expression_ids") else list(video.expressions)
        exps = [TaskExpression(str(e), video.expressions[e].text, tuple(getattr(video.expressions[e], "obj_ids", ())))
                for e in ids]
        if exps:
            tasks.append(VideoTask(str(vid), (lambda v=vid: dataset.frame_folder(v)), tuple(video.frames), exps))
    return tasks


def shard(tasks: Sequence[VideoTask], rank: int = 0, world_size: int = 1) -> list[VideoTask]:
    """This rank's videos: the longest first, each to the rank with the least work so far (ties:
    the lowest rank), so ranks finish together; the result is in the input order."""
    load = [0] * world_size
    owner: dict[int, int] = {}
    for i in sorted(range(len(tasks)), key=lambda i: (-tasks[i].cost, i)):
        r = min(range(world_size), key=lambda r: (load[r], r))
        owner[i] = r
        load[r] += tasks[i].cost
    return [t for i, t in enumerate(tasks) if owner[i] == rank]


class BinaryMaskWriter:
    """Every expression's mask of a frame as ``<root>/<video>/<exp_id>/<frame>.png`` (0/255)."""

    def __init__(self, root: str | os.PathLike, threshold: float = 0.5) -> None:
        self.root, self.threshold = Path(root), threshold

    def __call__(self, task: VideoTask, index: int, prediction: Any) -> None:
        masks = prediction.masks(self.threshold)
        frame = task.frames[index]
        for exp, mask in zip(task.expressions, masks):
            write_mask_png(self.root / task.video_id / exp.exp_id / f"{frame}.png", mask, atomic=False)


class MergedLabelWriter:
    """One label image per frame and expression set: ``roots[s]/<video>/<frame>.png``.

    ``set_of(exp_id)`` names an expression's set; within a set each expression is one object
    (its ``obj_ids[0]``), merged by :func:`~cmpcv.data.submission.merge_objects` and written with
    the object's id as the pixel value by ``write_label``. A frame of a video that has no
    expression in a set gets an all-background image.
    """

    def __init__(self, roots: Mapping[int, str | os.PathLike], set_of: Callable[[str], int],
                 write_label: Callable[[Path, np.ndarray], None], threshold: float = 0.5,
                 background: float = 0.1) -> None:
        self.roots = {s: Path(r) for s, r in roots.items()}
        self.set_of, self.write_label = set_of, write_label
        self.threshold, self.background = threshold, background

    def __call__(self, task: VideoTask, index: int, prediction: Any) -> None:
        probs = prediction.probs_original()
        frame = task.frames[index]
        for s, root in self.roots.items():
            rows = sorted((e.obj_ids[0], k) for k, e in enumerate(task.expressions)
                          if self.set_of(e.exp_id) == s and e.obj_ids)
            ids = np.array([0] + [obj for obj, _ in rows], dtype=np.uint8)
            labels = merge_objects(probs[[k for _, k in rows]], self.threshold, self.background)
            self.write_label(root / task.video_id / f"{frame}.png", ids[labels])


def segment_videos(segmenter: Any, encode: Callable[[list[str]], tuple[Any, Any]], tasks: Sequence[VideoTask],
                   write: Callable[[VideoTask, int, Any], None], *, progress: bool = True, desc: str = "videos") -> int:
    """Segment every listed frame of ``tasks`` for all their expressions and ``write`` each frame's
    predictions (``write(task, position, FramePrediction)``); ``encode(sentences) -> (tokens,
    token_mask)``. Shows frames × expressions done, the rate and the time left. Returns the number
    of (frame, expression) masks."""
    total = sum(t.cost for t in tasks)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=desc, unit="mask", dynamic_ncols=True, smoothing=0.05)
    done = 0
    try:
        for task in tasks:
            source = task.source()
            if len(source) != len(task.frames):
                raise ValueError(f"video {task.video_id}: its frame source has {len(source)} frames, "
                                 f"the annotation file lists {len(task.frames)}")
            tokens, mask = encode([e.text for e in task.expressions])
            for prediction in segmenter.segment(source, tokens, mask):
                write(task, prediction.index, prediction)
                done += len(task.expressions)
                if bar is not None:
                    bar.update(len(task.expressions))
                    bar.set_postfix_str(task.video_id, refresh=False)
    finally:
        if bar is not None:
            bar.close()
    return done


@contextlib.contextmanager
def results_folder(final: str | os.PathLike, *, is_main: bool = True, token: str | None = None,
                   barrier: Callable[[], None] = lambda: None) -> Iterator[Path]:
    """A temporary folder next to ``final`` to write results into; when the block ends on every
    rank (``barrier``), the main rank replaces ``final`` with it. ``token`` must be the same on all
    ranks (e.g. broadcast from rank 0). On an error the temporary folder is removed."""
    final = Path(final)
    tmp = final.parent / f".tmp-{final.name}-{token or uuid.uuid4().hex[:12]}"
    if is_main:
        tmp.mkdir(parents=True, exist_ok=True)
    barrier()
    try:
        yield tmp
        barrier()
        if is_main:
            old = final.parent / f".old-{final.name}-{uuid.uuid4().hex[:12]}"
            if final.exists():
                final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        barrier()
    except BaseException:
        if is_main:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
