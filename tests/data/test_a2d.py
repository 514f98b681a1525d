"""A2DSentences on the format-exact fixture tree: counts, masks, transposes, clips, errors, cache."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from cmpcv.data import A2DSentences, ClipSampler, DataError, ReferringCollator, SkipCounter, Skipped, Vocabulary
from cmpcv.data.a2d.fixture import A2D_VIDEOS, write_a2d_fixture
from cmpcv.data.a2d.format import a2d_paths
from cmpcv.data.fixtures import fixture_mask
from cmpcv.data.transforms import restore_mask
from cmpcv.data.video import read_video_frames
from tests.data.conftest import clip_indices, levels_to_indices

SIZES = {v.video_id: v.size for v in A2D_VIDEOS}


def test_counts_follow_the_mttr_protocol(a2d_fixture_root, tmp_path):
    manifest = write_a2d_fixture(tmp_path / "again")  # the expected lists, from the generator's tables
    train = A2DSentences(a2d_fixture_root, "train", cache_dir=False)
    test = A2DSentences(a2d_fixture_root, "test", cache_dir=False)
    # hand count: trA 3+2, trB 3, trC 3+2 (copy row dropped), trD 2+3; teA 2+3, teB 3
    assert (len(train), len(test)) == (18, 8)
    assert train.samples == manifest.samples["train"] and test.samples == manifest.samples["test"]
    videos = {s[0] for s in train.samples + test.samples}
    assert "missed-01" not in videos
    assert not any(q == "bird standing in the beach" for *_, q in train.samples)  # the '1 (copy)' row
    # instance 1 of trA is absent from frame 15: that frame is skipped for it
    assert [f for v, f, i, _ in train.samples if (v, i) == ("trA-2inst", 1)] == [1, 8]
    assert ("trA-2inst", 8, 1, "a dog running on the right") in train.samples  # normalised query


def test_every_mask_is_the_right_frame_instance_and_orientation(a2d_fixture_root):
    for split in ("train", "test"):
        # size 320: both fixture sizes scale by an integer (5, 4), so the round trip is exact
        ds = A2DSentences(a2d_fixture_root, split, size=320, cache_dir=False)
        for i in range(len(ds)):
            s = ds[i]
            vid, frame, inst = s["video_id"], s["frame_idx"], s["instance_id"]
            expected = fixture_mask(vid, frame, inst, SIZES[vid])
            assert s["mask"].dtype == np.uint8 and np.array_equal(s["mask"], expected), s["sample_id"]
            assert s["sample_id"] == f"v_{vid}_f_{frame}_i_{inst}"
            assert np.array_equal(restore_mask(s["target"], s["geometry"]), expected)
            assert s["frames"].shape == (5, 3, 320, 320) and 0.0 <= s["frames"].min() <= s["frames"].max() <= 1.0


def test_fixture_masks_are_distinct_and_asymmetric():
    seen = set()
    for v in A2D_VIDEOS:
        for frame, ids in v.frames.items():
            for inst in ids:
                m = fixture_mask(v.video_id, frame, inst, v.size)
                seen.add(m.tobytes())
                assert not np.array_equal(m, m[:, ::-1]) and not np.array_equal(m, m[::-1])
    assert len(seen) == sum(len(set(ids)) for v in A2D_VIDEOS for ids in v.frames.values())


@pytest.mark.parametrize("clip, vid, frame, expected", [
    (ClipSampler(), "trA-2inst", 1, [0, 0, 0, 4, 7]),  # clamped at the start
    (ClipSampler(), "trB_single", 20, [11, 15, 19, 19, 19]),  # clamped at the end (20 frames)
    (ClipSampler(), "trA-2inst", 8, [0, 3, 7, 11, 14]),
    (ClipSampler(num_frames=8), "trB_single", 20, [15, 16, 17, 18, 19, 19, 19, 19]),
    (ClipSampler(num_frames=16), "trA-2inst", 1, [0] * 9 + [1, 2, 3, 4, 5, 6, 7]),
])
def test_clip_frames_come_from_the_right_indices(a2d_fixture_root, clip, vid, frame, expected):
    ds = A2DSentences(a2d_fixture_root, "train", clip=clip, size=64, cache_dir=False)
    i = next(k for k, s in enumerate(ds.samples) if s[:2] == (vid, frame))
    s = ds[i]
    assert s["frames"].shape[0] == len(expected)
    assert clip_indices(s["frames"], s["geometry"]) == expected
    assert expected[len(expected) // 2] == frame - 1  # annotated frame at T // 2


def test_decord_and_pyav_agree(a2d_fixture_root):
    path = a2d_paths(a2d_fixture_root).video("teA-multi")
    a, ia = read_video_frames(path, [19, 0, 7, 7], backend="decord")
    b, ib = read_video_frames(path, [19, 0, 7, 7], backend="pyav")
    assert ia == ib == [19, 0, 7, 7] and a.shape == b.shape == (4, 48, 64, 3)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 3
    assert levels_to_indices(b[:, 24, 32, 1]) == [19, 0, 7, 7]


def test_flip_swaps_left_and_right(a2d_fixture_root):
    plain = A2DSentences(a2d_fixture_root, "train", size=64, cache_dir=False)
    flipped = A2DSentences(a2d_fixture_root, "train", size=64, flip_prob=1.0, cache_dir=False)
    s, f = plain[0], flipped[0]
    assert s["query"] == "the man on the left climbing" and f["query"] == "the man on the right climbing"
    assert np.array_equal(f["mask"], s["mask"][:, ::-1])
    assert np.array_equal(restore_mask(f["target"], f["geometry"]), f["mask"])
    half = A2DSentences(a2d_fixture_root, "train", size=64, flip_prob=0.5, seed=3, cache_dir=False)
    draws = [half._flip(i) for i in range(len(half))]
    assert 0 < sum(draws) < len(draws) and draws == [half._flip(i) for i in range(len(half))]


def test_missing_video_names_file_and_sample(a2d_copy, caplog):
    paths = a2d_paths(a2d_copy)
    paths.video("trB_single").unlink()
    ds = A2DSentences(a2d_copy, "train", size=64, cache_dir=False)
    i = next(k for k, s in enumerate(ds.samples) if s[0] == "trB_single")
    with pytest.raises(DataError, match=r"trB_single\.mp4.*sample v_trB_single_f_5_i_0.*not found"):
        ds[i]
    # skip, training split: the next readable sample stands in, and the batch reports the skip
    skip = A2DSentences(a2d_copy, "train", size=64, cache_dir=False, on_error="skip")
    with caplog.at_level(logging.WARNING):
        item = skip[i]
    assert item["video_id"] != "trB_single" and item["skipped"] == [
        "v_trB_single_f_5_i_0", "v_trB_single_f_10_i_0", "v_trB_single_f_20_i_0"]
    assert "trB_single.mp4" in caplog.text
    batch = ReferringCollator(Vocabulary.build(["a"]))([skip[0], item])
    counter = SkipCounter()
    counter.update(batch)
    assert batch["batch_size"] == 2 and "3 sample(s) skipped" in counter.report(0)


def test_corrupt_files_in_evaluation_are_dropped_or_raise(a2d_copy):
    paths = a2d_paths(a2d_copy)
    paths.mask("teB_single", 11).write_bytes(b"not hdf5")
    paths.video("teA-multi").write_bytes(paths.video("teA-multi").read_bytes()[:300])  # truncated mp4
    with pytest.raises(DataError, match=r"teB_single/00011\.h5.*HDF5"):
        A2DSentences(a2d_copy, "test", cache_dir=False)  # indexing reads the h5 files
    ds = A2DSentences(a2d_copy, "test", size=64, cache_dir=False, on_error="skip")
    assert len(ds.problems) == 1 and len(ds) == 7
    i = next(k for k, s in enumerate(ds.samples) if s[0] == "teA-multi")
    assert isinstance(ds[i], Skipped) and ds[i].sample_id == ds.sample_id(i)
    with pytest.raises(DataError, match=r"teA-multi\.mp4.*sample v_teA-multi_f_3_i_0.*could not decode"):
        ds.load(i)  # load() applies no policy: the error names the video and the sample


def test_mask_size_mismatch_is_an_error(a2d_copy):
    from cmpcv.data.a2d.format import write_a2d_h5

    write_a2d_h5(a2d_paths(a2d_copy).mask("teB_single", 2), np.ones((1, 40, 80), np.uint8), [0])
    ds = A2DSentences(a2d_copy, "test", size=64, cache_dir=False)
    i = ds.samples.index(next(s for s in ds.samples if s[:2] == ("teB_single", 2)))
    with pytest.raises(DataError, match=r"00002\.h5.*mask is 40x80.*48x80"):
        ds[i]


def test_index_cache_is_reused_and_invalidated(a2d_copy, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    ds = A2DSentences(a2d_copy, "train", cache_dir=cache)
    assert (cache / "a2d_train.json").is_file() and len(ds) == 18
    import cmpcv.data.a2d.reader as a2d_module

    def no_h5(*a, **k):
        raise AssertionError("the cached index must not read h5 files")

    monkeypatch.setattr(a2d_module, "read_a2d_instances", no_h5)
    assert A2DSentences(a2d_copy, "train", cache_dir=cache).samples == ds.samples
    monkeypatch.undo()
    ann = a2d_paths(a2d_copy).annotation
    ann.write_text("\n".join(line for line in ann.read_text().splitlines() if "trB_single" not in line) + "\n")
    assert len(A2DSentences(a2d_copy, "train", cache_dir=cache)) == 15
    default = A2DSentences(a2d_copy, "test")  # default cache next to the data
    assert (a2d_copy / ".cmpcv_cache" / "a2d_test.json").is_file() and len(default) == 8


def test_keep_decoded_reads_each_clip_once_and_matches_a_fresh_read(a2d_fixture_root, monkeypatch):
    plain = A2DSentences(a2d_fixture_root, "train", size=64, flip_prob=0.5, cache_dir=False)
    kept = A2DSentences(a2d_fixture_root, "train", size=64, flip_prob=0.5, cache_dir=False, keep_decoded=True)
    calls = []
    read = kept.read
    monkeypatch.setattr(kept, "read", lambda i: calls.append(i) or read(i))
    for epoch in (0, 1, 2):  # the flip draw changes with the epoch; the kept clip must not
        plain.set_epoch(epoch)
        kept.set_epoch(epoch)
        for i in range(len(kept)):
            a, b = plain[i], kept[i]
            assert torch.equal(a["frames"], b["frames"]) and torch.equal(a["target"], b["target"])
            assert np.array_equal(a["mask"], b["mask"]) and a["query"] == b["query"]
            b["mask"][...] = 0  # the sample's mask must be its own, not the stored array
    assert sorted(calls) == list(range(len(kept)))  # decoded once each, over three epochs
