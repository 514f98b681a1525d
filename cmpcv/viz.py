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


# ------------------------------------------------------------------------------------------------
# Video frames (cmpcv.predict): several masks, one colour each, and the sentences as a legend drawn
# *inside* the frame, so an output video keeps the input's size.


def palette_colors(n: int) -> list[tuple[int, int, int]]:
    """``n`` colours from :data:`PALETTE`, in order, repeating after ``len(PALETTE)``."""
    return [PALETTE[i % len(PALETTE)] for i in range(n)]


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)  # scalable font (Pillow >= 10.1 with FreeType)
    except (TypeError, ImportError, OSError):
        return ImageFont.load_default()


def _wrap(text: str, font, width: int) -> list[str]:
    """Greedy word wrap of ``text`` to ``width`` pixels; a single over-long word is cut."""
    lines: list[str] = []
    current = ""
    for word in text.split() or [""]:
        trial = f"{current} {word}".strip()
        if current and font.getlength(trial) > width:
            lines.append(current)
            current = word
        else:
            current = trial
    lines.append(current)
    return lines


def legend_inside(
    image: np.ndarray,
    captions: Sequence[str],
    colors: Sequence[tuple[int, int, int]] | None = None,
    *,
    font_size: int | None = None,
    opacity: float = 0.6,
    max_fraction: float = 0.4,
) -> np.ndarray:
    """Draw ``captions`` in a translucent band at the bottom of ``image``, each after a square of its
    colour (a legend). The result has the same shape as ``image``; only the band changes.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        captions: one text per mask (e.g. the sentences); wrapped to the width.
        colors: one RGB triple per caption (default :data:`PALETTE` in order).
        font_size: pixels; default about ``min(H, W) / 20`` (8..48).
        opacity: of the black band behind the text.
        max_fraction: the band covers at most this share of the height; lines beyond it are
            dropped and the last kept one ends in "...".
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"legend_inside: image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    if not captions:
        return image.copy()
    colors = palette_colors(len(captions)) if colors is None else list(colors)
    if len(colors) < len(captions):
        raise ValueError(f"legend_inside: {len(captions)} captions but only {len(colors)} colours")
    h, w = image.shape[:2]
    size = font_size or int(min(48, max(8, round(min(h, w) / 20))))
    font = _font(size)
    pad, line_h = max(2, size // 4), size + max(2, size // 4)
    swatch = size - 2
    text_x = pad + swatch + pad
    rows: list[tuple[str, tuple[int, int, int] | None]] = []  # (text, swatch colour on its first line)
    for caption, color in zip(captions, colors):
        for k, line in enumerate(_wrap(str(caption), font, max(1, w - text_x - pad))):
            rows.append((line, tuple(color) if k == 0 else None))
    fit = max(1, int((h * max_fraction - pad) // line_h))
    if len(rows) > fit:
        rows = rows[:fit]
        rows[-1] = (rows[-1][0] + " ...", rows[-1][1])
    band_h = min(h, pad + line_h * len(rows))
    band = Image.new("RGBA", (w, band_h), (0, 0, 0, int(round(255 * opacity))))
    draw = ImageDraw.Draw(band)
    for k, (line, color) in enumerate(rows):
        y = pad + k * line_h
        if color is not None:
            draw.rectangle((pad, y + 1, pad + swatch - 1, y + swatch), fill=(*color, 255))
        draw.text((text_x, y), line, fill=(255, 255, 255, 255), font=font)
    out = Image.fromarray(image).convert("RGBA")
    out.alpha_composite(band, (0, h - band_h))
    return np.asarray(out.convert("RGB"), dtype=np.uint8)


def draw_video_frame(
    frame: np.ndarray,
    masks: Sequence[np.ndarray] | np.ndarray,
    captions: Sequence[str] = (),
    colors: Sequence[tuple[int, int, int]] | None = None,
    *,
    alpha: float = 0.5,
    outline_width: int = 2,
) -> np.ndarray:
    """One output frame of ``cmpcv.predict``: :func:`overlay` of ``masks`` (one colour each) and the
    captions as a :func:`legend_inside`; ``(H, W, 3)`` uint8 in, the same shape out."""
    colors = palette_colors(len(masks)) if colors is None else list(colors)
    image = overlay(frame, list(masks), colors, alpha=alpha, outline_width=outline_width)
    return legend_inside(image, captions, colors) if len(captions) else image
