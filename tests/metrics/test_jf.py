"""J, F and statistics: hand-checked cases, a brute-force check of the contour test, and the
DAVIS-2017 toolkit's own numbers on generated masks (golden file, to 1e-9)."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cmpcv.metrics.contours import Contour, boundary_map, tolerance_radius
from cmpcv.metrics.jf import contour_accuracy, label_pair_scores, region_similarity, statistics
from tests.metrics import jf_cases

GOLDEN = json.loads((Path(__file__).parent / "golden" / "jf_toolkit.json").read_text())
NUMPY2 = GOLDEN["environments"]["numpy-2.4.6"]
NUMPY1 = GOLDEN["environments"]["numpy-1.26.4"]


def close(a, b, tol=1e-9) -> bool:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return a.shape == b.shape and bool(np.all((np.isnan(a) & np.isnan(b)) | (np.abs(a - b) <= tol)))


def test_golden_inputs_are_the_generated_ones():
    assert NUMPY2["inputs_digest"] == NUMPY1["inputs_digest"] == jf_cases.inputs_digest()


# -- hand-checked ---------------------------------------------------------------------------

def test_region_similarity_by_hand():
    gt = np.zeros((4, 4), bool)
    gt[1:3, 1:3] = True                       # 4 pixels
    pred = np.zeros((4, 4), bool)
    pred[1:3, 1:4] = True                     # 6 pixels, 4 shared
    assert region_similarity(gt, pred) == pytest.approx(4 / 6, abs=0)
    void = np.zeros((4, 4), bool)
    void[:, 3] = True                         # hides the two extra pixels
    assert region_similarity(gt, pred, void) == 1.0
    empty, full = np.zeros((4, 4), bool), np.ones((4, 4), bool)
    assert region_similarity(empty, empty) == 1.0   # empty union counts as a perfect score
    assert region_similarity(empty, full) == 0.0
    stack = region_similarity(np.stack([gt, empty]), np.stack([pred, empty]))
    assert stack.dtype == np.float64 and stack.tolist() == [4 / 6, 1.0]


def test_boundary_is_offset_towards_the_origin_and_a_full_frame_has_none():
    seg = np.zeros((5, 5), bool)
    seg[2, 2] = True
    assert sorted(zip(*np.nonzero(boundary_map(seg)))) == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert not boundary_map(np.ones((5, 5), bool)).any()
    corner = np.zeros((5, 5), bool)
    corner[4, 4] = True  # bottom-right pixel: never on the boundary itself
    assert sorted(zip(*np.nonzero(boundary_map(corner)))) == [(3, 3), (3, 4), (4, 3)]


def test_contour_accuracy_by_hand():
    # 10x10: radius ceil(0.008 * sqrt(200)) = 1. Pixels two columns apart: of each 4-pixel
    # boundary, the 2 pixels facing the other are within 1 of it -> P = R = 1/2, F = 1/2.
    gt = np.zeros((10, 10), bool)
    gt[2, 4] = True
    pred = np.zeros((10, 10), bool)
    pred[2, 2] = True
    assert tolerance_radius(gt.shape) == 1
    assert contour_accuracy(gt, pred) == 0.5
    assert contour_accuracy(gt, gt) == 1.0
    empty, full = np.zeros((10, 10), bool), np.ones((10, 10), bool)
    assert contour_accuracy(empty, empty) == 1.0
    assert contour_accuracy(gt, empty) == 0.0   # empty prediction boundary: P = 1, R = 0
    assert contour_accuracy(empty, gt) == 0.0   # empty ground-truth boundary: P = 0, R = 1
    assert contour_accuracy(empty, full) == 1.0  # a full mask has no boundary either


@pytest.mark.parametrize("shape,radius", [((480, 854), 8), ((480, 910), 9), ((720, 1280), 12),
                                          ((1080, 1920), 18), ((1, 1), 1)])
def test_tolerance_radius(shape, radius):
    assert tolerance_radius(shape) == radius
    assert tolerance_radius(shape, 3) == 3
    with pytest.raises(ValueError, match="integer"):
        tolerance_radius(shape, 2.5)


def test_statistics_by_hand():
    mean, recall, decay = statistics([1.0, 0.0, 1.0, 0.6, 0.2])
    # Bins of 5 frames: [0:2], [1:3], [2:4], [3:5]; decay = mean(1, 0) - mean(0.6, 0.2).
    assert (mean, recall) == (pytest.approx(0.56, abs=1e-15), 0.6)
    assert decay == pytest.approx(0.1, abs=1e-15)
    # recall counts a NaN frame as a miss; mean ignores it.
    assert statistics([np.nan, 1.0])[:2] == (1.0, 0.5)
    ramp = np.linspace(1, 0, 300)
    # 300 frames: the last bin edge 299 wraps to 43 in uint8, bin 3 = [224:44] is empty.
    assert math.isnan(statistics(ramp)[2]) and math.isnan(statistics(ramp, "toolkit-numpy1")[2])
    assert statistics(ramp, "corrected")[2] == pytest.approx(np.mean(ramp[:76]) - np.mean(ramp[224:]), abs=1e-15)
    ramp = np.linspace(1, 0, 256)
    # 256 frames: edge 255 + 1 wraps to 0 under NumPy 2 only.
    assert math.isnan(statistics(ramp)[2])
    assert statistics(ramp, "toolkit-numpy1")[2] == statistics(ramp, "corrected")[2] == pytest.approx(
        np.mean(ramp[:65]) - np.mean(ramp[191:]), abs=1e-15)
    with pytest.raises(ValueError, match="decay must be one of"):
        statistics(ramp, "fixed")


def test_contour_matches_brute_force_distances():
    rng = np.random.default_rng(5)
    for _ in range(30):
        h, w = rng.integers(1, 40, 2)
        a = jf_cases._blobs(rng, 1, h, w)[0]
        b = rng.random((h, w)) < 0.05
        ca, cb = Contour.of_mask(a), Contour.of_mask(b)
        pa, pb = np.argwhere(boundary_map(a)), np.argwhere(boundary_map(b))
        assert len(ca) == len(pa) and len(cb) == len(pb)
        for radius in (0, 1, 2, 5, 8):
            d2 = ((pa[:, None, :] - pb[None, :, :]) ** 2).sum(-1) if len(pa) and len(pb) else np.zeros((len(pa), 0))
            expected = int(np.count_nonzero((d2 <= radius * radius).any(axis=1))) if d2.shape[1] else 0
            assert ca.count_within(cb, radius) == expected


def test_label_pair_scores_equal_per_pair_measures():
    rng = np.random.default_rng(6)
    gt = rng.integers(0, 4, (30, 41))
    pred = rng.integers(0, 6, (30, 41))
    void = rng.random(gt.shape) < 0.1
    j, f = label_pair_scores(gt, 3, pred, 5, void)
    for p in range(5):
        for g in range(3):
            assert j[p, g] == region_similarity(gt == g + 1, pred == p + 1, void)
            assert f[p, g] == contour_accuracy(gt == g + 1, pred == p + 1, void)
    jd, fd = label_pair_scores(gt, 3, pred, 5, void, diagonal=True)
    assert jd.tolist() == [j[k, k] for k in range(3)] and fd.tolist() == [f[k, k] for k in range(3)]


def test_shape_errors_name_both_shapes():
    with pytest.raises(ValueError, match=r"\(3, 4\) and prediction \(4, 3\)"):
        region_similarity(np.zeros((3, 4)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="void"):
        contour_accuracy(np.zeros((3, 4)), np.zeros((3, 4)), np.zeros((3, 5)))


# -- the toolkit's numbers ------------------------------------------------------------------

def test_frames_equal_the_toolkit():
    cases = jf_cases.frame_cases()
    assert sorted(name for name, *_ in cases) == sorted(NUMPY2["frames"])
    for name, gt, pred, void, th in cases:
        ref = NUMPY2["frames"][name]
        assert close(region_similarity(gt, pred, void), ref["J"]), name
        assert close(contour_accuracy(gt, pred, void, th), ref["F"]), name
        # (H, W) inputs give one float equal to the frame's value
        assert close(contour_accuracy(gt[0], pred[0], None if void is None else void[0], th), ref["F"][0]), name


@pytest.mark.parametrize("env,mode", [(NUMPY2, "toolkit"), (NUMPY1, "toolkit-numpy1")])
def test_statistics_equal_the_toolkit(env, mode):
    for name, values in jf_cases.statistics_cases():
        assert close(statistics(values, mode), env["statistics"][name]), name


def test_corrected_decay_differs_from_the_toolkit_only_from_256_frames():
    for name, values in jf_cases.statistics_cases():
        same = close(statistics(values, "corrected"), NUMPY2["statistics"][name])
        assert same == (len(values) < 256), name


def test_metrics_import_without_torch():
    code = ("import sys, cmpcv.metrics.jf, cmpcv.metrics.davis, cmpcv.metrics.mevis, "
            "cmpcv.data.davis17.format, cmpcv.data.mevis.format; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
