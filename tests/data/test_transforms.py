from __future__ import annotations

import numpy as np
import pytest
import torch

from cmpcv.data.transforms import (
    ResizeAndPad, ShortSideResize, hflip_geometry, hflip_query, pad_geometry, resized_size, restore_mask,
)


@pytest.mark.parametrize("orig", [(48, 64), (320, 568), (240, 320), (64, 48), (37, 91)])
def test_resize_and_pad_is_centred_and_keeps_aspect(orig):
    r = ResizeAndPad(320)
    frames = torch.rand(2, 3, *orig)
    mask = np.zeros(orig, np.uint8)
    out, target, g = r(frames, mask)
    assert out.shape == (2, 3, 320, 320) and target.shape == (320, 320)
    h, w = resized_size(g)
    assert max(h, w) == 320 and abs(h / w - orig[0] / orig[1]) < 0.02
    top, left, bottom, right = g["pad"]
    assert abs(top - bottom) <= 1 and abs(left - right) <= 1
    # padding is exactly zero, content is not
    assert out[..., :top, :].abs().sum() == 0 and out[..., 320 - bottom:, :].abs().sum() == 0
    assert out[..., :, :left].abs().sum() == 0 and out[..., :, 320 - right:].abs().sum() == 0
    assert out[:, :, top:320 - bottom, left:320 - right].min() > 0


def test_short_side_resize_caps_long_side():
    g = ShortSideResize(320, max_size=500).geometry((320, 568))
    assert g["input_size"] == (282, 500) and g["pad"] == (0, 0, 0, 0)
    assert ShortSideResize(160).geometry((240, 320))["input_size"] == (160, 213)


@pytest.mark.parametrize("resizer", [ResizeAndPad(320), ResizeAndPad(100), ShortSideResize(300, 400)])
def test_restore_mask_round_trip(resizer):
    rng = np.random.default_rng(1)
    for orig in [(48, 64), (240, 320), (50, 90)]:
        mask = np.zeros(orig, np.uint8)
        mask[orig[0] // 4: orig[0] // 2, orig[1] // 5: orig[1] // 2 + 3] = 1
        _, target, g = resizer(torch.rand(1, 3, *orig), mask)
        for pred, thr in [(target, 0.5), (target * 20 - 10, 0.0), (target.numpy().astype(bool), 0.5)]:
            back = restore_mask(pred, g, threshold=thr)
            assert back.shape == orig and back.dtype == np.uint8
            agree = (back == mask).mean()
            assert agree == 1.0 if g["scale"] == int(g["scale"]) else agree > 0.97
        # a low-resolution logit map is upsampled to the input first
        low = torch.nn.functional.interpolate(target[None, None], scale_factor=0.25, mode="bilinear")[0, 0]
        assert (restore_mask(low, g) == mask).mean() > 0.9
    del rng


def test_restore_after_batch_padding_and_flip():
    mask = np.zeros((48, 64), np.uint8)
    mask[5:20, 3:30] = 1
    _, target, g = ShortSideResize(48)(torch.rand(1, 3, 48, 64), mask)
    g2 = pad_geometry(g, (60, 70))
    padded = torch.nn.functional.pad(target, (0, 6, 0, 12))
    assert np.array_equal(restore_mask(padded, g2), mask)
    tall = np.ascontiguousarray(mask.T)  # (64, 48): left/right padding 13 / 14 at size 101
    _, target, g = ResizeAndPad(101)(torch.rand(1, 3, 64, 48), tall)
    gf = hflip_geometry(g)
    assert gf["pad"][1] == g["pad"][3] != g["pad"][1]
    # nearest resampling is not exactly flip-equivariant at a non-integer scale
    assert (restore_mask(target.flip(-1), gf)[:, ::-1] == tall).mean() > 0.98


def test_hflip_query():
    assert hflip_query("the man on the left hits the ball to the right") == \
        "the man on the right hits the ball to the left"
    assert hflip_query("leftmost dog and the rightward car") == "rightmost dog and the leftward car"
    assert hflip_query("a bright light left") == "a bright light right"  # no match inside words
