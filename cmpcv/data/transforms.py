"""Spatial transforms of a clip and its mask, and their inverse for evaluation.

Frames arrive as float ``(T, 3, H0, W0)`` RGB in ``[0, 1]`` and masks as uint8 ``(H0, W0)``. A
resizer returns the network input plus a ``geometry`` dict (``orig_size``, ``input_size``,
``scale``, ``pad``) that :func:`restore_mask` uses to map a prediction back onto the original frame.

* :class:`ResizeAndPad` is the released code's ``resize_and_pad``: the long side is scaled to
  ``size`` and the short side is zero-padded symmetrically, giving ``size x size``.
* :class:`ShortSideResize` scales the short side to ``size`` (long side capped at ``max_size``)
  without padding, as MTTR evaluates; the collator pads a batch to its largest frame.

Frames use bilinear resizing with antialiasing; masks use nearest, so they stay binary.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

Geometry = dict[str, Any]


def _geometry(orig_size: tuple[int, int], scale: float, input_size: tuple[int, int] | None) -> Geometry:
    h0, w0 = orig_size
    h, w = max(1, int(round(h0 * scale))), max(1, int(round(w0 * scale)))
    H, W = (h, w) if input_size is None else input_size
    top, left = (H - h) // 2, (W - w) // 2
    return {"orig_size": (h0, w0), "input_size": (H, W), "scale": float(scale),
            "pad": (top, left, H - h - top, W - w - left)}


def resized_size(geometry: Geometry) -> tuple[int, int]:
    """``(h, w)`` of the image content inside the padded input."""
    (H, W), (top, left, bottom, right) = geometry["input_size"], geometry["pad"]
    return H - top - bottom, W - left - right


class _Resizer:
    """Shared application of a geometry to frames and masks; subclasses only choose the geometry."""

    def geometry(self, orig_size: tuple[int, int]) -> Geometry:
        raise NotImplementedError

    def __call__(self, frames: torch.Tensor, mask: np.ndarray | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor | None, Geometry]:
        """Resize ``frames (T, 3, H0, W0)`` and ``mask (H0, W0)``.

        Returns:
            ``frames (T, 3, H, W)``, ``target (H, W)`` float32 (None without a mask), ``geometry``.
        """
        if frames.ndim != 4 or frames.shape[1] != 3:
            raise ValueError(f"expected frames (T, 3, H, W), got {tuple(frames.shape)}")
        geometry = self.geometry(tuple(frames.shape[-2:]))
        h, w = resized_size(geometry)
        top, left, bottom, right = geometry["pad"]
        out = F.interpolate(frames.float(), size=(h, w), mode="bilinear", align_corners=False, antialias=True)
        out = F.pad(out.clamp_(0.0, 1.0), (left, right, top, bottom))
        target = None
        if mask is not None:
            m = torch.as_tensor(np.asarray(mask), dtype=torch.float32)[None, None]
            target = F.pad(F.interpolate(m, size=(h, w), mode="nearest"), (left, right, top, bottom))[0, 0]
        return out, target, geometry


class ResizeAndPad(_Resizer):
    """Scale the long side to ``size`` keeping the aspect ratio, zero-pad to ``size x size``, centred."""

    def __init__(self, size: int = 320) -> None:
        self.size = int(size)

    def geometry(self, orig_size: tuple[int, int]) -> Geometry:
        h0, w0 = orig_size
        return _geometry(orig_size, min(self.size / h0, self.size / w0), (self.size, self.size))

    def __repr__(self) -> str:
        return f"ResizeAndPad(size={self.size})"


class ShortSideResize(_Resizer):
    """Scale the short side to ``size``, the long side at most ``max_size``; no padding."""

    def __init__(self, size: int = 320, max_size: int | None = None) -> None:
        self.size = int(size)
        self.max_size = None if max_size is None else int(max_size)

    def geometry(self, orig_size: tuple[int, int]) -> Geometry:
        scale = self.size / min(orig_size)
        if self.max_size is not None and max(orig_size) * scale > self.max_size:
            scale = self.max_size / max(orig_size)
        return _geometry(orig_size, scale, None)

    def __repr__(self) -> str:
        return f"ShortSideResize(size={self.size}, max_size={self.max_size})"


def build_resizer(mode: str = "pad", size: int = 320, max_size: int | None = None) -> _Resizer:
    """``mode="pad"``: :class:`ResizeAndPad`; ``mode="short"``: :class:`ShortSideResize`."""
    if mode == "pad":
        return ResizeAndPad(size)
    if mode == "short":
        return ShortSideResize(size, max_size)
    raise ValueError(f"unknown resize mode {mode!r}; expected 'pad' or 'short'")


def pad_geometry(geometry: Geometry, input_size: tuple[int, int]) -> Geometry:
    """The geometry after padding the input at the bottom/right up to ``input_size`` (batching)."""
    (H, W), (top, left, bottom, right) = geometry["input_size"], geometry["pad"]
    H2, W2 = input_size
    if H2 < H or W2 < W:
        raise ValueError(f"cannot pad input of size {(H, W)} down to {(H2, W2)}")
    return {**geometry, "input_size": (H2, W2), "pad": (top, left, bottom + H2 - H, right + W2 - W)}


def hflip_geometry(geometry: Geometry) -> Geometry:
    """The geometry of a horizontally flipped input: left and right padding swap."""
    top, left, bottom, right = geometry["pad"]
    return {**geometry, "pad": (top, right, bottom, left)}


_SIDE = re.compile(r"\b(left|right)(most|ward|wards|hand|side)?\b")


def hflip_query(query: str) -> str:
    """Swap left and right in a (normalised) sentence, so it stays true for a mirrored clip."""
    return _SIDE.sub(lambda m: ("right" if m.group(1) == "left" else "left") + (m.group(2) or ""), query)


def restore_mask(pred: np.ndarray | torch.Tensor, geometry: Geometry, threshold: float = 0.5) -> np.ndarray:
    """Map a prediction on the network input back to a binary mask on the original frame.

    Args:
        pred: ``(H, W)`` probabilities (``threshold=0.5``), logits (pass ``threshold=0.0``, since
            ``sigmoid(x) > 0.5`` iff ``x > 0``) or a bool/uint8 mask (threshold ignored: nonzero is
            foreground). A float map smaller than ``geometry["input_size"]`` is first upsampled
            bilinearly to it, a mask with nearest.
        geometry: the dict produced with the sample.

    Returns:
        uint8 ``(H0, W0)`` in {0, 1}: thresholded at input resolution, padding cropped, nearest
        resize to ``orig_size`` (MTTR's post-processing).
    """
    t = torch.as_tensor(np.asarray(pred) if not isinstance(pred, torch.Tensor) else pred).detach().cpu()
    if t.ndim != 2:
        raise ValueError(f"restore_mask: expected a (H, W) prediction, got shape {tuple(t.shape)}")
    H, W = geometry["input_size"]
    is_mask = t.dtype in (torch.bool, torch.uint8)
    if tuple(t.shape) != (H, W):
        mode = "nearest" if is_mask else "bilinear"
        kwargs = {} if is_mask else {"align_corners": False}
        t = F.interpolate(t.float()[None, None], size=(H, W), mode=mode, **kwargs)[0, 0]
    fg = (t > 0) if is_mask else (t.float() > threshold)
    top, left, bottom, right = geometry["pad"]
    fg = fg[top:H - bottom, left:W - right]
    h0, w0 = geometry["orig_size"]
    out = F.interpolate(fg.float()[None, None], size=(int(h0), int(w0)), mode="nearest")[0, 0]
    return out.to(torch.uint8).numpy()
