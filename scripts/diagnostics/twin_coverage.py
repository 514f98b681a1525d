"""Does a shapes model pick one twin, or hedge by masking both? Read from a saved predictions file.

In the shapes set's ``relation`` and ``action`` samples the referred actor has an identical twin,
and the twin is the other referred instance of the same frame (instance ids 0 and 1,
docs/shapes.md). For each such sample the top predicted mask is classed by which ground-truth
masks it covers, at least half of each: ``own only`` (the right pick), ``twin only`` (the wrong
one), ``both`` (the hedge: mean IoU near 0.5, which P@0.5 hides or not by a hair) or ``neither``.

    python scripts/diagnostics/twin_coverage.py /tmp/demo_v3/predictions_shapes_test.jsonl.gz [more files]
    python scripts/diagnostics/twin_coverage.py --samples <data>/shapes/shapes_samples.json <predictions>

Output: one line per file, its path and a JSON object ``subset -> {kind: count, "mean_iou": x100}``
(subsets sorted; a kind that never occurs is left out). ``--samples`` (the set's sample list)
adds the ``attribute`` pairs, split by what tells the two actors apart (``attribute:colour``,
``attribute:size``). What it found is summarised in docs/shapes.md ("What still varies", "Recipe
history").
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's cmpcv

from cmpcv.metrics.iou import mttr_sample_iou  # noqa: E402
from cmpcv.predictions import read_predictions  # noqa: E402

TWIN_SUBSETS = ("relation", "action")


def decode(rle: dict) -> np.ndarray:
    return mask_utils.decode({"size": list(rle["size"]), "counts": rle["counts"].encode()}).astype(bool)


def twin_of(sample_id: str) -> str | None:
    """``..._i_0`` <-> ``..._i_1`` (the shapes set's sample ids end in the instance id)."""
    stem, _, instance = sample_id.rpartition("_i_")
    return f"{stem}_i_{1 - int(instance)}" if instance in ("0", "1") else None


def load_samples(path: str) -> dict[str, dict]:
    """``sample_id -> sample`` from a shapes set's ``shapes_samples.json``; a clear stop otherwise."""
    try:
        entries = json.loads(Path(path).read_text())
        return {s["sample_id"]: s for s in entries}
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise SystemExit(f"twin_coverage: --samples {path} is not a readable shapes sample list "
                         f"(<data>/shapes/shapes_samples.json): {err!r}") from None


def pair_kind(sample: dict) -> str:
    """``attribute:colour`` or ``attribute:size``: what tells an attribute sample's pair apart."""
    actors = sample["actors"]
    same_colour = actors[sample["referent"]]["colour"] == actors[sample["twin"]]["colour"]
    return "attribute:size" if same_colour else "attribute:colour"


def coverage(path: str, samples: dict[str, dict] | None = None) -> dict[str, dict[str, float]]:
    records = {r.sample_id: r for r in read_predictions(path).records}
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    ious: dict[str, list[float]] = collections.defaultdict(list)
    for sid, rec in records.items():
        twin = records.get(twin_of(sid) or "")
        if twin is None or rec.gt is None or twin.gt is None:
            continue
        if rec.group in TWIN_SUBSETS:
            group = rec.group
        elif rec.group == "attribute" and samples is not None:
            sample = samples.get(sid)
            if sample is None or sample.get("subset") != rec.group:
                raise SystemExit(f"twin_coverage: sample {sid} of {path} is "
                                 + ("not in the --samples list" if sample is None else
                                    f"an {rec.group} sample there but {sample.get('subset')!r} in --samples")
                                 + ": is the list from the set these predictions were made on?")
            group = pair_kind(sample)
        else:
            continue
        pred = decode(rec.masks[int(np.argmax(rec.scores))]) if rec.masks else np.zeros(rec.size, bool)
        own, other = decode(rec.gt), decode(twin.gt)
        hit_own = (pred & own).sum() >= 0.5 * own.sum()
        hit_twin = (pred & other).sum() >= 0.5 * other.sum()
        kind = {(True, True): "both", (True, False): "own only", (False, True): "twin only",
                (False, False): "neither"}[(bool(hit_own), bool(hit_twin))]
        counts[group][kind] += 1
        # The evaluator's own per-sample IoU (MTTR protocol), so each kind's mean matches the tables.
        ious[group].append(float(mttr_sample_iou(np.array([(pred & own).sum()]), np.array([(pred | own).sum()]))[0]))
    if not any(counts.values()):
        raise SystemExit(f"twin_coverage: {path} has no relation/action sample with its twin "
                         "(ids ending in _i_0 / _i_1, with ground truth): "
                         "not a shapes test-split predictions file?")
    return {g: {**c, "mean_iou": round(100 * float(np.mean(ious[g])), 1)} for g, c in sorted(counts.items())}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("predictions", nargs="+", help="predictions_*.jsonl.gz written by cmpcv")
    parser.add_argument("--samples", default=None,
                        help="the set's shapes_samples.json: also split the attribute pairs by colour / size")
    args = parser.parse_args(argv)
    samples = load_samples(args.samples) if args.samples else None
    for path in args.predictions:
        print(path, json.dumps(coverage(path, samples)))


if __name__ == "__main__":
    main()
