"""A2D Sentences (Gavrilyuk et al., CVPR 2018) under the MTTR protocol.

One sample per (sentence, annotated frame in which the sentence's instance appears): videos of
the split (``videoset.csv`` subset) minus the missed videos, the ``1 (copy)`` row dropped, frames
whose h5 lacks the instance skipped. On the real data this gives 15,747 train and 3,800 test
samples. Building the index reads only the ``instance`` key of each h5 file, never a video. The
files and their format are described in :mod:`cmpcv.data.a2d.format`.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from cmpcv.data.a2d.format import (
    A2D_SUBSETS, a2d_paths, a2d_sample_id, read_a2d_annotation, read_a2d_instances, read_a2d_mask,
    read_missed_videos, read_videoset,
)
from cmpcv.data.errors import DataError
from cmpcv.data.index_cache import cached_index
from cmpcv.data.referring import ReferringClipDataset
from cmpcv.data.video import read_video_frames


class A2DSentences(ReferringClipDataset):
    """A2D Sentences, ``split`` in {"train", "test"}.

    ``.samples`` is a list of ``(video_id, frame_idx (1-based), instance_id, query)``; see
    :class:`~cmpcv.data.referring.ReferringClipDataset` for the other arguments and ``ds[i]``.
    """

    def __init__(self, root: str | os.PathLike, split: str = "train", **kwargs: Any) -> None:
        if split not in A2D_SUBSETS:
            raise ValueError(f"A2DSentences: split must be one of {sorted(A2D_SUBSETS)}, got {split!r}")
        super().__init__(root, **kwargs)
        self.split = split
        self.paths = a2d_paths(root)
        samples = cached_index(f"a2d_{split}", self.root, self.paths.annotation_files, {"split": split},
                               self._build_index, self.cache_dir)
        self.samples = [(str(v), int(f), int(i), str(q)) for v, f, i, q in samples]

    def _annotated_frames(self, video_id: str) -> list[tuple[int, list[int]]]:
        """``(frame_idx, instance ids)`` of each h5 file of a video, by frame number."""
        folder = self.paths.mask_dir(video_id)
        if not folder.is_dir():
            self._problem(DataError(folder, f"mask folder of video {video_id} not found"))
            return []
        out = []
        for path in sorted(folder.glob("*.h5")):
            try:
                frame = int(path.stem)
            except ValueError:
                self._problem(DataError(path, "h5 file name is not a frame number like 00012.h5"))
                continue
            try:
                out.append((frame, read_a2d_instances(path)))
            except DataError as exc:
                self._problem(exc)
        return sorted(out)

    def _build_index(self) -> tuple[list, bool]:
        subset = A2D_SUBSETS[self.split]
        missed = set(read_missed_videos(self.paths.missed))
        videos = {v for v, s in read_videoset(self.paths.videoset).items() if s == subset and v not in missed}
        frames_of: dict[str, list[tuple[int, list[int]]]] = {}
        samples = []
        n_problems = len(self.problems)
        for vid, inst, query in read_a2d_annotation(self.paths.annotation):
            if vid not in videos:
                continue
            if vid not in frames_of:  # read each h5 once, not once per sentence
                frames_of[vid] = self._annotated_frames(vid)
            samples.extend([vid, frame, inst, query] for frame, ids in frames_of[vid] if inst in ids)
        return samples, len(self.problems) == n_problems

    def sample_meta(self, i: int) -> dict[str, Any]:
        vid, frame, inst, query = self.samples[i]
        return {"video_id": vid, "frame_idx": frame, "instance_id": inst, "query": query}

    def sample_id(self, i: int) -> str:
        vid, frame, inst, _ = self.samples[i]
        return a2d_sample_id(vid, frame, inst)

    def read(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        vid, frame, inst, _ = self.samples[i]
        mask_path, video_path = self.paths.mask(vid, frame), self.paths.video(vid)
        mask = read_a2d_mask(mask_path, inst)
        frames, _ = read_video_frames(video_path, lambda n: self.clip.indices(frame - 1, n), self.backend)
        if frames.shape[1:3] != mask.shape:
            raise DataError(mask_path, f"mask is {mask.shape[0]}x{mask.shape[1]} (H x W) but the frames of "
                                       f"{video_path} are {frames.shape[1]}x{frames.shape[2]}")
        return frames, mask
