"""The predictions file: round trip, atomic writes, validation errors, COCO ground truth."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from cmpcv.metrics import evaluate_samples
from cmpcv.predictions import (
    PredictionWriter,
    encode_mask,
    load_coco_ground_truth,
    read_predictions,
    score_predictions,
)
from tests.metrics.reference import random_samples


def write(path, samples, with_gt=True, groups=None, meta=None):
    with PredictionWriter(path, meta=meta or {"dataset": "a2d", "split": "test"}) as w:
        for i, (gt, preds) in enumerate(samples):
            w.add(f"v_{i:03d}", np.stack([m for m, _ in preds]), [s for _, s in preds],
                  gt_mask=gt if with_gt else None, group=None if groups is None else groups[i])
    return path


@pytest.mark.parametrize("name", ["preds.jsonl", "preds.jsonl.gz"])
def test_round_trip_scores_like_evaluate_samples(tmp_path, name):
    samples = random_samples(21, n=30, tie_scores=True)
    groups = ["entity", "action", "relation"] * 10
    meta = {"dataset": "a2d", "checkpoint": "x.pt", "config": {"lr": 1e-4}}
    path = write(tmp_path / name, samples, groups=groups, meta=meta)
    preds = read_predictions(path)
    assert preds.meta["format"] == "cmpcv-predictions" and preds.meta["version"] == 1
    assert preds.meta["checkpoint"] == "x.pt" and preds.meta["config"] == {"lr": 1e-4}
    assert [r.number for r in preds.records] == list(range(1, 31))
    metrics, per_group = score_predictions(preds)
    assert metrics == evaluate_samples(samples)  # ids sort in input order
    subset = [s for s, g in zip(samples, groups) if g == "action"]
    assert per_group["action"] == evaluate_samples(subset)
    assert os.listdir(tmp_path) == [name]  # no temporary file left behind


def test_records_are_compact_rle(tmp_path):
    path = write(tmp_path / "p.jsonl", random_samples(22, n=2))
    record = json.loads(path.read_text().splitlines()[1])
    assert set(record) == {"sample_id", "size", "masks", "scores", "gt"}
    assert isinstance(record["masks"][0]["counts"], str) and record["masks"][0]["size"] == record["size"]


def test_exception_inside_the_writer_leaves_nothing(tmp_path):
    target = tmp_path / "p.jsonl"
    target.write_text("previous\n")
    with pytest.raises(RuntimeError):
        with PredictionWriter(target) as w:
            w.add("a", np.ones((2, 2), bool), 0.5)
            raise RuntimeError("boom")
    assert target.read_text() == "previous\n"
    assert os.listdir(tmp_path) == ["p.jsonl"]


def test_writer_rejects_bad_records(tmp_path):
    with PredictionWriter(tmp_path / "p.jsonl") as w:
        w.add("a", np.ones((2, 2), bool), 0.5)
        with pytest.raises(ValueError, match="duplicated sample id"):
            w.add("a", np.ones((2, 2), bool), 0.5)
        size_msg = r"mask 0 has size \[2, 2\], expected \[3, 3\] \(the ground-truth size\)"
        with pytest.raises(ValueError, match=size_msg):
            w.add("b", np.ones((2, 2), bool), 0.5, gt_mask=np.ones((3, 3), bool))
        with pytest.raises(ValueError, match="2 masks but 1 scores"):
            w.add("c", np.ones((2, 2, 2), bool), [0.5])


def lines_of_valid_file(tmp_path):
    path = write(tmp_path / "ok.jsonl", random_samples(23, n=3, shape=(4, 5)))
    return path.read_text().splitlines()


def corrupt(tmp_path, lines, name="bad.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_bad_json_names_file_and_record(tmp_path):
    lines = lines_of_valid_file(tmp_path)
    lines[2] = lines[2][:-5]
    path = corrupt(tmp_path, lines)
    with pytest.raises(ValueError, match=r"bad\.jsonl: record 2 \(line 3, sample id None\): invalid JSON"):
        read_predictions(path)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda r: r.pop("scores"), r"record 2 \(line 3, sample id 'v_001'\): missing key 'scores'"),
        (lambda r: r["masks"][0].update(size=[5, 4]), r"sample id 'v_001'\): mask 0: size \[5, 4\] differs"),
        (lambda r: r["gt"].update(size=[1, 1]), r"sample id 'v_001'\): ground truth: size \[1, 1\] differs"),
        (lambda r: r.update(masks=[], scores=[]), r"sample id 'v_001'\): 'masks' must be a non-empty list"),
        (lambda r: r.update(scores=r["scores"][:-1] + ["x"]), r"sample id 'v_001'\): 'scores' must be"),
        (lambda r: r.update(sample_id="v_000"),
         r"record 2 .*'v_000'\): duplicated sample id \(first in record 1\)"),
    ],
)
def test_malformed_records(tmp_path, edit, message):
    lines = lines_of_valid_file(tmp_path)
    record = json.loads(lines[2])
    edit(record)
    lines[2] = json.dumps(record)
    with pytest.raises(ValueError, match=message):
        read_predictions(corrupt(tmp_path, lines))


def test_not_a_predictions_file(tmp_path):
    path = corrupt(tmp_path, ['{"images": []}'])
    with pytest.raises(ValueError, match="header: not a cmpcv predictions file"):
        read_predictions(path)


def coco_ground_truth(tmp_path, samples, ids):
    images, annotations = [], []
    for k, ((gt, _), sid) in enumerate(zip(samples, ids), start=1):
        images.append({"id": sid, "height": gt.shape[0], "width": gt.shape[1]})
        rle = encode_mask(gt)
        annotations.append({"id": k, "image_id": sid, "category_id": 1, "segmentation": rle,
                            "area": float(gt.sum()), "iscrowd": 0})
    path = tmp_path / "gt.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": 1, "name": "dummy_class"}]}))
    return path


def test_coco_ground_truth_file_orders_samples_by_sorted_id(tmp_path):
    samples = random_samples(24, n=12, tie_scores=True)
    ids = [f"v_{c}_f_1" for c in "lkjihgfedcba"]  # GT order is the reverse of sorted order
    gt_path = coco_ground_truth(tmp_path, samples, ids)
    with PredictionWriter(tmp_path / "p.jsonl") as w:
        for (gt, preds), sid in zip(samples, ids):
            w.add(sid, [m for m, _ in preds], [s for _, s in preds])
    preds = read_predictions(tmp_path / "p.jsonl")
    with pytest.raises(ValueError, match="no 'gt' in the record"):
        score_predictions(preds)
    metrics, per_group = score_predictions(preds, load_coco_ground_truth(gt_path))
    assert metrics == evaluate_samples(samples[::-1]) and per_group == {}


def test_mismatch_against_a_ground_truth_file(tmp_path):
    samples = random_samples(25, n=3, shape=(4, 5))
    gt_path = coco_ground_truth(tmp_path, samples, ["a", "b", "c"])
    gt = load_coco_ground_truth(gt_path)
    with PredictionWriter(tmp_path / "unknown.jsonl") as w:
        for sid, (_, preds) in zip(["a", "b", "zz"], samples):
            w.add(sid, [m for m, _ in preds], [s for _, s in preds])
    with pytest.raises(ValueError, match=r"record 3 \(sample id 'zz'\): unknown sample id"):
        score_predictions(read_predictions(tmp_path / "unknown.jsonl"), gt)
    with PredictionWriter(tmp_path / "missing.jsonl") as w:
        w.add("a", [m for m, _ in samples[0][1]], [s for _, s in samples[0][1]])
    with pytest.raises(ValueError, match=r"sample id 'b' of the ground truth has no prediction \(2 such"):
        score_predictions(read_predictions(tmp_path / "missing.jsonl"), gt)
    with PredictionWriter(tmp_path / "size.jsonl") as w:
        for sid in "abc":
            w.add(sid, np.ones((5, 4), bool), 1.0)
    with pytest.raises(ValueError, match=r"record 1 \(sample id 'a'\): size \[5, 4\] differs"):
        score_predictions(read_predictions(tmp_path / "size.jsonl"), gt)


def test_coco_ground_truth_with_two_annotations_per_image(tmp_path):
    samples = random_samples(26, n=2, shape=(4, 5))
    path = coco_ground_truth(tmp_path, samples, ["a", "b"])
    data = json.loads(path.read_text())
    data["annotations"][1]["image_id"] = "a"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"annotations\[1\] \(image id 'a'\): a second annotation"):
        load_coco_ground_truth(path)


# ------------------------------------------------------------------------------ bad input
def test_rle_that_does_not_cover_its_mask_is_rejected(tmp_path):
    """pycocotools' merge(intersect=True) never returns on such an RLE: it must not get there."""
    lines = lines_of_valid_file(tmp_path)
    record = json.loads(lines[2])
    record["masks"][0]["counts"] = "1"  # one run of 1 pixel for a 4x5 mask
    lines[2] = json.dumps(record)
    with pytest.raises(ValueError, match=r"bad\.jsonl: record 2 \(line 3, sample id 'v_001'\): mask 0: "
                                         r"the counts cover 1 pixels, but size \[4, 5\] has 20"):
        read_predictions(corrupt(tmp_path, lines))
    record["masks"][0]["counts"] = json.loads(lines_of_valid_file(tmp_path)[2])["masks"][0]["counts"]
    record["gt"]["counts"] = "1o"  # ends inside a run
    lines[2] = json.dumps(record)
    with pytest.raises(ValueError, match=r"sample id 'v_001'\): ground truth: the counts string ends"):
        read_predictions(corrupt(tmp_path, lines))


