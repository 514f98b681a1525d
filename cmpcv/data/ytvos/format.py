"""Refer-YouTube-VOS on disk (torch-free): layout, annotation files, masks, and their writers.

The tree MTTR and ReferFormer read (spec ``video_benchmarks.md`` Q2)::

    ref-youtube-vos/
    ├── meta_expressions/{train,valid,test}/meta_expressions.json
    ├── train/JPEGImages/<video>/<frame>.jpg     3,471 videos; every 5th source frame (00000, 00005, ...)
    ├── train/Annotations/<video>/<frame>.png    mode "P" PNGs: pixel value = object id, 0 = background
    ├── train/meta.json                          optional: YouTube-VOS 2019 objects (category, frames)
    └── valid/JPEGImages/<video>/<frame>.jpg     507 videos: 202 validation + 305 test (no Annotations)

``meta_expressions.json`` (the competition format): ``{"videos": {video: {"expressions":
{exp_id: {"exp": str, "obj_id": str}}, "frames": [str, ...]}}}``; ids are strings, ``frames`` are
the stored frames, which are the frames to segment. The validation videos are the ``valid``
meta's keys minus the ``test`` meta's. ``train/meta.json``: ``{"videos": {video: {"objects":
{obj_id: {"category": str, "frames": [...]}}}}}``, the frames in which each object appears;
older copies of the download lack it.

Parsing never stops at a malformed entry: :func:`parse_meta_expressions` returns the videos it
could read and one problem line per entry it could not (file, video, expression, key, what was
expected). Only an unreadable file, or one that is not a ``{"videos": {...}}`` object, raises.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cmpcv.data.atomic import atomic_write_text
from cmpcv.data.errors import DataError
from cmpcv.data.expressions import Expression, ExpressionVideo, sort_ids
from cmpcv.data.frame_folder import FrameFolder, write_jpeg_frames
# Refer-YouTube-VOS masks use the DAVIS encoding (indexed PNGs, pixel value = object id, the DAVIS palette).
from cmpcv.data.palette import read_label_png, write_label_png
from cmpcv.data.textfile import read_json

__all__ = [
    "SPLITS", "PUBLISHED", "YTVOSPaths", "ObjectInfo", "ytvos_paths", "read_json", "parse_meta_expressions",
    "read_meta_expressions", "read_meta_keys", "parse_meta_json", "read_meta_json", "split_video_ids",
    "read_object_ids", "write_meta_expressions", "write_meta_json", "write_video",
]

SPLITS = ("train", "valid", "test")
# Published sizes (spec video_benchmarks.md Q2: MTTR asserts 3,471 train videos; 507 = 202 + 305;
# MeViS README Table 1 for the totals over train and the competition valid meta).
PUBLISHED = {"videos": {"train": 3471, "valid": 202, "test": 305}, "valid_meta_videos": 507,
             "total_videos": 3978, "total_expressions": 15009}


@dataclass(frozen=True)
class YTVOSPaths:
    """Paths of a Refer-YouTube-VOS tree rooted at ``root``."""

    root: Path

    def meta_expressions(self, split: str) -> Path:
        """``meta_expressions/<split>/meta_expressions.json`` (split: train, valid or test)."""
        return self.root / "meta_expressions" / split / "meta_expressions.json"

    @staticmethod
    def image_split(split: str) -> str:
        """The folder holding a split's frames: the test videos sit in ``valid/`` with the validation ones."""
        return "train" if split == "train" else "valid"

    def frames_dir(self, split: str, video_id: str) -> Path:
        return self.root / self.image_split(split) / "JPEGImages" / video_id

    def frame(self, split: str, video_id: str, name: str) -> Path:
        return self.frames_dir(split, video_id) / f"{name}.jpg"

    def annotations_dir(self, video_id: str) -> Path:
        """Masks exist for ``train`` only."""
        return self.root / "train" / "Annotations" / video_id

    def annotation(self, video_id: str, name: str) -> Path:
        return self.annotations_dir(video_id) / f"{name}.png"

    @property
    def meta_json(self) -> Path:
        return self.root / "train" / "meta.json"


def ytvos_paths(root: str | os.PathLike) -> YTVOSPaths:
    return YTVOSPaths(Path(root))


@dataclass(frozen=True)
class ObjectInfo:
    """One object of ``train/meta.json``: its category and the frames in which it appears."""

    category: str
    frames: tuple[str, ...]


