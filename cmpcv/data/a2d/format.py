"""The on-disk format of A2D Sentences: where each file lives, how it is parsed, and how it is written.

One description of the tree, shared by the reader, the fixture, the synthetic set and
``python -m cmpcv.data.check``, so that they cannot disagree about a path or a key. The layout is
the one MTTR and ReferFormer expect (spec ``datasets_and_evaluation.md`` §1)::

    a2d_sentences/
    ├── Release/videoset.csv                      # 9 columns, no header
    ├── Release/clips320H/<video_id>.mp4
    └── text_annotations/
        ├── a2d_annotation.txt                    # video_id,instance_id,query
        ├── a2d_missed_videos.txt
        └── a2d_annotation_with_instances/<video_id>/<frame:05d>.h5

Parsers raise a :class:`~cmpcv.data.errors.DataError` naming the file and line (or key) when the
input is malformed. The per-frame masks (spec §1.4): ``reMask`` is stored transposed, ``(W, H)``
for one instance and ``(N, W, H)`` for N; ``instance`` lists the ids of the first masks in order
(surplus masks come last and are ignored); a sentence's mask is the slice at the *position* of its
instance id. The writers reproduce the released bytes where a reader can tell (every write is
atomic, :mod:`cmpcv.data.atomic`). Torch-free; h5py is imported only when a mask is read or written.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cmpcv.data.atomic import atomic_path, atomic_write_text
from cmpcv.data.errors import DataError
from cmpcv.data.text import normalize_query
from cmpcv.data.textfile import check_field, read_lines, strip_header

A2D_SUBSETS = {"train": 0, "test": 1}
COPY_INSTANCE = "1 (copy)"  # the one duplicated row of a2d_annotation.txt, dropped as MTTR does
# Published sample counts of the MTTR protocol, used by ``python -m cmpcv.data.check``.
PUBLISHED_COUNTS = {"train": 15747, "test": 3800}
VIDEOSET_COLUMNS = (
    "vid", "label", "start_time", "end_time", "height", "width", "total_frames", "annotated_frames", "subset",
)
# Columns the readers do not use get a harmless default, so callers only state what matters.
_VIDEOSET_DEFAULTS = {"label": 11, "start_time": "00:00:00", "end_time": "00:00:00", "annotated_frames": 0}


# ---------------------------------------------------------------------------------------------
# Layout


@dataclass(frozen=True)
class A2DPaths:
    """Paths of an A2D Sentences tree rooted at ``root``."""

    root: Path

    @property
    def videoset(self) -> Path:
        return self.root / "Release" / "videoset.csv"

    @property
    def clips_dir(self) -> Path:
        return self.root / "Release" / "clips320H"

    @property
    def annotation(self) -> Path:
        return self.root / "text_annotations" / "a2d_annotation.txt"

    @property
    def missed(self) -> Path:
        return self.root / "text_annotations" / "a2d_missed_videos.txt"

    @property
    def masks_dir(self) -> Path:
        return self.root / "text_annotations" / "a2d_annotation_with_instances"

    def video(self, video_id: str) -> Path:
        return self.clips_dir / f"{video_id}.mp4"

    def mask_dir(self, video_id: str) -> Path:
        return self.masks_dir / video_id

    def mask(self, video_id: str, frame_idx: int) -> Path:
        """The h5 file of 1-based frame ``frame_idx``."""
        return self.masks_dir / video_id / f"{frame_idx:05d}.h5"

    @property
    def annotation_files(self) -> tuple[Path, ...]:
        """The files whose change invalidates a cached sample index."""
        return (self.videoset, self.annotation, self.missed)


def a2d_paths(root: str | os.PathLike) -> A2DPaths:
    """The :class:`A2DPaths` of the A2D Sentences tree at ``root``."""
    return A2DPaths(Path(root))


def a2d_sample_id(video_id: str, frame_idx: int, instance_id: int) -> str:
    """MTTR's image id of an A2D sample."""
    return f"v_{video_id}_f_{frame_idx}_i_{instance_id}"


# ---------------------------------------------------------------------------------------------
# Text files


def read_videoset(path: str | os.PathLike) -> dict[str, int]:
    """``Release/videoset.csv`` -> ``{video_id: subset}`` (0 train, 1 test). No header; 9 columns."""
    out: dict[str, int] = {}
    for n, line in enumerate(read_lines(path, "A2D videoset.csv"), start=1):
        if not line.strip():
            continue
        cols = line.split(",")
        if len(cols) != 9:
            raise DataError(path, f"line {n}: expected 9 comma-separated columns "
                                  f"(vid,label,...,subset), got {len(cols)}: {line!r}")
        try:
            subset = int(cols[8])
        except ValueError:
            raise DataError(path, f"line {n}: subset (column 9) must be 0 or 1, got {cols[8]!r}") from None
        out[cols[0].strip()] = subset
    return out


