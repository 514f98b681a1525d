"""Clip samples of JPEG-folder referring datasets: one (expression, listed frame) per sample.

The base of the readers whose videos are frame folders and whose annotation files list, per
video, its frames and expressions (:class:`~cmpcv.data.expressions.ExpressionVideo`). A sample
is ``(video_id, exp_id, position)``: the expression and the 0-based position of the annotated
frame among the video's listed frames. The clip is built over the listed frames (the
:class:`~cmpcv.data.clips.ClipSampler` offsets count listed frames, clamped at both ends, so
edge frames repeat), and only its frames are decoded (:class:`~cmpcv.data.frame_folder.FrameFolder`).

``ds[i]`` is the sample dict of ``docs/architecture.md`` with ``sample_id``
``v_{video}_f_{frame name}_e_{exp_id}``, ``frame_idx`` the 1-based frame number
(:func:`~cmpcv.data.expressions.frame_number`) and ``instance_id`` the referred object's id
(-1 when the expression refers to several objects or to none). Splits without public ground
truth (``has_ground_truth = False``) return ``mask`` and ``target`` None.

For whole-video inference, :meth:`ExpressionClipDataset.video_ids`, ``.videos[video_id]`` and
:meth:`ExpressionClipDataset.frame_folder` give every listed frame of a video and all of its
expressions, independent of which (expression, frame) pairs were kept as samples.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from cmpcv.data.errors import DataError
from cmpcv.data.expressions import ExpressionVideo, expression_sample_id, frame_number
from cmpcv.data.frame_folder import DECODERS, FrameFolder
from cmpcv.data.referring import ReferringClipDataset

__all__ = ["ExpressionClipDataset"]


class ExpressionClipDataset(ReferringClipDataset):
    """Base of the frame-folder readers; subclasses fill ``videos`` and ``samples`` and say where
    a video's frames are (:meth:`frame_folder`) and how a sample's ground truth is read
    (:meth:`read_target`).

    Args:
        decoder: JPEG decoder, ``"auto"`` | ``"torchvision"`` | ``"pillow"``
            (:mod:`cmpcv.data.frame_folder`).
        Other arguments: :class:`~cmpcv.data.referring.ReferringClipDataset`.
    """

    has_ground_truth: bool = True
    #: What precedes ``<video>/<exp_id>/<frame>.png`` in the benchmark's submission zip.
    submission_prefix: str = ""

    def __init__(self, root, *, decoder: str = "auto", **kwargs: Any) -> None:
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}")
        super().__init__(root, **kwargs)
        self.decoder = decoder
        self.videos: dict[str, ExpressionVideo] = {}

    # -- what subclasses provide -------------------------------------------------------------
    def frame_folder(self, video_id: str) -> FrameFolder:
        """The video's listed frames as files."""
        raise NotImplementedError

    def read_target(self, video_id: str, exp_id: str, position: int, size: tuple[int, int]
                    ) -> tuple[np.ndarray, str]:
        """``(mask (H0, W0) uint8 {0, 1}, the file it was read from)`` of an expression at a listed
        frame; ``size`` is the frames' ``(H0, W0)``, for ground truth that stores no size of its own
        (an object absent from the frame)."""
        raise NotImplementedError

    # -- the per-video index -----------------------------------------------------------------
    def video_ids(self) -> list[str]:
        """The videos of the split, in index order."""
        return list(self.videos)

    def instance_id(self, video_id: str, exp_id: str) -> int:
        ids = self.videos[video_id].expressions[exp_id].obj_ids
        return int(ids[0]) if len(ids) == 1 else -1

    # -- ReferringClipDataset ----------------------------------------------------------------
    def sample_meta(self, i: int) -> dict[str, Any]:
        vid, exp_id, pos = self.samples[i]
        video = self.videos[vid]
        return {"video_id": vid, "frame_idx": frame_number(video.frames[pos], pos),
                "instance_id": self.instance_id(vid, exp_id), "query": video.expressions[exp_id].query}

    def sample_id(self, i: int) -> str:
        vid, exp_id, pos = self.samples[i]
        return expression_sample_id(vid, self.videos[vid].frames[pos], exp_id)

    def read(self, i: int) -> tuple[np.ndarray, np.ndarray | None]:
        vid, exp_id, pos = self.samples[i]
        folder = self.frame_folder(vid)
        frames, _ = folder.read(lambda n: self.clip.indices(pos, n), self.decoder)
        if not self.has_ground_truth:
            return frames, None
        mask, source = self.read_target(vid, exp_id, pos, frames.shape[1:3])
        if frames.shape[1:3] != mask.shape:
            raise DataError(source, f"mask is {mask.shape[0]}x{mask.shape[1]} (H x W) but the frames in "
                                    f"{folder.folder} are {frames.shape[1]}x{frames.shape[2]}")
        return frames, mask
