"""evaluate_mevis against MeViS's own evaluation script (golden file), and its errors."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from cmpcv.data.errors import DataError
from cmpcv.metrics.mevis import evaluate_mevis
from tests.metrics.test_jf import NUMPY2, close

REF = NUMPY2["mevis"]


def test_split_equals_eval_mevis(mevis_case):
    ours = evaluate_mevis(mevis_case["meta"], mevis_case["masks"], mevis_case["results"])
    for key in ("J", "F", "J&F"):
        assert close(ours[key], REF[key]), key
    assert sorted(ours["per_expression"]) == sorted(REF["per_expression"])
    for name, (j, f) in REF["per_expression"].items():
        assert close(ours["per_expression"][name], (j, f)), name
    # the script prints "<video> not found" once per expression of a video without predictions
    assert ours["missing_videos"] == ["vid_missing"] and REF["stdout"] == ["vid_missing not found"] * 2
    assert ours["per_expression"]["vid_missing_0"] == (0.0, 0.0)
    assert (ours["videos"], ours["expressions"]) == (4, 11)


def test_no_target_and_multi_target_expressions_by_hand(tmp_path):
    from cmpcv.data.davis17.format import write_label_png
    from cmpcv.data.mevis.format import MeViSExpression, MeViSVideo, write_mask_dict, write_meta_expressions

    a, b = np.zeros((2, 8, 8), bool), np.zeros((2, 8, 8), bool)
    a[0, 1:3, 1:3] = True
    b[:, 4:7, 4:7] = True
    write_mask_dict(tmp_path / "masks.json", {0: [a[0], None], 1: [b[0], b[1]]})
    exps = {"0": [0, 1], "1": [], "2": [], "3": [0]}
    write_meta_expressions(tmp_path / "meta.json", {"v": MeViSVideo(frames=("00000", "00001"), expressions={
        e: MeViSExpression(exp=e, obj_id=tuple(ids), anno_id=tuple(ids)) for e, ids in exps.items()})})
    dot = np.zeros((2, 8, 8), bool)
    dot[:, 0, 7] = True
    preds = {"0": a | b, "1": np.zeros_like(a), "2": dot, "3": b}
    for e, stack in preds.items():
        for t, frame in enumerate(stack):
            write_label_png(tmp_path / "res" / "v" / e / f"0000{t}.png", frame.astype(np.uint8) * 255, palette=None)
    ours = evaluate_mevis(tmp_path / "meta.json", tmp_path / "masks.json", tmp_path / "res")["per_expression"]
    assert ours["v_0"] == (1.0, 1.0)  # the union of both objects, predicted exactly
    assert ours["v_1"] == (1.0, 1.0)  # no target, empty prediction
    assert ours["v_2"] == (0.0, 0.0)  # no target, one pixel predicted: J = 0, F = 0 (P = 0, R = 1)
    # object 0 only in frame 0 (null RLE in frame 1); predicting object 1 instead: J = 0 in
    # frame 0; in frame 1 the ground truth is empty and the prediction is not: J = 0 again
    assert ours["v_3"] == (0.0, 0.0)


def copy_case(mevis_case, tmp_path):
    root = tmp_path / "case"
    shutil.copytree(mevis_case["results"].parent, root)
    return root / "meta_expressions.json", root / "mask_dict.json", root / "results"


def test_missing_frame_names_video_expression_and_frame(mevis_case, tmp_path):
    meta, masks, results = copy_case(mevis_case, tmp_path)
    (results / "vid_b" / "1" / "00003.png").unlink()
    with pytest.raises(DataError, match=r"vid_b/1/00003.png: sample vid_b/1/00003: prediction not found"):
        evaluate_mevis(meta, masks, results)


def test_size_mismatch(mevis_case, tmp_path):
    from cmpcv.data.davis17.format import write_label_png

    meta, masks, results = copy_case(mevis_case, tmp_path)
    write_label_png(results / "vid_c" / "2" / "00001.png", np.zeros((33, 30), np.uint8))
    with pytest.raises(DataError, match=r"sample vid_c/2/00001: prediction is 33x30, the ground truth 33x31"):
        evaluate_mevis(meta, masks, results)


def test_bad_rle_is_caught_before_pycocotools(mevis_case, tmp_path):
    meta, masks, results = copy_case(mevis_case, tmp_path)
    data = json.loads(masks.read_text())
    frame = next(i for i, r in enumerate(data["1"]) if r is not None)
    data["1"][frame]["counts"] = data["1"][frame]["counts"][:-2]  # runs no longer cover H * W
    masks.write_text(json.dumps(data))
    with pytest.raises(DataError, match=rf"mask_dict.json: anno_id 1, frame {frame}: "):
        evaluate_mevis(meta, masks, results)


def test_meta_and_mask_dict_problems_are_named(mevis_case, tmp_path):
    meta, masks, results = copy_case(mevis_case, tmp_path)
    data = json.loads(masks.read_text())
    del data["0"]
    masks.write_text(json.dumps(data))
    with pytest.raises(DataError, match="anno_id 0 of video vid_a is not in mask_dict.json"):
        evaluate_mevis(meta, masks, results)
    data = json.loads(meta.read_text())
    data["videos"]["vid_b"]["expressions"]["0"]["anno_id"] = "3"
    meta.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"sample vid_b/0: 'anno_id' must be a list of integers"):
        evaluate_mevis(meta, masks, results)
    meta.write_text("{\"videos\": {")
    with pytest.raises(DataError, match="meta_expressions.json: MeViS meta_expressions.json is not valid JSON"):
        evaluate_mevis(meta, masks, results)


def test_workers_give_the_same_figures(mevis_case):
    one = evaluate_mevis(mevis_case["meta"], mevis_case["masks"], mevis_case["results"])
    two = evaluate_mevis(mevis_case["meta"], mevis_case["masks"], mevis_case["results"], workers=2)
    assert one == two and list(one["per_expression"]) == list(two["per_expression"])
