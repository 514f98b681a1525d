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
    resolution; ``geometry``: the resize geometry (``restore_mask`` maps back to the frame);
    ``image``: the decoded frame ``(H0, W0, 3)`` uint8 when asked for (``keep_images``).
    """

    index: int
    logits: torch.Tensor
    geometry: dict
    image: np.ndarray | None = None

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
    ``v (N, C)`` and ``m (K, N, C)``, and the clip's nodes ``(K, F, C)`` (None for CMPC-I)."""

    v: list[torch.Tensor]
    m: list[torch.Tensor]
    nodes: list[torch.Tensor | None]
    frame: torch.Tensor | None = None  # the GT frame, resized, for a refining head


@dataclass
class _FrameEntry:
    nodes: list[torch.Tensor] | None = None  # per-frame backbones: per level (K, C)
    gt: _Slices | None = None                # per-frame backbones: frames still to be predicted
    resized: torch.Tensor | None = None      # 3D backbones: the resized frame


def is_per_frame(backbone: nn.Module) -> bool:
    """Whether the backbone treats every frame on its own (then its features are shared by clips)."""
    return bool(getattr(backbone, "per_frame", False))


# ---------------------------------------------------------------------------------- the stages
def visual_stage(model: nn.Module, levels: list[torch.Tensor], gts: Sequence[int]
                 ) -> list[tuple[torch.Tensor, torch.Tensor, int]]:
    """Sentence-independent, per slice: backbone levels ``(B, T_l, C_l, h, w)`` -> per level
    ``(V (B, T_l, N, C), tanh(W_r [V; S]) (B, T_l, N, R*C), GT slice)`` (CMPC-I: the GT slice only)."""
    cmpc = model.cmpc
    coords = spatial_coords(*levels[0].shape[-2:], device=levels[0].device, dtype=levels[0].dtype)
    out = []
    for li, (x, level, g) in enumerate(zip(levels, cmpc.levels, gts)):
        if not cmpc.temporal_graph:
            x, g = x[:, g : g + 1], 0
        v = cmpc.visual(li, x)
        b, t = v.shape[:2]
        out.append((v, level.project(v.flatten(0, 1), coords).unflatten(0, (b, t)), g))
    return out


def pair_stage(model: nn.Module, visual: list[tuple[torch.Tensor, torch.Tensor, int]], lang: LanguageFeatures,
               pairs: Sequence[tuple[int, int]]) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """Per (slice, sentence): for each ``(clip b, sentence e)`` of ``pairs``, per level, the GT
    slice's entities ``M (P, N, C)`` and every slice's node ``(P, T_l, C)`` (None for CMPC-I).
    The sentences run one at a time over all the clips that pair with them."""
    temporal = model.cmpc.temporal_graph
    by_sentence: dict[int, list[int]] = {}
    for b, e in pairs:
        by_sentence.setdefault(e, []).append(b)
    out = []
    for (v, p, g), level in zip(visual, model.cmpc.levels):
        n_clips, t = p.shape[:2]
        m_gt: dict[tuple[int, int], torch.Tensor] = {}
        nodes: dict[tuple[int, int], torch.Tensor] = {}
        for e, clips in by_sentence.items():
            sel = p if clips == list(range(n_clips)) else p[clips]
            rows = lang.take([e] * (len(clips) * t))
            m = level.entities(sel.flatten(0, 1), rows)  # (len(clips) * T_l, N, C)
            nd = level.nodes(m, rows).view(len(clips), t, -1) if temporal else None
            m = m.view(len(clips), t, *m.shape[1:])[:, g]
            for j, b in enumerate(clips):
                m_gt[b, e] = m[j]
                if nd is not None:
                    nodes[b, e] = nd[j]
        out.append((torch.stack([m_gt[pr] for pr in pairs]),
                    torch.stack([nodes[pr] for pr in pairs]) if temporal else None))
    return out


