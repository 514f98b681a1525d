"""DAVIS-2017 layout, image sets and indexed PNG masks (cmpcv.data.davis17.format)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cmpcv.data.davis17.format import (
    PALETTE,
    DAVIS17Paths,
    read_label_png,
    write_davis17,
    write_label_png,
    write_results,
)
from cmpcv.data.errors import DataError


def test_palette_is_the_pascal_voc_colour_map():
    # first entries of the VOC map, as DAVIS masks show them
    assert PALETTE[:8].tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0],
                                    [0, 0, 128], [128, 0, 128], [0, 128, 128], [128, 128, 128]]
    assert PALETTE[255].tolist() == [224, 224, 192]  # the void colour


def test_label_png_round_trip_keeps_indices(tmp_path):
    labels = np.random.default_rng(0).integers(0, 256, (9, 13)).astype(np.uint8)
    write_label_png(tmp_path / "a.png", labels)
    with Image.open(tmp_path / "a.png") as img:
        assert img.mode == "P" and img.getpalette()[:6] == [0, 0, 0, 128, 0, 0]
    assert np.array_equal(read_label_png(tmp_path / "a.png"), labels)
    write_label_png(tmp_path / "b.png", labels, palette=None, atomic=False)
    assert Image.open(tmp_path / "b.png").mode == "L"
    assert np.array_equal(read_label_png(tmp_path / "b.png"), labels)
    with pytest.raises(ValueError, match="0..255"):
        write_label_png(tmp_path / "c.png", np.full((2, 2), 256))


def test_unreadable_masks_are_named(tmp_path):
    with pytest.raises(DataError, match=r"nope.png: mask not found"):
        read_label_png(tmp_path / "nope.png")
    Image.new("RGB", (3, 3)).save(tmp_path / "rgb.png")
    with pytest.raises(DataError, match=r"rgb.png: mask: expected an indexed \(palette\) or greyscale PNG, got mode RGB"):
        read_label_png(tmp_path / "rgb.png")
    (tmp_path / "junk.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"junk.png: could not read the mask"):
        read_label_png(tmp_path / "junk.png")


def test_tree_layout(tmp_path):
    gt = np.zeros((3, 4, 6), np.uint8)
    gt[:, 1:3, 1:3] = 1
    paths = write_davis17(tmp_path, {"bear": gt, "dog": gt[:2]}, split="val", images=True)
    assert paths.annotations() == tmp_path / "Annotations_unsupervised" / "480p"
    assert paths.annotations("semi-supervised") == tmp_path / "Annotations" / "480p"
    assert paths.sequences("val") == ["bear", "dog"]
    assert paths.frames("bear") == ["00000", "00001", "00002"]
    assert sorted(p.name for p in (paths.images() / "dog").iterdir()) == ["00000.jpg", "00001.jpg"]
    # the unsupervised test sets are listed under ImageSets/2019
    assert paths.image_set("test-dev").parts[-2:] == ("2019", "test-dev.txt")
    assert paths.image_set("test-dev", "semi-supervised").parts[-2:] == ("2017", "test-dev.txt")
    with pytest.raises(ValueError, match="split must be one of"):
        paths.image_set("testdev")
    with pytest.raises(ValueError, match="task must be one of"):
        paths.annotations("supervised")
    with pytest.raises(DataError, match="folder of unsupervised ground truth of sequence cat not found"):
        paths.frames("cat")
    write_results(tmp_path / "res", {"bear": gt}, frames={"bear": ["00010", "00020", "00030"]})
    assert sorted(p.stem for p in (tmp_path / "res" / "bear").iterdir()) == ["00010", "00020", "00030"]
    (tmp_path / "ImageSets" / "2017" / "val.txt").write_text("\n\n")
    with pytest.raises(DataError, match="lists no sequence"):
        DAVIS17Paths(tmp_path).sequences("val")