def read_a2d_annotation(path: str | os.PathLike, *, keep_copy: bool = False) -> list[tuple[str, int | str, str]]:
    """``a2d_annotation.txt`` -> ``[(video_id, instance_id, normalised query)]`` in file order.

    The ``1 (copy)`` row is dropped (``keep_copy=True`` keeps it, with a string instance id, for
    the check command); any other non-integer instance id is an error.
    """
    rows: list[tuple[str, int | str, str]] = []
    lines = strip_header(path, read_lines(path, "A2D annotation file"), "video_id,instance_id,query")
    for n, line in enumerate(lines, start=2):
        if not line.strip():
            continue
        cols = line.split(",", 2)
        if len(cols) != 3:
            raise DataError(path, f"line {n}: expected video_id,instance_id,query, got {line!r}")
        vid, inst, query = cols[0].strip(), cols[1].strip(), cols[2]
        if inst == COPY_INSTANCE:
            if keep_copy:
                rows.append((vid, inst, normalize_query(query)))
            continue
        try:
            inst_id: int | str = int(inst)
        except ValueError:
            raise DataError(path, f"line {n}: instance_id must be an integer, got {inst!r}") from None
        rows.append((vid, inst_id, normalize_query(query)))
    return rows


def read_missed_videos(path: str | os.PathLike) -> list[str]:
    """``a2d_missed_videos.txt`` -> video ids (one per line; the last line has no newline)."""
    return [line.strip() for line in read_lines(path, "A2D missed-videos list") if line.strip()]


def write_videoset_csv(path: str | os.PathLike, rows: Sequence[Mapping]) -> None:
    """Write ``Release/videoset.csv``: the 9 :data:`VIDEOSET_COLUMNS`, no header, subset 0 train / 1 test.

    Each row needs ``vid``, ``subset``, ``height``, ``width`` and ``total_frames``; ``label``,
    ``start_time``, ``end_time`` and ``annotated_frames`` default to placeholders (no reader uses them).
    """
    path = Path(path)
    lines = []
    for k, row in enumerate(rows):
        full = {**_VIDEOSET_DEFAULTS, **row}
        missing = [c for c in VIDEOSET_COLUMNS if c not in full]
        if missing:
            raise ValueError(f"{path}: row {k} ({row.get('vid')!r}) lacks column(s) {missing}")
        if int(full["subset"]) not in (0, 1):
            raise ValueError(f"{path}: row {k} ({full['vid']!r}): subset must be 0 (train) or 1 (test), got {full['subset']!r}")
        lines.append(",".join(check_field(full[c], path, c) for c in VIDEOSET_COLUMNS))
    atomic_write_text(path, "".join(line + "\n" for line in lines))


def write_a2d_annotation(path: str | os.PathLike, rows: Sequence[tuple[str, str | int, str]]) -> None:
    """Write ``a2d_annotation.txt``: header ``video_id,instance_id,query``, LF line endings.

    ``instance_id`` may be a string so that the ``1 (copy)`` quirk can be reproduced.
    """
    path = Path(path)
    lines = ["video_id,instance_id,query"]
    for vid, inst, query in rows:
        lines.append(",".join((check_field(vid, path, "video_id"), check_field(inst, path, "instance_id"),
                               check_field(query, path, "query"))))
    atomic_write_text(path, "\n".join(lines) + "\n")


def write_missed_videos(path: str | os.PathLike, video_ids: Sequence[str]) -> None:
    """Write ``a2d_missed_videos.txt``: one id per line, no trailing newline (as released)."""
    path = Path(path)
    atomic_write_text(path, "\n".join(check_field(v, path, "video_id") for v in video_ids))


# ---------------------------------------------------------------------------------------------
# Per-frame masks (HDF5)


def _open_h5(path: Path):
    import h5py

    if not path.is_file():
        raise DataError(path, "A2D mask file (.h5) not found")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DataError(path, f"could not open the A2D mask file as HDF5: {exc}") from exc


def read_a2d_instances(path: str | os.PathLike) -> list[int]:
    """The instance ids stored in an A2D frame file (key ``instance``), in mask order."""
    path = Path(path)
    with _open_h5(path) as f:
        if "instance" not in f:
            raise DataError(path, f"key 'instance' missing (keys: {sorted(f.keys())})")
        try:
            return [int(v) for v in np.asarray(f["instance"]).ravel()]
        except (OSError, ValueError) as exc:
            raise DataError(path, f"could not read key 'instance': {exc}") from exc


