"""The video-frame drawing of :mod:`cmpcv.viz` on exact arrays (the mp4 itself is lossy)."""
from __future__ import annotations

import numpy as np
import pytest

from cmpcv.viz import PALETTE, draw_video_frame, legend_inside, overlay, palette_colors

H, W = 120, 200
GREY = 100  # far from every palette channel value, so a blended pixel always changes


def _frame() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (GREY + rng.integers(-3, 4, size=(H, W, 3))).astype(np.uint8)


def _box(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


def test_pixels_change_exactly_where_the_masks_are():
    frame = _frame()
    a, b = _box(10, 50, 20, 90), _box(30, 70, 60, 150)  # overlapping
    out = draw_video_frame(frame, [a, b])  # no captions: no band
    assert out.shape == frame.shape and out.dtype == np.uint8
    changed = (out != frame).any(-1)
    np.testing.assert_array_equal(changed, a | b)


def test_each_mask_has_its_own_colour():
    frame = _frame()
    a, b = _box(10, 50, 20, 90), _box(60, 100, 120, 180)  # disjoint
    colors = palette_colors(2)
    out = draw_video_frame(frame, [a, b], colors=colors, alpha=0.5, outline_width=2)
    for (y0, y1, x0, x1), color in (((10, 50, 20, 90), colors[0]), ((60, 100, 120, 180), colors[1])):
        y, x = (y0 + y1) // 2, (x0 + x1) // 2  # well inside: blended fill
        expected = np.floor(0.5 * frame[y, x].astype(np.float64) + 0.5 * np.array(color) + 0.5)
        np.testing.assert_array_equal(out[y, x], expected)
        # The 2-pixel outline is the colour itself, opaque.
        np.testing.assert_array_equal(out[y0, x], color)
        np.testing.assert_array_equal(out[y0 + 1, x], color)
        assert (out[y0 + 2, x] != np.array(color)).any()


def test_legend_keeps_the_size_and_changes_only_the_bottom_band():
    frame = _frame()
    mask = _box(5, 30, 10, 60)
    out = draw_video_frame(frame, [mask], ["the man riding a bike"])
    assert out.shape == frame.shape
    changed = (out != frame).any(-1)
    rows = np.nonzero(changed[40:].any(1))[0] + 40  # below the mask: only the band
    band_top = rows.min()
    assert rows.max() == H - 1 and band_top > H * 0.6
    assert changed[band_top:].all(), "the translucent band darkens every pixel it covers"
    np.testing.assert_array_equal(changed[:band_top], mask[:band_top])
    # The swatch in front of the sentence is the mask's colour, opaque.
    assert (out[band_top:] == np.array(PALETTE[0], np.uint8)).all(-1).sum() >= 16


def test_legend_with_many_sentences_is_capped_and_colours_are_exact():
    image = np.full((H, W, 3), 200, np.uint8)
    captions = [f"sentence number {k} with quite a few words to wrap" for k in range(10)]
    colors = palette_colors(10)
    assert colors[7] == PALETTE[0] and len(set(colors[:7])) == 7
    out = legend_inside(image, captions, colors, max_fraction=0.4)
    changed_rows = np.nonzero((out != image).any((1, 2)))[0]
    assert changed_rows.min() >= H - int(0.4 * H) and changed_rows.max() == H - 1
    with pytest.raises(ValueError, match="colours"):
        legend_inside(image, captions, colors[:3])
    np.testing.assert_array_equal(legend_inside(image, []), image)


def test_overlay_keeps_its_contract():
    """The engine's validation overlays call ``overlay`` as before: a caption adds a bar below."""
    frame = _frame()
    out = overlay(frame, [_box(5, 30, 10, 60)], caption="truth vs prediction")
    assert out.shape[0] > H and out.shape[1:] == (W, 3)
    np.testing.assert_array_equal(overlay(frame, []), frame)
