"""Hand-computed cases for every rule of spec §3.3-3.5, under both protocols."""
from __future__ import annotations

import numpy as np
import pytest

from cmpcv.metrics import METRIC_KEYS, evaluate_samples


def strip(n: int, width: int = 1000) -> np.ndarray:
    """A 1 x width mask whose first n pixels are set."""
    m = np.zeros((1, width), bool)
    m[0, :n] = True
    return m


def square(side: int, frame: int = 128) -> np.ndarray:
    m = np.zeros((frame, frame), bool)
    m[:side, :side] = True
    return m


def one(gt, pred, score=1.0):
    return (gt, [(pred, score)])


def test_three_fifths_passes_p06_while_seven_tenths_fails_p07():
    # MTTR rounds IoU to float32: 300/500 -> 0.6000000238 (> 0.6), 700/1000 -> 0.6999999881
    # (not > 0.7). Counts large enough that the 1e-6 epsilon vanishes in float32.
    m = evaluate_samples([one(strip(500), strip(300))])
    assert m["P@0.6"] == 1.0 and m["P@0.7"] == 0.0
    assert m["mean_iou"] == 0.6000000238418579
    m = evaluate_samples([one(strip(1000), strip(700))])
    assert m["P@0.6"] == 1.0 and m["P@0.7"] == 0.0
    assert m["mean_iou"] == 0.699999988079071
    # CMPC-V uses exact IoU and >=: 7/10 passes P@0.7.
    assert evaluate_samples([one(strip(1000), strip(700))], protocol="cmpc")["P@0.7"] == 1.0


def test_small_counts_are_nudged_by_the_epsilon():
    # 7/10 with the epsilon: float32 (7 + 1e-6) / (10 + 1e-6) = 0.70000005, which passes > 0.7.
    m = evaluate_samples([one(strip(10), strip(7))])
    assert m["mean_iou"] == 0.7000000476837158 and m["P@0.7"] == 1.0


def test_epsilon_and_float32_values_of_mean_iou():
    m = evaluate_samples([one(strip(2), strip(1))])
    eps = np.float32(1e-6)
    assert m["mean_iou"] == float((np.float32(1) + eps) / (np.float32(2) + eps))
    assert m["mean_iou"] > 0.5 and m["P@0.5"] == 1.0  # 1/2 -> 0.50000024, passes a strict > 0.5
    assert evaluate_samples([one(strip(2), strip(1))], protocol="cmpc")["mean_iou"] == 0.5


def test_empty_prediction_on_empty_ground_truth():
    empty = strip(0)
    m = evaluate_samples([one(empty, empty), one(strip(4), strip(2))])
    assert m["mean_iou"] == pytest.approx((1.0 + 0.5) / 2, abs=1e-6)
    assert m["P@0.9"] == 0.5  # the empty/empty sample counts as a hit
    assert m["overall_iou"] == 2 / 4  # it adds nothing to ΣI or ΣU
    # In COCO AP the empty ground truth is never matched (IoU 0): its empty mask is a false
    # positive ranked first (tied score, earlier image), so precision is 1/2 up to recall 1/2.
    assert m["AP50"] == pytest.approx(0.5 * 51 / 101, abs=1e-15)
    # CMPC-V never sees such a sample: it is skipped.
    c = evaluate_samples([one(empty, empty), one(strip(4), strip(2))], protocol="cmpc")
    assert c["mean_iou"] == 0.5 and c["P@0.5"] == 1.0


def test_empty_prediction_on_non_empty_ground_truth():
    m = evaluate_samples([one(strip(4), strip(0))])
    assert 0 < m["mean_iou"] < 1e-6 and m["P@0.5"] == 0.0 and m["mAP"] == 0.0


def test_ties_pick_the_last_of_the_tied_maxima():
    gt = strip(6)
    perfect, wrong = strip(6), strip(0)
    assert evaluate_samples([(gt, [(perfect, 0.5), (wrong, 0.5)])])["P@0.9"] == 0.0
    assert evaluate_samples([(gt, [(wrong, 0.5), (perfect, 0.5)])])["P@0.9"] == 1.0
    # A lower score never wins, wherever it is.
    assert evaluate_samples([(gt, [(perfect, 0.9), (wrong, 0.5)])])["P@0.9"] == 1.0
    assert evaluate_samples([(gt, [(wrong, 0.5), (perfect, 0.5)])], protocol="cmpc")["P@0.9"] == 1.0


