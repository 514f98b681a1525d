"""Format-exact miniature A2D Sentences and J-HMDB Sentences trees, for tests and demos.

The trees are written with :mod:`cmpcv.data.writers` (real H.264 mp4, HDF5 with transposed
``reMask``, MATLAB ``puppet_mask.mat``, the released text formats) and carry every quirk of spec
``datasets_and_evaluation.md`` §1-2: the ``1 (copy)`` row, a missed video, sentences whose
instance is absent from some frames, single-instance ``(W, H)`` masks, multi-instance frames, a
duplicated instance id, surplus masks, J-HMDB masks shorter than the PNG list, annotated frames
at both ends of a video.

Content is chosen so that mistakes show: frame ``t`` (0-based) of every video is a flat colour
whose level is :func:`frame_level` ``(t)``, so a decoded frame tells its own index; each mask is
:func:`fixture_mask` ``(video, frame, instance)``, different for every (video, frame, instance)
and never symmetric, and frames are not square, so a wrong frame, instance or transpose fails.
Videos are 48 x 64 (H x W) or 48 x 80 with 20 frames, so tests stay fast.
"""
from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cmpcv.data.layout import a2d_paths, jhmdb_paths
from cmpcv.data.writers import (
    write_a2d_annotation, write_a2d_h5, write_jhmdb_annotation, write_jhmdb_samples_metadata, write_missed_videos,
    write_mp4, write_png_frames, write_puppet_mask, write_videoset_csv,
)


def frame_level(t: int) -> int:
    """Grey level of 0-based frame ``t`` of every fixture video (distinct up to t = 20)."""
    return 8 + 12 * t


def fixture_frames(length: int, size: tuple[int, int]) -> np.ndarray:
    """``(length, H, W, 3)`` uint8 frames, frame ``t`` flat at :func:`frame_level` ``(t)``."""
    levels = np.array([frame_level(t) for t in range(length)], dtype=np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (length, *size, 3)).copy()


