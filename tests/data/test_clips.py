from __future__ import annotations

import pytest

from cmpcv.data.clips import ClipSampler


def test_r2d_offsets_and_clamping():
    s = ClipSampler()
    assert s.offsets == (-8, -4, 0, 4, 7) and s.center == 2
    assert s.indices(10, 30) == [2, 6, 10, 14, 17]
    assert s.indices(0, 30) == [0, 0, 0, 4, 7]
    assert s.indices(29, 30) == [21, 25, 29, 29, 29]
    assert s.indices(0, 1) == [0] * 5


def test_contiguous_windows_match_mttr():
    # MTTR: [f - w//2, f + (w+1)//2), the annotated frame at index w//2
    for w in (8, 16, 5):
        s = ClipSampler(num_frames=w)
        f = 20
        assert s.indices(f, 100) == list(range(f - w // 2, f + (w + 1) // 2))
        assert s.indices(f, 100)[s.center] == f
    assert ClipSampler(num_frames=4, stride=2).indices(10, 100) == [6, 8, 10, 12]


def test_bad_settings():
    with pytest.raises(ValueError, match="T // 2"):
        ClipSampler(offsets=[0, 1, 2])
    with pytest.raises(ValueError, match="ascending"):
        ClipSampler(offsets=[1, 0, -1])
    with pytest.raises(ValueError, match="outside"):
        ClipSampler().indices(30, 30)
