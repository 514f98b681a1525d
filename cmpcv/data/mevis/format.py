"""MeViS on disk: folder layout, ``meta_expressions.json`` and ``mask_dict.json`` (torch-free).

```
mevis/<split>/                       split: train, valid_u, valid
  JPEGImages/<video>/<frame>.jpg
  meta_expressions.json   {"videos": {video: {"expressions": {exp_id: {"exp": str,
                             "obj_id": [int, ...], "anno_id": [int, ...]}}, "frames": [name, ...]}}}
  mask_dict.json          {"<anno_id>": [COCO RLE or null, one per entry of the video's frames]}
                          (train and valid_u only)
```

An expression may refer to several objects (one ``anno_id`` each) or to none (an empty list:
its ground truth is empty in every frame). RLEs are compressed COCO RLEs; every one is checked
(:func:`cmpcv.data.rle.check_rle`) before pycocotools decodes it.

Predictions are PNGs ``<results>/<video>/<exp_id>/<frame>.png`` (the submission zip holds the
video folders at its root); MeViS's evaluation reads them with OpenCV as greyscale and counts
every non-zero pixel as foreground (:func:`read_prediction_mask`).
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cmpcv.data.atomic import atomic_write_text
from cmpcv.data.errors import DataError
from cmpcv.data.textfile import read_json
from cmpcv.data.rle import RLEError, check_rle

__all__ = [
    "MeViSExpression",
    "MeViSPaths",
    "MeViSVideo",
    "decode_rle",
    "encode_mask",
    "read_mask_dict",
    "read_meta_expressions",
    "read_prediction_mask",
    "write_mask_dict",
    "write_meta_expressions",
]


@dataclass(frozen=True)
class MeViSPaths:
    """Where the parts of one MeViS split live."""

    root: Path
    split: str = "valid_u"

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def split_dir(self) -> Path:
        return self.root / self.split

    @property
    def meta_expressions(self) -> Path:
        return self.split_dir / "meta_expressions.json"

    @property
    def mask_dict(self) -> Path:
        return self.split_dir / "mask_dict.json"

    def frames_dir(self, video: str) -> Path:
        return self.split_dir / "JPEGImages" / video


@dataclass(frozen=True)
class MeViSExpression:
    exp: str
    obj_id: tuple[int, ...]
    anno_id: tuple[int, ...]


@dataclass(frozen=True)
class MeViSVideo:
    frames: tuple[str, ...]
    expressions: dict[str, MeViSExpression]


def _int_list(value, path: Path, sample: str, key: str) -> tuple[int, ...]:
    if isinstance(value, bool) or not isinstance(value, (list, int)):
        raise DataError(path, f"{key!r} must be a list of integers, got {value!r}", sample=sample)
    items = [value] if isinstance(value, int) else value
    if any(isinstance(v, bool) or not isinstance(v, int) for v in items):
        raise DataError(path, f"{key!r} must be a list of integers, got {value!r}", sample=sample)
    return tuple(items)


def _parse_expression(exp, path: Path, sample: str) -> MeViSExpression:
    if not isinstance(exp, dict):
        raise DataError(path, f"expected an object, got {type(exp).__name__}", sample=sample)
    for key in ("exp", "obj_id", "anno_id"):
        if key not in exp:
            raise DataError(path, f"key {key!r} missing (keys: {sorted(exp)})", sample=sample)
    if not isinstance(exp["exp"], str):
        raise DataError(path, f"'exp' must be a string, got {exp['exp']!r}", sample=sample)
    return MeViSExpression(exp=exp["exp"], obj_id=_int_list(exp["obj_id"], path, sample, "obj_id"),
                           anno_id=_int_list(exp["anno_id"], path, sample, "anno_id"))


def read_meta_expressions(path: str | os.PathLike, problems: list[str] | None = None) -> dict[str, MeViSVideo]:
    """``{video: MeViSVideo}`` in the file's order, every key checked.

    A malformed video or expression raises a :class:`DataError`; with a ``problems`` list it is
    appended there (one line naming the file, the video or expression and the key) and left
    out, so that one bad entry does not stop a whole split. A file that is not JSON or not
    ``{"videos": {...}}`` always raises.
    """
    path = Path(path)
    data = read_json(path, "MeViS meta_expressions.json")
    videos = data.get("videos") if isinstance(data, dict) else None
    if not isinstance(videos, dict):
        raise DataError(path, "expected an object with key 'videos' mapping video names to videos")

    def bad(exc: DataError) -> None:
        if problems is None:
            raise exc
        problems.append(str(exc))

    out = {}
    for vid, video in videos.items():
        if not isinstance(video, dict):
            bad(DataError(path, f"expected an object, got {type(video).__name__}", sample=vid))
            continue
        frames = video.get("frames")
        if not isinstance(frames, list) or not frames or not all(isinstance(f, str) for f in frames):
            bad(DataError(path, f"'frames' must be a non-empty list of frame names, got {frames!r:.80}", sample=vid))
            continue
        expressions = video.get("expressions")
        if not isinstance(expressions, dict):
            bad(DataError(path, "'expressions' must map expression ids to expressions", sample=vid))
            continue
        exps = {}
        for exp_id, exp in expressions.items():
            try:
                exps[str(exp_id)] = _parse_expression(exp, path, f"{vid}/{exp_id}")
            except DataError as exc:
                bad(exc)
        out[str(vid)] = MeViSVideo(frames=tuple(frames), expressions=exps)
    return out


def _checked_frames(anno: str, frames, path: Path) -> list[dict | None]:
    if not isinstance(frames, list):
        raise DataError(path, f"anno_id {anno}: expected a list of per-frame RLEs, got {type(frames).__name__}")
    size = None
    checked = []
    for i, rle in enumerate(frames):
        if rle is None:
            checked.append(None)
            continue
        try:
            rle = check_rle(rle, f"anno_id {anno}, frame {i}", size)
        except RLEError as err:
            raise DataError(path, str(err)) from None
        size = rle["size"]
        checked.append(rle)
    return checked


def read_mask_dict(path: str | os.PathLike, problems: list[str] | None = None) -> dict[str, list[dict | None]]:
    """``{anno_id: [RLE or None per frame]}``; every RLE is checked (runs cover ``H * W``, all
    RLEs of one ``anno_id`` have one size) so pycocotools only ever sees well-formed ones.

    A malformed entry raises a :class:`DataError`; with a ``problems`` list the reason is appended
    there instead and the ``anno_id`` maps to ``None`` (present in the file, but unusable).
    """
    path = Path(path)
    data = read_json(path, "MeViS mask_dict.json")
    if not isinstance(data, dict):
        raise DataError(path, f"expected an object mapping anno_id to per-frame RLEs, got {type(data).__name__}")
    out = {}
    for anno, frames in data.items():
        try:
            out[str(anno)] = _checked_frames(str(anno), frames, path)
        except DataError as exc:
            if problems is None:
                raise
            problems.append(str(exc))
            out[str(anno)] = None
    return out


def read_prediction_mask(path: str | os.PathLike) -> np.ndarray:
    """The ``(H, W)`` bool foreground of a prediction PNG, as MeViS's evaluation sees it.

    That script reads the file with ``cv2.imread(path, cv2.IMREAD_GRAYSCALE)`` and takes every
    non-zero pixel: a grey level counts when it is non-zero, a colour (RGB, or the palette
    colour of an indexed PNG; alpha is dropped) when its grey value, truncated, is, i.e. when
    ``299 R + 587 G + 114 B >= 1000``. This equals OpenCV 4.10 and 5.1 on all 2^24 colours.
    16-bit PNGs are refused: OpenCV keeps only their high byte, so masks stored as 1 vanish.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as img:
            mode = img.mode
            if mode in ("L", "1", "LA"):
                return np.array(img.getchannel(0) if mode == "LA" else img) != 0
            if mode == "P":
                palette = np.zeros((256, 3), np.int64)
                colours = np.asarray(img.getpalette("RGB") or [], np.int64).reshape(-1, 3)[:256]
                palette[: len(colours)] = colours
                lit = palette @ np.array([299, 587, 114]) >= 1000
                return lit[np.array(img)]
            if mode in ("RGB", "RGBA"):
                rgb = np.array(img.convert("RGB") if mode == "RGBA" else img).astype(np.int64)
                return rgb @ np.array([299, 587, 114]) >= 1000
    except FileNotFoundError:
        raise DataError(path, "prediction not found") from None
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DataError(path, f"could not read the prediction: {exc}") from exc
    raise DataError(path, f"prediction: expected an 8-bit greyscale, indexed or RGB PNG, got mode {mode}")