def _videos_node(data: Any, where: str) -> dict:
    if not isinstance(data, dict) or not isinstance(data.get("videos"), dict):
        keys = sorted(data)[:5] if isinstance(data, dict) else type(data).__name__
        raise DataError(where, f'expected an object {{"videos": {{video_id: ...}}}}, got {keys}')
    return data["videos"]


def _frame_list(value: Any, where: str) -> tuple[tuple[str, ...] | None, str | None]:
    if not isinstance(value, list) or not value or not all(isinstance(f, str) and f for f in value):
        return None, f"{where}: 'frames' must be a non-empty list of frame names (strings), got {value!r:.80}"
    if len(set(value)) != len(value):
        dup = sorted({f for f in value if value.count(f) > 1})
        return None, f"{where}: 'frames' lists {dup[:5]} more than once"
    # Names are zero-padded numbers, so sorting by name is sorting by time (ReferFormer sorts too).
    return tuple(sorted(value)), None


def _object_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 1 <= value <= 255 else None
    if isinstance(value, str) and value.strip().isdigit():
        n = int(value)
        return n if 1 <= n <= 255 else None
    return None


def parse_meta_expressions(data: Any, where: str) -> tuple[dict[str, ExpressionVideo], list[str]]:
    """Videos of a ``meta_expressions.json`` object and the problems of the entries left out.

    A video without a valid ``frames`` list is left out; an expression without a non-empty
    ``exp`` or with an ``obj_id`` that is not a mask id (1-255, as a string or an integer) is
    left out of its video. Raises :class:`DataError` when ``data`` is not ``{"videos": {...}}`` or
    is the object-centred format of the original URVOS release (``videos[v]["objects"]``).
    """
    videos_node = _videos_node(data, where)
    entries = [e for e in videos_node.values() if isinstance(e, dict)]
    if entries and all("objects" in e and "expressions" not in e for e in entries):
        raise DataError(where, "this is the object-centred meta of the original URVOS release "
                               "(videos[v]['objects'][o]['expressions']), not the competition "
                               "meta_expressions.json (videos[v]['expressions'][exp_id] = {exp, obj_id})")
    videos: dict[str, ExpressionVideo] = {}
    problems: list[str] = []
    for vid, entry in videos_node.items():
        here = f"{where}: video {vid}"
        if not isinstance(entry, dict):
            problems.append(f"{here}: expected an object with 'expressions' and 'frames', got {type(entry).__name__}")
            continue
        frames, problem = _frame_list(entry.get("frames"), here)
        if problem:
            problems.append(problem)
            continue
        exps = entry.get("expressions")
        if not isinstance(exps, dict):
            problems.append(f"{here}: 'expressions' must be an object {{exp_id: {{exp, obj_id}}}}, got {exps!r:.80}")
            continue
        parsed = {}
        for exp_id in sort_ids(exps):
            e = exps[exp_id]
            at = f"{here}: expression {exp_id}"
            if not isinstance(e, dict):
                problems.append(f"{at}: expected an object {{exp, obj_id}}, got {e!r:.80}")
                continue
            text, obj = e.get("exp"), _object_id(e.get("obj_id"))
            if not isinstance(text, str) or not text.strip():
                problems.append(f"{at}: 'exp' must be a non-empty sentence, got {text!r:.80}")
            elif obj is None:
                problems.append(f"{at}: 'obj_id' must be a mask object id 1-255 (a string like \"1\"), "
                                f"got {e.get('obj_id')!r:.40}")
            else:
                parsed[str(exp_id)] = Expression(str(exp_id), text, (obj,))
        videos[str(vid)] = ExpressionVideo(str(vid), frames, parsed)
    return videos, problems


def read_meta_expressions(path: str | os.PathLike) -> tuple[dict[str, ExpressionVideo], list[str]]:
    """:func:`parse_meta_expressions` of a file."""
    return parse_meta_expressions(read_json(path, "meta_expressions.json"), str(path))


def read_meta_keys(path: str | os.PathLike) -> list[str]:
    """The video ids of a ``meta_expressions.json`` (the ``test`` meta is read for its keys only)."""
    return [str(v) for v in _videos_node(read_json(path, "meta_expressions.json"), str(path))]


