"""Does a shapes model pick one twin, or hedge by masking both? Read from a saved predictions file.

In the shapes set's ``relation`` and ``action`` samples the referred actor has an identical twin,
and the twin is the other referred instance of the same frame (instance ids 0 and 1,
docs/shapes.md). For each such sample the top predicted mask is classed by which ground-truth
masks it covers, at least half of each: ``own only`` (the right pick), ``twin only`` (the wrong
one), ``both`` (the hedge: mean IoU near 0.5, which P@0.5 hides or not by a hair) or ``neither``.

    python benchmarks/twin_coverage.py /tmp/demo_v3/predictions_shapes_test.jsonl.gz [more files]

Results: benchmarks/README.md, "Third session".
"""
from __future__ import annotations

import argparse
import collections
import json

import numpy as np
from pycocotools import mask as mask_utils

from cmpcv.predictions import read_predictions

TWIN_SUBSETS = ("relation", "action")


def decode(rle: dict) -> np.ndarray:
    return mask_utils.decode({"size": list(rle["size"]), "counts": rle["counts"].encode()}).astype(bool)


def twin_of(sample_id: str) -> str | None:
    """``..._i_0`` <-> ``..._i_1`` (the shapes set's sample ids end in the instance id)."""
    stem, _, instance = sample_id.rpartition("_i_")
    return f"{stem}_i_{1 - int(instance)}" if instance in ("0", "1") else None


def coverage(path: str) -> dict[str, dict[str, int]]:
    records = {r.sample_id: r for r in read_predictions(path).records}
    counts: dict[str, collections.Counter] = {g: collections.Counter() for g in TWIN_SUBSETS}
    for sid, rec in records.items():
        twin = records.get(twin_of(sid) or "")
        if rec.group not in TWIN_SUBSETS or twin is None or rec.gt is None or twin.gt is None:
            continue
        pred = decode(rec.masks[int(np.argmax(rec.scores))]) if rec.masks else None
        own, other = decode(rec.gt), decode(twin.gt)
        hit_own = pred is not None and (pred & own).sum() >= 0.5 * own.sum()
        hit_twin = pred is not None and (pred & other).sum() >= 0.5 * other.sum()
        kind = {(True, True): "both", (True, False): "own only", (False, True): "twin only",
                (False, False): "neither"}[(bool(hit_own), bool(hit_twin))]
        counts[rec.group][kind] += 1
    if not any(counts.values()):
        raise SystemExit(f"twin_coverage: {path} has no relation/action sample with its twin "
                         "(ids ending in _i_0 / _i_1, with ground truth): "
                         "not a shapes test-split predictions file?")
    return {g: dict(c) for g, c in counts.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("predictions", nargs="+", help="predictions_*.jsonl.gz written by cmpcv")
    for path in parser.parse_args(argv).predictions:
        print(path, json.dumps(coverage(path)))


if __name__ == "__main__":
    main()
