"""JHMDBSentences on the fixture tree: frozen and drawn samples, trimmed masks, clips."""
from __future__ import annotations

import numpy as np
import pytest

from cmpcv.data import DataError, JHMDBSentences
from cmpcv.data.fixtures import fixture_mask
from cmpcv.data.jhmdb.fixture import JHMDB_VIDEOS
from cmpcv.data.jhmdb.format import jhmdb_paths
from cmpcv.data.transforms import restore_mask
from tests.data.conftest import clip_indices

VIDEOS = {v.video_id: v for v in JHMDB_VIDEOS}


def test_frozen_samples_masks_and_clips(jhmdb_fixture_root):
    ds = JHMDBSentences(jhmdb_fixture_root, "auto", size=320, cache_dir=False)
    expected = [(v.video_id, f, " ".join(v.query.lower().split())) for v in JHMDB_VIDEOS for f in v.frozen_frames]
    assert ds.samples == expected and len(ds) == 9
    for i in range(len(ds)):
        s = ds[i]
        v = VIDEOS[s["video_id"]]
        assert s["sample_id"] == f"v_{v.video_id}_f_{s['frame_idx']}" and s["instance_id"] == -1
        mask = fixture_mask(v.video_id, s["frame_idx"], -1, v.size)
        assert np.array_equal(s["mask"], mask)
        assert np.array_equal(restore_mask(s["target"], s["geometry"]), mask)
        length = min(v.n_png, v.n_masks)  # PNGs past the masks are not used, also not in clips
        f = s["frame_idx"] - 1
        assert clip_indices(s["frames"], s["geometry"]) == [min(max(f + o, 0), length - 1) for o in (-8, -4, 0, 4, 7)]


def test_drawn_samples_are_seeded_and_within_the_masks(jhmdb_fixture_root):
    a = JHMDBSentences(jhmdb_fixture_root, None, cache_dir=False)
    b = JHMDBSentences(jhmdb_fixture_root, None, cache_dir=False)
    c = JHMDBSentences(jhmdb_fixture_root, None, seed=1, cache_dir=False)
    assert a.samples == b.samples != c.samples and len(a) == 9
    for v in JHMDB_VIDEOS:
        frames = [f for vid, f, _ in a.samples if vid == v.video_id]
        assert len(set(frames)) == 3 and frames == sorted(frames)
        assert all(1 <= f <= min(v.n_png, v.n_masks) for f in frames)


def test_frame_past_the_masks_is_an_error(jhmdb_fixture_root, tmp_path):
    import json
    import shutil

    root = shutil.copytree(jhmdb_fixture_root, tmp_path / "j")
    meta = jhmdb_paths(root).samples_metadata
    entries = json.loads(meta.read_text())
    entries[0][1] = entries[0][1].replace("00002.png", "00014.png")  # PNG exists, mask does not
    meta.write_text(json.dumps(entries))
    ds = JHMDBSentences(root, "auto", cache_dir=False)
    with pytest.raises(DataError, match=r"00014\.png.*sample v_Pullup_jv1_f_nm_np1_f_14.*12 usable frames"):
        ds[0]
    jhmdb_paths(root).mask("wave", "wave_jv3_f_nm_np1").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"puppet_mask\.mat.*sample v_wave_jv3_f_nm_np1_f_3"):
        ds[6]
