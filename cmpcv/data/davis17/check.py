"""``python -m cmpcv.data.check dataset=davis17 dataset.root=PATH``: the Ref-DAVIS17 checks.

Per split: the videos next to the published 60 (train) / 30 (val) and the samples. The text files:
malformed lines, videos in no image set, objects without an expression in some set (errors), and
the misspelled video names that were mapped (listed as notes, with their lines). Per video: every
listed frame (present; its size from the JPEG header, or decoded with ``deep=true``), the
unsupervised mask of every frame (present, indexed, the frame's size), and expressions whose
object appears in none of its masks.
"""
from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np
from omegaconf import DictConfig

from cmpcv.data.davis17.format import read_label_png
from cmpcv.data.errors import DataError
from cmpcv.data.frame_folder import frame_problems

if TYPE_CHECKING:
    from cmpcv.data.check import Report

PUBLISHED_VIDEOS = {"train": 60, "val": 30}  # ImageSets/2017 (spec video_benchmarks.md Q3)


def _check_video(ds: Any, vid: str, report: Report, decode: bool) -> None:
    video = ds.videos[vid]
    sizes, problems = frame_problems(ds.frame_folder(vid), decode)
    report.errors.extend(problems)
    shown: set[int] = set()
    for name in video.frames:
        path = ds.mask_path(vid, name)
        try:
            labels = read_label_png(path)
        except DataError as exc:
            report.error(exc)
            continue
        if name in sizes and labels.shape != sizes[name]:
            report.error(f"{path}: mask is {labels.shape[0]}x{labels.shape[1]} but the frame is "
                         f"{sizes[name][0]}x{sizes[name][1]} (H x W)")
        shown.update(int(v) for v in np.unique(labels) if 0 < v < 255)
    for exp_id in video.expression_ids():
        obj = video.expressions[exp_id].obj_ids[0]
        if obj not in shown:
            report.warnings.append(f"{ds.text_root}: video {vid}: expression {exp_id} refers to object {obj}, "
                                   f"which appears in none of its {len(video.frames)} unsupervised masks")


def check(cfg: DictConfig, report: Report) -> None:
    """Check the tree of ``cfg.dataset`` (its ``train`` and ``val`` nodes) into ``report``."""
    decode = bool(cfg.get("deep", False))
    renamed: list[str] = []
    for split, key in (("train", "train"), ("val", "val")):
        node = cfg.dataset.get(key)
        if node is None:
            continue
        try:
            ds = report.dataset(node)
        except DataError as exc:  # a text file or image set is missing: this split cannot be checked
            report.error(exc)
            continue
        renamed = ds.renamed
        report.counts[f"{split} videos"] = len(ds.videos)
        report.published[f"{split} videos"] = PUBLISHED_VIDEOS[split]
        report.counts[f"{split} samples"] = len(ds)
        for vid in ds.video_ids():
            _check_video(ds, vid, report, decode)
    lines: dict[str, list[str]] = defaultdict(list)
    for r in renamed:  # "<file>: line <n>: video 'x' read as 'y'"
        where, rest = r.split(": line ", 1)
        number, what = rest.split(": ", 1)
        lines[f"{where}: {what}"].append(number)
    report.notes += [f"{what} (line {', '.join(numbers)})" for what, numbers in lines.items()]
    report.errors[:] = list(dict.fromkeys(report.errors))
