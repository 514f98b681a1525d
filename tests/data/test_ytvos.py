"""Refer-YouTube-VOS on the format-exact fixture tree: splits, samples, masks, clips, quirks and bad input."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from cmpcv.data import ClipSampler, DataError, ReferringCollator, Skipped, Vocabulary
from cmpcv.data.davis17.format import PALETTE
from cmpcv.data.transforms import restore_mask
from cmpcv.data.ytvos import RefYouTubeVOS, ytvos_paths
from cmpcv.data.ytvos.fixture import YTVOS_VIDEOS, expected_query, fixture_ids, write_ytvos_fixture
from cmpcv.data.ytvos.format import parse_meta_expressions, read_meta_expressions
from tests.data.conftest import clip_indices

VIDEOS = {v.video_id: v for v in YTVOS_VIDEOS}


@pytest.fixture
def ytvos_copy(ytvos_fixture_root, tmp_path):
    """A private copy of the fixture tree, for tests that break it."""
    return shutil.copytree(ytvos_fixture_root, tmp_path / "ytvos")


def ds(root, split="train", **kw):
    kw.setdefault("cache_dir", False)
    kw.setdefault("size", 64)
    return RefYouTubeVOS(root, split, **kw)


def test_splits_and_samples(ytvos_fixture_root, tmp_path):
    manifest = write_ytvos_fixture(tmp_path / "again")  # the expected lists, from the fixture's tables
    train, valid, test = ds(ytvos_fixture_root), ds(ytvos_fixture_root, "valid"), ds(ytvos_fixture_root, "test")
    # hand count: train 6+3, 11*2+1, 2+0; valid (4 exps x 5 frames) + (2 x 2); test 2 x 3
    assert (len(train), len(valid), len(test)) == (34, 24, 6)
    for d, split in ((train, "train"), (valid, "valid"), (test, "test")):
        assert d.samples == manifest.samples[split]
    assert train.presence == "meta"
    # the valid meta holds the test video too; the split is the valid meta minus the test meta's keys
    assert valid.video_ids() == ["3c4d5e6f70", "4d5e6f7081"] and test.video_ids() == ["5e6f708192"]
    assert ds(ytvos_fixture_root, "valid", exclude_test=False).video_ids() == ["3c4d5e6f70", "4d5e6f7081", "5e6f708192"]
    # string ids in numeric order: "10" comes after "9", not after "1"
    order = [e for v, e, _ in train.samples if v == "1f2e3d4c5b"]
    assert list(dict.fromkeys(order)) == [str(k) for k in range(12)]
    # the expression whose object never appears gives no training sample
    assert not [s for s in train.samples if s[:2] == ("2b3c4d5e6f", "1")]


def test_presence_from_masks_equals_meta_json(ytvos_fixture_root, tmp_path):
    write_ytvos_fixture(tmp_path / "old", meta_json=False)  # older downloads lack train/meta.json
    old = ds(tmp_path / "old")
    assert old.presence == "masks"
    assert old.samples == ds(ytvos_fixture_root).samples == ds(ytvos_fixture_root, presence="masks").samples
    with pytest.raises(DataError, match=r"train/meta\.json: train/meta\.json not found"):
        ds(tmp_path / "old", presence="meta")


def test_every_mask_frame_and_id(ytvos_fixture_root):
    d = ds(ytvos_fixture_root, size=128)
    for i, (vid, exp_id, pos) in enumerate(d.samples):
        s, v = d[i], VIDEOS[vid]
        obj = dict((e, o) for e, _, o in v.expressions)[exp_id]
        expected = (fixture_ids(v, pos) == obj).astype(np.uint8)
        assert expected.any() and np.array_equal(s["mask"], expected), s["sample_id"]
        assert s["sample_id"] == f"v_{vid}_f_{5 * pos:05d}_e_{exp_id}"
        assert (s["frame_idx"], s["instance_id"]) == (5 * pos + 1, obj)  # 1-based source frame number
        assert s["query"] == expected_query(vid, exp_id)
        assert clip_indices(s["frames"], s["geometry"])[2] == pos  # annotated frame at T // 2
        if v.size == (48, 64):  # 128 / 64 is an integer scale: the round trip is exact
            assert np.array_equal(restore_mask(s["target"], s["geometry"]), expected)


def test_masks_are_palette_pngs_with_the_davis_palette(ytvos_fixture_root):
    path = ytvos_paths(ytvos_fixture_root).annotation("0a1b2c3d4e", "00015")
    with Image.open(path) as img:
        assert img.mode == "P" and img.getpalette()[:9] == [0, 0, 0, 128, 0, 0, 0, 128, 0]
        assert img.getpalette() == PALETTE.ravel().tolist()
        assert set(np.unique(np.array(img))) == {0, 1, 2}  # pixel value = object id
    meta = json.loads(ytvos_paths(ytvos_fixture_root).meta_expressions("train").read_text())
    exp = meta["videos"]["0a1b2c3d4e"]["expressions"]["1"]
    assert exp == {"exp": "A Dog   running to the right", "obj_id": "2"}  # ids are strings
    assert meta["videos"]["0a1b2c3d4e"]["frames"] == ["00000", "00005", "00010", "00015", "00020", "00025"]


@pytest.mark.parametrize("num_frames, pos, expected", [
    (4, 0, [0, 0, 0, 1]),  # clamped at the start: the first listed frame repeats
    (5, 5, [3, 4, 5, 5, 5]),  # clamped at the end
    (8, 3, [0, 0, 1, 2, 3, 4, 5, 5]),
])
def test_clips_are_built_over_the_listed_frames(ytvos_fixture_root, num_frames, pos, expected):
    d = ds(ytvos_fixture_root, clip=ClipSampler(num_frames=num_frames))
    i = d.samples.index(("0a1b2c3d4e", "0", pos))
    s = d[i]
    assert clip_indices(s["frames"], s["geometry"]) == expected


def test_streaming_index_lists_every_frame_and_expression(ytvos_fixture_root):
    valid = ds(ytvos_fixture_root, "valid")
    video = valid.videos["3c4d5e6f70"]
    assert video.frames == ("00000", "00005", "00010", "00015", "00020")
    assert video.expression_ids() == ["0", "1", "2", "3"]
    frames, _ = valid.frame_folder("3c4d5e6f70").read(range(len(video.frames)))
    assert frames.shape == (5, 48, 64, 3)
    # two expressions per object, as in the real valid meta
    assert [video.expressions[e].obj_ids for e in video.expression_ids()] == [(1,), (1,), (2,), (2,)]


def test_splits_without_ground_truth_batch_without_target(ytvos_fixture_root):
    valid = ds(ytvos_fixture_root, "valid")
    items = [valid[0], valid[5]]
    assert items[0]["mask"] is None and items[0]["target"] is None
    vocab = Vocabulary.build(s["query"] for s in items)
    batch = ReferringCollator(vocab)(items)
    assert batch["target"] is None and batch["frames"].shape == (2, 5, 3, 64, 64)
    train = ds(ytvos_fixture_root)
    with pytest.raises(ValueError, match="mixes samples with and without ground truth"):
        ReferringCollator(vocab)([train[0], valid[0]])


def test_kept_clips_without_ground_truth(ytvos_fixture_root, monkeypatch):
    valid = ds(ytvos_fixture_root, "valid", keep_decoded=True)
    first = valid[3]
    monkeypatch.setattr(valid, "read", lambda i: pytest.fail("a kept clip was decoded again"))
    again = valid[3]
    assert again["mask"] is None and again["target"] is None
    assert (again["frames"] == first["frames"]).all()


def test_flip_swaps_query_and_mask(ytvos_fixture_root):
    plain, flipped = ds(ytvos_fixture_root), ds(ytvos_fixture_root, flip_prob=1.0)
    i = plain.samples.index(("0a1b2c3d4e", "1", 3))
    a, b = plain[i], flipped[i]
    assert a["query"] == "a dog running to the right" and b["query"] == "a dog running to the left"
    assert np.array_equal(b["mask"], a["mask"][:, ::-1])


def test_missing_test_meta_is_a_clear_error(ytvos_copy):
    ytvos_paths(ytvos_copy).meta_expressions("test").unlink()
    with pytest.raises(DataError, match=r"meta_expressions/test/meta_expressions\.json: not found: the 202 validation"):
        ds(ytvos_copy, "valid")
    assert len(ds(ytvos_copy, "valid", exclude_test=False).video_ids()) == 3
    assert len(ds(ytvos_copy, "train")) == 34  # train does not need it


def test_renamed_video_raises_or_is_skipped_and_listed(ytvos_copy, caplog):
    p = ytvos_paths(ytvos_copy)
    p.frames_dir("train", "0a1b2c3d4e").rename(p.frames_dir("train", "0a1b2c3d4e_renamed"))
    with pytest.raises(DataError, match=r"JPEGImages/0a1b2c3d4e: frame folder of video 0a1b2c3d4e not found"):
        ds(ytvos_copy)
    d = ds(ytvos_copy, on_error="skip")
    assert len(d) == 34 - 9 and "0a1b2c3d4e" not in d.video_ids()
    assert len(d.problems) == 1 and "renamed or missing video" in d.problems[0]
    assert "skipping while indexing" in caplog.text


def test_malformed_meta_entries_are_named_and_left_out(ytvos_copy):
    p = ytvos_paths(ytvos_copy)
    meta = json.loads(p.meta_expressions("train").read_text())
    v = meta["videos"]
    v["0a1b2c3d4e"]["expressions"]["1"]["obj_id"] = "two"
    v["1f2e3d4c5b"]["expressions"]["4"]["exp"] = "   "
    del v["2b3c4d5e6f"]["frames"]
    p.meta_expressions("train").write_text(json.dumps(meta))
    with pytest.raises(DataError, match=r"video 0a1b2c3d4e: expression 1: 'obj_id' must be a mask object id"):
        ds(ytvos_copy)
    d = ds(ytvos_copy, on_error="skip")
    assert len(d.problems) == 3
    assert any("video 1f2e3d4c5b: expression 4: 'exp' must be a non-empty sentence" in m for m in d.problems)
    assert any("video 2b3c4d5e6f: 'frames' must be a non-empty list" in m for m in d.problems)
    assert len(d) == 34 - 3 - 2 - 2  # exp 1 of the first video, exp 4 of the second, the third video


def test_urvos_object_meta_and_broken_json(ytvos_copy, tmp_path):
    urvos = {"videos": {"abc": {"objects": {"1": {"category": "cat", "frames": ["00000"], "expressions": ["a cat"]}}}}}
    with pytest.raises(DataError, match="object-centred meta of the original URVOS release"):
        parse_meta_expressions(urvos, "meta.json")
    path = ytvos_paths(ytvos_copy).meta_expressions("train")
    path.write_text(path.read_text()[:-40])
    with pytest.raises(DataError, match=r"meta_expressions\.json: meta_expressions\.json is not valid JSON"):
        read_meta_expressions(path)
    path.write_text(json.dumps({"video": {}}))
    with pytest.raises(DataError, match=r'expected an object \{"videos"'):
        ds(ytvos_copy)


def test_unreadable_masks_name_file_and_sample(ytvos_copy, caplog):
    p = ytvos_paths(ytvos_copy)
    png = p.annotation("0a1b2c3d4e", "00010")
    Image.open(png).convert("RGB").save(png)  # an RGB rendering has lost the ids
    d = ds(ytvos_copy)
    i = d.samples.index(("0a1b2c3d4e", "0", 2))
    with pytest.raises(DataError, match=r"00010\.png: sample v_0a1b2c3d4e_f_00010_e_0: mask: expected an indexed"):
        d[i]
    skip = ds(ytvos_copy, on_error="skip")
    item = skip[i]
    assert item["skipped"] == ["v_0a1b2c3d4e_f_00010_e_0"] and item["sample_id"] == "v_0a1b2c3d4e_f_00015_e_0"
    Image.fromarray(np.zeros((48, 66), np.uint8)).convert("P").save(png)
    with pytest.raises(DataError, match=r"mask is 48x66 \(H x W\) but the frames in .*0a1b2c3d4e are 48x64"):
        d[i]


def test_missing_frame_in_evaluation_is_dropped(ytvos_copy):
    ytvos_paths(ytvos_copy).frame("valid", "4d5e6f7081", "00005").unlink()
    d = ds(ytvos_copy, "valid", on_error="skip", clip=ClipSampler(num_frames=1))
    i = d.samples.index(("4d5e6f7081", "0", 1))
    out = d[i]
    assert isinstance(out, Skipped) and "00005.jpg: sample v_4d5e6f7081_f_00005_e_0: frame image not found" in out.error


def test_index_cache_is_used(ytvos_copy, tmp_path):
    first = ds(ytvos_copy, presence="masks", cache_dir=tmp_path / "cache")
    shutil.rmtree(ytvos_paths(ytvos_copy).root / "train" / "Annotations")  # a rebuild would now fail
    assert ds(ytvos_copy, presence="masks", cache_dir=tmp_path / "cache").samples == first.samples