def split_video_ids(paths: YTVOSPaths, split: str, *, exclude_test: bool = True) -> tuple[list[str], str]:
    """The video ids of a split and the meta file they come from.

    ``valid`` is the ``valid`` meta minus the ``test`` meta's keys (202 videos); without the
    ``test`` meta that subtraction is impossible, which is an error unless ``exclude_test=False``
    (then all 507 videos of the competition's valid meta are used). ``test`` is the ``test``
    meta's keys; its frames sit in ``valid/JPEGImages``.
    """
    if split not in SPLITS:
        raise ValueError(f"Refer-YouTube-VOS split must be one of {SPLITS}, got {split!r}")
    if split == "train":
        return read_meta_keys(paths.meta_expressions("train")), str(paths.meta_expressions("train"))
    if split == "test":
        return read_meta_keys(paths.meta_expressions("test")), str(paths.meta_expressions("test"))
    valid = read_meta_keys(paths.meta_expressions("valid"))
    test_meta = paths.meta_expressions("test")
    if not exclude_test:
        return valid, str(paths.meta_expressions("valid"))
    if not test_meta.is_file():
        raise DataError(test_meta, "not found: the 202 validation videos are the valid meta's videos minus this "
                                   "file's, so without it the 305 test videos would be evaluated as validation "
                                   "(restore the file, or set exclude_test=false to use all valid-meta videos)")
    test = set(read_meta_keys(test_meta))
    return [v for v in valid if v not in test], str(paths.meta_expressions("valid"))


def parse_meta_json(data: Any, where: str) -> tuple[dict[str, dict[int, ObjectInfo]], list[str]]:
    """Objects per video of ``train/meta.json`` and the problems of the entries left out."""
    videos: dict[str, dict[int, ObjectInfo]] = {}
    problems: list[str] = []
    for vid, entry in _videos_node(data, where).items():
        objects = entry.get("objects") if isinstance(entry, dict) else None
        if not isinstance(objects, dict):
            problems.append(f"{where}: video {vid}: expected {{'objects': {{obj_id: {{category, frames}}}}}}")
            continue
        parsed = {}
        for oid, info in objects.items():
            obj = _object_id(oid)
            frames = info.get("frames") if isinstance(info, dict) else None
            if obj is None or not isinstance(frames, list) or not all(isinstance(f, str) for f in frames):
                problems.append(f"{where}: video {vid}: object {oid!r}: expected an id 1-255 with "
                                f"{{'category': str, 'frames': [str, ...]}}")
                continue
            parsed[obj] = ObjectInfo(str(info.get("category", "")), tuple(frames))
        videos[str(vid)] = parsed
    return videos, problems


def read_meta_json(path: str | os.PathLike) -> tuple[dict[str, dict[int, ObjectInfo]], list[str]]:
    """:func:`parse_meta_json` of a file."""
    return parse_meta_json(read_json(path, "train/meta.json"), str(path))


def read_object_ids(path: str | os.PathLike) -> set[int]:
    """The object ids (non-zero pixel values) of one mask PNG."""
    ids = np.unique(read_label_png(path))
    return {int(v) for v in ids if v}


# -- writers (fixtures, the synthetic set, conversions) -------------------------------------------
def write_meta_expressions(path: str | os.PathLike, videos: Mapping[str, ExpressionVideo]) -> None:
    """Write ``meta_expressions.json`` in the competition format (string ids, ``obj_id`` a string)."""
    out = {"videos": {
        vid: {"expressions": {e.exp_id: {"exp": e.text, "obj_id": str(e.obj_ids[0])}
                              for e in v.expressions.values()},
              "frames": list(v.frames)}
        for vid, v in videos.items()}}
    atomic_write_text(path, json.dumps(out))


def write_meta_json(path: str | os.PathLike, objects: Mapping[str, Mapping[int, ObjectInfo]]) -> None:
    """Write ``train/meta.json`` (YouTube-VOS 2019 style, object ids as strings)."""
    out = {"videos": {vid: {"objects": {str(o): {"category": info.category, "frames": list(info.frames)}
                                        for o, info in objs.items()}}
                      for vid, objs in objects.items()}}
    atomic_write_text(path, json.dumps(out))


def write_video(paths: YTVOSPaths, split: str, video_id: str, frames: np.ndarray, names: Sequence[str],
                ids: np.ndarray | None = None, *, quality: int = 90) -> FrameFolder:
    """Write one video: JPEG frames ``(T, H, W, 3)`` named ``names`` and, for ``train``, the
    ``(T, H, W)`` object-id masks as palette PNGs of the same names."""
    write_jpeg_frames(paths.frames_dir(split, video_id), frames, names, quality=quality)
    if ids is not None:
        if split != "train":
            raise ValueError(f"Refer-YouTube-VOS has masks for train only, not {split!r}")
        for name, m in zip(names, ids):
            write_label_png(paths.annotation(video_id, name), m)
    return FrameFolder(paths.frames_dir(split, video_id), tuple(names))
