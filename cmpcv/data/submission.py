"""Benchmark outputs of whole-video inference: per-expression mask folders, their zips, and the
merging of several objects' masks into one label image (torch-free).

A *results folder* holds one PNG per (video, expression, frame): ``<root>/<video>/<exp_id>/<frame>.png``,
binary 0/255, 8-bit greyscale. Ref-YouTube-VOS and MeViS score exactly that:

* Ref-YouTube-VOS (CodaLab server): a zip whose top folder is ``Annotations/``
  (``Annotations/<video>/<exp_id>/<frame>.png``), for every frame of every validation video;
* MeViS: a zip whose root holds ``<video>/<exp_id>/<frame>.png`` (``valid``, server-scored); the
  ``valid_u`` folder is scored locally.

:func:`zip_results` writes such a zip atomically (a temporary file in the same folder, renamed into
place) and checks, before the rename, that it holds exactly the expected entries; :func:`check_zip`
verifies any zip against the annotation file's listing (missing, unexpected, undecodable and
non-binary PNGs), e.g. one written by another tool.

:func:`merge_objects` is the Ref-DAVIS17 protocol (ReferFormer's ``inference_davis.py``): the
foreground probabilities of a video's objects below 0.5 are set to 0, a constant background of
0.1 is put in front, and the argmax is the label (0 background, ``k`` the ``k``-th object).
"""
from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from cmpcv.data.atomic import atomic_path
from cmpcv.data.errors import DataError

__all__ = ["YTVOS_PREFIX", "check_zip", "expected_entries", "mask_png_bytes", "merge_objects", "read_mask_png",
           "write_mask_png", "zip_results"]

#: The top folder of a Ref-YouTube-VOS submission zip.
YTVOS_PREFIX = "Annotations/"
#: Listing a problem per entry beyond this would flood the terminal; the count is always given.
_SHOWN = 10


def mask_png_bytes(mask: np.ndarray) -> bytes:
    """``mask (H, W)`` (nonzero = foreground) as an 8-bit greyscale PNG of 0 and 255."""
    from PIL import Image

    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"expected an (H, W) mask, got shape {mask.shape}")
    buf = io.BytesIO()
    Image.fromarray(np.where(mask > 0, 255, 0).astype(np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue()


def write_mask_png(path: str | os.PathLike, mask: np.ndarray, *, atomic: bool = True) -> None:
    """Write a binary 0/255 PNG, atomically unless ``atomic=False`` (files inside a results
    folder that is itself renamed into place when complete: an fsync per small file costs
    several times its write)."""
    data = mask_png_bytes(mask)
    if not atomic:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(data)
        return
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def read_mask_png(data: bytes, where: str) -> np.ndarray:
    """The ``(H, W)`` uint8 values of a mask PNG (greyscale or palette indices)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format != "PNG":
                raise DataError(where, f"not a PNG (a {img.format} image)")
            return np.array(img.convert("L") if img.mode not in ("L", "P", "1") else img, dtype=np.uint8)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow raises several types for corrupt files
        raise DataError(where, f"could not decode the PNG: {type(exc).__name__}: {exc}") from None


def expected_entries(videos: Mapping[str, tuple[Sequence[str], Iterable[str]]], prefix: str = "") -> list[str]:
    """The zip entries of ``{video: (frame names, expression ids)}``: ``<prefix><video>/<exp_id>/<frame>.png``."""
    return [f"{prefix}{vid}/{exp}/{frame}.png" for vid, (frames, exps) in videos.items()
            for exp in exps for frame in frames]


def _listing_problems(names: Iterable[str], expected: Sequence[str], where: str) -> list[str]:
    have, want = set(names), set(expected)
    problems = []
    missing = [n for n in expected if n not in have]
    extra = sorted(n for n in have - want if not n.endswith("/"))
    if missing:
        problems.append(f"{where}: {len(missing)} of the {len(want)} expected masks are missing, e.g. "
                        + ", ".join(missing[:_SHOWN]))
    if extra:
        problems.append(f"{where}: {len(extra)} entries are not in the annotation file's listing, e.g. "
                        + ", ".join(extra[:_SHOWN]))
    return problems


def check_zip(path: str | os.PathLike, expected: Sequence[str], *, decode: bool = True) -> list[str]:
    """Problems of a submission zip against ``expected`` entries (:func:`expected_entries`): one
    line each for missing and unexpected entries, and (``decode``) per PNG that cannot be decoded
    or holds values other than 0 and 255. Empty when the zip is complete and valid."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            problems = _listing_problems(names, expected, str(path))
            bad = zf.testzip()
            if bad is not None:
                problems.append(f"{path}: entry {bad} fails its CRC check (the zip is corrupt)")
            if decode:
                wrong = []
                for name in sorted(set(names) & set(expected)):
                    try:
                        values = np.unique(read_mask_png(zf.read(name), f"{path}:{name}"))
                    except DataError as exc:
                        wrong.append(str(exc))
                        continue
                    if not set(values.tolist()) <= {0, 255}:
                        wrong.append(f"{path}:{name}: values {values[:6].tolist()} (expected only 0 and 255)")
                if wrong:
                    problems.append(f"{path}: {len(wrong)} masks are not binary 0/255 PNGs: " + "; ".join(wrong[:_SHOWN]))
    except FileNotFoundError:
        return [f"{path}: zip not found"]
    except zipfile.BadZipFile as exc:
        return [f"{path}: not a zip file ({exc})"]
    return problems


def zip_results(folder: str | os.PathLike, path: str | os.PathLike, expected: Sequence[str], *,
                prefix: str = "") -> Path:
    """Zip the results ``folder`` (``<folder>/<video>/<exp_id>/<frame>.png``) into ``path``, each
    entry named ``<prefix><video>/<exp_id>/<frame>.png``; ``expected``: the entries that must be
    there (with the prefix). Raises :class:`DataError` listing what is missing before anything is
    written; the zip is re-read and checked (listing and CRCs) before it replaces ``path``."""
    folder, path = Path(folder), Path(path)
    files = {prefix + p.relative_to(folder).as_posix(): p for p in folder.rglob("*.png")}
    problems = _listing_problems(files, expected, str(folder))
    if problems:
        raise DataError(folder, "; ".join(problems))
    with atomic_path(path) as tmp:
        # PNGs are compressed already: stored entries zip as fast as copying, and as small.
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            for name in expected:
                zf.write(files[name], name)
        problems = check_zip(tmp, expected, decode=False)
        if problems:
            raise DataError(path, "; ".join(problems))
    return path


def merge_objects(probs: np.ndarray, threshold: float = 0.5, background: float = 0.1) -> np.ndarray:
    """``probs (O, H, W)`` per-object foreground probabilities -> ``(H, W)`` uint8 labels 0..O:
    probabilities below ``threshold`` become 0, a constant ``background`` is the label-0 channel,
    the label is the argmax (ties go to the lower label, as ``np.argmax``)."""
    probs = np.asarray(probs, dtype=np.float32)
    if probs.ndim != 3:
        raise ValueError(f"merge_objects: expected (objects, H, W) probabilities, got shape {probs.shape}")
    if len(probs) > 255:
        raise ValueError(f"merge_objects: {len(probs)} objects do not fit 8-bit labels")
    kept = np.where(probs < threshold, 0.0, probs)
    stack = np.concatenate([np.full((1, *probs.shape[1:]), background, np.float32), kept])
    return np.argmax(stack, axis=0).astype(np.uint8)
