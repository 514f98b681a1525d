"""Refer-YouTube-VOS clip samples on the shared pipeline (:class:`~cmpcv.data.expression_clips.ExpressionClipDataset`).

``train``: one sample per (expression, listed frame in which its object appears), the clip built
around that frame over the listed frames (every 5th source frame), edge frames repeated. Which
objects appear in which frame comes from ``train/meta.json`` when the tree has it, else from the
mask PNGs themselves (each read once while indexing; the index is cached). ``valid`` (the 202
videos) and ``test`` (305): one sample per (expression, listed frame), without ground truth.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from cmpcv.data.errors import DataError
from cmpcv.data.expression_clips import ExpressionClipDataset
from cmpcv.data.frame_folder import FrameFolder
from cmpcv.data.index_cache import cached_index
from cmpcv.data.palette import read_label_png
from cmpcv.data.ytvos.format import (
    SPLITS, ObjectInfo, read_meta_expressions, read_meta_json, read_object_ids, split_video_ids, ytvos_paths,
)

PRESENCE = ("auto", "meta", "masks")


class RefYouTubeVOS(ExpressionClipDataset):
    """Refer-YouTube-VOS, ``split`` in {"train", "valid", "test"}.

    ``.samples`` is a list of ``(video_id, exp_id, position)``, ``.videos`` the per-video index
    (:class:`~cmpcv.data.expressions.ExpressionVideo`).

    Args:
        presence: where ``train`` learns which objects each frame shows: ``"auto"`` (``meta.json``
            when present, else the masks), ``"meta"`` (``meta.json``, required) or ``"masks"``.
        exclude_test: ``valid`` = the valid meta minus the test meta's videos (202); False keeps
            all 507 videos of the valid meta.
        Other arguments: :class:`~cmpcv.data.expression_clips.ExpressionClipDataset`.
    """

    #: The top folder of a submission zip (``Annotations/<video>/<exp_id>/<frame>.png``).
    submission_prefix = "Annotations/"

    def __init__(self, root: str | os.PathLike, split: str = "train", *, presence: str = "auto",
                 exclude_test: bool = True, **kwargs: Any) -> None:
        if split not in SPLITS:
            raise ValueError(f"RefYouTubeVOS: split must be one of {SPLITS}, got {split!r}")
        if presence not in PRESENCE:
            raise ValueError(f"RefYouTubeVOS: presence must be one of {PRESENCE}, got {presence!r}")
        super().__init__(root, **kwargs)
        self.split = split
        self.has_ground_truth = split == "train"
        self.paths = ytvos_paths(root)
        self.exclude_test = bool(exclude_test)
        if presence == "auto":
            presence = "meta" if self.paths.meta_json.is_file() else "masks"
        self.presence = presence if split == "train" else "none"
        ids, _ = split_video_ids(self.paths, split, exclude_test=self.exclude_test)
        meta_split = "test" if split == "test" else split
        meta_file = self.paths.meta_expressions(meta_split)
        videos, problems = read_meta_expressions(meta_file)
        for p in problems:
            self._problem(DataError(None, p))
        for vid in ids:
            if vid not in videos and not any(f"video {vid}:" in p for p in problems):
                self._problem(DataError(meta_file, f"video {vid} of the split is not in this file"))
        self.videos = {vid: videos[vid] for vid in ids if vid in videos}
        self.objects: dict[str, dict[int, ObjectInfo]] = {}
        if self.presence == "meta":
            self.objects, problems = read_meta_json(self.paths.meta_json)
            for p in problems:
                self._problem(DataError(None, p))
        files = [meta_file, self.paths.meta_expressions("test")] + ([self.paths.meta_json] if self.presence == "meta" else [])
        params = {"split": split, "presence": self.presence, "exclude_test": self.exclude_test}
        n_problems = len(self.problems)
        samples = cached_index(f"ytvos_{split}", self.root, files, params,
                               lambda: (self._build_index(), len(self.problems) == n_problems == 0), self.cache_dir)
        self.samples = [(str(v), str(e), int(p)) for v, e, p in samples]
        # A video dropped while indexing (e.g. no frame folder) leaves the per-video index too.
        if self.problems:
            kept = {v for v, _, _ in self.samples}
            self.videos = {v: x for v, x in self.videos.items() if v in kept}

    # -- index ---------------------------------------------------------------------------------
    def _positions_by_object(self, vid: str) -> dict[int, list[int]] | None:
        """0-based positions of the listed frames in which each object appears (None: video unusable)."""
        frames = self.videos[vid].frames
        out: dict[int, list[int]] = {}
        if self.presence == "meta" and vid in self.objects:
            where = {name: k for k, name in enumerate(frames)}
            for obj, info in self.objects[vid].items():
                out[obj] = sorted(where[f] for f in info.frames if f in where)
            return out
        if self.presence == "meta":
            self._problem(DataError(self.paths.meta_json, f"video {vid} is not in meta.json (use presence=masks "
                                                          "to read its masks instead)"))
            return None
        folder = self.paths.annotations_dir(vid)
        if not folder.is_dir():
            self._problem(DataError(folder, f"mask folder of video {vid} not found"))
            return None
        for k, name in enumerate(frames):
            try:
                ids = read_object_ids(self.paths.annotation(vid, name))
            except DataError as exc:
                self._problem(exc)
                continue
            for obj in ids:
                out.setdefault(obj, []).append(k)
        return out

    def _build_index(self) -> list[list]:
        samples = []
        for vid, video in self.videos.items():
            folder = self.paths.frames_dir(self.split, vid)
            if not folder.is_dir():
                self._problem(DataError(folder, f"frame folder of video {vid} not found (a renamed or missing video)"))
                continue
            if not self.has_ground_truth:
                samples.extend([vid, e, k] for e in video.expression_ids() for k in range(len(video.frames)))
                continue
            positions = self._positions_by_object(vid)
            if positions is None:
                continue
            for exp_id in video.expression_ids():
                obj = video.expressions[exp_id].obj_ids[0]
                samples.extend([vid, exp_id, k] for k in positions.get(obj, ()))
        return samples

    # -- ExpressionClipDataset -----------------------------------------------------------------
    def frame_folder(self, video_id: str) -> FrameFolder:
        return FrameFolder(self.paths.frames_dir(self.split, video_id), self.videos[video_id].frames)

    def read_target(self, video_id: str, exp_id: str, position: int, size: tuple[int, int]
                    ) -> tuple[np.ndarray, str]:
        path = self.paths.annotation(video_id, self.videos[video_id].frames[position])
        obj = self.videos[video_id].expressions[exp_id].obj_ids[0]
        return (read_label_png(path) == obj).astype(np.uint8), str(path)
