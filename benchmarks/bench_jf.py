"""J&F evaluation speed: cmpcv.metrics.davis / mevis vs the DAVIS-2017 toolkit's algorithm.

The baseline below is the toolkit's algorithm, restated here (not its code): per sequence it
reads the PNGs, builds one boolean mask per object and per proposal, and for every (proposal,
object) pair computes J over all frames and, frame by frame, F by drawing both one-pixel
boundaries over the full frame, dilating each with the disk and counting matches; then the
Hungarian assignment and the per-object statistics. The dilation is ``cv2.dilate`` as in the
toolkit when OpenCV is installed; otherwise ``--dilation scipy`` substitutes a disk dilation
built from ``scipy.ndimage.maximum_filter1d`` (identical output, several times slower than
OpenCV, so the ratio is then larger than against the real toolkit; the script says which it used).
Both sides read the same PNG files and must produce identical numbers (checked every run).

DAVIS-sized set (the unsupervised task as the toolkit sees it): ``--sequences`` sequences of
480x854, ``--min-frames``..``--max-frames`` frames, 1-4 objects each, 20 proposals (noisy,
shifted copies of the objects in shuffled ids plus background segments), a little void.
MeViS-sized split (``--mevis``): ``--videos`` videos with ``--expressions`` expressions in all
(one to three targets, some without any), ``--mevis-frames`` frames of ``--mevis-size``.

Run from the repository root:
  python benchmarks/bench_jf.py                       # 30 sequences of 50-100 frames
  python benchmarks/bench_jf.py --sequences 3 --min-frames 20 --max-frames 30   # quick
  python benchmarks/bench_jf.py --mevis --videos 50 --expressions 800
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cmpcv.data.davis17.format import VOID, write_davis17, write_results  # noqa: E402
from cmpcv.metrics.davis import DAVIS_KEYS, evaluate_davis  # noqa: E402
from cmpcv.metrics.mevis import evaluate_mevis  # noqa: E402

# -- synthetic sets -------------------------------------------------------------------------


def _ellipses(rng, t, h, w, scale=(0.08, 0.3)):
    """``(t, h, w)`` bool: one ellipse drifting and breathing over time."""
    yy, xx = np.ogrid[:h, :w]
    cy, cx = rng.uniform(0.2 * h, 0.8 * h), rng.uniform(0.2 * w, 0.8 * w)
    ry, rx = rng.uniform(*scale) * h, rng.uniform(*scale) * w
    vy, vx = rng.uniform(-2, 2, 2)
    out = np.zeros((t, h, w), bool)
    for i in range(t):
        s = 1 + 0.1 * math.sin(i / 7)
        out[i] = ((yy - cy - vy * i) / (ry * s)) ** 2 + ((xx - cx - vx * i) / (rx * s)) ** 2 <= 1
    return out


def _noisy(rng, mask):
    """A guess of ``mask``: shifted by up to 12 pixels, with a ragged edge."""
    dy, dx = rng.integers(-12, 13, 2)
    out = np.roll(mask, (int(dy), int(dx)), axis=(1, 2))
    edge = out ^ np.roll(out, 2, axis=2)
    return out ^ (edge & (rng.random(out.shape) < 0.3))


def make_davis_set(root: Path, sequences: int, frames: tuple[int, int], size=(480, 854), proposals=20, seed=0):
    rng = np.random.default_rng(seed)
    h, w = size
    gts, preds = {}, {}
    for s in range(sequences):
        t = int(rng.integers(frames[0], frames[1] + 1))
        objects = [_ellipses(rng, t, h, w) for _ in range(int(rng.integers(1, 5)))]
        gt = np.zeros((t, h, w), np.uint8)
        for k, m in enumerate(objects, start=1):
            gt[m] = k
        gt[0, 0, 0] = len(objects)
        ring = np.zeros_like(gt, bool)  # void: a thin band along one object's edge, as DAVIS marks it
        ring |= objects[0] ^ np.roll(objects[0], 2, axis=1)
        gt[ring & (rng.random(ring.shape) < 0.5)] = VOID
        pred = np.zeros((t, h, w), np.uint8)
        ids = rng.permutation(proposals) + 1
        for k in range(proposals - len(objects)):  # background segments first
            pred[_ellipses(rng, t, h, w, (0.05, 0.25))] = ids[len(objects) + k]
        for k, m in enumerate(objects):  # one object in five is missed (another segment instead)
            pred[_noisy(rng, m) if rng.random() > 0.2 else _ellipses(rng, t, h, w)] = ids[k]
        gts[f"seq{s:02d}"], preds[f"seq{s:02d}"] = gt, pred
    paths = write_davis17(root / "DAVIS", gts, split="val", atomic=False)
    write_results(root / "results", preds, atomic=False)
    return paths.root, root / "results", sum(len(g) for g in gts.values())


def make_mevis_set(root: Path, videos: int, expressions: int, frames: int, size=(480, 854), seed=1):
    from cmpcv.data.davis17.format import write_label_png
    from cmpcv.data.mevis.format import MeViSExpression, MeViSVideo, write_mask_dict, write_meta_expressions

    rng = np.random.default_rng(seed)
    h, w = size
    meta, masks = {}, {}
    per_video = np.full(videos, expressions // videos)
    per_video[: expressions % videos] += 1
    anno = 0
    for v in range(videos):
        objects = [_ellipses(rng, frames, h, w) for _ in range(int(rng.integers(2, 6)))]
        ids = list(range(anno, anno + len(objects)))
        anno += len(objects)
        for a, m in zip(ids, objects):
            masks[a] = [f if f.any() else None for f in m]
        exps = {}
        for e in range(int(per_video[v])):
            n = int(rng.choice([0, 1, 1, 1, 2, 3]))
            sel = sorted(rng.choice(len(objects), size=min(n, len(objects)), replace=False).tolist())
            exps[str(e)] = MeViSExpression(f"expression {e}", tuple(sel), tuple(ids[k] for k in sel))
            truth = np.zeros((frames, h, w), bool)
            for k in sel:
                truth |= objects[k]
            guess = _noisy(rng, truth) if sel else np.zeros_like(truth)
            for i in range(frames):
                write_label_png(root / "results" / f"vid{v:03d}" / str(e) / f"{i:05d}.png",
                                guess[i].astype(np.uint8) * 255, palette=None, atomic=False)
        meta[f"vid{v:03d}"] = MeViSVideo(frames=tuple(f"{i:05d}" for i in range(frames)), expressions=exps)
    write_meta_expressions(root / "meta_expressions.json", meta)
    write_mask_dict(root / "mask_dict.json", masks)
    return root / "meta_expressions.json", root / "mask_dict.json", root / "results"


# -- the toolkit's algorithm ----------------------------------------------------------------


class ToolkitAlgorithm:
    """Full-frame boundaries and one dilation per boundary per pair, as the toolkit computes F."""

    def __init__(self, dilation: str) -> None:
        self.dilation = dilation
        if dilation == "cv2":
            import cv2

            self._cv2 = cv2

    def read_prediction(self, path: Path) -> np.ndarray:
        """As eval_mevis.py reads a prediction: OpenCV greyscale (same foreground without it)."""
        if self.dilation == "cv2":
            return self._cv2.imread(str(path), self._cv2.IMREAD_GRAYSCALE) != 0
        from cmpcv.data.mevis.format import read_prediction_mask

        return read_prediction_mask(path)

    @staticmethod
    def disk(radius: int) -> np.ndarray:
        r = np.arange(-radius, radius + 1)
        return (r[:, None] ** 2 + r[None, :] ** 2 <= radius * radius).astype(np.uint8)

    def dilate(self, boundary: np.ndarray, radius: int) -> np.ndarray:
        if self.dilation == "cv2":
            return self._cv2.dilate(boundary.astype(np.uint8), self.disk(radius))
        from scipy.ndimage import maximum_filter1d

        rows = boundary.astype(np.uint8)
        out = np.zeros_like(rows)
        for dy in range(-radius, radius + 1):
            half = math.isqrt(radius * radius - dy * dy)
            band = maximum_filter1d(rows, 2 * half + 1, axis=1, mode="constant")
            if dy >= 0:
                out[: out.shape[0] - dy] |= band[dy:]
            else:
                out[-dy:] |= band[: out.shape[0] + dy]
        return out

    @staticmethod
    def boundary(seg: np.ndarray) -> np.ndarray:
        seg = seg.astype(bool)
        e, s, se = np.zeros_like(seg), np.zeros_like(seg), np.zeros_like(seg)
        e[:, :-1], s[:-1, :], se[:-1, :-1] = seg[:, 1:], seg[1:, :], seg[1:, 1:]
        b = (seg ^ e) | (seg ^ s) | (seg ^ se)
        b[-1, :] = seg[-1, :] ^ e[-1, :]
        b[:, -1] = seg[:, -1] ^ s[:, -1]
        b[-1, -1] = False
        return b

    def f_measure(self, pred, gt, void):
        radius = int(np.ceil(0.008 * np.linalg.norm(pred.shape)))
        keep = ~void if void is not None else np.ones(pred.shape, bool)
        fb, gb = self.boundary(pred & keep), self.boundary(gt & keep)
        fd, gd = self.dilate(fb, radius), self.dilate(gb, radius)
        n_fg, n_gt = fb.sum(), gb.sum()
        if n_fg == 0 and n_gt > 0:
            p, r = 1, 0
        elif n_fg > 0 and n_gt == 0:
            p, r = 0, 1
        elif n_fg == 0 and n_gt == 0:
            p, r = 1, 1
        else:
            p, r = np.sum(fb * gd) / float(n_fg), np.sum(gb * fd) / float(n_gt)
        return 0 if p + r == 0 else 2 * p * r / (p + r)

    @staticmethod
    def iou(gt, pred, void):
        keep = ~void if void is not None else True
        inter = np.sum(gt & pred & keep, axis=(-2, -1))
        union = np.sum((gt | pred) & keep, axis=(-2, -1))
        with np.errstate(divide="ignore", invalid="ignore"):
            j = inter / union
        if np.ndim(j) == 0:
            return 1.0 if union == 0 else float(j)
        j[union == 0] = 1
        return j

    @staticmethod
    def statistics(v):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=RuntimeWarning)
            ids = (np.round(np.linspace(1, len(v), 5) + 1e-10) - 1).astype(np.uint8)
            bins = [v[ids[i]:ids[i + 1] + 1] for i in range(4)]
            return np.nanmean(v), np.nanmean(v > 0.5), np.nanmean(bins[0]) - np.nanmean(bins[3])

    def evaluate_davis(self, davis_root: Path, results: Path) -> dict:
        from PIL import Image
        from scipy.optimize import linear_sum_assignment

        names = (davis_root / "ImageSets" / "2017" / "val.txt").read_text().split()
        stats = {"J": [], "F": []}
        for seq in names:
            files = sorted((davis_root / "Annotations_unsupervised" / "480p" / seq).glob("*.png"))
            gt = np.stack([np.array(Image.open(f)) for f in files]).astype(np.float64)
            void = gt == 255
            gt[void] = 0
            n = int(gt[0].max())
            objects = np.stack([gt == k for k in range(1, n + 1)])
            pred = np.stack([np.array(Image.open(results / seq / f.name)) for f in files]).astype(np.float64)
            count = max(int(pred.max()), n)
            j = np.zeros((count, n, len(files)))
            f = np.zeros_like(j)
            for jj in range(count):  # one proposal's masks at a time (20 at once need gigabytes)
                prop = pred == jj + 1
                for ii in range(n):
                    j[jj, ii] = self.iou(objects[ii], prop, void)
                    for t in range(len(files)):
                        f[jj, ii, t] = self.f_measure(prop[t], objects[ii, t], void[t])
            rows, cols = linear_sum_assignment(-(np.mean(j, axis=2) + np.mean(f, axis=2)) / 2)
            for ii in range(n):
                stats["J"].append(self.statistics(j[rows, cols][ii]))
                stats["F"].append(self.statistics(f[rows, cols][ii]))
        jm, jr, jd = (np.mean([s[i] for s in stats["J"]]) for i in range(3))
        fm, fr, fd = (np.mean([s[i] for s in stats["F"]]) for i in range(3))
        return dict(zip(DAVIS_KEYS, [(jm + fm) / 2, jm, jr, jd, fm, fr, fd]))

    def evaluate_mevis(self, meta_path: Path, mask_path: Path, results: Path) -> dict:
        import json

        from pycocotools import mask as mask_utils

        meta = json.loads(meta_path.read_text())["videos"]
        masks = json.loads(mask_path.read_text())
        out = []
        for vid, video in meta.items():
            for exp_id, exp in video["expressions"].items():
                first = self.read_prediction(results / vid / exp_id / f"{video['frames'][0]}.png")
                gt = np.zeros((len(video["frames"]), *first.shape), np.uint8)
                pred = np.zeros_like(gt)
                for t, name in enumerate(video["frames"]):
                    for a in exp["anno_id"]:
                        rle = masks[str(a)][t]
                        if rle:
                            gt[t] += mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()})
                    pred[t] = self.read_prediction(results / vid / exp_id / f"{name}.png")
                gt, pred = gt.astype(bool), pred.astype(bool)
                j = self.iou(gt, pred, None).mean()
                f = np.mean([self.f_measure(pred[t], gt[t], None) for t in range(len(gt))])
                out.append((j, f))
        j, f = np.mean([o[0] for o in out]), np.mean([o[1] for o in out])
        return {"J": j, "F": f, "J&F": (j + f) / 2}


# -- timing ---------------------------------------------------------------------------------


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=30)
    parser.add_argument("--min-frames", type=int, default=50)
    parser.add_argument("--max-frames", type=int, default=100)
    parser.add_argument("--mevis", action="store_true", help="time a MeViS-sized split instead")
    parser.add_argument("--videos", type=int, default=50)
    parser.add_argument("--expressions", type=int, default=800)
    parser.add_argument("--mevis-frames", type=int, default=30)
    parser.add_argument("--mevis-size", type=int, nargs=2, default=(480, 854))
    parser.add_argument("--dilation", choices=("cv2", "scipy"), default=None,
                        help="baseline dilation (default: cv2 when installed, as the toolkit)")
    parser.add_argument("--workers", type=int, default=1, help="processes for cmpcv (the baseline uses one)")
    parser.add_argument("--skip-baseline", action="store_true", help="time cmpcv only")
    args = parser.parse_args()
    dilation = args.dilation
    if dilation is None:
        try:
            import cv2  # noqa: F401

            dilation = "cv2"
        except ImportError:
            dilation = "scipy"
    baseline = ToolkitAlgorithm(dilation)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.mevis:
            (meta, masks, results), made = timed(lambda: make_mevis_set(
                tmp, args.videos, args.expressions, args.mevis_frames, tuple(args.mevis_size)))
            print(f"MeViS-sized split: {args.videos} videos, {args.expressions} expressions, "
                  f"{args.mevis_frames} frames of {args.mevis_size[0]}x{args.mevis_size[1]} (written in {made:.0f} s)")
            run_ours = lambda: evaluate_mevis(meta, masks, results, workers=args.workers)  # noqa: E731
            keys = ("J", "F", "J&F")
            run_baseline = lambda: baseline.evaluate_mevis(meta, masks, results)  # noqa: E731
        else:
            (davis, results, frames), made = timed(lambda: make_davis_set(
                tmp, args.sequences, (args.min_frames, args.max_frames)))
            print(f"DAVIS-sized set: {args.sequences} sequences, {frames} frames of 480x854, 20 proposals "
                  f"(written in {made:.0f} s)")
            run_ours = lambda: evaluate_davis(davis, results, workers=args.workers)  # noqa: E731
            keys = DAVIS_KEYS
            run_baseline = lambda: baseline.evaluate_davis(davis, results)  # noqa: E731
        ours, t_ours = timed(run_ours)
        print(f"cmpcv:    {t_ours:8.1f} s   (workers {args.workers})  " + "  ".join(f"{k} {ours[k]:.6f}" for k in keys))
        if args.skip_baseline:
            return
        ref, t_ref = timed(run_baseline)
        print(f"baseline: {t_ref:8.1f} s   (toolkit algorithm, dilation: {dilation})")
        # cmpcv again after the baseline (same files, warm cache for both); the best of the two counts
        again, t_again = timed(run_ours)
        print(f"cmpcv:    {t_again:8.1f} s   (second run)")
        t_ours = min(t_ours, t_again)
        worst = max(abs(float(ours[k]) - float(ref[k])) for k in keys)
        print(f"largest difference of the figures: {worst:.3g}; ratio {t_ref / t_ours:.1f}x")
        if worst > 1e-9:
            raise SystemExit("the two disagree")


if __name__ == "__main__":
    main()
