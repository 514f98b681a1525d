"""``python -m cmpcv.data.check dataset=mevis dataset.root=PATH``: the MeViS checks.

Per split (``train``, ``valid_u`` and, if configured, ``valid``): videos and expressions next to
the published counts of MeViS v1 and v2, and which of the two the meta file looks like (v2 adds
no-target expressions); multi-object and no-target expressions are counted. Per video: every
listed frame (present; size from the JPEG header, or decoded with ``deep=true``); per
expression: its ``anno_id`` s in ``mask_dict.json`` (missing, wrong length, malformed RLE: from
the reader), their RLE size against the frames, and expressions whose objects appear in no frame.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from cmpcv.data.errors import DataError
from cmpcv.data.frame_folder import frame_problems
from cmpcv.data.mevis.reader import rle_area

if TYPE_CHECKING:
    from cmpcv.data.check import Report

# (videos, expressions) per split and version (spec video_benchmarks.md Q4: MeViS READMEs @7c0620b / @00691a1).
PUBLISHED = {"v1": {"train": (1662, 23051), "valid_u": (50, 793), "valid": (140, 2236)},
             "v2": {"train": (1662, 27502), "valid_u": (50, 907), "valid": (140, 2523)}}


def _check_split(ds: Any, split: str, report: Report, decode: bool) -> None:
    exps = [e for v in ds.videos.values() for e in v.expressions.values()]
    no_target = sum(1 for e in exps if not e.anno_ids)
    multi = sum(1 for e in exps if len(e.anno_ids) > 1)
    version = "v2" if no_target else "v1"
    n_videos, n_exps = PUBLISHED[version][split]
    report.counts[f"{split} videos"] = len(ds.videos)
    report.published[f"{split} videos"] = n_videos
    report.counts[f"{split} expressions"] = len(exps)
    report.published[f"{split} expressions"] = n_exps
    report.counts[f"{split} samples"] = len(ds)
    other = PUBLISHED["v1" if version == "v2" else "v2"][split][1]
    report.notes.append(f"{ds.meta_path}: looks like MeViS {version} ({no_target} no-target expression(s); "
                        f"{multi} refer to several objects); the other version has {other:,} expressions")
    for vid in ds.video_ids():
        video = ds.videos[vid]
        sizes, problems = frame_problems(ds.frame_folder(vid), decode)
        report.errors.extend(problems)
        if not ds.has_ground_truth:
            continue
        size = next(iter(sizes.values()), None)
        for exp_id in video.expression_ids():
            annos = [str(a) for a in video.expressions[exp_id].anno_ids]
            if not annos or any(ds.masks.get(a) is None or len(ds.masks[a]) != len(video.frames) for a in annos):
                continue  # no target, or already reported by the reader
            rles = [r for a in annos for r in ds.masks[a] if r is not None]
            bad = sorted({tuple(r["size"]) for r in rles} - {size}) if size else []
            if bad:
                report.error(f"{ds.paths.mask_dict}: video {vid}: expression {exp_id}: masks of size {bad[0]} "
                             f"but the frames are {size[0]}x{size[1]} (H x W)")
            if not any(rle_area(r) for r in rles):
                report.warnings.append(f"{ds.paths.mask_dict}: video {vid}: expression {exp_id} refers to "
                                       f"anno_id(s) {annos}, empty in all {len(video.frames)} frames")


def check(cfg: DictConfig, report: Report) -> None:
    """Check the tree of ``cfg.dataset`` (its ``train``, ``val`` and ``test`` nodes) into ``report``."""
    decode = bool(cfg.get("deep", False))
    seen = set()
    for key in ("train", "val", "test"):
        node = cfg.dataset.get(key)
        if node is None or node.get("split") in seen:
            continue
        seen.add(node.get("split"))
        try:
            ds = report.dataset(node)
        except DataError as exc:  # a meta or mask file is missing or malformed: this split cannot be checked
            report.error(exc)
            continue
        _check_split(ds, ds.split, report, decode)
    report.errors[:] = list(dict.fromkeys(report.errors))
