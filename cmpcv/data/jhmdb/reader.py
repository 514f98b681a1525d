"""J-HMDB Sentences (Gavrilyuk et al., CVPR 2018): evaluation only, MTTR protocol.

928 videos with one sentence each; the evaluated frames are MTTR's frozen 2,784 (3 per video) when
its ``jhmdb_sentences_samples_metadata.json`` is given, otherwise 3 frames per video drawn
without replacement with a fixed seed from the frames that have a mask. A video's usable frames
are the first ``min(#PNG, #mask)``: the puppet masks can be shorter than the PNG list. The files
and their format are described in :mod:`cmpcv.data.jhmdb.format`.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np

from cmpcv.data.errors import DataError
from cmpcv.data.index_cache import cached_index
from cmpcv.data.jhmdb.format import (
    count_png_frames, jhmdb_paths, jhmdb_sample_id, read_jhmdb_annotation, read_jhmdb_samples_metadata,
    read_puppet_mask,
)
from cmpcv.data.referring import ReferringClipDataset
from cmpcv.data.video import read_png_frames


class JHMDBSentences(ReferringClipDataset):
    """J-HMDB Sentences; ``.samples`` is a list of ``(video_id, frame_idx (1-based), query)``.

    Args:
        samples_file: MTTR's frozen sample list, ``"auto"`` to use
            ``<root>/jhmdb_sentences_samples_metadata.json`` when present, or None to draw
            ``frames_per_video`` frames per video with ``seed``.
        split: only ``"test"`` (the set is evaluation-only).
    """

    def __init__(self, root: str | os.PathLike, samples_file: str | os.PathLike | None = None, *,
                 split: str = "test", frames_per_video: int = 3, **kwargs: Any) -> None:
        if split != "test":
            raise ValueError(f"JHMDBSentences is evaluation-only: split must be 'test', got {split!r}")
        super().__init__(root, **kwargs)
        self.paths = jhmdb_paths(root)
        if samples_file == "auto":
            samples_file = self.paths.samples_metadata if self.paths.samples_metadata.is_file() else None
        self.samples_file = None if samples_file is None else Path(samples_file)
        self.frames_per_video = int(frames_per_video)
        files = list(self.paths.annotation_files) + ([self.samples_file] if self.samples_file else [])
        params = {"samples_file": bool(self.samples_file), "seed": self.seed, "per_video": self.frames_per_video}
        index = cached_index("jhmdb_frozen" if self.samples_file else "jhmdb_drawn", self.root, files, params,
                             self._build_index, self.cache_dir)
        self.actions = {str(v): str(a) for v, a, _, _ in index}
        self.samples = [(str(v), int(f), str(q)) for v, _, f, q in index]

    def _video_actions(self) -> dict[str, str]:
        folder = self.paths.frames_dir
        if not folder.is_dir():
            raise DataError(folder, "J-HMDB frame folder (Rename_Images) not found")
        return {v.name: a.name for a in folder.iterdir() if a.is_dir() for v in a.iterdir() if v.is_dir()}

    def _build_index(self) -> tuple[list, bool]:
        if self.samples_file is not None:
            return [[v, a, f, q] for v, a, f, _, q in read_jhmdb_samples_metadata(self.samples_file)], True
        actions = self._video_actions()
        samples = []
        n_problems = len(self.problems)
        for vid, query in read_jhmdb_annotation(self.paths.annotation):
            if vid not in actions:
                self._problem(DataError(self.paths.frames_dir, f"no <action>/{vid} frame folder for video {vid}"))
                continue
            try:
                length = self._length(actions[vid], vid)
            except DataError as exc:
                self._problem(exc)
                continue
            # A per-video generator: a problem with one video does not change another's frames.
            rng = random.Random(f"{self.seed}:{vid}")
            frames = sorted(rng.sample(range(1, length + 1), min(self.frames_per_video, length)))
            samples.extend([vid, actions[vid], f, query] for f in frames)
        return samples, len(self.problems) == n_problems

    def _length(self, action: str, vid: str, n_masks: int | None = None) -> int:
        """Usable frames of a video: MTTR keeps only the PNGs that have a mask."""
        if n_masks is None:
            n_masks = read_puppet_mask(self.paths.mask(action, vid)).shape[0]
        return min(count_png_frames(self.paths.frame_dir(action, vid)), n_masks)

    def sample_meta(self, i: int) -> dict[str, Any]:
        vid, frame, query = self.samples[i]
        return {"video_id": vid, "frame_idx": frame, "instance_id": -1, "query": query}

    def sample_id(self, i: int) -> str:
        vid, frame, _ = self.samples[i]
        return jhmdb_sample_id(vid, frame)

    def read(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        vid, frame, _ = self.samples[i]
        action = self.actions[vid]
        mask_path = self.paths.mask(action, vid)
        masks = read_puppet_mask(mask_path)
        length = self._length(action, vid, masks.shape[0])
        if not 1 <= frame <= length:
            raise DataError(self.paths.frame(action, vid, frame),
                            f"frame {frame} is outside the video's {length} usable frames (PNGs with a mask)")
        indices = self.clip.indices(frame - 1, length)
        frames = read_png_frames([self.paths.frame(action, vid, k + 1) for k in indices])
        mask = masks[frame - 1]
        if frames.shape[1:3] != mask.shape:
            raise DataError(mask_path, f"mask is {mask.shape[0]}x{mask.shape[1]} (H x W) but the frames in "
                                       f"{self.paths.frame_dir(action, vid)} are {frames.shape[1]}x{frames.shape[2]}")
        return frames, mask
