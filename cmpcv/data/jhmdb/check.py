"""``python -m cmpcv.data.check dataset=jhmdb dataset.root=PATH``: the J-HMDB Sentences checks.

The sample count next to the published one; per video: the puppet mask, the PNG count, every
evaluated frame against the usable frames (PNGs that have a mask), and the mask size against the
first frame's; with ``deep=true`` every PNG is decoded too.
"""
from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from cmpcv.data.errors import DataError
from cmpcv.data.jhmdb.format import PUBLISHED_COUNTS, count_png_frames, read_puppet_mask
from cmpcv.data.video import read_png_frames

if TYPE_CHECKING:
    from cmpcv.data.check import Report


def check(cfg: DictConfig, report: Report) -> None:
    """Check the tree of ``cfg.dataset`` (its ``test`` node) into ``report``."""
    try:
        ds = report.dataset(cfg.dataset.test)
    except DataError as exc:
        report.error(exc)
        return
    report.counts["test"] = len(ds)
    report.published["test"] = PUBLISHED_COUNTS["test"]
    source = f"frozen list {ds.samples_file}" if ds.samples_file else f"{ds.frames_per_video} seeded frames per video"
    report.notes.append(f"{cfg.dataset.root}: {len({v for v, _, _ in ds.samples})} videos; samples from {source}")
    by_video: dict[str, list[int]] = defaultdict(list)
    for v, f, _ in ds.samples:
        by_video[v].append(f)
    trimmed = 0
    for vid, frames in by_video.items():
        action = ds.actions[vid]
        try:
            masks = read_puppet_mask(ds.paths.mask(action, vid))
            n_png = count_png_frames(ds.paths.frame_dir(action, vid))
        except DataError as exc:
            report.error(f"{exc} (video {vid})")
            continue
        trimmed += n_png > masks.shape[0]
        length = min(n_png, masks.shape[0])
        for f in frames:
            if not 1 <= f <= length:
                report.error(f"{ds.paths.frame(action, vid, f)}: sample v_{vid}_f_{f}: frame outside the "
                             f"{length} usable frames ({n_png} PNGs, {masks.shape[0]} masks)")
        from PIL import Image

        try:
            with Image.open(ds.paths.frame(action, vid, 1)) as img:
                size = (img.height, img.width)
        except OSError as exc:
            report.error(f"{ds.paths.frame(action, vid, 1)}: could not read the first frame: {exc}")
            continue
        if size != masks.shape[1:]:
            report.error(f"{ds.paths.mask(action, vid)}: masks are {masks.shape[1]}x{masks.shape[2]} but the "
                         f"frames are {size[0]}x{size[1]} (H x W)")
        if cfg.get("deep", False):
            for f in range(1, n_png + 1):  # one at a time: the first bad frame is named, memory stays small
                try:
                    read_png_frames([ds.paths.frame(action, vid, f)])
                except DataError as exc:
                    report.error(f"{exc} (video {vid})")
                    break
    report.notes.append(f"{trimmed} video(s) have more PNGs than masks (the extra PNGs are dropped, as MTTR does)")
