"""MeViS clip samples on the shared pipeline (:class:`~cmpcv.data.expression_clips.ExpressionClipDataset`).

A sample is an (expression, listed frame): on ``train`` the frames where the referred objects'
union is non-empty, on ``valid_u`` (public ground truth, scored here) every listed frame, on
``valid`` (server-scored, no ``mask_dict.json``) every listed frame without ground truth. The
ground truth of an expression is the union of the masks of its ``anno_id`` s, decoded from
``mask_dict.json`` (indexed by position in the meta's ``frames``, so the listed order is kept as
written). An expression with no object (MeViS v2's no-target expressions) is left out unless
``no_target=True``; its samples then cover every listed frame with an empty target.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from cmpcv.data.errors import DataError
from cmpcv.data.expression_clips import ExpressionClipDataset
from cmpcv.data.expressions import Expression, ExpressionVideo, sort_ids
from cmpcv.data.frame_folder import FrameFolder
from cmpcv.data.index_cache import cached_index
from cmpcv.data.mevis.format import MeViSPaths, decode_rle, read_mask_dict, read_meta_expressions
from cmpcv.data.rle import rle_counts

SPLITS = ("train", "valid_u", "valid")


def rle_area(rle: dict | None) -> int:
    """Foreground pixels of a checked COCO RLE (0 for ``None``): the odd runs, without decoding."""
    if rle is None:
        return 0
    return int(rle_counts(rle["counts"])[1::2].sum())


class MeViS(ExpressionClipDataset):
    """MeViS, ``split`` in {"train", "valid_u", "valid"}.

    ``.samples`` is a list of ``(video_id, exp_id, position)``; ``.videos`` the per-video index,
    whose expressions carry ``obj_ids`` and ``anno_ids`` (several: a union; none: no target).

    Args:
        no_target: also sample expressions that refer to no object (empty target).
        meta_file: the meta file's name inside the split folder (``meta_expressions.json``; e.g.
            ``meta_expressions_v2.json`` where a copy keeps both versions).
        Other arguments: :class:`~cmpcv.data.expression_clips.ExpressionClipDataset`.
    """

    def __init__(self, root: str | os.PathLike, split: str = "train", *, no_target: bool = False,
                 meta_file: str = "meta_expressions.json", **kwargs: Any) -> None:
        if split not in SPLITS:
            raise ValueError(f"MeViS: split must be one of {SPLITS}, got {split!r}")
        super().__init__(root, **kwargs)
        self.split = split
        self.no_target = bool(no_target)
        self.paths = MeViSPaths(self.root, split)
        self.meta_path = self.paths.split_dir / meta_file
        self.has_ground_truth = split != "valid"
        problems: list[str] = []
        meta = read_meta_expressions(self.meta_path, problems=problems)
        for p in problems:
            self._problem(DataError(None, p))
        self.videos = {
            vid: ExpressionVideo(vid, v.frames, {e: Expression(e, x.exp, tuple(x.obj_id), tuple(x.anno_id))
                                                 for e, x in v.expressions.items()})
            for vid, v in meta.items()}
        self.masks: dict[str, list[dict | None] | None] = {}  # None: an anno_id whose masks are malformed
        if self.has_ground_truth:
            problems = []
            self.masks = read_mask_dict(self.paths.mask_dict, problems=problems)
            for p in problems:
                self._problem(DataError(None, p))
        files = [self.meta_path] + ([self.paths.mask_dict] if self.has_ground_truth else [])
        n_problems = len(self.problems)
        samples = cached_index(f"mevis_{split}_{meta_file}", self.root, files, {"no_target": self.no_target},
                               lambda: (self._build_index(), len(self.problems) == n_problems == 0), self.cache_dir)
        self.samples = [(str(v), str(e), int(p)) for v, e, p in samples]

    def _usable(self, vid: str, exp: Expression, checked: dict[str, bool]) -> bool:
        """Every ``anno_id`` is in ``mask_dict.json`` with one entry per listed frame (else a
        problem, reported once per ``anno_id``; ``checked`` remembers the verdicts)."""
        n = len(self.videos[vid].frames)
        for anno in map(str, exp.anno_ids):
            if anno not in self.masks:
                self._problem(DataError(self.paths.mask_dict, f"video {vid}: expression {exp.exp_id} refers to "
                                                              f"anno_id {anno}, which the file lacks"))
                return False
            entries = self.masks[anno]
            if entries is None:  # in the file but malformed: reported when the file was read
                return False
            if anno not in checked:
                checked[anno] = len(entries) == n
                if not checked[anno]:
                    self._problem(DataError(self.paths.mask_dict, f"video {vid}: anno_id {anno} has {len(entries)} "
                                                                  f"masks for the video's {n} listed frames"))
            if not checked[anno]:
                return False
        return True

    def _build_index(self) -> list[list]:
        samples: list[list] = []
        checked: dict[str, bool] = {}
        for vid, video in self.videos.items():
            if not self.paths.frames_dir(vid).is_dir():
                self._problem(DataError(self.paths.frames_dir(vid), f"frame folder of video {vid} not found"))
                continue
            n = len(video.frames)
            for exp_id in sort_ids(video.expressions):
                exp = video.expressions[exp_id]
                if not exp.anno_ids:
                    if self.no_target:
                        samples.extend([vid, exp_id, k] for k in range(n))
                    continue
                if not self.has_ground_truth:
                    samples.extend([vid, exp_id, k] for k in range(n))
                    continue
                if not self._usable(vid, exp, checked):
                    continue
                if self.split != "train":
                    samples.extend([vid, exp_id, k] for k in range(n))
                    continue
                shown = [k for k in range(n) if any(rle_area(self.masks[str(a)][k]) for a in exp.anno_ids)]
                samples.extend([vid, exp_id, k] for k in shown)
        return samples

    def frame_folder(self, video_id: str) -> FrameFolder:
        return FrameFolder(self.paths.frames_dir(video_id), self.videos[video_id].frames)

    def read_target(self, video_id: str, exp_id: str, position: int, size: tuple[int, int]
                    ) -> tuple[np.ndarray, str]:
        exp = self.videos[video_id].expressions[exp_id]
        mask = np.zeros(size, dtype=np.uint8)
        for anno in exp.anno_ids:
            rle = self.masks[str(anno)][position]
            if rle is None:
                continue
            if tuple(rle["size"]) != tuple(size):
                raise DataError(self.paths.mask_dict, f"anno_id {anno}, frame {position}: mask is "
                                f"{rle['size'][0]}x{rle['size'][1]} but the frames of {video_id} are "
                                f"{size[0]}x{size[1]} (H x W)")
            mask |= decode_rle(rle)
        return mask, f"{self.paths.mask_dict} (video {video_id}, anno_ids {list(exp.anno_ids)})"
