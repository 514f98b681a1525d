"""A format-exact miniature Refer-YouTube-VOS tree, for tests and for trying the check command.

Written with the writers of :mod:`cmpcv.data.ytvos.format`: real JPEG frames named every 5th
frame (``00000``, ``00005``, ...), mode "P" mask PNGs with the DAVIS palette (pixel value =
object id), ``meta_expressions`` with string ids for train, valid and test, and (optionally)
``train/meta.json``. It carries the quirks of the real download: objects absent from some
frames, an expression whose object never appears, two expressions per object, more than ten
expressions in a video (ids "10" after "9"), object ids that are not 1..n, test videos inside
the ``valid`` meta and folder, frames that are not square.

Content shows mistakes: frame ``k`` (position among the listed frames) of every video is flat
at :func:`~cmpcv.data.fixtures.frame_level` ``(k)``, so a decoded frame tells its position, and
the mask of each (video, frame, object) is its own :func:`~cmpcv.data.fixtures.fixture_mask`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cmpcv.data.expressions import Expression, ExpressionVideo
from cmpcv.data.fixtures import FixtureManifest, fixture_frames, fixture_mask
from cmpcv.data.text import normalize_query
from cmpcv.data.ytvos.format import ObjectInfo, write_meta_expressions, write_meta_json, write_video, ytvos_paths


@dataclass(frozen=True)
class YTVOSFixtureVideo:
    """One fixture video: its split, stored frames, objects (id -> positions where it appears) and expressions."""

    video_id: str
    split: str  # "train", "valid" or "test" (test videos are also in the valid meta)
    n_frames: int
    size: tuple[int, int] = (48, 64)
    objects: dict[int, tuple[int, ...]] = field(default_factory=dict)
    expressions: tuple[tuple[str, str, int], ...] = ()  # (exp_id, sentence as written, obj_id)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f"{5 * k:05d}" for k in range(self.n_frames))


YTVOS_VIDEOS = (
    # two objects; object 2 appears in the middle frames only
    YTVOSFixtureVideo("0a1b2c3d4e", "train", 6, objects={1: (0, 1, 2, 3, 4, 5), 2: (2, 3, 4)},
                      expressions=(("0", "a man riding a bike on the left", 1), ("1", "A Dog   running to the right", 2))),
    # eleven expressions of one object (ids "0".."10"), ids not 1..n, frames not square, object
    # absent from the middle frame
    YTVOSFixtureVideo("1f2e3d4c5b", "train", 3, size=(40, 54), objects={3: (0, 2), 5: (1,)},
                      expressions=tuple((str(k), f"the white bird number {k}", 3) for k in range(11))
                      + (("11", "a small fish", 5),)),
    # an expression whose object appears in no frame: no training sample
    YTVOSFixtureVideo("2b3c4d5e6f", "train", 4, objects={1: (1, 2)},
                      expressions=(("0", "the cat on the sofa", 1), ("1", "a hidden mouse", 2))),
    # validation: two expressions per object, as in the real valid meta
    YTVOSFixtureVideo("3c4d5e6f70", "valid", 5, expressions=(("0", "a red car", 1), ("1", "the car in red", 1),
                                                              ("2", "a person walking", 2), ("3", "person on foot", 2))),
    YTVOSFixtureVideo("4d5e6f7081", "valid", 2, size=(40, 54), expressions=(("0", "a horse", 1), ("1", "brown horse", 1))),
    # test videos sit in the valid meta and in valid/JPEGImages too
    YTVOSFixtureVideo("5e6f708192", "test", 3, expressions=(("0", "a boat", 1), ("1", "white boat", 1))),
)


def fixture_ids(video: YTVOSFixtureVideo, position: int) -> np.ndarray:
    """The ``(H, W)`` object-id mask of a listed frame: objects painted in id order, later ones on top."""
    ids = np.zeros(video.size, dtype=np.uint8)
    for obj in sorted(video.objects):
        if position in video.objects[obj]:
            ids[fixture_mask(video.video_id, position, obj, video.size) > 0] = obj
    return ids


def _index_video(v: YTVOSFixtureVideo) -> ExpressionVideo:
    return ExpressionVideo(v.video_id, v.names, {e: Expression(e, t, (o,)) for e, t, o in v.expressions})


def expected_samples(split: str) -> list[tuple[str, str, int]]:
    """What the reader's ``.samples`` should be, from the table above (not from the files)."""
    out = []
    for v in YTVOS_VIDEOS:
        if v.split != split:
            continue
        for exp_id, _, obj in v.expressions:
            frames = v.objects.get(obj, ()) if split == "train" else range(v.n_frames)
            out.extend((v.video_id, exp_id, k) for k in sorted(frames))
    return out


def write_ytvos_fixture(root: str | os.PathLike, *, meta_json: bool = True) -> FixtureManifest:
    """Write the mini Refer-YouTube-VOS tree at ``root`` (``meta_json=False``: without ``train/meta.json``)."""
    paths = ytvos_paths(root)
    for v in YTVOS_VIDEOS:
        ids = None
        if v.split == "train":
            ids = np.stack([fixture_ids(v, k) for k in range(v.n_frames)])
            for obj, where in v.objects.items():
                shown = [k for k in range(v.n_frames) if (ids[k] == obj).any()]
                if shown != sorted(where):
                    raise AssertionError(f"fixture video {v.video_id}: object {obj} shows in {shown}, not {where}")
        write_video(paths, v.split, v.video_id, fixture_frames(v.n_frames, v.size), v.names, ids)
    train = {v.video_id: _index_video(v) for v in YTVOS_VIDEOS if v.split == "train"}
    valid_meta = {v.video_id: _index_video(v) for v in YTVOS_VIDEOS if v.split in ("valid", "test")}
    test = {v.video_id: _index_video(v) for v in YTVOS_VIDEOS if v.split == "test"}
    write_meta_expressions(paths.meta_expressions("train"), train)
    write_meta_expressions(paths.meta_expressions("valid"), valid_meta)
    write_meta_expressions(paths.meta_expressions("test"), test)
    if meta_json:
        write_meta_json(paths.meta_json, {
            v.video_id: {o: ObjectInfo("animal", tuple(v.names[k] for k in where)) for o, where in v.objects.items()}
            for v in YTVOS_VIDEOS if v.split == "train"})
    samples = {s: expected_samples(s) for s in ("train", "valid", "test")}
    return FixtureManifest(Path(root), samples, {v.video_id: v.size for v in YTVOS_VIDEOS},
                           {v.video_id: v.n_frames for v in YTVOS_VIDEOS})


def expected_query(video_id: str, exp_id: str) -> str:
    v = next(v for v in YTVOS_VIDEOS if v.video_id == video_id)
    return normalize_query(next(t for e, t, _ in v.expressions if e == exp_id))
