"""How well are the actors that a shapes model did find outlined? Read from a saved predictions file.

A sample's mean IoU mixes two things: whether the model picked the right actor, and how closely
its mask follows that actor's outline. This script isolates the second. It keeps the samples whose
top mask is a hit (IoU ≥ 0.5 with the referred actor) and covers less than half of the other
referred actor of the same frame (its pair partner: the twin in `relation` and `action`), and
reports, per size of the referred actor, their count, mean IoU, precision (the share of the mask
on the actor) and recall (the share of the actor under the mask). A model that always picks right
but draws blobs scores low here; one that hedges between the pair drops out of it.

    python scripts/diagnostics/mask_quality.py --samples <data>/shapes/shapes_samples.json <predictions> [more]

Output: one line per file, its path and a JSON object ``size -> {n, iou, precision, recall}``
(×100). What it found is summarised in docs/shapes.md ("Recipe history").
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE)]  # this checkout's cmpcv; the sibling twin_coverage

from cmpcv.metrics.iou import mttr_sample_iou  # noqa: E402
from cmpcv.predictions import read_predictions  # noqa: E402
from twin_coverage import decode, load_samples, twin_of  # noqa: E402  (a sibling script, not a package)

HIT = 0.5


def quality(path: str, samples: dict[str, dict]) -> dict[str, dict[str, float]]:
    rows: dict[str, list[tuple[float, float, float]]] = collections.defaultdict(list)
    records = {r.sample_id: r for r in read_predictions(path).records}
    for rec in records.values():
        if rec.gt is None:
            continue
        sample = samples.get(rec.sample_id)
        if sample is None:
            raise SystemExit(f"mask_quality: sample {rec.sample_id} of {path} is not in the --samples list: "
                             "is the list from the set these predictions were made on?")
        pred = decode(rec.masks[int(np.argmax(rec.scores))]) if rec.masks else np.zeros(rec.size, bool)
        gt = decode(rec.gt)
        inter, union = float((pred & gt).sum()), float((pred | gt).sum())
        # The evaluator's own per-sample IoU, so the figures match its tables.
        iou = float(mttr_sample_iou(np.array([inter]), np.array([union]))[0])
        if inter == 0 or iou < HIT:
            continue
        partner = records.get(twin_of(rec.sample_id) or "")
        if partner is not None and partner.gt is not None:
            other = decode(partner.gt)
            if (pred & other).sum() >= 0.5 * other.sum():
                continue
        size = sample["actors"][sample["referent"]]["size"]
        rows[size].append((iou, inter / pred.sum(), inter / gt.sum()))
    if not rows:
        raise SystemExit(f"mask_quality: no sample of {path} has a hit (IoU >= {HIT})")
    out = {}
    for size, values in sorted(rows.items()):
        iou, precision, recall = (100 * np.array(values)).mean(0)
        out[size] = {"n": len(values), "iou": round(float(iou), 1), "precision": round(float(precision), 1),
                     "recall": round(float(recall), 1)}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("predictions", nargs="+", help="predictions_*.jsonl.gz written by cmpcv on a shapes set")
    parser.add_argument("--samples", required=True, help="the set's shapes_samples.json")
    args = parser.parse_args(argv)
    samples = load_samples(args.samples)
    for path in args.predictions:
        print(path, json.dumps(quality(path, samples)))


if __name__ == "__main__":
    main()
