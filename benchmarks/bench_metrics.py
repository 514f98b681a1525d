"""Evaluator speed: cmpcv.metrics.evaluate_samples vs the pycocotools path, as a ratio.

The set has the A2D test shape: 3,800 samples of 320x568 with 3 scored masks each. Both sides
start from the same dense numpy masks and must produce identical numbers. The baseline is what
the published evaluation runs: encode RLEs, build COCO objects, COCOeval (segm, useCats=0) and
MTTR's P@K/IoU loop (tests/metrics/reference.py). The two are run alternately and each keeps its
best time. The baseline is also split so that its RLE encoding can be left out of the ratio
(the case of predictions that already arrive as RLEs).

To keep memory small the 3,800 samples cycle over 200 distinct mask sets (145 MB, far larger than
the CPU caches, so reuse does not make counting cheaper).

Run from the repository root:  python benchmarks/bench_metrics.py [--repeats 3] [--samples 3800]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cmpcv.metrics import evaluate_samples  # noqa: E402
from tests.metrics.reference import build_coco, coco_eval_stats, mttr_precision_iou  # noqa: E402


def make_pool(distinct: int, shape=(320, 568), preds: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    pool = []
    for _ in range(distinct):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ry, rx = rng.uniform(3, h / 2), rng.uniform(3, w / 3)
        gt = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        masks = []
        for _ in range(preds):
            dy, dx = rng.normal(0, ry / 4), rng.normal(0, rx / 4)
            scale = rng.uniform(0.7, 1.3)
            p = ((yy - cy - dy) / (ry * scale)) ** 2 + ((xx - cx - dx) / (rx * scale)) ** 2 <= 1
            masks.append((p, float(rng.random())))
        pool.append((gt, masks))
    return pool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3800)
    parser.add_argument("--distinct", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    pool = make_pool(args.distinct)
    samples = [pool[i % len(pool)] for i in range(args.samples)]
    import torch  # noqa: F401  (the baseline needs it; keep its import time out of the timings)

    best = {"cmpcv": float("inf"), "baseline": float("inf"), "baseline_encode": float("inf"),
            "baseline_no_encode": float("inf")}
    ours = ref = None
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        ours = evaluate_samples(samples)
        best["cmpcv"] = min(best["cmpcv"], time.perf_counter() - t0)

        t0 = time.perf_counter()
        coco_gt, dets = build_coco(samples)
        t1 = time.perf_counter()
        ref = mttr_precision_iou(coco_gt, dets)
        stats = coco_eval_stats(coco_gt, dets)
        t2 = time.perf_counter()
        for k, key in enumerate(("mAP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large")):
            ref[key] = float(stats[k])
        best["baseline"] = min(best["baseline"], t2 - t0)
        best["baseline_encode"] = min(best["baseline_encode"], t1 - t0)
        best["baseline_no_encode"] = min(best["baseline_no_encode"], t2 - t1)

    diff = max(abs(ours[k] - ref[k]) for k in ref)
    print(f"samples={args.samples} (320x568, 3 masks each), repeats={args.repeats}, best times:")
    print(f"  cmpcv evaluate_samples          {best['cmpcv']:.3f} s")
    print(f"  pycocotools path (all)          {best['baseline']:.3f} s "
          f"(RLE encoding alone {best['baseline_encode']:.3f} s, the rest alone "
          f"{best['baseline_no_encode']:.3f} s)")
    print(f"  speed-up vs whole baseline      {best['baseline'] / best['cmpcv']:.1f}x")
    print(f"  speed-up vs baseline w/o encode {best['baseline_no_encode'] / best['cmpcv']:.1f}x")
    print(f"  max |difference| of the metrics {diff:.1e}")
    print("  metrics:", {k: round(v, 4) for k, v in ours.items()})
    if diff > 1e-9:
        raise SystemExit("the two evaluators disagree")


if __name__ == "__main__":
    main()
