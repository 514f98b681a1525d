"""Indexed ("palette", mode "P") PNG masks, as YouTube-VOS, DAVIS and Ref-YouTube-VOS store them (torch-free).

A pixel's value is its object id, 0 is background; the palette only colours the ids for viewing.
:data:`DAVIS_PALETTE` is the one DAVIS files carry: the 256-entry PASCAL VOC colour map, built
from the bits of the index (id 1 -> (128, 0, 0), 2 -> (0, 128, 0), ...). It equals the palette of
the DAVIS-2017 toolkit's result PNGs (davis2017-evaluation @ac7c43f, checked entry by entry).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cmpcv.data.atomic import atomic_path
from cmpcv.data.errors import DataError

__all__ = ["DAVIS_PALETTE", "read_index_png", "write_index_png", "voc_palette"]


def voc_palette(n: int = 256) -> list[int]:
    """The PASCAL VOC colour map as a flat ``[r0, g0, b0, r1, ...]`` list of ``3 n`` values.

    Bit ``3 k + c`` of index ``i`` sets bit ``7 - k`` of channel ``c`` (c = 0 red, 1 green, 2 blue).
    """
    out = []
    for i in range(n):
        rgb = [0, 0, 0]
        for k in range(8):
            for c in range(3):
                rgb[c] |= ((i >> (3 * k + c)) & 1) << (7 - k)
        out.extend(rgb)
    return out


DAVIS_PALETTE: tuple[int, ...] = tuple(voc_palette())


def read_index_png(path: str | os.PathLike) -> np.ndarray:
    """The ``(H, W)`` uint8 object ids of an indexed PNG (mode "P"; a grey "L" PNG is read as ids too).

    Raises:
        DataError: naming the file when it is missing, unreadable, or of another mode (an RGB
        rendering of a mask has lost its ids).
    """
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise DataError(path, "mask PNG not found")
    try:
        with Image.open(path) as img:
            if img.mode not in ("P", "L"):
                raise DataError(path, f"expected an indexed (mode 'P') PNG whose pixel values are object ids, "
                                      f"got mode {img.mode!r}")
            return np.array(img, dtype=np.uint8)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow raises several types for corrupt files
        raise DataError(path, f"could not read the mask PNG: {type(exc).__name__}: {exc}") from exc


def write_index_png(path: str | os.PathLike, ids: np.ndarray, palette: tuple[int, ...] | list[int] = DAVIS_PALETTE
                    ) -> None:
    """Write ``ids (H, W)`` (values 0-255) as a mode "P" PNG with ``palette``, atomically."""
    from PIL import Image

    ids = np.asarray(ids)
    if ids.ndim != 2:
        raise ValueError(f"{path}: expected (H, W) object ids, got shape {ids.shape}")
    if ids.size and (ids.min() < 0 or ids.max() > 255):
        raise ValueError(f"{path}: object ids must be in 0..255, got {int(ids.min())}..{int(ids.max())}")
    h, w = ids.shape
    img = Image.frombytes("P", (w, h), np.ascontiguousarray(ids, dtype=np.uint8).tobytes())
    img.putpalette(list(palette))
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
