"""The one pipeline every referring-video dataset shares: index -> clip -> transforms -> sample dict.

Subclasses (each dataset's ``reader``: :class:`~cmpcv.data.a2d.reader.A2DSentences`,
:class:`~cmpcv.data.jhmdb.reader.JHMDBSentences`) only say how their files are indexed and read;
decoding, resizing, augmentation, the sample dict of ``docs/architecture.md`` and the bad-input
policy live here once.

Bad input (``on_error``):

* ``"raise"`` (default): a missing or corrupt video, h5 or mat file raises
  :class:`~cmpcv.data.errors.DataError` naming the file and the sample.
* ``"skip"``: the error is logged with the file and the sample, and the sample is replaced:
  training splits *substitute* the next readable sample (deterministically ``i+1, i+2, ...``; the
  returned dict then carries ``skipped``, the ids it stands in for), evaluation splits *drop* it
  (``ds[i]`` returns a :class:`Skipped` marker that the collator removes). The collator puts the
  ids in ``batch["skipped"]``; :class:`SkipCounter` totals them for the end-of-epoch report.
  Problems found while indexing are logged, listed in ``ds.problems``, and their samples left
  out (such an index is not cached).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from cmpcv.data.clips import ClipSampler
from cmpcv.data.errors import DataError
from cmpcv.data.transforms import build_resizer, hflip_geometry, hflip_query

log = logging.getLogger(__name__)

ON_ERROR = ("raise", "skip")
SKIP_POLICIES = ("auto", "substitute", "drop")


@dataclass(frozen=True)
class Skipped:
    """What ``ds[i]`` returns for a dropped sample under ``on_error="skip"``."""

    sample_id: str
    error: str


class SkipCounter:
    """Totals ``batch["skipped"]`` over an epoch and logs one line at its end."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def update(self, batch: Mapping) -> None:
        self.ids.extend(batch.get("skipped", ()))

    def report(self, epoch: int | str = "") -> str:
        msg = f"epoch {epoch}: {len(self.ids)} sample(s) skipped because of bad input"
        if self.ids:
            shown = ", ".join(self.ids[:10]) + (" ..." if len(self.ids) > 10 else "")
            msg += f" ({shown})"
            log.warning(msg)
        self.ids = []
        return msg


def _as_clip_sampler(clip: ClipSampler | Mapping | None) -> ClipSampler:
    if clip is None:
        return ClipSampler()
    if isinstance(clip, ClipSampler):
        return clip
    if isinstance(clip, Mapping):  # a plain config node without _target_
        return ClipSampler(**{k: v for k, v in clip.items() if k != "_target_"})
    raise TypeError(f"clip must be a ClipSampler or a mapping of its arguments, got {type(clip).__name__}")