def decode_rows(model: nn.Module, v: list[torch.Tensor], m: list[torch.Tensor], nodes: list[torch.Tensor | None],
                lang: LanguageFeatures, grid: tuple[int, int], size: tuple[int, int],
                frame: torch.Tensor | None = None) -> torch.Tensor:
    """Per (clip, sentence) row, per level ``v``, ``m (R, N, C)`` and ``nodes (R, F, C)`` on the
    backbone's ``grid`` -> final ``logits (R, H, W)`` for an input of ``size``; ``frame
    (R, 3, H, W)``: each row's GT frame in ``[0, 1]``, for a refining head."""
    coords = spatial_coords(*grid, device=v[0].device, dtype=v[0].dtype)
    ys = [level.decode(vi, mi, ni, coords, lang) for level, vi, mi, ni in zip(model.cmpc.levels, v, m, nodes)]
    if model.head.refine is not None:
        frame = model.backbone.normalize(frame)
    return model.head.final_logits(model.tgfe(ys, lang.q_all), grid, size, frame=frame)


@torch.no_grad()
def clip_logits(model: nn.Module, clips: torch.Tensor, lang: LanguageFeatures, clip_of: Sequence[int]
                ) -> torch.Tensor:
    """Clips that several sentences share: ``clips (U, T, 3, H, W)`` through the backbone and the
    visual stage once each, then row ``r`` = sentence ``r`` of ``lang`` on clip ``clip_of[r]``:
    ``logits (R, H, W)``, what ``model(clips[clip_of], tokens, mask)["logits"]`` gives."""
    levels = model.backbone(clips)
    t = clips.shape[1]
    visual = visual_stage(model, levels, model.backbone.gt_index(t))
    pairs = [(int(b), r) for r, b in enumerate(clip_of)]
    per_level = pair_stage(model, visual, lang, pairs)
    v = [vv[list(clip_of), g] for vv, _, g in visual]
    frame = clips[list(clip_of), t // 2] if model.head.refine is not None else None
    return decode_rows(model, v, [m for m, _ in per_level], [nd for _, nd in per_level], lang,
                       tuple(levels[0].shape[-2:]), tuple(clips.shape[-2:]), frame)


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
        #: Of the last :meth:`segment`: frames decoded, backbone inputs (frames or clips), the most
        #: frames held in the cache at once.
        self.stats: dict[str, int] = {}

    @torch.no_grad()
    def segment(self, video: Any, tokens: torch.Tensor, token_mask: torch.Tensor,
                frames: Sequence[int] | None = None, *, keep_images: bool = False) -> Iterator[FramePrediction]:
        """Predictions for ``frames`` (0-based, default every frame) of ``video`` (a path, an
        ``(N, H, W, 3)`` uint8 array or a frame source) and the K sentences ``tokens (K, L)`` /
        ``token_mask (K, L)``, yielded in frame order as they are ready. ``keep_images``: each
        prediction carries its decoded frame (to draw on), so nothing is decoded twice."""
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
        state = _State(source, centres, {c: self.sampler.indices(c, n) for c in centres}, k, lang)
        state.keep_images = keep_images
        self.stats = state.stats
        for start in range(0, len(centres), self.batch_size):
            batch = centres[start : start + self.batch_size]
            with autocast(self.precision, self.device):
                slices = (self._per_frame_slices if self.per_frame else self._per_clip_slices)(state, batch)
                logits = self._decode(state, slices)
            state.stats["peak_cached_frames"] = max(state.stats["peak_cached_frames"], len(state.cache))
            for j, c in enumerate(batch):
                yield FramePrediction(c, logits[j * k : (j + 1) * k].float().cpu(), state.geometry,
                                      state.images.pop(c, None))
            state.release(batch, start + len(batch))

    def _prepare(self, state: "_State", idx: list[int]) -> torch.Tensor:
        """Frames ``idx`` as network input ``(k, 3, H, W)`` on the device, as the dataset reader makes it."""
        raw, _ = state.source.read(idx)
        state.stats["frames_decoded"] += len(idx)
        if state.geometry is None:
            state.geometry = self.resizer.geometry(tuple(raw.shape[1:3]))
        elif tuple(raw.shape[1:3]) != tuple(state.geometry["orig_size"]):
            raise ValueError(f"frames {idx[0]}-{idx[-1]} are {raw.shape[1]}x{raw.shape[2]} (H x W), the video's "
                             f"first frames {tuple(state.geometry['orig_size'])}: one video, one frame size")
        if state.keep_images:
            state.images.update((f, raw[j]) for j, f in enumerate(idx) if f in state.pending)
        x = torch.from_numpy(np.ascontiguousarray(raw)).permute(0, 3, 1, 2).float().div_(255.0)
        return self.resizer(x)[0].contiguous().to(self.device)

    def _per_frame_slices(self, state: "_State", batch: list[int]) -> list[_Slices]:
        """Per-frame backbone: encode the frames of the batch's clips that are not cached yet."""
        wanted = sorted({f for c in batch for f in (state.clip[c] if self.temporal else [c])} - set(state.cache))
        k = state.k
        for s in range(0, len(wanted), self.batch_size):
            idx = wanted[s : s + self.batch_size]
            x = self._prepare(state, idx)
            levels = self.model.backbone(x.unsqueeze(1))  # every frame a one-frame clip
            state.grid = tuple(levels[0].shape[-2:])
            state.stats["backbone_inputs"] += len(idx)
            visual = visual_stage(self.model, levels, [0] * len(levels))
            per_level = pair_stage(self.model, visual, state.lang, [(j, e) for j in range(len(idx)) for e in range(k)])
            for j, f in enumerate(idx):
                entry = state.cache.setdefault(f, _FrameEntry())
                if self.temporal:
                    entry.nodes = [nd[j * k : (j + 1) * k, 0] for _, nd in per_level]
                if f in state.pending:
                    entry.gt = _Slices(v=[v[j, 0] for v, _, _ in visual], m=[m[j * k : (j + 1) * k] for m, _ in per_level],
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
        t, k = clips.shape[1], state.k
        levels = self.model.backbone(clips)
        state.grid = tuple(levels[0].shape[-2:])
        visual = visual_stage(self.model, levels, self.model.backbone.gt_index(t))
        state.stats["backbone_inputs"] += len(batch)
        per_level = pair_stage(self.model, visual, state.lang, [(j, e) for j in range(len(batch)) for e in range(k)])
        return [_Slices(v=[v[j, g] for v, _, g in visual], m=[m[j * k : (j + 1) * k] for m, _ in per_level],
                        nodes=[nd[j * k : (j + 1) * k] if nd is not None else None for _, nd in per_level],
                        frame=clips[j, t // 2] if self.refine else None)
                for j in range(len(batch))]

    def _decode(self, state: "_State", slices: list[_Slices]) -> torch.Tensor:
        """The per-(clip, expression) stage for every row ``(clip j, expression e)``, clip-major:
        ``logits (len(slices) * K, H, W)``, ``rows`` at a time."""
        k = state.k
        total = len(slices) * k
        step = self.rows or total
        outs = []
        for r0 in range(0, total, step):
            rows = range(r0, min(total, r0 + step))
            clip_of, expr_of = [r // k for r in rows], [r % k for r in rows]
            levels = range(len(slices[0].v))
            v = [torch.stack([slices[j].v[li] for j in clip_of]) for li in levels]
            m = [torch.stack([slices[j].m[li][e] for j, e in zip(clip_of, expr_of)]) for li in levels]
            nodes = [torch.stack([slices[j].nodes[li][e] for j, e in zip(clip_of, expr_of)]) if self.temporal
                     else None for li in levels]
            frame = torch.stack([slices[j].frame for j in clip_of]) if self.refine else None
            outs.append(decode_rows(self.model, v, m, nodes, state.lang.take(expr_of), state.grid,
                                    tuple(state.geometry["input_size"]), frame))
        return torch.cat(outs)


class _State:
    """One video's bookkeeping: the source, the clips, the cache and when its entries can go."""

    def __init__(self, source: FrameSource, centres: list[int], clip: dict[int, list[int]], k: int,
                 lang: LanguageFeatures) -> None:
        self.source, self.centres, self.clip, self.k, self.lang = source, centres, clip, k, lang
        self.pending = set(centres)
        self.stats = {"frames_decoded": 0, "backbone_inputs": 0, "peak_cached_frames": 0}
        self.cache: dict[int, _FrameEntry] = {}
        self.keep_images = False
        self.images: dict[int, np.ndarray] = {}  # decoded frames still to be handed out
        self.geometry: dict | None = None
        self.grid: tuple[int, int] | None = None
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
