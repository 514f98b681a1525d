"""The on-disk format of J-HMDB Sentences: where each file lives, how it is parsed, and how it is written.

One description of the tree, shared by the reader, the fixture and ``python -m cmpcv.data.check``.
The layout is the one MTTR and ReferFormer expect (spec ``datasets_and_evaluation.md`` §2)::

    jhmdb_sentences/
    ├── Rename_Images/<action>/<video_id>/<frame:05d>.png
    ├── puppet_mask/<action>/<video_id>/puppet_mask.mat
    ├── jhmdb_annotation.txt                      # video_id,query
    └── jhmdb_sentences_samples_metadata.json     # optional: MTTR's frozen 2,784 samples

Parsers raise a :class:`~cmpcv.data.errors.DataError` naming the file and line (or entry) when the
input is malformed. ``part_mask`` in ``puppet_mask.mat`` is ``(H, W, T)`` and, unlike A2D's masks,
not transposed. Every write is atomic (:mod:`cmpcv.data.atomic`). Torch-free; scipy is imported
only when a mask is read or written.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from cmpcv.data.atomic import atomic_path, atomic_write_text
from cmpcv.data.errors import DataError
from cmpcv.data.text import normalize_query
from cmpcv.data.textfile import check_field, read_lines, strip_header

# Published sample count of the MTTR protocol (its frozen list), used by ``python -m cmpcv.data.check``.
PUBLISHED_COUNTS = {"test": 2784}


# ---------------------------------------------------------------------------------------------
# Layout


@dataclass(frozen=True)
class JHMDBPaths:
    """Paths of a J-HMDB Sentences tree rooted at ``root``."""

    root: Path

    @property
    def frames_dir(self) -> Path:
        return self.root / "Rename_Images"

    @property
    def masks_dir(self) -> Path:
        return self.root / "puppet_mask"

    @property
    def annotation(self) -> Path:
        return self.root / "jhmdb_annotation.txt"

    @property
    def samples_metadata(self) -> Path:
        return self.root / "jhmdb_sentences_samples_metadata.json"

    def frame_dir(self, action: str, video_id: str) -> Path:
        return self.frames_dir / action / video_id

    def frame(self, action: str, video_id: str, frame_idx: int) -> Path:
        """The PNG of 1-based frame ``frame_idx``."""
        return self.frames_dir / action / video_id / f"{frame_idx:05d}.png"

    def mask(self, action: str, video_id: str) -> Path:
        return self.masks_dir / action / video_id / "puppet_mask.mat"

    @property
    def annotation_files(self) -> tuple[Path, ...]:
        return (self.annotation,)


def jhmdb_paths(root: str | os.PathLike) -> JHMDBPaths:
    """The :class:`JHMDBPaths` of the J-HMDB Sentences tree at ``root``."""
    return JHMDBPaths(Path(root))


def jhmdb_sample_id(video_id: str, frame_idx: int) -> str:
    """MTTR's image id of a J-HMDB sample."""
    return f"v_{video_id}_f_{frame_idx}"


def count_png_frames(folder: Path) -> int:
    """Number of ``NNNNN.png`` frames in a J-HMDB frame folder."""
    try:
        return sum(1 for name in os.listdir(folder) if name.endswith(".png"))
    except FileNotFoundError:
        raise DataError(folder, "frame folder not found") from None


# ---------------------------------------------------------------------------------------------
# Annotation files


def read_jhmdb_annotation(path: str | os.PathLike) -> list[tuple[str, str]]:
    """``jhmdb_annotation.txt`` -> ``[(video_id, normalised query)]``."""
    rows = []
    lines = strip_header(path, read_lines(path, "J-HMDB annotation file"), "video_id,query")
    for n, line in enumerate(lines, start=2):
        if not line.strip():
            continue
        vid, sep, query = line.partition(",")
        if not sep:
            raise DataError(path, f"line {n}: expected video_id,query, got {line!r}")
        rows.append((vid.strip(), normalize_query(query)))
    return rows