def test_zero_size_is_rejected(tmp_path):
    lines = lines_of_valid_file(tmp_path)
    record = json.loads(lines[1])
    record.update(size=[0, 5])
    lines[1] = json.dumps(record)
    with pytest.raises(ValueError, match=r"record 1 .*'size' must be \[H, W\] with positive integers"):
        read_predictions(corrupt(tmp_path, lines))


@pytest.mark.parametrize("case, message", [
    ("truncated", r"t\.jsonl\.gz: the gzip data ends early, after line \d+ \(a truncated"),
    ("not_gzip", r"n\.jsonl\.gz: not a readable gzip file"),
    ("gzip_named_plain", r"g\.jsonl: line 1 is not UTF-8 text \(it is gzip-compressed: name it \.jsonl\.gz\)"),
    ("folder", r"predictions file .*d\.jsonl is not a file"),
    ("missing", r"predictions file .*m\.jsonl does not exist"),
])
def test_unreadable_files_are_one_line_naming_the_file(tmp_path, case, message):
    import gzip

    src = write(tmp_path / "ok.jsonl", random_samples(27, n=40, shape=(30, 40)))
    data = src.read_bytes()
    path = tmp_path / {"truncated": "t.jsonl.gz", "not_gzip": "n.jsonl.gz", "gzip_named_plain": "g.jsonl",
                       "folder": "d.jsonl", "missing": "m.jsonl"}[case]
    if case == "truncated":
        packed = gzip.compress(data)
        path.write_bytes(packed[: len(packed) // 2])
    elif case == "not_gzip":
        path.write_bytes(data)
    elif case == "gzip_named_plain":
        path.write_bytes(gzip.compress(data))
    elif case == "folder":
        path.mkdir()
    with pytest.raises((ValueError, FileNotFoundError), match=message) as info:
        read_predictions(path)
    assert "\n" not in str(info.value)


def test_coco_ground_truth_rles_are_checked(tmp_path):
    samples = random_samples(28, n=2, shape=(4, 5))
    path = coco_ground_truth(tmp_path, samples, ["a", "b"])
    data = json.loads(path.read_text())
    data["annotations"][1]["segmentation"]["counts"] = "jn02"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"gt\.json: annotations\[1\] \(image id 'b'\): segmentation: "
                                         r"the counts cover \d+ pixels, but size \[4, 5\] has 20"):
        load_coco_ground_truth(path)
    # Uncompressed counts (a list of runs) that do not cover the image.
    data["annotations"][1]["segmentation"] = {"size": [4, 5], "counts": [3, 2]}
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"annotations\[1\] \(image id 'b'\): segmentation: the counts cover 5 "):
        load_coco_ground_truth(path)
    # Uncompressed counts that do cover it are read (and equal the compressed form of the mask).
    mask = np.zeros((4, 5), bool)
    mask[1:3, 2] = True  # column-major: pixels 2 * 4 + 1 and + 2, so runs 9, 2, 9
    data["annotations"][1]["segmentation"] = {"size": [4, 5], "counts": [9, 2, 9]}
    path.write_text(json.dumps(data))
    assert load_coco_ground_truth(path)["b"] == encode_mask(mask)


def test_rles_given_by_code_are_checked(tmp_path):
    with PredictionWriter(tmp_path / "p.jsonl") as w:
        with pytest.raises(ValueError, match=r"sample 'a', mask 0: the counts cover 1 pixels"):
            w.add("a", [{"size": [4, 5], "counts": "1"}], [0.5])
        w.add("a", np.ones((4, 5), bool), 0.5)
    preds = read_predictions(tmp_path / "p.jsonl")
    with pytest.raises(ValueError, match=r"ground truth of sample 'a': the counts cover 1 pixels"):
        score_predictions(preds, {"a": {"size": [4, 5], "counts": "1"}})
