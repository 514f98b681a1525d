"""Validate a dataset tree: ``python -m cmpcv.data.check dataset=a2d dataset.root=PATH``.

Prints the sample count of each split next to the published one, then every problem found:
missing or unreadable videos, h5 or mat files; instance ids not found; masks whose size differs
from the video's; annotated frames past a video's end; sentences of unknown videos. Exits 1 when
there are errors (warnings alone exit 0). Nothing is decoded: videos are checked from their
headers, masks are read (they are small).
"""
from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass, field

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from cmpcv.data.a2d import A2DSentences
from cmpcv.data.annotations import COPY_INSTANCE, PUBLISHED_COUNTS, read_a2d_annotation, read_missed_videos, read_videoset
from cmpcv.data.errors import DataError
from cmpcv.data.jhmdb import JHMDBSentences, count_png_frames
from cmpcv.data.masks import read_a2d_mask, read_puppet_mask
from cmpcv.data.video import video_info


@dataclass
class Report:
    """Counts, errors and warnings of one check."""

    counts: dict[str, int] = field(default_factory=dict)
    published: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def error(self, msg: str | Exception) -> None:
        self.errors.append(str(msg))

    def format(self, max_listed: int = 200) -> str:
        lines = ["samples per split:"]
        for split, n in self.counts.items():
            pub = self.published.get(split)
            flag = "" if pub is None else (" (matches the published count)" if n == pub else f" (published: {pub:,})")
            lines.append(f"  {split:5s} {n:7,d}{flag}")
        lines += [f"note: {n}" for n in self.notes]
        for title, items in (("warnings", self.warnings), ("errors", self.errors)):
            if items:
                lines.append(f"{len(items)} {title}:")
                lines += [f"  {m}" for m in items[:max_listed]]
                if len(items) > max_listed:
                    lines.append(f"  ... and {len(items) - max_listed} more")
        lines.append("OK" if not self.errors else f"FAILED: {len(self.errors)} error(s)")
        return "\n".join(lines)


def _checked_dataset(node: DictConfig, report: Report):
    """Instantiate a split's dataset in skip mode, without cache, collecting indexing problems."""
    ds = instantiate(node, on_error="skip", cache_dir=False)
    report.errors.extend(ds.problems)
    return ds


def check_a2d(cfg: DictConfig, report: Report) -> None:
    root = cfg.dataset.root
    ds_any = None
    for split in ("train", "test"):
        node = cfg.dataset.get(split if split == "train" else "test")
        if node is None:
            continue
        try:
            ds = _checked_dataset(node, report)
        except DataError as exc:  # a text file is missing or malformed: nothing else can be checked
            report.error(exc)
            return
        ds_any = ds
        report.counts[split] = len(ds)
        report.published[split] = PUBLISHED_COUNTS["a2d"][split]
        _check_a2d_samples(ds, report)
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


def _check_a2d_samples(ds: A2DSentences, report: Report) -> None:
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


def check_jhmdb(cfg: DictConfig, report: Report) -> None:
    try:
        ds = _checked_dataset(cfg.dataset.test, report)
    except DataError as exc:
        report.error(exc)
        return
    report.counts["test"] = len(ds)
    report.published["test"] = PUBLISHED_COUNTS["jhmdb"]["test"]
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
    report.notes.append(f"{trimmed} video(s) have more PNGs than masks (the extra PNGs are dropped, as MTTR does)")


def run_check(cfg: DictConfig) -> Report:
    """Check the tree that ``cfg.dataset`` describes; the report holds counts and problems."""
    report = Report()
    kind = cfg.dataset.get("val") or cfg.dataset.get("test")
    target = str(kind.get("_target_", "")) if kind is not None else ""
    try:
        cls = hydra.utils.get_class(target) if target else None
    except Exception:  # an unknown class is reported below like any other unsupported dataset
        cls = None
    # Subclasses (e.g. the synthetic shapes set, written in the A2D format) get their base's check.
    if isinstance(cls, type) and issubclass(cls, A2DSentences):
        check_a2d(cfg, report)
    elif isinstance(cls, type) and issubclass(cls, JHMDBSentences):
        check_jhmdb(cfg, report)
    elif isinstance(cls, type) and cls.__module__.startswith("cmpcv.data.ytvos."):
        from cmpcv.data.ytvos.check import check

        check(cfg, report)
    else:
        report.error(f"dataset {cfg.dataset.get('name')!r}: the check knows A2DSentences and JHMDBSentences, got {target!r}")
    if cfg.get("strict_counts", False):
        for split, n in report.counts.items():
            if split in report.published and n != report.published[split]:
                report.error(f"{split}: {n} samples, the published protocol has {report.published[split]}")
    return report


@hydra.main(config_path="../../conf", config_name="check", version_base=None)
def main(cfg: DictConfig) -> None:
    if OmegaConf.is_missing(cfg.dataset, "root"):
        print("error: give the dataset tree, e.g. python -m cmpcv.data.check dataset=a2d dataset.root=PATH",
              file=sys.stderr)
        sys.exit(2)
    report = run_check(cfg)
    print(report.format(int(cfg.get("max_listed", 200))))
    sys.exit(1 if report.errors else 0)


if __name__ == "__main__":
    main()