def decode_rle(rle: Mapping) -> np.ndarray:
    """The ``(H, W)`` uint8 {0, 1} mask of a checked COCO RLE."""
    from pycocotools import mask as mask_utils

    return mask_utils.decode({"size": list(rle["size"]), "counts": rle["counts"].encode("ascii")})


def encode_mask(mask: np.ndarray) -> dict:
    """A ``(H, W)`` mask as a compressed COCO RLE ``{"size": [H, W], "counts": str}``."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(np.asarray(mask).astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def write_meta_expressions(path: str | os.PathLike, videos: Mapping[str, MeViSVideo]) -> None:
    """Write ``meta_expressions.json`` (atomically) from ``{video: MeViSVideo}``."""
    data = {"videos": {
        vid: {"expressions": {eid: {"exp": e.exp, "obj_id": list(e.obj_id), "anno_id": list(e.anno_id)}
                              for eid, e in video.expressions.items()},
              "frames": list(video.frames)}
        for vid, video in videos.items()}}
    atomic_write_text(path, json.dumps(data))


def write_mask_dict(path: str | os.PathLike, masks: Mapping[str | int, Sequence[np.ndarray | None]]) -> None:
    """Write ``mask_dict.json`` (atomically) from ``{anno_id: [(H, W) mask or None per frame]}``;
    an all-zero mask is stored as an RLE, ``None`` as ``null``."""
    data = {str(anno): [None if m is None else encode_mask(m) for m in frames] for anno, frames in masks.items()}
    atomic_write_text(path, json.dumps(data))
