"""DAVIS-2017 on disk: folder layout, image sets, and indexed (palette) PNG masks (torch-free).

```
DAVIS/
  ImageSets/2017/{train,val,test-dev,test-challenge}.txt   one sequence name per line
  ImageSets/2019/{test-dev,test-challenge}.txt             (unsupervised test sets)
  JPEGImages/480p/<sequence>/<frame>.jpg
  Annotations/480p/<sequence>/<frame>.png                  semi-supervised ground truth
  Annotations_unsupervised/480p/<sequence>/<frame>.png     unsupervised (and Ref-DAVIS17) ground truth
```

A mask is an 8-bit indexed PNG: the pixel value is the object id, 0 is background and 255 is
void; the palette (the PASCAL VOC colour map) only colours it. A results folder holds one PNG
per ground-truth frame, ``<results>/<sequence>/<frame>.png``, in the same encoding.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cmpcv.data.atomic import atomic_path, atomic_write_text
from cmpcv.data.errors import DataError

__all__ = [
    "DAVIS17Paths",
    "PALETTE",
    "SPLITS",
    "TASKS",
    "VOID",
    "list_frames",
    "read_image_set",
    "read_label_png",
    "write_davis17",
    "write_label_png",
    "write_results",
]

TASKS = ("semi-supervised", "unsupervised")
SPLITS = ("train", "val", "test-dev", "test-challenge")
VOID = 255

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


@dataclass(frozen=True)
class DAVIS17Paths:
    """Where the parts of a DAVIS-2017 tree live. ``resolution``: ``480p`` or ``Full-Resolution``."""

    root: Path
    resolution: str = "480p"

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def annotations(self, task: str = "unsupervised") -> Path:
        _check_task(task)
        folder = "Annotations" if task == "semi-supervised" else "Annotations_unsupervised"
        return self.root / folder / self.resolution

    def images(self) -> Path:
        return self.root / "JPEGImages" / self.resolution

    def image_set(self, split: str, task: str = "unsupervised") -> Path:
        """``ImageSets/<year>/<split>.txt``: 2019 for the unsupervised test sets, 2017 otherwise."""
        _check_task(task)
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        year = "2019" if task == "unsupervised" and split.startswith("test") else "2017"
        return self.root / "ImageSets" / year / f"{split}.txt"

    def sequences(self, split: str, task: str = "unsupervised") -> list[str]:
        return read_image_set(self.image_set(split, task))

    def mask_dir(self, sequence: str, task: str = "unsupervised") -> Path:
        return self.annotations(task) / sequence

    def frames(self, sequence: str, task: str = "unsupervised") -> list[str]:
        """The sequence's annotated frame names (sorted PNG stems of its mask folder)."""
        return list_frames(self.mask_dir(sequence, task), what=f"{task} ground truth of sequence {sequence}")


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")


def read_image_set(path: str | os.PathLike) -> list[str]:
    """The sequence names listed in an ``ImageSets`` file (blank lines skipped)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(path, "DAVIS image set not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"could not read the DAVIS image set: {exc}") from exc
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise DataError(path, "the DAVIS image set lists no sequence")
    return names


def list_frames(folder: str | os.PathLike, what: str = "masks") -> list[str]:
    """Sorted stems of the ``*.png`` files in ``folder``; a missing or empty folder is an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, f"folder of {what} not found")
    frames = sorted(p.stem for p in folder.iterdir() if p.suffix == ".png" and p.is_file())
    if not frames:
        raise DataError(folder, f"no PNG in the folder of {what}")
    return frames


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


def _frame_names(count: int, frames: Sequence[str] | None, sequence: str) -> list[str]:
    if frames is None:
        return [f"{i:05d}" for i in range(count)]
    if len(frames) != count:
        raise ValueError(f"sequence {sequence}: {len(frames)} frame names for {count} masks")
    return list(frames)


def write_results(root: str | os.PathLike, sequences: Mapping[str, np.ndarray],
                  frames: Mapping[str, Sequence[str]] | None = None, *, atomic: bool = True) -> None:
    """Write ``{sequence: (T, H, W) labels}`` as ``<root>/<sequence>/<frame>.png`` indexed PNGs;
    frame names default to ``00000``, ``00001``, ..."""
    root = Path(root)
    for seq, labels in sequences.items():
        names = _frame_names(len(labels), None if frames is None else frames.get(seq), seq)
        for name, frame in zip(names, labels):
            write_label_png(root / seq / f"{name}.png", frame, atomic=atomic)


def write_davis17(root: str | os.PathLike, sequences: Mapping[str, np.ndarray], split: str = "val",
                  task: str = "unsupervised", frames: Mapping[str, Sequence[str]] | None = None,
                  images: bool = False, resolution: str = "480p", atomic: bool = True) -> DAVIS17Paths:
    """Write a DAVIS-2017 tree: the masks ``{sequence: (T, H, W) labels}`` of ``task`` and the
    image set of ``split``; with ``images=True`` also black JPEG frames (the toolkit lists frames
    from them unless run in its CodaLab mode). Returns the tree's paths."""
    from PIL import Image

    paths = DAVIS17Paths(Path(root), resolution)
    write_results(paths.annotations(task), sequences, frames, atomic=atomic)
    atomic_write_text(paths.image_set(split, task), "".join(f"{seq}\n" for seq in sequences))
    if images:
        for seq, labels in sequences.items():
            names = _frame_names(len(labels), None if frames is None else frames.get(seq), seq)
            black = Image.new("RGB", (labels.shape[2], labels.shape[1]))
            for name in names:
                with atomic_path(paths.images() / seq / f"{name}.jpg") as tmp:
                    black.save(tmp, format="JPEG")
    return paths
