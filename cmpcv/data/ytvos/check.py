"""``python -m cmpcv.data.check dataset=ytvos dataset.root=PATH``: the Refer-YouTube-VOS checks.

Per split: the number of videos next to the published one (3,471 / 202 / 305) and the number of
samples; the expression total of train + the competition valid meta next to 15,009. Per video:
its frame folder, every listed frame (present; its size from the JPEG header, or fully decoded
with ``deep=true``), and for train every mask PNG (present, indexed, the frame's size),
expressions whose object appears in no mask, and ``train/meta.json`` against the masks. Missing
``meta.json`` is a note (older downloads lack it); a missing test meta is an error for ``valid``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from omegaconf import DictConfig

from cmpcv.data.errors import DataError
from cmpcv.data.frame_folder import frame_problems
from cmpcv.data.palette import read_label_png
from cmpcv.data.ytvos.format import PUBLISHED, read_json, read_meta_keys, ytvos_paths

if TYPE_CHECKING:
    from cmpcv.data.check import Report

SPLIT_NODES = {"train": "train", "valid": "val", "test": "test"}


def _check_video(ds: Any, vid: str, report: Any, decode: bool) -> None:
    video = ds.videos[vid]
    sizes, problems = frame_problems(ds.frame_folder(vid), decode)
    report.errors.extend(problems)
    if not ds.has_ground_truth:
        return
    shown: dict[int, set[str]] = {}
    for name in video.frames:
        path = ds.paths.annotation(vid, name)
        try:
            ids = read_label_png(path)
        except DataError as exc:
            report.error(exc)
            continue
        if name in sizes and ids.shape != sizes[name]:
            report.error(f"{path}: mask is {ids.shape[0]}x{ids.shape[1]} but the frame is "
                         f"{sizes[name][0]}x{sizes[name][1]} (H x W)")
        for obj in np.unique(ids):
            if obj:
                shown.setdefault(int(obj), set()).add(name)
    for exp_id in video.expression_ids():
        obj = video.expressions[exp_id].obj_ids[0]
        if obj not in shown:
            report.warnings.append(f"{ds.paths.meta_expressions('train')}: video {vid}: expression {exp_id} refers "
                                   f"to object {obj}, which appears in none of its {len(video.frames)} masks")
    for obj, info in ds.objects.get(vid, {}).items():
        if set(info.frames) != shown.get(obj, set()):
            report.warnings.append(f"{ds.paths.meta_json}: video {vid}: object {obj} is listed in "
                                   f"{len(info.frames)} frame(s) but shows in {len(shown.get(obj, ()))} mask(s)")


def check(cfg: DictConfig, report: Report) -> None:
    """Check the tree of ``cfg.dataset`` (its ``train``, ``val`` and ``test`` nodes) into ``report``."""
    paths = ytvos_paths(cfg.dataset.root)
    decode = bool(cfg.get("deep", False))
    if not paths.meta_json.is_file():
        report.notes.append(f"{paths.meta_json} is absent (older downloads): which objects each training frame "
                            "shows is read from the masks")
    for split, key in SPLIT_NODES.items():
        node = cfg.dataset.get(key)
        if node is None:
            continue
        try:
            ds = report.dataset(node)
        except DataError as exc:  # a meta file is missing or not {"videos": ...}: this split cannot be checked
            report.error(exc)
            continue
        report.counts[f"{split} videos"] = len(ds.videos)
        report.published[f"{split} videos"] = PUBLISHED["videos"][split]
        report.counts[f"{split} samples"] = len(ds)
        for vid in ds.video_ids():
            _check_video(ds, vid, report, decode)
    totals = []
    for split in ("train", "valid"):
        try:
            meta = read_json(paths.meta_expressions(split), "meta_expressions.json")
            totals.append(sum(len(v["expressions"]) for v in meta["videos"].values()))
        except (DataError, TypeError, KeyError, AttributeError):
            totals.append(None)
    if None not in totals:
        total = sum(totals)
        same = "matches" if total == PUBLISHED["total_expressions"] else "published"
        report.notes.append(f"{total:,} expressions in the train and valid metas ({same}: "
                            f"{PUBLISHED['total_expressions']:,})")
    try:
        valid, test = set(read_meta_keys(paths.meta_expressions("valid"))), read_meta_keys(paths.meta_expressions("test"))
        stray = [v for v in test if v not in valid]
        if stray:
            report.warnings.append(f"{paths.meta_expressions('test')}: {len(stray)} test video(s) are not in the "
                                   f"valid meta ({', '.join(stray[:5])})")
    except DataError:
        pass  # reported with the split above
    # A bad mask found while indexing (no meta.json) is found again by the per-video pass: list it once.
    report.errors[:] = list(dict.fromkeys(report.errors))

