"""A format-exact miniature A2D Sentences tree, for tests and examples.

Written with the writers of :mod:`cmpcv.data.a2d.format` (real H.264 mp4, HDF5 with transposed
``reMask``, the released text formats), it carries every quirk of spec
``datasets_and_evaluation.md`` §1: the ``1 (copy)`` row, a missed video, sentences whose instance
is absent from some frames, single-instance ``(W, H)`` masks, multi-instance frames, a duplicated
instance id, surplus masks, annotated frames at both ends of a video. Frames and masks come from
:mod:`cmpcv.data.fixtures` (each frame tells its own index, each mask is unique and asymmetric).
Videos are 48 x 64 (H x W) or 48 x 80 with 20 frames, so tests stay fast.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cmpcv.data.a2d.format import (
    a2d_paths, write_a2d_annotation, write_a2d_h5, write_missed_videos, write_videoset_csv,
)
from cmpcv.data.fixtures import FixtureManifest, fixture_frames, fixture_mask
from cmpcv.data.video import write_mp4


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
