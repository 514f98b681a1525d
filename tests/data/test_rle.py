import numpy as np
import pytest
from pycocotools import mask as mask_utils

from cmpcv.data.rle import RLEError, check_rle, rle_counts


def _encode(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}


def _runs_to_mask(runs: np.ndarray, h: int, w: int) -> np.ndarray:
    values = np.arange(runs.size) % 2
    return np.repeat(values, runs).reshape(w, h).T.astype(np.uint8)


@pytest.mark.parametrize("shape", [(48, 64), (1, 1), (300, 500), (7, 3)])
def test_runs_decode_to_pycocotools_mask(shape):
    rng = np.random.default_rng(sum(shape))
    for density in (0.0, 0.02, 0.5, 0.98, 1.0):
        mask = rng.random(shape) < density
        rle = _encode(mask)
        runs = rle_counts(rle["counts"])
        assert runs.sum() == shape[0] * shape[1]
        np.testing.assert_array_equal(_runs_to_mask(runs, *shape), mask_utils.decode(
            {"size": rle["size"], "counts": rle["counts"].encode()}))
        assert check_rle(rle, "mask") == rle


def test_uncovered_counts_are_rejected_before_pycocotools():
    # "jn02" codes runs far short of 48 * 64: pycocotools' merge(intersect=True) never returns.
    with pytest.raises(RLEError, match=r"preds.jsonl line 3: the counts cover .* but size \[48, 64\] has 3072"):
        check_rle({"size": [48, 64], "counts": "jn02"}, "preds.jsonl line 3")


@pytest.mark.parametrize("counts, message", [
    ("0" * 3 + "\x7f", "not an RLE code"),
    ("1o", "ends in the middle of a run"),
    ("oooooooo1", "characters"),
    ("2@", "negative run"),
])
def test_malformed_counts(counts, message):
    with pytest.raises(RLEError, match=message):
        check_rle({"size": [1, 2], "counts": counts}, "x")


def test_size_and_type_errors():
    rle = _encode(np.ones((4, 5), bool))
    with pytest.raises(RLEError, match=r"does not match the expected \[5, 4\]"):
        check_rle(rle, "x", size=(5, 4))
    with pytest.raises(RLEError, match="compressed RLE string"):
        check_rle({"size": [1, 1], "counts": [0, 1]}, "x")
    with pytest.raises(RLEError, match="'size' and 'counts'"):
        check_rle({"counts": "1"}, "x")
