"""Ref-DAVIS17 clip samples on the shared pipeline (:class:`~cmpcv.data.expression_clips.ExpressionClipDataset`).

The DAVIS-2017 ``train`` (60 videos) or ``val`` (30) image set, its ``JPEGImages/480p`` frames and
the unsupervised ground truth ``Annotations_unsupervised/480p`` (whose object ids the MPI text
files use), with the expressions of the four text files (:mod:`cmpcv.data.davis17.expressions`).
``train``: one sample per (expression, frame showing its object); ``val``: every (expression,
frame), as the J&F protocol scores every frame. ``sets`` picks expression sets (0 annot1-first,
1 annot1-full, 2 annot2-first, 3 annot2-full); the protocol scores each set apart and averages.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cmpcv.data.davis17.expressions import build_expression_videos, read_text_file, text_paths
from cmpcv.data.davis17.format import DAVIS17Paths, read_label_png
from cmpcv.data.errors import DataError
from cmpcv.data.expression_clips import ExpressionClipDataset
from cmpcv.data.frame_folder import FrameFolder
from cmpcv.data.index_cache import cached_index

SPLITS = ("train", "val")


class RefDAVIS17(ExpressionClipDataset):
    """Ref-DAVIS17, ``split`` in {"train", "val"}.

    Args:
        sets: expression sets to read (default all four).
        davis_root: the DAVIS-2017 tree (default ``<root>/DAVIS``).
        text_root: the folder of the four text files (default ``<root>/davis_text_annotations``).
        Other arguments: :class:`~cmpcv.data.expression_clips.ExpressionClipDataset`.

    ``.renamed`` lists the misspelled video names that were mapped (file, line, names).
    """

    def __init__(self, root: str | os.PathLike, split: str = "val", *, sets: Sequence[int] = (0, 1, 2, 3),
                 davis_root: str | os.PathLike | None = None, text_root: str | os.PathLike | None = None,
                 resolution: str = "480p", **kwargs: Any) -> None:
        if split not in SPLITS:
            raise ValueError(f"RefDAVIS17: split must be one of {SPLITS}, got {split!r}")
        self.sets = tuple(sorted({int(s) for s in sets}))
        if not self.sets or any(s not in range(4) for s in self.sets):
            raise ValueError(f"RefDAVIS17: sets must be a non-empty subset of 0-3, got {list(sets)}")
        super().__init__(root, **kwargs)
        self.split = split
        self.davis = DAVIS17Paths(Path(davis_root) if davis_root is not None else self.root / "DAVIS", resolution)
        self.text_root = Path(text_root) if text_root is not None else self.root / "davis_text_annotations"
        files = [read_text_file(p) for p in text_paths(self.text_root)]
        self.renamed = [r for f in files for r in f.renamed]
        for f in files:
            for p in f.problems:
                self._problem(DataError(None, p))
        frames = {}
        for seq in self.davis.sequences(split):
            # A video's frames are its JPEGs and its unsupervised masks together, so that a file
            # missing on either side shows as a missing frame instead of a shorter video.
            try:
                names = set(FrameFolder.listing(self.davis.images() / seq).names)
                names |= set(self.davis.frames(seq, "unsupervised"))
            except DataError as exc:
                self._problem(exc)
                continue
            frames[seq] = tuple(sorted(names))
        known = set(frames) | self._other_split()
        for f in files:
            for vid in sorted({ln.video for ln in f.lines if ln.video not in known}):
                self._problem(DataError(f.path, f"video {vid!r} is in no DAVIS-2017 image set "
                                                f"(a misspelling not in the known list?)"))
        self.videos, problems = build_expression_videos(files, frames, self.sets)
        for p in problems:
            self._problem(DataError(None, p))
        index_files = [*text_paths(self.text_root), self.davis.image_set(split)]
        n_problems = len(self.problems)
        samples = cached_index(f"refdavis17_{split}", self.root, index_files, {"sets": list(self.sets)},
                               lambda: (self._build_index(), len(self.problems) == n_problems == 0), self.cache_dir)
        self.samples = [(str(v), str(e), int(p)) for v, e, p in samples]

    def _other_split(self) -> set[str]:
        other = "train" if self.split == "val" else "val"
        try:
            return set(self.davis.sequences(other))
        except DataError:
            return set()

    def mask_path(self, video_id: str, name: str) -> Path:
        return self.davis.mask_dir(video_id, "unsupervised") / f"{name}.png"

    def _build_index(self) -> list[list]:
        samples = []
        for vid, video in self.videos.items():
            if self.split != "train":
                samples.extend([vid, e, k] for e in video.expression_ids() for k in range(len(video.frames)))
                continue
            shown: dict[int, list[int]] = {}
            for k, name in enumerate(video.frames):
                try:
                    labels = read_label_png(self.mask_path(vid, name))
                except DataError as exc:
                    self._problem(exc)
                    continue
                for obj in np.unique(labels):
                    if 0 < obj < 255:
                        shown.setdefault(int(obj), []).append(k)
            for exp_id in video.expression_ids():
                samples.extend([vid, exp_id, k] for k in shown.get(video.expressions[exp_id].obj_ids[0], ()))
        return samples

    def frame_folder(self, video_id: str) -> FrameFolder:
        return FrameFolder(self.davis.images() / video_id, self.videos[video_id].frames)

    def read_target(self, video_id: str, exp_id: str, position: int, size: tuple[int, int]
                    ) -> tuple[np.ndarray, str]:
        path = self.mask_path(video_id, self.videos[video_id].frames[position])
        obj = self.videos[video_id].expressions[exp_id].obj_ids[0]
        return (read_label_png(path) == obj).astype(np.uint8), str(path)
