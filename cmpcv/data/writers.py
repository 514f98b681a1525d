"""Writers for the exact on-disk formats of A2D Sentences and J-HMDB Sentences.

The fixture generator (:mod:`cmpcv.data.fixtures`), the synthetic ``shapes`` set and any user who
converts their own videos write through these functions, so every tree the project produces is
byte-compatible with what the readers (and MTTR / ReferFormer) expect. Formats follow spec
``datasets_and_evaluation.md`` §1-2; paths come from :mod:`cmpcv.data.layout`. Every write is
atomic (:mod:`cmpcv.data.atomic`).
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from cmpcv.data.atomic import atomic_path, atomic_write_text
from cmpcv.data.layout import A2DPaths, JHMDBPaths, a2d_paths, jhmdb_paths

__all__ = [
    "A2DPaths",
    "JHMDBPaths",
    "a2d_paths",
    "jhmdb_paths",
    "VIDEOSET_COLUMNS",
    "masks_to_bboxes",
    "write_mp4",
    "write_a2d_h5",
    "write_videoset_csv",
    "write_a2d_annotation",
    "write_missed_videos",
    "write_png_frames",
    "write_puppet_mask",
    "write_jhmdb_annotation",
    "write_jhmdb_samples_metadata",
]

VIDEOSET_COLUMNS = (
    "vid", "label", "start_time", "end_time", "height", "width", "total_frames", "annotated_frames", "subset",
)
# Columns the readers do not use get a harmless default, so callers only state what matters.
_VIDEOSET_DEFAULTS = {"label": 11, "start_time": "00:00:00", "end_time": "00:00:00", "annotated_frames": 0}


def _check_frames(frames: np.ndarray, what: str) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"{what}: expected frames of shape (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    if frames.shape[0] == 0:
        raise ValueError(f"{what}: expected at least one frame")
    return frames


def _check_text_field(value: str, path: Path, what: str) -> str:
    # The released text files are unquoted CSV: a comma or newline inside a field cannot round-trip.
    value = str(value)
    if any(c in value for c in ",\n\r"):
        raise ValueError(f"{path}: {what} {value!r} contains a comma or newline, which the unquoted format cannot hold")
    return value


def write_mp4(path: str | os.PathLike, frames: np.ndarray, fps: float = 24.0, crf: int = 18, *,
              gop: int | None = None) -> None:
    """Encode ``frames (T, H, W, 3)`` uint8 RGB as an H.264 mp4 (yuv420p) with PyAV, atomically.

    yuv420p subsamples chroma 2x2, so ``H`` and ``W`` must be even. ``gop`` sets the key-frame
    interval (libx264's default when None); a short one makes random access cheaper.
    """
    import av  # deferred: only the writers need the encoder

    path = Path(path)
    frames = _check_frames(frames, str(path))
    _, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise ValueError(f"{path}: H.264 yuv420p needs even height and width, got {h}x{w} (H x W)")
    rate = Fraction(fps).limit_denominator(1001)
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            # One encoder thread: with several, libx264's output depends on scheduling, and the
            # tiny videos of fixtures and the synthetic set encode faster without thread start-up.
            # Even so, the bytes (and a few decoded pixels) can differ from run to run; no option
            # tried made them stable (benchmarks/README.md, "Eighth session").
            options = {"crf": str(int(crf)), "threads": "1"}
            if gop is not None:
                options["g"] = str(int(gop))
            stream.options = options
            for frame in frames:
                # Convert to yuv420p ourselves: left to the encoder, the RGB->YUV conversion is not
                # reproducible from run to run (decoded pixels then differ by up to 14 levels).
                rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
                for packet in stream.encode(rgb.reformat(format="yuv420p")):
                    container.mux(packet)
            for packet in stream.encode():  # flush delayed (B-)frames
                container.mux(packet)


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
        lines.append(",".join(_check_text_field(full[c], path, c) for c in VIDEOSET_COLUMNS))
    atomic_write_text(path, "".join(line + "\n" for line in lines))


def write_a2d_annotation(path: str | os.PathLike, rows: Sequence[tuple[str, str | int, str]]) -> None:
    """Write ``a2d_annotation.txt``: header ``video_id,instance_id,query``, LF line endings.

    ``instance_id`` may be a string so that the ``1 (copy)`` quirk can be reproduced.
    """
    path = Path(path)
    lines = ["video_id,instance_id,query"]
    for vid, inst, query in rows:
        lines.append(",".join((_check_text_field(vid, path, "video_id"), _check_text_field(inst, path, "instance_id"),
                               _check_text_field(query, path, "query"))))
    atomic_write_text(path, "\n".join(lines) + "\n")


def write_missed_videos(path: str | os.PathLike, video_ids: Sequence[str]) -> None:
    """Write ``a2d_missed_videos.txt``: one id per line, no trailing newline (as released)."""
    path = Path(path)
    atomic_write_text(path, "\n".join(_check_text_field(v, path, "video_id") for v in video_ids))


def write_png_frames(folder: str | os.PathLike, frames: np.ndarray) -> None:
    """Write ``frames (T, H, W, 3)`` uint8 RGB as ``00001.png``, ``00002.png``, ... in ``folder``."""
    from PIL import Image

    folder = Path(folder)
    frames = _check_frames(frames, str(folder))
    folder.mkdir(parents=True, exist_ok=True)
    for t, frame in enumerate(frames, start=1):
        with atomic_path(folder / f"{t:05d}.png") as tmp:
            Image.fromarray(frame).save(tmp, format="PNG")


def write_puppet_mask(path: str | os.PathLike, masks: np.ndarray) -> None:
    """Write a J-HMDB ``puppet_mask.mat`` (MATLAB v5): key ``part_mask``, ``(H, W, T)`` uint8, not transposed."""
    import scipy.io

    path = Path(path)
    masks = np.asarray(masks)
    if masks.ndim != 3 or masks.shape[0] == 0:
        raise ValueError(f"{path}: expected masks of shape (T, H, W) with T >= 1, got {masks.shape}")
    with atomic_path(path) as tmp:
        scipy.io.savemat(tmp, {"part_mask": np.ascontiguousarray(masks.astype(np.uint8).transpose(1, 2, 0))})


def write_jhmdb_annotation(path: str | os.PathLike, rows: Sequence[tuple[str, str]]) -> None:
    """Write ``jhmdb_annotation.txt``: header ``video_id,query``, one sentence per video."""
    path = Path(path)
    lines = ["video_id,query"]
    for vid, query in rows:
        lines.append(f"{_check_text_field(vid, path, 'video_id')},{_check_text_field(query, path, 'query')}")
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
