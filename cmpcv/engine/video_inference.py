"""Whole-video inference: a mask for every requested frame of a video and every expression.

Frame ``c`` is predicted from its clip ``sampler.indices(c, n)`` (clamped at both ends), exactly
as the clip-by-clip path (``model(clip, tokens, mask)`` per frame and sentence) predicts it, but
every piece of work is done once, where it stops depending on the rest:

=====================================  ==========================================================
once per frame (per-frame backbones)    decoding, resizing, the backbone, the lateral projections,
 or per clip (3D backbones)             the visual half of entity perception ``tanh(W_r [V; S])``
once per (frame, expression)            entity perception ``M`` and the frame's temporal node
                                        (action-guided pooling of ``M``)
once per (clip, expression), batched    temporal graph over the clip's nodes, relation graph,
                                        CMPC output, TGFE, head
=====================================  ==========================================================

A per-frame backbone (``backbone.per_frame``: ResNet/DeepLab R2D, Tiny2D) sees every frame once,
however many clips hold it; a 3D backbone runs once per clip, shared by all K expressions.
Per-frame results live in a sliding cache: a frame's entry is dropped as soon as the last clip
that uses it has been decoded, so peak memory depends on the clip span, the batch and K, not on
the video's length. Results stream out in frame order (:class:`FramePrediction`).

The split is the model's own (``EntityPerception.project_visual``/``fuse``,
``TemporalGraph.pool_nodes``/``context``, the levels' ``project``/``entities``/``nodes``/
``decode``); composed, those stages are the model's forward, so the masks are the clip-by-clip
masks. Floating-point sums run in other shapes, so logits agree to float rounding (1e-5), and a
mask pixel could differ only where a logit lies within that of 0 (tests/engine/test_video_inference.py).
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from cmpcv.data.clips import ClipSampler
from cmpcv.data.frame_sources import FrameSource, open_frames
from cmpcv.data.transforms import restore_mask
from cmpcv.engine.precision import autocast
from cmpcv.models.fusion import spatial_coords
from cmpcv.models.language import LanguageFeatures

__all__ = ["FramePrediction", "VideoSegmenter", "restore_probs"]


def restore_probs(prob: torch.Tensor, geometry: dict) -> np.ndarray:
    """``(K, H, W)`` probabilities at network input -> ``(K, H0, W0)`` float32 on the original frame:
    padding cropped, nearest resize (thresholding the result at 0.5 gives :func:`restore_mask`'s masks)."""
    (H, W), (top, left, bottom, right) = geometry["input_size"], geometry["pad"]
    p = prob[:, top : H - bottom, left : W - right].float()
    p = F.interpolate(p.unsqueeze(1), size=tuple(geometry["orig_size"]), mode="nearest")[:, 0]
    return p.numpy()


@dataclass
class FramePrediction:
    """One frame's predictions for all K expressions.

    ``index``: 0-based frame in the source; ``logits (K, H, W)`` float32 CPU at network input
    resolution; ``geometry``: the resize geometry (``restore_mask`` maps back to the frame).
    """

    index: int
    logits: torch.Tensor
    geometry: dict

    def probs(self) -> torch.Tensor:
        return torch.sigmoid(self.logits)

    def masks(self, threshold: float = 0.5) -> np.ndarray:
        """``(K, H0, W0)`` uint8 {0, 1} on the original frame (the evaluation protocol)."""
        p = self.probs()
        return np.stack([restore_mask(p[k], self.geometry, threshold=threshold) for k in range(len(p))])

    def probs_original(self) -> np.ndarray:
        """``(K, H0, W0)`` float32 foreground probabilities on the original frame."""
        return restore_probs(self.probs(), self.geometry)


@dataclass
class _Slices:
    """What the per-(clip, expression) stage reads of one clip, per level: the GT slice's
    ``v (N, C)`` and ``m (K, N, C)``, and the node of each slice ``(K, C)`` (None for CMPC-I)."""

    v: list[torch.Tensor]
    m: list[torch.Tensor]
    nodes: list[list[torch.Tensor] | None]
    frame: torch.Tensor | None = None  # the GT frame, resized, for a refining head


@dataclass
class _FrameEntry:
    nodes: list[torch.Tensor] | None = None  # per-frame backbones: per level (K, C)
    gt: _Slices | None = None                # per-frame backbones: frames still to be predicted
    resized: torch.Tensor | None = None      # 3D backbones: the resized frame


def is_per_frame(backbone: nn.Module) -> bool:
    """Whether the backbone treats every frame on its own (then its features are shared by clips)."""
    return bool(getattr(backbone, "per_frame", False))


class VideoSegmenter:
    """Segment whole videos with ``model`` (a :class:`~cmpcv.models.CMPCVModel`, put in eval mode).

    Args:
        sampler: the clip around each frame (the model's training setting).
        resizer: frames -> network input + geometry (``cmpcv.data.transforms``).
        batch_size: clips decoded per step; also frames (per-frame backbones) or clips (3D) per
            backbone call.
        rows: (clip, expression) rows per call of the per-(clip, expression) stage (default
            ``batch_size * K``).
        precision: ``"32"``, ``"bf16"`` or ``"16"`` (:mod:`cmpcv.engine.precision`).
    """

    def __init__(self, model: nn.Module, sampler: ClipSampler, resizer: Any, *, device: torch.device | str = "cpu",
                 batch_size: int = 8, rows: int | None = None, precision: str = "32") -> None:
        if batch_size < 1 or (rows is not None and rows < 1):
            raise ValueError(f"VideoSegmenter: batch_size ({batch_size}) and rows ({rows}) must be >= 1")
        self.model, self.sampler, self.resizer = model, sampler, resizer
        self.device = torch.device(device)
        self.batch_size, self.rows, self.precision = int(batch_size), rows, str(precision)
        self.per_frame = is_per_frame(model.backbone)
        self.temporal = bool(model.cmpc.temporal_graph)
        self.refine = model.head.refine is not None
        #: Of the last :meth:`segment`: frames decoded, backbone passes (frames or clips), the most
        #: frames held in the cache at once.
        self.stats: dict[str, int] = {}

    # ------------------------------------------------------------------------------ public
    @torch.no_grad()
    def segment(self, video: Any, tokens: torch.Tensor, token_mask: torch.Tensor,
                frames: Sequence[int] | None = None) -> Iterator[FramePrediction]:
        """Predictions for ``frames`` (0-based, default every frame) of ``video`` (a path, an
        ``(N, H, W, 3)`` uint8 array or a frame source) and the K sentences ``tokens (K, L)`` /
        ``token_mask (K, L)``, yielded in frame order as they are ready."""
        self.model.eval()
        source = open_frames(video)
        n = len(source)
        centres = sorted({int(f) for f in frames}) if frames is not None else list(range(n))
        bad = [f for f in centres if not 0 <= f < n]
        if bad:
            raise ValueError(f"frames {bad[:5]} requested from a video of {n} frames")
        if not centres:
            return
        with autocast(self.precision, self.device):
            lang = self.model.language(tokens.to(self.device), token_mask.to(self.device))
        k = int(tokens.shape[0])
        clip = {c: self.sampler.indices(c, n) for c in centres}
        state = _State(source, n, centres, clip, k, lang)
        self.stats = state.stats
        for start in range(0, len(centres), self.batch_size):
            batch = centres[start : start + self.batch_size]
            with autocast(self.precision, self.device):
                slices = (self._per_frame_slices if self.per_frame else self._per_clip_slices)(state, batch)
                logits = self._decode(state, batch, slices)
            state.stats["peak_cached_frames"] = max(state.stats["peak_cached_frames"], len(state.cache))
            for j, c in enumerate(batch):
                yield FramePrediction(c, logits[j * k : (j + 1) * k].float().cpu(), state.geometry)
            state.release(batch, start + len(batch))

    # ------------------------------------------------------------------------------ stages
    def _prepare(self, state: "_State", idx: list[int]) -> torch.Tensor:
        """Frames ``idx`` as network input ``(k, 3, H, W)`` on the device, as the dataset reader makes it."""
        raw, _ = state.source.read(idx)
        state.stats["frames_decoded"] += len(idx)
        if state.geometry is None:
            state.geometry = self.resizer.geometry(tuple(raw.shape[1:3]))
            state.size = tuple(state.geometry["input_size"])
        elif tuple(raw.shape[1:3]) != tuple(state.geometry["orig_size"]):
            raise ValueError(f"frames {idx[0]}-{idx[-1]} are {raw.shape[1]}x{raw.shape[2]} (H x W), the video's "
                             f"first frames {tuple(state.geometry['orig_size'])}: one video, one frame size")
        x = torch.from_numpy(np.ascontiguousarray(raw)).permute(0, 3, 1, 2).float().div_(255.0)
        return self.resizer(x)[0].contiguous().to(self.device)

    def _slice_stage(self, state: "_State", levels: list[torch.Tensor], gts: Sequence[int]
                     ) -> list[tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor] | None]]:
        """Backbone levels ``(B, T_l, C, h, w)`` and each level's GT slice -> per level
        ``(V (B, N, C) of the GT slice, [M (B, N, C) of the GT slice, per expression],
        [nodes (B, T_l, C) per expression] or None without a temporal graph)``."""
        cmpc, lang = self.model.cmpc, state.lang
        if state.coords is None:
            state.grid = tuple(levels[0].shape[-2:])
            state.coords = spatial_coords(*state.grid, device=levels[0].device, dtype=levels[0].dtype)
        out = []
        for li, (x, level, g) in enumerate(zip(levels, cmpc.levels, gts)):
            if not self.temporal:
                x, g = x[:, g : g + 1], 0  # CMPC-I reads the GT slice only
            v = cmpc.visual(li, x)  # (B, T_l, N, C)
            b, t, n, c = v.shape
            p = level.project(v.flatten(0, 1), state.coords)  # (B*T_l, N, R*C)
            ms, nodes = [], ([] if self.temporal else None)
            for e in range(state.k):
                rows = lang.take([e] * (b * t))
                m = level.entities(p, rows)  # (B*T_l, N, C)
                if nodes is not None:
                    nodes.append(level.nodes(m, rows).view(b, t, -1))
                ms.append(m.view(b, t, n, c)[:, g])
            out.append((v[:, g], ms, nodes))
        return out

    def _per_frame_slices(self, state: "_State", batch: list[int]) -> list[_Slices]:
        """Per-frame backbone: encode the frames of the batch's clips that are not cached yet."""
        wanted = sorted({f for c in batch for f in (state.clip[c] if self.temporal else [c])} - set(state.cache))
        for s in range(0, len(wanted), self.batch_size):
            idx = wanted[s : s + self.batch_size]
            x = self._prepare(state, idx)
            levels = self.model.backbone(x.unsqueeze(1))  # every frame a one-frame clip
            state.stats["backbone_inputs"] += len(idx)
            per_level = self._slice_stage(state, levels, [0] * len(levels))
            for j, f in enumerate(idx):
                entry = state.cache.setdefault(f, _FrameEntry())
                if self.temporal:
                    entry.nodes = [torch.stack([nd[j, 0] for nd in nodes]) for _, _, nodes in per_level]
                if f in state.pending:
                    entry.gt = _Slices(v=[v[j] for v, _, _ in per_level],
                                       m=[torch.stack([m[j] for m in ms]) for _, ms, _ in per_level],
                                       nodes=[], frame=x[j] if self.refine else None)
        out = []
        for c in batch:
            gt = state.cache[c].gt
            gt.nodes = [torch.stack([state.cache[f].nodes[li] for f in state.clip[c]], dim=1) if self.temporal
                        else None for li in range(len(gt.v))]  # (K, F, C) per level
            out.append(gt)
        return out

    def _per_clip_slices(self, state: "_State", batch: list[int]) -> list[_Slices]:
        """3D backbone: each clip of the batch through the backbone once, for all K expressions."""
        wanted = sorted({f for c in batch for f in state.clip[c]}
                        - {f for f, entry in state.cache.items() if entry.resized is not None})
        for s in range(0, len(wanted), self.batch_size):
            idx = wanted[s : s + self.batch_size]
            for f, x in zip(idx, self._prepare(state, idx)):
                state.cache.setdefault(f, _FrameEntry()).resized = x
        clips = torch.stack([torch.stack([state.cache[f].resized for f in state.clip[c]]) for c in batch])
        t = clips.shape[1]
        per_level = self._slice_stage(state, self.model.backbone(clips), list(self.model.backbone.gt_index(t)))
        state.stats["backbone_inputs"] += len(batch)
        return [_Slices(v=[v[j] for v, _, _ in per_level],
                        m=[torch.stack([m[j] for m in ms]) for _, ms, _ in per_level],
                        nodes=[torch.stack([nd[j] for nd in nodes]) if nodes is not None else None
                               for _, _, nodes in per_level],
                        frame=clips[j, t // 2] if self.refine else None)
                for j in range(len(batch))]

    def _decode(self, state: "_State", batch: list[int], slices: list[_Slices]) -> torch.Tensor:
        """The per-(clip, expression) stage for every row ``(clip j, expression e)``, clip-major:
        ``logits (len(batch) * K, H, W)``."""
        model, k = self.model, state.k
        total = len(batch) * k
        step = self.rows or total
        outs = []
        for r0 in range(0, total, step):
            rows = list(range(r0, min(total, r0 + step)))
            clip_of, expr_of = [r // k for r in rows], [r % k for r in rows]
            lang = state.lang.take(expr_of)
            ys = []
            for li, level in enumerate(model.cmpc.levels):
                v = torch.stack([slices[j].v[li] for j in clip_of])
                m = torch.stack([slices[j].m[li][e] for j, e in zip(clip_of, expr_of)])
                nodes = (torch.stack([slices[j].nodes[li][e] for j, e in zip(clip_of, expr_of)])
                         if self.temporal else None)
                ys.append(level.decode(v, m, nodes, state.coords, lang))
            frame = None
            if self.refine:
                frame = model.backbone.normalize(torch.stack([slices[j].frame for j in clip_of]))
            fused = model.tgfe(ys, lang.q_all)
            outs.append(model.head.final_logits(fused, state.grid, state.size, frame=frame))
        return torch.cat(outs)


class _State:
    """One video's bookkeeping: the source, the clips, the cache and when its entries can go."""

    def __init__(self, source: FrameSource, n: int, centres: list[int], clip: dict[int, list[int]], k: int,
                 lang: LanguageFeatures) -> None:
        self.source, self.n, self.centres, self.clip, self.k, self.lang = source, n, centres, clip, k, lang
        self.pending = set(centres)
        self.stats = {"frames_decoded": 0, "backbone_inputs": 0, "peak_cached_frames": 0}
        self.cache: dict[int, _FrameEntry] = {}
        self.geometry: dict | None = None
        self.size: tuple[int, int] | None = None
        self.grid: tuple[int, int] | None = None
        self.coords: torch.Tensor | None = None
        # Frame -> position (in ``centres``) of the last clip that reads it.
        self.last_use: dict[int, int] = {}
        for pos, c in enumerate(centres):
            for f in clip[c]:
                self.last_use[f] = pos

    def release(self, batch: list[int], done: int) -> None:
        """The clips of ``batch`` (``centres[:done]``) are decoded: drop what no later clip reads."""
        for c in batch:
            self.pending.discard(c)
            if c in self.cache:
                self.cache[c].gt = None
        for f in [f for f in self.cache if self.last_use.get(f, -1) < done]:
            del self.cache[f]
