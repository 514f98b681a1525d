"""Drawing: masks over frames, with an outline and a caption bar.

One module for every picture cmpcv makes (wandb validation overlays, ``cmpcv.predict`` videos,
docs figures), so they all look alike.
"""
from __future__ import annotations

import textwrap
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Distinct, colour-blind-friendly colours (Okabe-Ito), RGB. Ground truth is usually drawn first
# (green-ish), the prediction second.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 158, 115),
    (230, 159, 0),
    (86, 180, 233),
    (213, 94, 0),
    (204, 121, 167),
    (0, 114, 178),
    (240, 228, 66),
)


def outline(mask: np.ndarray, width: int = 1) -> np.ndarray:
    """Boundary pixels of a boolean mask ``(H, W)``: the mask minus its erosion by a 3x3 square,
    repeated ``width`` times. Pixels at the image border count as boundary."""
    mask = np.asarray(mask, dtype=bool)
    inner = mask.copy()
    for _ in range(max(1, width)):
        padded = np.pad(inner, 1, constant_values=False)
        eroded = np.ones_like(inner)
        for dy in (0, 1, 2):
            for dx in (0, 1, 2):
                eroded &= padded[dy : dy + inner.shape[0], dx : dx + inner.shape[1]]
        inner = eroded
    return mask & ~inner


def _caption_bar(text: str, width: int, bar_color=(0, 0, 0), text_color=(255, 255, 255)) -> np.ndarray:
    """A ``(h, width, 3)`` uint8 strip with ``text`` wrapped to the width."""
    font = ImageFont.load_default()
    # Character width of the default bitmap font; wrap so lines fit the frame.
    probe = font.getbbox("M")
    char_w = max(1, probe[2] - probe[0])
    line_h = max(1, probe[3] - probe[1]) + 4
    lines = textwrap.wrap(text, width=max(1, (width - 4) // char_w)) or [""]
    bar = Image.new("RGB", (width, line_h * len(lines) + 4), bar_color)
    draw = ImageDraw.Draw(bar)
    for i, line in enumerate(lines):
        draw.text((2, 2 + i * line_h), line, fill=text_color, font=font)
    return np.asarray(bar, dtype=np.uint8)


def overlay(
    frame: np.ndarray,
    masks: Sequence[np.ndarray],
    colors: Sequence[tuple[int, int, int]] | None = None,
    caption: str | None = None,
    alpha: float = 0.5,
    outline_width: int = 1,
) -> np.ndarray:
    """Blend ``masks`` over ``frame`` and draw their outlines; add a caption bar below.

    Args:
        frame: ``(H, W, 3)`` uint8 RGB.
        masks: each ``(H, W)`` bool (or 0/1); drawn in order, later ones on top.
        colors: one RGB triple per mask (default :data:`PALETTE` in order).
        caption: text for a bar under the frame (e.g. the sentence); None for no bar.
        alpha: fill opacity of each mask; the outline is opaque.

    Returns:
        ``(H', W, 3)`` uint8 with ``H' = H`` without a caption, ``H' > H`` with one.
    """
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"overlay: frame must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
    if colors is None:
        colors = [PALETTE[i % len(PALETTE)] for i in range(len(masks))]
    if len(colors) < len(masks):
        raise ValueError(f"overlay: {len(masks)} masks but only {len(colors)} colours")
    out = frame.astype(np.float32)
    for i, (mask, color) in enumerate(zip(masks, colors)):
        mask = np.asarray(mask).astype(bool)
        if mask.shape != frame.shape[:2]:
            raise ValueError(f"overlay: mask {i} has shape {mask.shape}, the frame is {frame.shape[:2]}")
        c = np.asarray(color, dtype=np.float32)
        out[mask] = (1.0 - alpha) * out[mask] + alpha * c
        out[outline(mask, outline_width)] = c
    image = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    if caption is not None:
        image = np.concatenate([image, _caption_bar(caption, frame.shape[1])], axis=0)
    return image