class ReferringClipDataset(Dataset):
    """Base of the referring-video datasets; ``ds[i]`` is the sample dict of ``docs/architecture.md``.

    Args:
        root: the dataset tree.
        clip: a :class:`ClipSampler` (or its arguments); default the released R2D offsets.
        size, resize, max_size: ``resize="pad"`` resizes and pads to ``size x size`` (released
            code), ``"short"`` scales the short side to ``size`` with the long side <= ``max_size``.
        flip_prob: probability of a horizontal flip (training augmentation); the query's
            left/right are swapped with it. The draw depends on ``seed``, the epoch and the index
            only, so it is the same with any number of workers.
        on_error, skip_policy: see the module docstring.
        backend: video decoder, ``"auto"`` | ``"decord"`` | ``"pyav"``.
        cache_dir: where the sample index is cached (None: default, False: no cache).
        keep_decoded: keep every decoded clip (uint8 frames and mask, before resizing and flips)
            in this process's memory, so later epochs skip the video decoder. For small sets only:
            the shapes demo's 2,000 training clips take 196 MB, where decoding them takes longer
            than the training step. Each loader worker keeps the clips it
            decodes; the sampler deals samples to workers afresh every epoch, so with ``n``
            workers a clip is decoded up to ``n`` times and memory grows towards ``n`` x the set
            (the demo uses one worker). The trainer keeps its workers alive across epochs for
            this. Failed reads are not kept: under ``on_error="skip"`` they are retried, and
            logged, every epoch.
    """

    split: str = "test"

    def __init__(self, root: str | os.PathLike, *, clip: ClipSampler | Mapping | None = None, size: int = 320,
                 resize: str = "pad", max_size: int | None = None, flip_prob: float = 0.0, seed: int = 0,
                 on_error: str = "raise", skip_policy: str = "auto", backend: str = "auto",
                 cache_dir: str | os.PathLike | None | bool = None, keep_decoded: bool = False) -> None:
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
        if skip_policy not in SKIP_POLICIES:
            raise ValueError(f"skip_policy must be one of {SKIP_POLICIES}, got {skip_policy!r}")
        if not 0.0 <= flip_prob <= 1.0:
            raise ValueError(f"flip_prob must be in [0, 1], got {flip_prob}")
        self.root = Path(root)
        self.clip = _as_clip_sampler(clip)
        self.resizer = build_resizer(resize, size, max_size)
        self.flip_prob = float(flip_prob)
        self.seed = int(seed)
        self.on_error = on_error
        self.skip_policy = skip_policy
        self.backend = backend
        self.cache_dir = cache_dir
        self.keep_decoded = bool(keep_decoded)
        self._decoded: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.epoch = 0
        self.problems: list[str] = []
        self.samples: list[tuple] = []

    # -- what subclasses provide -------------------------------------------------------------
    def sample_meta(self, i: int) -> dict[str, Any]:
        """``video_id``, ``frame_idx`` (1-based), ``instance_id`` and ``query`` of sample ``i``."""
        raise NotImplementedError

    def sample_id(self, i: int) -> str:
        raise NotImplementedError

    def read(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Clip frames ``(T, H0, W0, 3)`` uint8 (annotated frame at ``T // 2``) and mask ``(H0, W0)`` uint8
        (None for a split without public ground truth: the sample's ``mask`` and ``target`` are None)."""
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------------
    def _problem(self, error: DataError) -> None:
        """An indexing problem: raise it, or log it and let the index leave the sample out."""
        if self.on_error == "raise":
            raise error
        log.warning("skipping while indexing: %s", error)
        self.problems.append(str(error))

    def set_epoch(self, epoch: int) -> None:
        """Vary the augmentation draw per epoch (call before each epoch, like DistributedSampler's)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.samples)

    def _flip(self, i: int) -> bool:
        if self.flip_prob <= 0.0:
            return False
        return bool(np.random.default_rng([self.seed, self.epoch, i]).random() < self.flip_prob)

    def load(self, i: int) -> dict[str, Any]:
        """Sample ``i`` without the error policy (errors propagate, with the sample named)."""
        frames, mask = self._read_kept(i)
        meta = self.sample_meta(i)
        if not frames.flags.writeable:
            # A kept clip: the sample must own its arrays (the mask below would otherwise be the
            # stored one), and torch.from_numpy wants a writable buffer. A copy is cheap here.
            frames, mask = frames.copy(), None if mask is None else mask.copy()
        # .contiguous(): the permuted view would stay channels-last, and training on channels-last
        # input crashed torch 2.14.1's CPU backward (heap corruption) in our runs.
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).contiguous().float().div_(255.0)
        x, target, geometry = self.resizer(x, mask)
        query = meta["query"]
        if self._flip(i):
            x, target = x.flip(-1), None if target is None else target.flip(-1)
            mask = None if mask is None else mask[:, ::-1]
            geometry, query = hflip_geometry(geometry), hflip_query(query)
        mask = None if mask is None else np.ascontiguousarray(mask, dtype=np.uint8)
        return {"frames": x, "target": target, "mask": mask, "query": query,
                "sample_id": self.sample_id(i), "video_id": meta["video_id"], "frame_idx": int(meta["frame_idx"]),
                "instance_id": int(meta["instance_id"]), "geometry": geometry}

    def _read_kept(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`read`, through the in-memory store when ``keep_decoded`` (failures are not kept)."""
        kept = self._decoded.get(i)
        if kept is not None:
            return kept
        try:
            frames, mask = self.read(i)
        except DataError as exc:
            raise exc.for_sample(self.sample_id(i)) from exc.__cause__
        if self.keep_decoded:
            # Own copies: a view would pin its base array (e.g. a whole video's masks) in the store.
            frames = np.array(frames, order="C", copy=True)
            mask = None if mask is None else np.array(mask, order="C", copy=True)
            # Read-only, so an in-place change further down the pipeline fails loudly instead of
            # altering the stored clip for every later epoch.
            frames.flags.writeable = False
            if mask is not None:
                mask.flags.writeable = False
            self._decoded[i] = (frames, mask)
        return frames, mask

    def __getitem__(self, i: int) -> dict[str, Any] | Skipped:
        if not -len(self) <= i < len(self):
            raise IndexError(f"{type(self).__name__}: index {i} out of range for {len(self)} samples")
        i %= len(self)
        if self.on_error == "raise":
            return self.load(i)
        policy = self.skip_policy
        if policy == "auto":
            policy = "substitute" if self.split == "train" else "drop"
        skipped: list[str] = []
        for k in range(len(self)):
            j = (i + k) % len(self)
            try:
                item = self.load(j)
            except DataError as exc:
                log.warning("skipping bad sample: %s", exc)
                if policy == "drop":
                    return Skipped(self.sample_id(j), str(exc))
                skipped.append(self.sample_id(j))
                continue
            if skipped:
                item["skipped"] = skipped
            return item
        raise DataError(self.root, f"every one of the {len(self)} samples failed to load")

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r}, samples={len(self)}, "
                f"clip={self.clip}, resizer={self.resizer}, on_error={self.on_error!r})")
