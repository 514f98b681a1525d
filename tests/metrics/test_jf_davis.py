"""evaluate_davis / evaluate_refdavis against the DAVIS-2017 toolkit's numbers (golden file),
the matching it reports, and one-line errors where the toolkit exits."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from cmpcv.data.davis17.format import write_davis17, write_label_png, write_results
from cmpcv.data.errors import DataError
from cmpcv.metrics.davis import DAVIS_KEYS, evaluate_davis, evaluate_refdavis
from cmpcv.metrics.jf import contour_accuracy, region_similarity
from tests.metrics import jf_cases
from tests.metrics.test_jf import NUMPY1, NUMPY2, close

LONG_ENOUGH = [s for s, spec in jf_cases.DAVIS_SEQUENCES.items() if spec[0] >= 3]


def assert_equal_to(ours: dict, ref: dict) -> None:
    for key in DAVIS_KEYS:
        assert close(ours[key], ref[key]), (key, ours[key], ref[key])
    assert sorted(ours["per_object"]) == sorted(ref["per_object"])  # (the golden file sorts its keys)
    for name, values in ref["per_object"].items():
        for key, value in values.items():
            assert close(ours["per_object"][name][key], value), (name, key)


def test_unsupervised_equals_the_toolkit(davis_case):
    ours = evaluate_davis(davis_case["davis"], davis_case["unsupervised"])
    assert_equal_to(ours, NUMPY2["davis"]["unsupervised"])
    # object 3 of "late" only appears after the first frame and is not scored
    assert "late_3" not in ours["per_object"] and ours["objects"] == 22


@pytest.mark.slow
def test_unsupervised_with_numpy1_decay_equals_the_toolkit_under_numpy1(davis_case):
    ours = evaluate_davis(davis_case["davis"], davis_case["unsupervised"], decay="toolkit-numpy1")
    assert_equal_to(ours, NUMPY1["davis"]["unsupervised"])
    # The 256-frame video is where the two differ: NaN under NumPy 2, a number under NumPy 1.
    assert np.isnan(NUMPY2["davis"]["unsupervised"]["per_object"]["long256_1"]["J-Decay"])
    assert not np.isnan(ours["per_object"]["long256_1"]["J-Decay"])


def test_semi_supervised_equals_the_toolkit(davis_case):
    ours = evaluate_davis(davis_case["davis"], davis_case["semi-supervised"], task="semi-supervised",
                          sequences=LONG_ENOUGH)
    assert_equal_to(ours, NUMPY2["davis"]["semi-supervised"])
    assert "matching" not in ours


def test_matching_names_the_object_and_proposal_each_entry_scores(davis_case):
    ours = evaluate_davis(davis_case["davis"], davis_case["unsupervised"], sequences=["perm", "fewer"])
    arrays = jf_cases.davis_arrays()
    gt_all, pred_all = arrays["gt"], arrays["unsupervised"]
    permuted = 0
    for key, match in ours["matching"].items():
        seq, k = key.rsplit("_", 1)
        permuted += match["object"] != int(k)
        gt = gt_all[seq] == match["object"]
        pred = pred_all[seq] == match["proposal"] if match["proposal"] else np.zeros_like(gt)
        void = gt_all[seq] == 255
        assert ours["per_object"][key]["J-Mean"] == region_similarity(gt, pred, void).mean()
        assert ours["per_object"][key]["F-Mean"] == contour_accuracy(gt, pred, void).mean()
    assert permuted >= 2  # the Hungarian assignment is not the identity here
    # "fewer" has 3 objects and 1 proposal: two objects get an empty (padding) proposal
    assert sorted(m["proposal"] for k, m in ours["matching"].items() if k.startswith("fewer")) == [0, 0, 1]


def test_refdavis_is_the_mean_of_the_four_sets(davis_case, tmp_path):
    roots = []
    for i in range(4):
        root = tmp_path / f"anno_{i}"
        shutil.copytree(davis_case["unsupervised"] / "perm", root / "perm")
        shutil.copytree(davis_case["unsupervised"] / "fewer", root / "fewer")
        if i:  # each set a different prediction for frame 3 of "perm"
            frame = jf_cases.davis_arrays()["unsupervised"]["perm"][3]
            write_label_png(root / "perm" / "00003.png", np.roll(frame, 3 * i, axis=1))
        roots.append(root)
    ours = evaluate_refdavis(davis_case["davis"], roots, sequences=["perm", "fewer"])
    single = [evaluate_davis(davis_case["davis"], r, sequences=["perm", "fewer"]) for r in roots]
    for key in DAVIS_KEYS:
        assert ours[key] == np.mean([s[key] for s in single])
    assert [s["J&F-Mean"] for s in ours["sets"]] == [s["J&F-Mean"] for s in single]
    assert len({s["J&F-Mean"] for s in single}) == 4
    with pytest.raises(ValueError, match="four results folders"):
        evaluate_refdavis(davis_case["davis"], roots[:3])


@pytest.fixture
def small_tree(tmp_path):
    rng = np.random.default_rng(3)
    gt = np.zeros((4, 12, 16), np.uint8)
    gt[:, 2:8, 3:9] = 1
    gt[:, 5:11, 8:14] = 2
    pred = np.where(rng.random(gt.shape) < 0.1, 0, gt)
    write_davis17(tmp_path / "DAVIS", {"seq": gt}, task="unsupervised")
    write_davis17(tmp_path / "DAVIS", {"seq": gt}, task="semi-supervised")
    write_results(tmp_path / "res", {"seq": pred})
    return tmp_path


def test_missing_prediction_names_sequence_and_frame(small_tree):
    (small_tree / "res" / "seq" / "00002.png").unlink()
    with pytest.raises(DataError, match=r"res/seq/00002.png: sample seq/00002: prediction not found"):
        evaluate_davis(small_tree / "DAVIS", small_tree / "res")


def test_too_many_proposals_names_the_frame(small_tree):
    frame = np.zeros((12, 16), np.uint8)
    frame[0, 0] = 21
    write_label_png(small_tree / "res" / "seq" / "00001.png", frame)
    with pytest.raises(DataError, match=r"00001.png: sample seq/00001: proposal id 21 exceeds 20"):
        evaluate_davis(small_tree / "DAVIS", small_tree / "res")
    # semi-supervised: no id above the number of objects (2)
    frame[0, 0] = 3
    write_label_png(small_tree / "res" / "seq" / "00001.png", frame)
    with pytest.raises(DataError, match=r"proposal id 3 exceeds 2: the sequence has 2 objects"):
        evaluate_davis(small_tree / "DAVIS", small_tree / "res", task="semi-supervised")


def test_size_mismatch_names_both_sizes(small_tree):
    write_label_png(small_tree / "res" / "seq" / "00003.png", np.zeros((12, 15), np.uint8))
    with pytest.raises(DataError, match=r"sample seq/00003: prediction is 12x15, the ground truth 12x16"):
        evaluate_davis(small_tree / "DAVIS", small_tree / "res")


def test_rgb_prediction_and_missing_folders_are_named(small_tree):
    from PIL import Image

    Image.new("RGB", (16, 12)).save(small_tree / "res" / "seq" / "00000.png")
    with pytest.raises(DataError, match=r"00000.png: sample seq/00000: prediction: expected an indexed"):
        evaluate_davis(small_tree / "DAVIS", small_tree / "res")
    with pytest.raises(DataError, match="results folder not found"):
        evaluate_davis(small_tree / "DAVIS", small_tree / "nowhere")
    with pytest.raises(DataError, match=r"ImageSets/2017/train.txt: DAVIS image set not found"):
        evaluate_davis(small_tree / "DAVIS", small_tree / "res", split="train")
    with pytest.raises(DataError, match=r"Annotations_unsupervised/480p/other: folder of unsupervised ground truth"):
        evaluate_davis(small_tree / "DAVIS", small_tree / "res", sequences=["other"])


def test_semi_supervised_needs_three_frames(tmp_path):
    gt = np.ones((2, 5, 5), np.uint8)
    write_davis17(tmp_path / "DAVIS", {"s": gt}, task="semi-supervised")
    write_results(tmp_path / "res", {"s": gt})
    with pytest.raises(DataError, match="sequence s has only 2"):
        evaluate_davis(tmp_path / "DAVIS", tmp_path / "res", task="semi-supervised")


def test_workers_give_the_same_figures_and_errors(small_tree, davis_case):
    seqs = ["perm", "fewer", "void", "late"]
    one = evaluate_davis(davis_case["davis"], davis_case["unsupervised"], sequences=seqs)
    two = evaluate_davis(davis_case["davis"], davis_case["unsupervised"], sequences=seqs, workers=2)
    assert one == two
    (small_tree / "res" / "seq" / "00002.png").unlink()
    with pytest.raises(DataError, match=r"sample seq/00002: prediction not found"):
        evaluate_davis(small_tree / "DAVIS", small_tree / "res", workers=2)