def read_a2d_mask(path: str | os.PathLike, instance_id: int) -> np.ndarray:
    """The ``(H, W)`` uint8 {0, 1} mask of ``instance_id`` in an A2D frame file."""
    path = Path(path)
    try:
        return _read_a2d_mask(path, instance_id)
    except (OSError, KeyError, ValueError) as exc:  # h5py reports truncated data lazily, on read
        raise DataError(path, f"could not read the A2D mask: {type(exc).__name__}: {exc}") from exc


def _read_a2d_mask(path: Path, instance_id: int) -> np.ndarray:
    with _open_h5(path) as f:
        for key in ("instance", "reMask"):
            if key not in f:
                raise DataError(path, f"key {key!r} missing (keys: {sorted(f.keys())})")
        instances = [int(v) for v in np.asarray(f["instance"]).ravel()]
        if instance_id not in instances:
            raise DataError(path, f"instance id {instance_id} not in the file's instances {instances}")
        pos = instances.index(instance_id)  # first occurrence, as MTTR (a duplicated id exists)
        dset = f["reMask"]
        if dset.ndim == 2:  # one instance: (W, H)
            if pos != 0:
                raise DataError(path, f"reMask holds one mask but instance {instance_id} is at position {pos}")
            stored = np.asarray(dset)
        elif dset.ndim == 3:
            if dset.shape[0] < len(instances):
                raise DataError(path, f"reMask has {dset.shape[0]} masks for {len(instances)} instance ids")
            stored = np.asarray(dset[pos])
        else:
            raise DataError(path, f"reMask must be (W, H) or (N, W, H), got shape {dset.shape}")
    return (stored.T > 0).astype(np.uint8)


def masks_to_bboxes(masks: np.ndarray) -> np.ndarray:
    """Tight ``x1, y1, x2, y2`` boxes (inclusive pixel coordinates) of ``masks (N, H, W)``; zeros for empty masks."""
    masks = np.asarray(masks)
    boxes = np.zeros((masks.shape[0], 4), dtype=np.float64)
    for i, m in enumerate(masks):
        ys, xs = np.nonzero(m)
        if ys.size:
            boxes[i] = (xs.min(), ys.min(), xs.max(), ys.max())
    return boxes


def write_a2d_h5(path: str | os.PathLike, masks: np.ndarray, instance_ids: Sequence[int],
                 bboxes: np.ndarray | None = None, labels: Sequence[int] | None = None) -> None:
    """Write one A2D per-frame annotation file exactly as released (MATLAB v7.3 = HDF5).

    Args:
        masks: ``(N, H, W)`` binary uint8 masks, one per instance.
        instance_ids: the instance ids of the first ``len(instance_ids)`` masks. Fewer ids than
            masks reproduces the "surplus masks" quirk (the extra masks come last).
        bboxes: ``(N, 4)`` x1y1x2y2; computed from the masks when None.
        labels: A2D actor-action codes per mask (e.g. 11 = adult-climbing); 11 when None.

    Stored keys: ``reMask`` transposed as MATLAB does, ``(W, H)`` when N == 1 else ``(N, W, H)``;
    ``instance`` float64 ``(len(instance_ids),)``; ``reBBox`` ``(4, N)``; ``id`` ``(1, N)``.
    """
    import h5py

    path = Path(path)
    masks = np.asarray(masks)
    if masks.ndim != 3 or masks.shape[0] == 0:
        raise ValueError(f"{path}: expected masks of shape (N, H, W) with N >= 1, got {masks.shape}")
    n = masks.shape[0]
    ids = np.asarray(list(instance_ids), dtype=np.float64)
    if ids.ndim != 1 or not 1 <= ids.size <= n:
        raise ValueError(f"{path}: expected 1..{n} instance ids for {n} masks, got {ids.size}")
    boxes = masks_to_bboxes(masks) if bboxes is None else np.asarray(bboxes, dtype=np.float64)
    if boxes.shape != (n, 4):
        raise ValueError(f"{path}: expected bboxes of shape ({n}, 4), got {boxes.shape}")
    codes = np.full(n, 11.0) if labels is None else np.asarray(list(labels), dtype=np.float64)
    if codes.shape != (n,):
        raise ValueError(f"{path}: expected {n} labels, got {codes.shape}")
    stored = masks.astype(np.uint8).transpose(0, 2, 1)  # (N, W, H): MATLAB's column-major view
    if n == 1:
        stored = stored[0]
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("reMask", data=stored)
            f.create_dataset("instance", data=ids)
            f.create_dataset("reBBox", data=boxes.T.copy())
            f.create_dataset("id", data=codes[None, :])
