"""``python -m cmpcv.data.check dataset=a2d dataset.root=PATH``: the A2D Sentences checks.

Per split: the sample count next to the published one; per video: the mp4 (from its header; with
``deep=true`` every frame is decoded too), every sample's h5 mask, its instance id, its size
against the video's and its frame against the video's length; then sentences of videos that
``videoset.csv`` lacks and of videos listed as missed. Subclasses that write the A2D format (the synthetic ``shapes`` set) are
checked by the same code.
"""
from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from cmpcv.data.a2d.format import (
    COPY_INSTANCE, PUBLISHED_COUNTS, read_a2d_annotation, read_a2d_mask, read_missed_videos, read_videoset,
)
from cmpcv.data.errors import DataError
from cmpcv.data.video import decode_all, video_info

if TYPE_CHECKING:
    from cmpcv.data.a2d.reader import A2DSentences
    from cmpcv.data.check import Report


def check(cfg: DictConfig, report: Report) -> None:
    """Check the tree of ``cfg.dataset`` (its ``train`` and ``test`` nodes) into ``report``."""
    root = cfg.dataset.root
    ds_any = None
    for split in ("train", "test"):
        node = cfg.dataset.get(split if split == "train" else "test")
        if node is None:
            continue
        try:
            ds = report.dataset(node)
        except DataError as exc:  # a text file is missing or malformed: nothing else can be checked
            report.error(exc)
            return
        ds_any = ds
        report.counts[split] = len(ds)
        report.published[split] = PUBLISHED_COUNTS[split]
        _check_samples(ds, report, deep=bool(cfg.get("deep", False)))
    if ds_any is None:
        return
    paths = ds_any.paths
    subsets = read_videoset(paths.videoset)
    missed = set(read_missed_videos(paths.missed))
    rows = read_a2d_annotation(paths.annotation, keep_copy=True)
    copies = sum(1 for _, inst, _ in rows if inst == COPY_INSTANCE)
    report.notes.append(f"{root}: {len(subsets):,} videos in videoset.csv, {len(missed)} missed, "
                        f"{len(rows):,} sentence rows ({copies} '{COPY_INSTANCE}' row(s) dropped)")
    for vid, inst, _ in rows:
        if vid not in subsets:
            report.error(f"{paths.annotation}: sentence of video {vid} (instance {inst}), which is not in {paths.videoset}")
        elif vid in missed:
            report.warnings.append(f"{paths.annotation}: video {vid} has a sentence but is listed in {paths.missed}")


def _check_samples(ds: A2DSentences, report: Report, deep: bool = False) -> None:
    by_video: dict[str, list[int]] = defaultdict(list)
    for i, (vid, *_rest) in enumerate(ds.samples):
        by_video[vid].append(i)
    found_sentences = {(v, inst) for v, _, inst, _ in ds.samples}
    for vid, inst, _ in read_a2d_annotation(ds.paths.annotation):
        if vid in by_video and (vid, inst) not in found_sentences:
            report.warnings.append(f"{ds.paths.mask_dir(vid)}: instance {inst} of video {vid} is in no annotated frame")
    for vid, indices in by_video.items():
        try:
            n_frames, h, w = video_info(ds.paths.video(vid))
        except DataError as exc:
            report.error(f"{exc} (video {vid}, {len(indices)} sample(s))")
            continue
        if deep:
            try:
                decode_all(ds.paths.video(vid))
            except DataError as exc:
                report.error(f"{exc} (video {vid}, {len(indices)} sample(s))")
        for i in indices:
            _, frame, inst, _ = ds.samples[i]
            try:
                mask = read_a2d_mask(ds.paths.mask(vid, frame), inst)
            except DataError as exc:
                report.error(exc.for_sample(ds.sample_id(i)))
                continue
            if frame > n_frames:
                report.error(f"{ds.paths.mask(vid, frame)}: sample {ds.sample_id(i)}: annotated frame {frame} is "
                             f"past the end of {ds.paths.video(vid)} ({n_frames} frames)")
            if mask.shape != (h, w):
                report.error(f"{ds.paths.mask(vid, frame)}: sample {ds.sample_id(i)}: mask is {mask.shape[0]}x"
                             f"{mask.shape[1]} but the video is {h}x{w} (H x W)")
