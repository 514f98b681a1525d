"""A format-exact miniature Ref-DAVIS17 tree (DAVIS-2017 + the MPI text files), for tests and the check command.

Real JPEG frames (``JPEGImages/480p``), indexed PNG masks with the DAVIS palette in
``Annotations_unsupervised/480p`` (and, with other ids, in the semi-supervised ``Annotations``,
which the text's ids do not refer to), ``ImageSets/2017/{train,val}.txt`` and the four text files
(``annot2`` ones Latin-1). Quirks: the three misspelled video names, an object absent from some
frames, void (255) pixels, an object id of 10 (ordered after 2), a non-ASCII sentence, and a
video whose semi-supervised ids differ from the unsupervised ones.

Content shows mistakes: frame ``t`` is flat at :func:`~cmpcv.data.fixtures.frame_level` ``(t)``;
each (video, frame, object) has its own :func:`~cmpcv.data.fixtures.fixture_mask`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cmpcv.data.atomic import atomic_write_text
from cmpcv.data.davis17.expressions import MISSPELLED_VIDEOS, text_paths, write_text_file
from cmpcv.data.davis17.format import DAVIS17Paths, write_label_png
from cmpcv.data.fixtures import FixtureManifest, fixture_frames, fixture_mask
from cmpcv.data.frame_folder import write_jpeg_frames

_SPELLED_AS = {v: k for k, v in MISSPELLED_VIDEOS.items()}


@dataclass(frozen=True)
class DAVISFixtureVideo:
    video_id: str
    split: str  # "train" or "val"
    n_frames: int
    size: tuple[int, int] = (48, 64)
    objects: dict[int, tuple[int, ...]] = field(default_factory=dict)  # unsupervised id -> frames shown
    void: bool = False  # a band of 255 (void) pixels in every mask


DAVIS_VIDEOS = (
    DAVISFixtureVideo("classic-car", "train", 5, objects={1: (0, 1, 2, 3, 4), 2: (1, 2)}),
    DAVISFixtureVideo("dogs-scale", "train", 4, size=(40, 54), objects={1: (0, 1, 2, 3)}, void=True),
    DAVISFixtureVideo("motorbike", "val", 4, objects={1: (0, 1, 2, 3), 2: (0, 3), 10: (2, 3)}),
    DAVISFixtureVideo("gold-fish", "val", 3, size=(40, 54), objects={1: (0, 1, 2)}),
)


def sentence(video: str, obj: int, s: int) -> str:
    """The fixture's sentence of (video, object, expression set); set 2 has a non-ASCII letter."""
    kind = ("first frame", "whole video", "premi\xe8re image", "whole clip")[s]
    return f"object {obj} of {video} seen in the {kind}"


def fixture_labels(video: DAVISFixtureVideo, t: int) -> np.ndarray:
    """The ``(H, W)`` unsupervised labels of frame ``t``: objects painted in id order, void on top."""
    labels = np.zeros(video.size, dtype=np.uint8)
    for obj in sorted(video.objects):
        if t in video.objects[obj]:
            labels[fixture_mask(video.video_id, t, obj, video.size) > 0] = obj
    if video.void:
        labels[-3:, :] = 255
    return labels


def expected_samples(split: str, sets: tuple[int, ...] = (0, 1, 2, 3)) -> list[tuple[str, str, int]]:
    """What the reader's ``.samples`` should be, from the table above: expression ``4k + s`` of the
    ``k``-th object; on train the frames showing it, on val every frame."""
    rows = []
    for v in DAVIS_VIDEOS:
        if v.split != split:
            continue
        for k, obj in enumerate(sorted(v.objects)):
            for s in sets:
                frames = v.objects[obj] if split == "train" else range(v.n_frames)
                rows.extend((v.video_id, str(4 * k + s), t) for t in sorted(frames))
    return rows


def write_refdavis_fixture(root: str | os.PathLike) -> FixtureManifest:
    """Write the mini Ref-DAVIS17 tree at ``root`` (``root/DAVIS`` and ``root/davis_text_annotations``)."""
    root = Path(root)
    davis = DAVIS17Paths(root / "DAVIS")
    for v in DAVIS_VIDEOS:
        names = [f"{t:05d}" for t in range(v.n_frames)]
        write_jpeg_frames(davis.images() / v.video_id, fixture_frames(v.n_frames, v.size), names)
        for t, name in enumerate(names):
            labels = fixture_labels(v, t)
            write_label_png(davis.mask_dir(v.video_id, "unsupervised") / f"{name}.png", labels)
            # semi-supervised ids are another numbering of the same objects: reading them would swap objects
            semi = np.where((labels > 0) & (labels < 255), (labels % 2) + 1, labels).astype(np.uint8)
            write_label_png(davis.mask_dir(v.video_id, "semi-supervised") / f"{name}.png", semi)
    for split in ("train", "val"):
        atomic_write_text(davis.image_set(split), "".join(f"{v.video_id}\n" for v in DAVIS_VIDEOS if v.split == split))
    for s, path in enumerate(text_paths(root / "davis_text_annotations")):
        rows = [(_SPELLED_AS.get(v.video_id, v.video_id), obj, sentence(v.video_id, obj, s))
                for v in DAVIS_VIDEOS for obj in sorted(v.objects)]
        write_text_file(path, rows, encoding="latin-1" if s >= 2 else "utf-8")
    return FixtureManifest(root, {s: expected_samples(s) for s in ("train", "val")},
                           {v.video_id: v.size for v in DAVIS_VIDEOS}, {v.video_id: v.n_frames for v in DAVIS_VIDEOS})