def fixture_mask(video_id: str, frame_idx: int, instance_id: int, size: tuple[int, int]) -> np.ndarray:
    """The ``(H, W)`` uint8 mask of (video, 1-based frame, instance): a rectangle plus a notch.

    Its position and extent come from a hash of the triple, so every triple gets its own mask;
    the rectangle is never square and the notch breaks every symmetry.
    """
    h, w = size
    rng = np.random.default_rng(zlib.crc32(f"{video_id}/{frame_idx}/{instance_id}".encode()))
    rh = int(rng.integers(6, h // 2))
    rw = int(rng.integers(6, w // 2))
    if rw == rh:
        rw += 1
    top, left = int(rng.integers(0, h - rh)), int(rng.integers(0, w - rw))
    mask = np.zeros(size, dtype=np.uint8)
    mask[top:top + rh, left:left + rw] = 1
    mask[top, left:left + rw // 2] = 0  # notch: the mask differs from its flips and transpose
    return mask


@dataclass(frozen=True)
class A2DVideo:
    """One fixture video: split, size, length and the instance ids in each annotated frame's h5."""

    video_id: str
    subset: int
    size: tuple[int, int] = (48, 64)
    length: int = 20
    frames: dict[int, tuple[int, ...]] = field(default_factory=dict)  # 1-based frame -> ids
    surplus: dict[int, int] = field(default_factory=dict)  # 1-based frame -> extra masks after the ids
    write_video: bool = True


A2D_VIDEOS = (
    # two instances; instance 1 absent from frame 15; annotated frame 1 tests clamping at the start
    A2DVideo("trA-2inst", 0, frames={1: (0, 1), 8: (0, 1), 15: (0,)}),
    # one instance, stored as a (W, H) mask; frame 20 of 20 tests clamping at the end
    A2DVideo("trB_single", 0, size=(48, 80), frames={5: (0,), 10: (0,), 20: (0,)}),
    # the '1 (copy)' row's video; instance 1 is in frames 6 and 12 only
    A2DVideo("trC-copy", 0, frames={6: (0, 1), 12: (0, 1), 18: (0,)}),
    # surplus masks (3 masks, 2 ids) and a duplicated id (0, 2, 0): the first position wins
    A2DVideo("trD-quirks", 0, frames={4: (0, 2), 9: (0, 2, 0), 14: (2,)}, surplus={4: 1, 14: 2}),
    # test split: three instances in one frame, one instance never annotated by a sentence
    A2DVideo("teA-multi", 1, frames={3: (0, 1, 2), 10: (1, 2), 17: (0, 2)}),
    A2DVideo("teB_single", 1, size=(48, 80), frames={2: (0,), 11: (0,), 19: (0,)}),
    # missed video: in videoset.csv, no sentence, no video file (as in the release)
    A2DVideo("missed-01", 0, frames={}, write_video=False),
)
A2D_SENTENCES = (  # (video_id, instance_id as written, query as written)
    ("trA-2inst", "0", "the man on the left climbing"),
    ("trA-2inst", "1", "A Dog   running on the right "),
    ("trB_single", "0", "red ball rolling to the left"),
    ("trC-copy", "0", "bird standing on the beach"),
    ("trC-copy", "1 (copy)", "bird standing in the beach"),
    ("trC-copy", "1", "small bird flying"),
    ("trD-quirks", "0", "the leftmost car driving"),
    ("trD-quirks", "2", "cat walking on the right side."),
    ("teA-multi", "0", "baby crawling on the floor"),
    ("teA-multi", "2", "adult jumping up and down"),
    ("teB_single", "0", "a white cat eating"),
)
A2D_MISSED = ("missed-01",)


@dataclass(frozen=True)
class JHMDBVideo:
    video_id: str
    action: str
    n_png: int
    n_masks: int
    frozen_frames: tuple[int, ...]  # MTTR-style frozen evaluation frames (1-based)
    query: str
    size: tuple[int, int] = (48, 64)


JHMDB_VIDEOS = (
    # masks shorter than the PNG list: the last 3 PNGs are dropped
    JHMDBVideo("Pullup_jv1_f_nm_np1", "pullup", 15, 12, (2, 7, 12), "man in black pulling up"),
    JHMDBVideo("wave_jv2_u_cm_np1", "wave", 18, 18, (1, 9, 18), "A girl   waving her left hand"),
    JHMDBVideo("wave_jv3_f_nm_np1", "wave", 16, 16, (3, 8, 16), "a boy is waving"),
)


@dataclass
class FixtureManifest:
    """What a fixture tree should yield, computed from the tables above (not by the readers)."""

    root: Path
    samples: dict[str, list[tuple]]  # split -> expected ``.samples``
    sizes: dict[str, tuple[int, int]]  # video_id -> (H, W)
    lengths: dict[str, int]  # video_id -> usable frames


def _a2d_expected(split_code: int) -> list[tuple]:
    videos = {v.video_id: v for v in A2D_VIDEOS if v.subset == split_code and v.video_id not in A2D_MISSED}
    out = []
    for vid, inst, query in A2D_SENTENCES:
        if vid not in videos or inst == "1 (copy)":
            continue
        for frame in sorted(videos[vid].frames):
            if int(inst) in videos[vid].frames[frame]:
                out.append((vid, frame, int(inst), " ".join(query.lower().split())))
    return out


def write_a2d_fixture(root: str | os.PathLike) -> FixtureManifest:
    """Write the mini A2D Sentences tree at ``root``; return what the reader should find."""
    paths = a2d_paths(root)
    write_videoset_csv(paths.videoset, [
        {"vid": v.video_id, "subset": v.subset, "height": v.size[0], "width": v.size[1],
         "total_frames": v.length, "annotated_frames": len(v.frames)} for v in A2D_VIDEOS])
    write_a2d_annotation(paths.annotation, A2D_SENTENCES)
    write_missed_videos(paths.missed, A2D_MISSED)
    for v in A2D_VIDEOS:
        if v.write_video:
            write_mp4(paths.video(v.video_id), fixture_frames(v.length, v.size), gop=4)
        for frame, ids in v.frames.items():
            n_masks = len(ids) + v.surplus.get(frame, 0)
            # surplus masks get instance ids no sentence uses, so they are distinct too
            masks = np.stack([fixture_mask(v.video_id, frame, ids[k] if k < len(ids) else 100 + k, v.size)
                              for k in range(n_masks)])
            if len(set(ids)) < len(ids):  # duplicated id: the later copy must not be the one read
                dup = [k for k, i in enumerate(ids) if i in ids[:k]]
                for k in dup:
                    masks[k] = fixture_mask(v.video_id, frame, 200 + k, v.size)
            write_a2d_h5(paths.mask(v.video_id, frame), masks, ids)
    return FixtureManifest(
        Path(root), {"train": _a2d_expected(0), "test": _a2d_expected(1)},
        {v.video_id: v.size for v in A2D_VIDEOS}, {v.video_id: v.length for v in A2D_VIDEOS})


def write_jhmdb_fixture(root: str | os.PathLike, *, frozen_samples: bool = True) -> FixtureManifest:
    """Write the mini J-HMDB Sentences tree at ``root`` (with an MTTR-style frozen sample list)."""
    paths = jhmdb_paths(root)
    write_jhmdb_annotation(paths.annotation, [(v.video_id, v.query) for v in JHMDB_VIDEOS])
    for v in JHMDB_VIDEOS:
        write_png_frames(paths.frame_dir(v.action, v.video_id), fixture_frames(v.n_png, v.size))
        masks = np.stack([fixture_mask(v.video_id, f, -1, v.size) for f in range(1, v.n_masks + 1)])
        write_puppet_mask(paths.mask(v.action, v.video_id), masks)
    if frozen_samples:
        write_jhmdb_samples_metadata(paths.samples_metadata, [
            (v.video_id, v.action, f, min(v.n_png, v.n_masks), v.query) for v in JHMDB_VIDEOS for f in v.frozen_frames])
    expected = [(v.video_id, f, " ".join(v.query.lower().split())) for v in JHMDB_VIDEOS for f in v.frozen_frames]
    return FixtureManifest(Path(root), {"test": expected}, {v.video_id: v.size for v in JHMDB_VIDEOS},
                           {v.video_id: min(v.n_png, v.n_masks) for v in JHMDB_VIDEOS})


def main() -> None:
    """``python -m cmpcv.data.fixtures OUT``: write both trees under OUT (for trying the check command)."""
    import sys

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "fixture_data")
    write_a2d_fixture(out / "a2d_sentences")
    write_jhmdb_fixture(out / "jhmdb_sentences")
    print(f"wrote {out / 'a2d_sentences'} and {out / 'jhmdb_sentences'}")


if __name__ == "__main__":
    main()