def read_jhmdb_samples_metadata(path: str | os.PathLike) -> list[tuple[str, str, int, int, str]]:
    """MTTR's ``jhmdb_sentences_samples_metadata.json`` -> ``[(video_id, action, frame_idx, total_frames, query)]``.

    Only the last three components of the PNG path are trusted (``<action>/<video_id>/<NNNNN>.png``);
    the ``./jhmdb_sentences`` prefix differs between MTTR and ReferFormer.
    """
    path = Path(path)
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(path, "J-HMDB samples metadata not found") from None
    except (OSError, ValueError) as exc:
        raise DataError(path, f"not a JSON samples list: {exc}") from exc
    out = []
    for k, entry in enumerate(entries):
        try:
            vid, png, _mat, total, query = entry
            action, folder, name = PurePosixPath(str(png).replace("\\", "/")).parts[-3:]
            frame = int(PurePosixPath(name).stem)
        except (ValueError, TypeError) as exc:
            raise DataError(path, f"entry {k}: expected [video_id, png_path, mat_path, total_frames, query] "
                                  f"with a .../<action>/<video_id>/<NNNNN>.png path, got {entry!r}") from exc
        if folder != vid:
            raise DataError(path, f"entry {k}: PNG path {png!r} is not in the folder of video {vid!r}")
        out.append((str(vid), action, frame, int(total), normalize_query(query)))
    return out


def write_jhmdb_annotation(path: str | os.PathLike, rows: Sequence[tuple[str, str]]) -> None:
    """Write ``jhmdb_annotation.txt``: header ``video_id,query``, one sentence per video."""
    path = Path(path)
    lines = ["video_id,query"]
    for vid, query in rows:
        lines.append(f"{check_field(vid, path, 'video_id')},{check_field(query, path, 'query')}")
    atomic_write_text(path, "\n".join(lines) + "\n")


def write_jhmdb_samples_metadata(path: str | os.PathLike,
                                 entries: Sequence[tuple[str, str, int, int, str]]) -> None:
    """Write an MTTR-style ``jhmdb_sentences_samples_metadata.json``.

    ``entries`` are ``(video_id, action, frame_idx (1-based), total_frames, query)``; the file holds
    ``[video_id, png_path, mat_path, total_frames, query]`` with MTTR's ``./jhmdb_sentences/`` prefix.
    """
    prefix = "./jhmdb_sentences"
    out = [[vid, f"{prefix}/Rename_Images/{action}/{vid}/{frame:05d}.png",
            f"{prefix}/puppet_mask/{action}/{vid}/puppet_mask.mat", int(total), query]
           for vid, action, frame, total, query in entries]
    atomic_write_text(path, json.dumps(out))


# ---------------------------------------------------------------------------------------------
# Puppet masks (MATLAB)


def read_puppet_mask(path: str | os.PathLike) -> np.ndarray:
    """A J-HMDB ``puppet_mask.mat`` as ``(T, H, W)`` uint8 {0, 1}."""
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise DataError(path, "J-HMDB puppet mask (.mat) not found")
    try:
        data = scipy.io.loadmat(path, variable_names=["part_mask"])
    except Exception as exc:  # noqa: BLE001 - scipy raises several types for corrupt files
        raise DataError(path, f"could not read the MATLAB file: {type(exc).__name__}: {exc}") from exc
    if "part_mask" not in data:
        raise DataError(path, "key 'part_mask' missing")
    masks = np.asarray(data["part_mask"])
    if masks.ndim == 2:  # savemat squeezes nothing, but a one-frame MATLAB export can be 2-D
        masks = masks[:, :, None]
    if masks.ndim != 3:
        raise DataError(path, f"part_mask must be (H, W, T), got shape {masks.shape}")
    return (masks.transpose(2, 0, 1) > 0).astype(np.uint8)


def write_puppet_mask(path: str | os.PathLike, masks: np.ndarray) -> None:
    """Write a J-HMDB ``puppet_mask.mat`` (MATLAB v5): key ``part_mask``, ``(H, W, T)`` uint8, not transposed."""
    import scipy.io

    path = Path(path)
    masks = np.asarray(masks)
    if masks.ndim != 3 or masks.shape[0] == 0:
        raise ValueError(f"{path}: expected masks of shape (T, H, W) with T >= 1, got {masks.shape}")
    with atomic_path(path) as tmp:
        scipy.io.savemat(tmp, {"part_mask": np.ascontiguousarray(masks.astype(np.uint8).transpose(1, 2, 0))})
