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
void; the palette (the PASCAL VOC colour map, `cmpcv.data.palette`) only colours it. A results folder holds one PNG
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
from cmpcv.data.palette import PALETTE, read_label_png, write_label_png
from cmpcv.data.textfile import read_text

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
    text = read_text(path, "DAVIS image set")
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
