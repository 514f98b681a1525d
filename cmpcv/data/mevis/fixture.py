"""A format-exact miniature MeViS tree (``train``, ``valid_u``, ``valid``), for tests and the check command.

Real JPEG frames, ``meta_expressions.json`` with string expression ids and integer ``obj_id`` /
``anno_id`` lists, and ``mask_dict.json`` with COCO RLEs from pycocotools (``null`` where an
object is absent) for ``train`` and ``valid_u``. Quirks: an expression referring to two objects
(ground truth = their union), a no-target expression (MeViS v2: empty lists), an object absent
from some frames (``null``) and one stored as an empty RLE, frames that are not square.

Content shows mistakes: frame ``t`` is flat at :func:`~cmpcv.data.fixtures.frame_level` ``(t)``;
each (video, frame, object) has its own :func:`~cmpcv.data.fixtures.fixture_mask`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cmpcv.data.fixtures import FixtureManifest, fixture_frames, fixture_mask
from cmpcv.data.frame_folder import write_jpeg_frames
from cmpcv.data.mevis.format import MeViSExpression, MeViSPaths, MeViSVideo, write_mask_dict, write_meta_expressions


@dataclass(frozen=True)
class MeViSFixtureVideo:
    video_id: str
    split: str
    n_frames: int
    size: tuple[int, int] = (48, 64)
    objects: dict[int, tuple[int, tuple[int, ...]]] = field(default_factory=dict)  # obj -> (anno_id, frames shown)
    empty_rle: dict[int, tuple[int, ...]] = field(default_factory=dict)  # obj -> frames stored as an empty RLE
    expressions: tuple[tuple[str, str, tuple[int, ...]], ...] = ()  # (exp_id, sentence, obj ids)


MEVIS_VIDEOS = (
    MeViSFixtureVideo("mv_train_a", "train", 6, objects={0: (100, (0, 1, 2, 3, 4, 5)), 1: (101, (2, 3, 4))},
                      expressions=(("0", "the dog running to the left", (0,)),
                                   ("1", "the two animals moving together", (0, 1)),
                                   ("2", "cat that jumps in the middle", (1,)),
                                   ("3", "the bird flying away", ()))),
    MeViSFixtureVideo("mv_train_b", "train", 4, size=(40, 54), objects={0: (200, (1, 2))}, empty_rle={0: (3,)},
                      expressions=(("0", "Horse   turning around", (0,)),)),
    MeViSFixtureVideo("mv_validu_a", "valid_u", 3, objects={0: (300, (0, 1, 2)), 1: (301, (1,))},
                      expressions=(("0", "the first moving car", (0,)), ("1", "cars parking", (0, 1)),
                                   ("2", "a plane landing", ()))),
    MeViSFixtureVideo("mv_valid_a", "valid", 2, objects={0: (400, (0, 1))},
                      expressions=(("0", "a man walking", (0,)),)),
)


def object_mask(video: MeViSFixtureVideo, t: int, obj: int) -> np.ndarray:
    if t not in video.objects[obj][1]:
        return np.zeros(video.size, np.uint8)
    return fixture_mask(video.video_id, t, obj, video.size)


def expected_target(video: MeViSFixtureVideo, exp_id: str, t: int) -> np.ndarray:
    """The union of the masks of an expression's objects at frame ``t``."""
    objs = dict((e, o) for e, _, o in video.expressions)[exp_id]
    out = np.zeros(video.size, np.uint8)
    for obj in objs:
        out |= object_mask(video, t, obj)
    return out


def expected_samples(split: str, no_target: bool = False) -> list[tuple[str, str, int]]:
    rows = []
    for v in MEVIS_VIDEOS:
        if v.split != split:
            continue
        for exp_id, _, objs in v.expressions:
            if not objs:
                frames = range(v.n_frames) if no_target else ()
            elif split == "train":
                frames = sorted({t for o in objs for t in v.objects[o][1]})
            else:
                frames = range(v.n_frames)
            rows.extend((v.video_id, exp_id, t) for t in frames)
    return rows


def write_mevis_fixture(root: str | os.PathLike) -> FixtureManifest:
    """Write the mini MeViS tree at ``root``; return what the reader should find (no-target off)."""
    root = Path(root)
    for split in ("train", "valid_u", "valid"):
        paths = MeViSPaths(root, split)
        videos, masks = {}, {}
        for v in (v for v in MEVIS_VIDEOS if v.split == split):
            names = [f"{t:05d}" for t in range(v.n_frames)]
            write_jpeg_frames(paths.frames_dir(v.video_id), fixture_frames(v.n_frames, v.size), names)
            exps = {e: MeViSExpression(text, tuple(objs), tuple(v.objects[o][0] for o in objs))
                    for e, text, objs in v.expressions}
            videos[v.video_id] = MeViSVideo(tuple(names), exps)
            for obj, (anno, shown) in v.objects.items():
                masks[anno] = [object_mask(v, t, obj) if t in shown or t in v.empty_rle.get(obj, ()) else None
                               for t in range(v.n_frames)]
        write_meta_expressions(paths.meta_expressions, videos)
        if split != "valid":
            write_mask_dict(paths.mask_dict, masks)
    return FixtureManifest(root, {s: expected_samples(s) for s in ("train", "valid_u", "valid")},
                           {v.video_id: v.size for v in MEVIS_VIDEOS}, {v.video_id: v.n_frames for v in MEVIS_VIDEOS})
