"""Indexed (palette) PNG label images, as DAVIS-2017, Ref-DAVIS17 and Refer-YouTube-VOS store
their masks and results (torch-free).

The pixel value is the label (an object id; DAVIS uses 255 for void); the palette, the PASCAL VOC
colour map, only colours it. Readers get the labels, never the colours.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cmpcv.data.atomic import atomic_path
from cmpcv.data.errors import DataError

__all__ = ["PALETTE", "read_label_png", "write_label_png"]

#: Image modes whose pixel values are labels (palette index or grey level).
_LABEL_MODES = ("P", "L", "1", "I;16", "I")


def _voc_palette() -> np.ndarray:
    """The PASCAL VOC colour map: bit ``3 j + c`` of the index sets bit ``7 - j`` of channel ``c``."""
    index = np.arange(256)
    palette = np.zeros((256, 3), np.uint8)
    for j in range(8):
        for channel in range(3):
            palette[:, channel] |= (((index >> (3 * j + channel)) & 1) << (7 - j)).astype(np.uint8)
    return palette


#: ``(256, 3)`` uint8 RGB palette of DAVIS masks (index 1 is (128, 0, 0)).
PALETTE = _voc_palette()


def read_label_png(path: str | os.PathLike, what: str = "mask") -> np.ndarray:
    """The ``(H, W)`` label image of an indexed or greyscale PNG (palette indices, not colours)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as img:
            if img.mode not in _LABEL_MODES:
                raise DataError(path, f"{what}: expected an indexed (palette) or greyscale PNG, got mode {img.mode}")
            labels = np.array(img)
    except FileNotFoundError:
        raise DataError(path, f"{what} not found") from None
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DataError(path, f"could not read the {what}: {exc}") from exc
    if labels.dtype == bool:
        labels = labels.astype(np.uint8)
    return labels


def write_label_png(path: str | os.PathLike, labels: np.ndarray, palette: np.ndarray | None = PALETTE, *,
                    atomic: bool = True) -> None:
    """Write an ``(H, W)`` label image (values 0..255) as an indexed PNG (greyscale with
    ``palette=None``), atomically unless ``atomic=False`` (bulk fixture trees, where the fsync
    of every small file costs ten times the write)."""
    from PIL import Image

    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"{path}: expected an (H, W) label image, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise ValueError(f"{path}: labels must lie in 0..255, got {labels.min()}..{labels.max()}")
    data = np.ascontiguousarray(labels, dtype=np.uint8)
    height, width = data.shape
    img = Image.frombytes("P" if palette is not None else "L", (width, height), data.tobytes())
    if palette is not None:
        img.putpalette(np.asarray(palette, np.uint8).ravel().tolist())
    if not atomic:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        img.save(path, format="PNG")
        return
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
