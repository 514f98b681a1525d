"""Ref-DAVIS17 on the format-exact fixture tree: image sets, the four expression sets, the
misspelled names, unsupervised ids, void pixels and bad input."""
from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from cmpcv.data import DataError
from cmpcv.data.davis17.expressions import MISSPELLED_VIDEOS, text_paths
from cmpcv.data.davis17.fixture import DAVIS_VIDEOS, expected_samples, fixture_labels, sentence, write_refdavis_fixture
from cmpcv.data.davis17.format import read_label_png
from cmpcv.data.davis17.reader import RefDAVIS17
from cmpcv.data.text import normalize_query
from tests.data.conftest import clip_indices

VIDEOS = {v.video_id: v for v in DAVIS_VIDEOS}


def ds(root, split="val", **kw):
    kw.setdefault("cache_dir", False)
    kw.setdefault("size", 64)
    return RefDAVIS17(root, split, **kw)


def test_splits_samples_and_expression_ids(davis17_fixture_root, tmp_path):
    manifest = write_refdavis_fixture(tmp_path / "again")
    train, val = ds(davis17_fixture_root, "train"), ds(davis17_fixture_root, "val")
    # hand count: train (5 + 2) x 4 sets + 4 x 4; val 3 objects x 4 sets x 4 frames + 1 x 4 x 3
    assert (len(train), len(val)) == (44, 60)
    assert train.samples == manifest.samples["train"] and val.samples == manifest.samples["val"]
    assert train.problems == [] and val.problems == []
    moto = val.videos["motorbike"]
    # objects 1, 2, 10 in numeric order: object 10 is k = 2, expressions 8-11
    assert [moto.expressions[e].obj_ids[0] for e in ("0", "4", "8", "11")] == [1, 2, 10, 10]
    assert moto.expressions["5"].text == sentence("motorbike", 2, 1)
    assert moto.frames == ("00000", "00001", "00002", "00003")
    only = ds(davis17_fixture_root, "val", sets=[2])
    assert only.samples == expected_samples("val", (2,))
    assert only.videos["motorbike"].expression_ids() == ["2", "6", "10"]
    with pytest.raises(ValueError, match="subset of 0-3"):
        ds(davis17_fixture_root, sets=[4])


def test_misspelled_names_are_mapped_and_listed(davis17_fixture_root):
    d = ds(davis17_fixture_root, "train")
    pairs = {tuple(re.findall(r"'([^']+)'", r)) for r in d.renamed}
    assert pairs == set(MISSPELLED_VIDEOS.items())
    assert len(d.renamed) == 4 * 6  # 6 lines (objects of the three videos) in each of the 4 files
    assert {"classic-car", "dogs-scale"} == set(d.video_ids()) and "motorbike" in ds(davis17_fixture_root).video_ids()


def test_masks_use_unsupervised_ids_and_skip_void(davis17_fixture_root):
    d = ds(davis17_fixture_root, "train", size=128)
    for i, (vid, exp_id, t) in enumerate(d.samples):
        s, v = d[i], VIDEOS[vid]
        obj = d.videos[vid].expressions[exp_id].obj_ids[0]
        labels = fixture_labels(v, t)
        assert np.array_equal(s["mask"], (labels == obj).astype(np.uint8)), s["sample_id"]
        assert s["mask"].any() and not s["mask"][labels == 255].any()
        assert clip_indices(s["frames"], s["geometry"])[2] == t
        assert (s["frame_idx"], s["instance_id"]) == (t + 1, obj)
        assert s["query"] == normalize_query(sentence(vid, obj, int(exp_id) % 4))
    # the semi-supervised masks number the objects otherwise: object 1 of classic-car is 2 there
    semi = read_label_png(d.davis.mask_dir("classic-car", "semi-supervised") / "00001.png")
    unsup = read_label_png(d.mask_path("classic-car", "00001"))
    assert not np.array_equal(semi == 1, unsup == 1)


def test_latin1_sentences(davis17_fixture_root):
    d = ds(davis17_fixture_root)
    assert d.videos["gold-fish"].expressions["2"].text == "object 1 of gold-fish seen in the premi\xe8re image"


def test_val_scores_every_frame_including_absent_objects(davis17_fixture_root):
    d = ds(davis17_fixture_root)
    i = d.samples.index(("motorbike", "8", 0))  # object 10 appears from frame 2 on
    assert d[i]["mask"].sum() == 0


def test_bad_text_and_unknown_videos(davis17_fixture_root, tmp_path):
    root = shutil.copytree(davis17_fixture_root, tmp_path / "d")
    first, full2 = text_paths(root / "davis_text_annotations")[0], text_paths(root / "davis_text_annotations")[3]
    with open(first, "a", encoding="utf-8") as fh:
        fh.write('gold-fish two "a bad id"\nblack-swann 1 "a swan"\n')
    full2.write_bytes(b"".join(line + b"\n" for line in full2.read_bytes().splitlines() if b"gold-fish" not in line))
    with pytest.raises(DataError, match=r"Davis17_annot1\.txt: line 8: object id must be a positive integer"):
        ds(root)
    d = ds(root, on_error="skip")
    text = "\n".join(d.problems)
    assert "video 'black-swann' is in no DAVIS-2017 image set" in text
    assert "no expression for gold-fish object 1 (set annot2_full)" in text
    assert len(d.problems) == 3 and len(d) == 60 - 3
    text_paths(root / "davis_text_annotations")[1].unlink()
    with pytest.raises(DataError, match=r"Davis17_annot1_full_video\.txt: Ref-DAVIS17 text annotation file not found"):
        ds(root, on_error="skip")


def test_missing_frames_folder_and_mask(davis17_fixture_root, tmp_path, caplog):
    root = shutil.copytree(davis17_fixture_root, tmp_path / "d")
    d0 = ds(root, "train")
    (d0.mask_path("classic-car", "00002")).unlink()
    shutil.rmtree(d0.davis.images() / "dogs-scale")
    with pytest.raises(DataError, match=r"dogs-scale: frame folder not found"):
        ds(root, "train")
    d = ds(root, "train", on_error="skip")
    assert set(d.video_ids()) == {"classic-car"}
    assert any("classic-car/00002.png" in p for p in d.problems)
    assert len(d) == 28 - 2 * 4  # frame 2 of both classic-car objects, 4 sets each
