"""MeViS meta_expressions.json / mask_dict.json and prediction PNGs (cmpcv.data.mevis.format)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from cmpcv.data.errors import DataError
from cmpcv.data.mevis.format import (
    MeViSExpression,
    MeViSPaths,
    MeViSVideo,
    decode_rle,
    read_mask_dict,
    read_meta_expressions,
    read_prediction_mask,
    write_mask_dict,
    write_meta_expressions,
)

# pycocotools 2.0.11 calls np.array(..., copy=False) on numpy 2: harmless, but noisy.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools.*")


def test_paths():
    p = MeViSPaths("/data/mevis", "valid_u")
    assert str(p.meta_expressions) == "/data/mevis/valid_u/meta_expressions.json"
    assert str(p.mask_dict) == "/data/mevis/valid_u/mask_dict.json"
    assert str(p.frames_dir("abc")) == "/data/mevis/valid_u/JPEGImages/abc"


def test_round_trip(tmp_path):
    videos = {"v1": MeViSVideo(frames=("00000", "00001"), expressions={
        "0": MeViSExpression("the two dogs", (1, 2), (7, 8)), "1": MeViSExpression("nothing", (), ())})}
    write_meta_expressions(tmp_path / "meta.json", videos)
    assert read_meta_expressions(tmp_path / "meta.json") == videos
    mask = np.zeros((5, 7), np.uint8)
    mask[1:4, 2:6] = 1
    write_mask_dict(tmp_path / "masks.json", {7: [mask, None], 8: [np.zeros_like(mask), mask]})
    masks = read_mask_dict(tmp_path / "masks.json")
    assert masks["7"][1] is None and masks["8"][0]["size"] == [5, 7]
    assert np.array_equal(decode_rle(masks["7"][0]), mask)
    assert not decode_rle(masks["8"][0]).any()


def test_mask_dict_errors_name_anno_and_frame(tmp_path):
    mask = np.ones((4, 4), np.uint8)
    write_mask_dict(tmp_path / "m.json", {3: [mask, mask]})
    data = json.loads((tmp_path / "m.json").read_text())
    data["3"][1]["size"] = [4, 5]  # runs cover 16 pixels, the size says 20
    (tmp_path / "m.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"m.json: anno_id 3, frame 1: size \[4, 5\] does not match"):
        read_mask_dict(tmp_path / "m.json")
    data["3"][1] = {"size": [4, 4], "counts": "0"}  # one run of 0 pixels
    (tmp_path / "m.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"anno_id 3, frame 1: the counts cover 0 pixels"):
        read_mask_dict(tmp_path / "m.json")
    (tmp_path / "m.json").write_text(json.dumps({"3": {"0": None}}))
    with pytest.raises(DataError, match=r"anno_id 3: expected a list of per-frame RLEs"):
        read_mask_dict(tmp_path / "m.json")


def test_meta_errors_name_video_and_expression(tmp_path):
    path = tmp_path / "meta.json"
    path.write_text(json.dumps({"videos": {"v": {"frames": ["0"], "expressions": {"2": {"exp": "x", "obj_id": [1]}}}}}))
    with pytest.raises(DataError, match=r"meta.json: sample v/2: key 'anno_id' missing"):
        read_meta_expressions(path)
    path.write_text(json.dumps({"videos": {"v": {"frames": [], "expressions": {}}}}))
    with pytest.raises(DataError, match=r"sample v: 'frames' must be a non-empty list"):
        read_meta_expressions(path)
    path.write_text(json.dumps({"video": {}}))
    with pytest.raises(DataError, match="expected an object with key 'videos'"):
        read_meta_expressions(path)


def test_prediction_foreground_as_opencv_greyscale_reads_it(tmp_path):
    grey = np.array([[0, 1, 255]], np.uint8)
    Image.fromarray(grey).save(tmp_path / "l.png")
    assert read_prediction_mask(tmp_path / "l.png").tolist() == [[False, True, True]]
    # colours: grey = (299 R + 587 G + 114 B) / 1000, truncated; (3, 0, 0) and (0, 0, 8) read as 0
    rgb = np.array([[[3, 0, 0], [4, 0, 0], [0, 0, 8], [0, 0, 9], [1, 1, 1], [0, 0, 0]]], np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    assert read_prediction_mask(tmp_path / "rgb.png").tolist() == [[False, True, False, True, True, False]]
    # indexed: the palette colour counts, not the index
    img = Image.frombytes("P", (3, 1), bytes([0, 1, 2]))
    img.putpalette([0, 0, 0, 2, 0, 0, 200, 0, 0] + [0] * (253 * 3))
    img.save(tmp_path / "p.png")
    assert read_prediction_mask(tmp_path / "p.png").tolist() == [[False, False, True]]
    Image.fromarray(np.array([[1, 300]], np.uint16)).save(tmp_path / "w.png")
    with pytest.raises(DataError, match=r"w.png: prediction: expected an 8-bit greyscale, indexed or RGB PNG, got mode I;16"):
        read_prediction_mask(tmp_path / "w.png")
    with pytest.raises(DataError, match="prediction not found"):
        read_prediction_mask(tmp_path / "none.png")