def test_overall_iou_is_sum_of_intersections_over_sum_of_unions():
    m = evaluate_samples([one(strip(5), strip(3)), one(strip(10), strip(7)), one(strip(4), strip(4))])
    assert m["overall_iou"] == (3 + 7 + 4) / (5 + 10 + 4)
    assert m["P@0.5"] == 1.0 and m["P@0.8"] == pytest.approx(1 / 3)


def test_coco_area_boundaries_are_inclusive():
    # (Precision of a lone true positive is 1 / (1 + eps) in COCOeval, hence approx.)
    small_edge = evaluate_samples([one(square(32), square(32))])  # area exactly 32**2
    areas = ("AP_small", "AP_medium", "AP_large")
    assert [small_edge[k] for k in areas] == pytest.approx([1, 1, -1], abs=1e-12)
    large_edge = evaluate_samples([one(square(96), square(96))])  # area exactly 96**2
    assert [large_edge[k] for k in areas] == pytest.approx([-1, 1, 1], abs=1e-12)


def test_detections_outside_the_area_range_are_ignored_when_unmatched():
    gt = square(100)
    small_fp = np.zeros_like(gt)
    small_fp[120:125, 120:125] = True  # 25 px, outside "large", overlaps nothing
    m = evaluate_samples([(gt, [(small_fp, 0.9), (gt.copy(), 0.5)])])
    # "all": FP then TP -> interpolated precision 1/2 at every recall point.
    assert m["mAP"] == 0.5 and m["AP50"] == 0.5
    # "large": the 25 px FP is ignored -> perfect; no ground truth is small or medium.
    assert [m["AP_large"], m["AP_small"], m["AP_medium"]] == pytest.approx([1, -1, -1], abs=1e-12)


def test_iou_exactly_on_a_coco_threshold_matches():
    gt = strip(4)
    m = evaluate_samples([one(gt, strip(3))])  # IoU 3/4: matched for t = .50 ... .75, not above
    assert [m["mAP"], m["AP75"], m["AP50"]] == pytest.approx([6 / 10, 1, 1], abs=1e-12)


def test_cmpc_map_is_mean_precision_over_ten_thresholds():
    samples = [one(strip(20), strip(n)) for n in (20, 19, 15, 11, 3)]  # IoUs 1, .95, .75, .55, .15
    m = evaluate_samples(samples, protocol="cmpc")
    hits = [sum(iou >= t for iou in (1, .95, .75, .55, .15)) / 5
            for t in (.5, .55, .6, .65, .7, .75, .8, .85, .9, .95)]
    assert m["mAP"] == pytest.approx(np.mean(hits), abs=1e-15)
    assert m["AP75"] == 3 / 5 and np.isnan(m["AP_small"])
    assert m["mean_iou"] == pytest.approx((1 + .95 + .75 + .55 + .15) / 5, abs=1e-15)


def test_result_keys_and_ranges():
    m = evaluate_samples([one(strip(5), strip(3))])
    assert tuple(m) == METRIC_KEYS
    assert all(isinstance(v, float) for v in m.values())


@pytest.mark.parametrize(
    "samples, message",
    [
        ([], "no samples"),
        ([(strip(3), [])], "non-empty list"),
        ([(strip(3), [(strip(3, width=10), 1.0)])], "differs from the ground truth"),
        ([(np.zeros((2, 2, 2), bool), [(np.zeros((2, 2, 2), bool), 1.0)])], "2-D"),
        ([(strip(3), [(strip(3).astype(np.float32), 1.0)])], "dtype float32"),
        ([(strip(3), [(strip(3), float("nan"))])], "finite"),
        ([(strip(3), [strip(3)])], "pair"),
    ],
)
def test_bad_input_raises_clear_value_errors(samples, message):
    with pytest.raises(ValueError, match=message):
        evaluate_samples(samples)


def test_unknown_protocol():
    with pytest.raises(ValueError, match="unknown protocol"):
        evaluate_samples([one(strip(5), strip(3))], protocol="coco")


def test_uint8_masks_with_any_nonzero_value_count_as_foreground():
    gt = strip(5).astype(np.uint8) * 255
    pred = strip(3).astype(np.uint8) * 2
    assert evaluate_samples([one(gt, pred)]) == evaluate_samples([one(strip(5), strip(3))])
