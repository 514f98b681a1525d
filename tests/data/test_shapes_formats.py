"""The synthetic set written in the JPEG-folder formats (cmpcv.data.shapes.formats), read back by
the MeViS and Refer-YouTube-VOS readers."""
from __future__ import annotations

import json

import numpy as np
import pytest

from cmpcv.data.shapes import ShapesConfig, generate, load_samples, render, split_scenes, visible_masks
from cmpcv.data.shapes.tree import STAMP_FILE

SMALL = {"train_samples": 40, "test_samples": 8}


@pytest.fixture(scope="module")
def a2d_small(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("shapes") / "a2d", SMALL)


def test_visible_masks_are_disjoint_and_match_the_annotated_frame():
    config = ShapesConfig.from_mapping(SMALL)
    for _, scene, _ in list(split_scenes(config, "train"))[:12]:
        vis = visible_masks(scene)
        assert vis.shape == (len(scene.actors), scene.num_frames, scene.height, scene.width)
        assert vis.sum(axis=0).max() <= 1  # occlusion: a pixel shows one actor at most
        _, masks = render(scene, background=config.background)
        assert np.array_equal(vis[:, scene.anno_index], masks)


def _sentences(records):
    return {(r["video_id"], r["referent"]): r["query"] for r in records}


@pytest.mark.parametrize("fmt", ["ytvos", "mevis"])
def test_formats_hold_the_a2d_trees_scenes_and_sentences(fmt, a2d_small, tmp_path):
    from cmpcv.data.shapes import ShapesMeViS, ShapesYTVOS

    reader = {"ytvos": ShapesYTVOS, "mevis": ShapesMeViS}[fmt]
    root = tmp_path / fmt
    train = reader(root, "train", generator=SMALL, cache_dir=False, size=64)
    assert json.loads((root / STAMP_FILE).read_text())["format"] == fmt
    records = load_samples(root)
    a2d = {(s["video_id"], s["instance_id"]): s["query"] for s in load_samples(a2d_small)}
    assert _sentences(r for r in records) == {k: q for k, q in a2d.items()}
    config = ShapesConfig.from_mapping(SMALL)
    visible = {vid: visible_masks(scene) for vid, scene, _ in split_scenes(config, "train")}
    referent = {(r["video_id"], r["exp_id"]): r["referent"] for r in records}
    for i, (vid, exp_id, pos) in enumerate(train.samples):
        expected = visible[vid][referent[vid, exp_id], pos]
        mask, _ = train.read_target(vid, exp_id, pos, expected.shape)
        assert expected.any() and np.array_equal(mask, expected), (vid, exp_id, pos)
        if i % 97 == 0:  # the whole sample, now and then
            assert np.array_equal(train[i]["mask"], expected)
    # every frame where the referent shows is a sample: far more than the 40 annotated frames
    assert len(train) == sum(int(visible[v][r].any(axis=(1, 2)).sum()) for (v, _), r in referent.items()
                             if v in visible)
    assert len(train) > 10 * 40
    test_split = {"ytvos": "valid", "mevis": "valid_u"}[fmt]
    test = reader(root, test_split, generator=SMALL, cache_dir=False, size=64)
    assert len(test.videos) > 0 and test.has_ground_truth == (fmt == "mevis")
    assert len(test) == sum(16 * len(v.expressions) for v in test.videos.values())
    again = reader(root, "train", generator=SMALL, cache_dir=False)  # same stamp: not rewritten
    assert again.samples == train.samples


def test_mevis_style_masks_are_null_where_the_actor_is_out_of_view(tmp_path):
    from cmpcv.data.mevis.format import MeViSPaths, read_mask_dict

    generate(tmp_path / "m", SMALL, fmt="mevis")
    masks = read_mask_dict(MeViSPaths(tmp_path / "m", "train").mask_dict)
    config = ShapesConfig.from_mapping(SMALL)
    anno = 0
    for _, scene, _ in split_scenes(config, "train"):
        vis = visible_masks(scene)
        for i in range(len(scene.actors)):
            assert [m is None for m in masks[str(anno)]] == [not v.any() for v in vis[i]]
            anno += 1
    assert any(m is None for ms in masks.values() for m in ms)  # some actors leave the frame


def test_command_line_writes_a_format(tmp_path, capsys):
    from cmpcv.data.shapes.cli import main

    counts = main([f"root={tmp_path / 's'}", "format=ytvos", "train_samples=40", "test_samples=8"])
    out = capsys.readouterr().out
    assert "(ytvos, ready in" in out and "  train      40 expressions: entity 8" in out
    assert "  valid       8 expressions:" in out and sum(counts["valid"].values()) == 8
    assert (tmp_path / "s" / "train" / "Annotations").is_dir() and not (tmp_path / "s" / "valid" / "Annotations").exists()
