"""MeViS on the format-exact fixture tree: unions, no-target expressions, null and empty RLEs,
server-scored splits and bad input."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from cmpcv.data import DataError
from cmpcv.data.mevis.fixture import MEVIS_VIDEOS, expected_samples, expected_target, write_mevis_fixture
from cmpcv.data.mevis.format import MeViSPaths
from cmpcv.data.mevis.reader import MeViS, rle_area
from tests.data.conftest import clip_indices

VIDEOS = {v.video_id: v for v in MEVIS_VIDEOS}


def ds(root, split="train", **kw):
    kw.setdefault("cache_dir", False)
    kw.setdefault("size", 64)
    return MeViS(root, split, **kw)


def test_splits_and_samples(mevis_fixture_root, tmp_path):
    manifest = write_mevis_fixture(tmp_path / "again")
    train, valid_u, valid = (ds(mevis_fixture_root, s) for s in ("train", "valid_u", "valid"))
    # hand count: train 6 + 6 (union) + 3 + 0 (no target) and 2 (frame 3 is an empty RLE); valid_u 3 + 3; valid 2
    assert (len(train), len(valid_u), len(valid)) == (17, 6, 2)
    for d, s in ((train, "train"), (valid_u, "valid_u"), (valid, "valid")):
        assert d.samples == manifest.samples[s] and d.problems == []
    assert valid.has_ground_truth is False and valid[0]["mask"] is None
    with_none = ds(mevis_fixture_root, no_target=True)
    assert len(with_none) == 17 + 6 and with_none.samples == expected_samples("train", True)
    assert len(ds(mevis_fixture_root, "valid_u", no_target=True)) == 6 + 3


def test_targets_are_unions_and_absent_objects_are_empty(mevis_fixture_root):
    for split in ("train", "valid_u"):
        d = ds(mevis_fixture_root, split, no_target=True, size=128)
        for i, (vid, exp_id, t) in enumerate(d.samples):
            s = d[i]
            expected = expected_target(VIDEOS[vid], exp_id, t)
            assert np.array_equal(s["mask"], expected), s["sample_id"]
            assert clip_indices(s["frames"], s["geometry"])[2] == t
            objs = d.videos[vid].expressions[exp_id].obj_ids
            assert s["instance_id"] == (objs[0] if len(objs) == 1 else -1)
    d = ds(mevis_fixture_root)
    union = d[d.samples.index(("mv_train_a", "1", 3))]["mask"]
    single = [d[d.samples.index(("mv_train_a", e, 3))]["mask"] for e in ("0", "2")]
    assert np.array_equal(union, single[0] | single[1]) and (union > single[0]).any()


def test_empty_rle_is_not_a_training_frame(mevis_fixture_root):
    d = ds(mevis_fixture_root)
    rles = d.masks["200"]
    assert rles[0] is None and rles[3] is not None and rle_area(rles[3]) == 0 and rle_area(rles[1]) > 0
    assert [t for v, _, t in d.samples if v == "mv_train_b"] == [1, 2]


def _edit(root, split, fn_meta=None, fn_masks=None):
    p = MeViSPaths(root, split)
    if fn_meta:
        meta = json.loads(p.meta_expressions.read_text())
        fn_meta(meta["videos"])
        p.meta_expressions.write_text(json.dumps(meta))
    if fn_masks:
        masks = json.loads(p.mask_dict.read_text())
        fn_masks(masks)
        p.mask_dict.write_text(json.dumps(masks))


def test_bad_entries_are_named_and_left_out(mevis_fixture_root, tmp_path):
    root = shutil.copytree(mevis_fixture_root, tmp_path / "m")

    def meta(v):
        v["mv_train_a"]["expressions"]["2"]["anno_id"] = "101"
        v["mv_train_b"]["expressions"]["0"]["anno_id"] = [999]

    def masks(m):
        m["101"][2]["counts"] = m["101"][2]["counts"][:-2]
        m["100"] = m["100"][:5]

    _edit(root, "train", meta, masks)
    with pytest.raises(DataError, match=r"sample mv_train_a/2: 'anno_id' must be a list of integers"):
        ds(root)
    d = ds(root, on_error="skip")
    text = "\n".join(d.problems)
    assert "mask_dict.json: anno_id 101, frame 2:" in text
    assert "video mv_train_b: expression 0 refers to anno_id 999, which the file lacks" in text
    assert "video mv_train_a: anno_id 100 has 5 masks for the video's 6 listed frames" in text
    assert len(d.problems) == 4 and d.samples == []  # expressions 0 and 1 use anno 100, 2 is malformed


def test_listed_order_indexes_the_masks(mevis_fixture_root, tmp_path):
    root = shutil.copytree(mevis_fixture_root, tmp_path / "m")
    _edit(root, "valid_u", lambda v: v["mv_validu_a"]["frames"].reverse(),
          lambda m: [m[a].reverse() for a in ("300", "301")])
    d = ds(root, "valid_u", size=128)
    assert d.videos["mv_validu_a"].frames == ("00002", "00001", "00000")
    for i, (vid, exp_id, k) in enumerate(d.samples):
        s = d[i]
        t = 2 - k  # position k lists frame file 2 - k
        assert clip_indices(s["frames"], s["geometry"])[2] == t and s["frame_idx"] == t + 1
        assert np.array_equal(s["mask"], expected_target(VIDEOS[vid], exp_id, t))


def test_missing_mask_dict_and_frames(mevis_fixture_root, tmp_path):
    root = shutil.copytree(mevis_fixture_root, tmp_path / "m")
    MeViSPaths(root, "valid_u").mask_dict.unlink()
    with pytest.raises(DataError, match=r"valid_u/mask_dict\.json: MeViS mask_dict\.json not found"):
        ds(root, "valid_u")
    shutil.rmtree(MeViSPaths(root, "train").frames_dir("mv_train_b"))
    d = ds(root, on_error="skip")
    assert len(d) == 15 and "frame folder of video mv_train_b not found" in d.problems[0]
