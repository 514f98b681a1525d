import numpy as np
import pytest

from cmpcv.viz import outline, overlay


def test_overlay_blends_outlines_and_adds_a_caption():
    frame = np.full((20, 30, 3), 100, np.uint8)
    mask = np.zeros((20, 30), bool)
    mask[5:15, 10:20] = True
    out = overlay(frame, [mask], colors=[(0, 200, 0)], alpha=0.5)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert tuple(out[10, 15]) == (50, 150, 50)  # inside: half frame, half colour
    assert tuple(out[5, 15]) == (0, 200, 0)  # on the outline: the colour
    assert tuple(out[0, 0]) == (100, 100, 100)  # outside: untouched
    captioned = overlay(frame, [mask], caption="the man on the left jumping over a fence")
    assert captioned.shape[0] > 20 and captioned.shape[1:] == (30, 3)
    assert np.array_equal(captioned[:20], overlay(frame, [mask]))


def test_outline_of_a_square_is_its_border():
    m = np.zeros((6, 6), bool)
    m[1:5, 1:5] = True
    ring = outline(m)
    assert ring.sum() == 12 and not ring[2:4, 2:4].any()


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="uint8"):
        overlay(np.zeros((4, 4, 3), np.float32), [])
    with pytest.raises(ValueError, match="mask 0"):
        overlay(np.zeros((4, 4, 3), np.uint8), [np.zeros((3, 3), bool)])
