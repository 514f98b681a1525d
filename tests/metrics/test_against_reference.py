"""cmpcv.metrics vs the published code path (pycocotools COCOeval + MTTR's loop), to 1e-9."""
from __future__ import annotations

import numpy as np
import pytest

from cmpcv.metrics import evaluate_samples
from tests.metrics.reference import random_samples, reference_metrics


def assert_same(ours: dict, ref: dict) -> None:
    for key, value in ref.items():
        assert abs(ours[key] - value) <= 1e-9, (key, ours[key], value)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("tie_scores", [False, True])
def test_random_sets_match_cocoeval_and_mttr(seed, tie_scores):
    # (40, 40) admits ground truths of exactly 32**2 px, (100, 100) also 96**2 px.
    for shape in ((12, 30), (40, 40), (100, 100)):
        samples = random_samples(seed, n=40, shape=shape, tie_scores=tie_scores)
        assert_same(evaluate_samples(samples), reference_metrics(samples))


def test_more_than_max_dets_predictions_per_sample():
    rng = np.random.default_rng(7)
    gt = np.zeros((8, 8), bool)
    gt[2:6, 2:6] = True
    samples = []
    for _ in range(3):
        preds = [(gt ^ (rng.random(gt.shape) < 0.2), float(rng.integers(0, 20))) for _ in range(110)]
        samples.append((gt, preds))
    assert_same(evaluate_samples(samples), reference_metrics(samples))


def test_hand_built_exact_ratios_match_the_reference():
    def strip(n, width=1000):
        m = np.zeros((1, width), bool)
        m[0, :n] = True
        return m

    pairs = [(2, 1), (500, 300), (1000, 700), (5, 4), (10, 9), (7, 0), (5, 5), (4, 3), (20, 13)]
    samples = [(strip(g), [(strip(p), 0.5), (strip(max(p - 1, 0)), 0.5)]) for g, p in pairs]
    assert_same(evaluate_samples(samples), reference_metrics(samples))


def cmpc_reference(samples) -> dict:
    """CMPC-V's test loop (trainval_video.py) on the top mask, written out literally."""
    thresholds = [.5, .55, .6, .65, .7, .75, .8, .85, .9, .95]
    correct = np.zeros(len(thresholds), dtype=np.int32)
    cum_i = cum_u = 0
    mean_iou = 0.0
    total = 0.0
    for gt, preds in samples:
        mask = sorted(preds, key=lambda p: p[1])[-1][0]
        i = np.sum(np.logical_and(mask, gt))
        u = np.sum(np.logical_or(mask, gt))
        if u == 0:
            continue
        mean_iou += float(i) / u
        cum_i += i
        cum_u += u
        for k, t in enumerate(thresholds):
            correct[k] += i / u >= t
        total += 1
    precision = correct / total
    return {"P@0.5": precision[0], "P@0.6": precision[2], "P@0.7": precision[4], "P@0.8": precision[6],
            "P@0.9": precision[8], "overall_iou": cum_i / cum_u, "mean_iou": mean_iou / total,
            "mAP": float(np.mean(precision)), "AP50": precision[0], "AP75": precision[5]}


@pytest.mark.parametrize("seed", [0, 1])
def test_cmpc_protocol_matches_the_released_loop(seed):
    samples = random_samples(seed, n=60, shape=(20, 30), tie_scores=True)
    ours = evaluate_samples(samples, protocol="cmpc")
    assert_same(ours, cmpc_reference(samples))
    assert np.isnan(ours["AP_small"])
