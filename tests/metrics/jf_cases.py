"""The J&F test inputs: per-frame mask pairs, per-frame value series, a DAVIS-2017 tree with
results, and a MeViS split with results, all generated deterministically (fixed seeds).

``tests/metrics/golden/jf_toolkit.json`` holds what the DAVIS-2017 toolkit and MeViS's
evaluation computed on exactly these inputs (see ``tests/metrics/golden/README.md``); its
``inputs_digest`` is :func:`inputs_digest`, so a change here (or in NumPy's random streams)
shows up as a digest mismatch instead of as wrong numbers.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

# Sizes where the tolerance radius ceil(0.008 * diagonal) changes: 1x1 -> 1, 37x53 -> 1,
# 120x200 -> 2, 480x854 -> 8.
_SIZES = [(1, 1), (1, 7), (7, 1), (3, 5), (37, 53), (120, 200)]


def _blobs(rng: np.random.Generator, t: int, h: int, w: int, count: int = 2) -> np.ndarray:
    """``(t, h, w)`` bool: a few ellipses drifting over time plus a little noise."""
    yy, xx = np.mgrid[:h, :w]
    out = np.zeros((t, h, w), bool)
    for _ in range(count):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ry, rx = rng.uniform(1, h / 2 + 1), rng.uniform(1, w / 2 + 1)
        vy, vx = rng.uniform(-2, 2, 2)
        for i in range(t):
            out[i] |= ((yy - cy - vy * i) / ry) ** 2 + ((xx - cx - vx * i) / rx) ** 2 <= 1
    out ^= rng.random(out.shape) < 0.01
    return out


def frame_cases() -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray | None, float]]:
    """``(name, gt, pred, void, bound_th)``, masks ``(T, H, W)`` bool."""
    rng = np.random.default_rng(20)
    cases = []
    for h, w in _SIZES:
        z, o = np.zeros((1, h, w), bool), np.ones((1, h, w), bool)
        cases += [(f"empty-empty-{h}x{w}", z, z, None, 0.008), (f"empty-full-{h}x{w}", z, o, None, 0.008),
                  (f"full-empty-{h}x{w}", o, z, None, 0.008), (f"full-full-{h}x{w}", o, o, None, 0.008)]
        corners = np.zeros((4, h, w), bool)
        for i, (y, x) in enumerate([(0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1)]):
            corners[i, y, x] = True
        centre = np.zeros((4, h, w), bool)
        centre[:, h // 2, w // 2] = True
        cases += [(f"corner-pixels-vs-centre-{h}x{w}", centre, corners, None, 0.008),
                  (f"corner-pixels-vs-empty-{h}x{w}", np.zeros_like(corners), corners, None, 0.008)]
        if h > 2 and w > 2:
            border = np.zeros((4, h, w), bool)
            border[0, 0, :] = True          # top row
            border[1, :, -1] = True         # right column
            border[2, -1, :] = True         # bottom row
            border[3, :h // 2, : w // 2] = True  # top-left block touching two borders
            cases.append((f"border-{h}x{w}", border, _blobs(rng, 4, h, w), None, 0.008))
            gt, pred = _blobs(rng, 3, h, w), _blobs(rng, 3, h, w)
            cases.append((f"blobs-{h}x{w}", gt, pred, None, 0.008))
            cases.append((f"blobs-void-{h}x{w}", gt, pred, rng.random(gt.shape) < 0.05, 0.008))
            cases.append((f"blobs-radius3-{h}x{w}", gt, pred, None, 3))
            cases.append((f"noise-{h}x{w}", rng.random((2, h, w)) < 0.5, rng.random((2, h, w)) < 0.3, None, 0.008))
    gt, pred = _blobs(rng, 2, 480, 854, 3), _blobs(rng, 2, 480, 854, 3)
    cases.append(("blobs-480x854", gt, pred, None, 0.008))
    void = np.zeros_like(gt)
    void[:, 100:300, 200:500] = True
    cases.append(("blobs-void-box-480x854", gt, pred, void, 0.008))
    return cases


def statistics_cases() -> list[tuple[str, np.ndarray]]:
    """``(name, per-frame values)``; lengths 1, 2, 3, 5, 100, 254 .. 257, 300, 511, 512, 600."""
    rng = np.random.default_rng(21)
    cases = []
    for n in (1, 2, 3, 5, 100, 254, 255, 256, 257, 300, 511, 512, 600):
        values = rng.random(n)
        cases.append((f"uniform-{n}", values))
        trend = np.clip(np.linspace(1.0, 0.2, n) + rng.normal(0, 0.05, n), 0, 1)
        cases.append((f"trend-{n}", trend))
        with_nan = trend.copy()
        with_nan[rng.random(n) < 0.1] = np.nan
        cases.append((f"nan-{n}", with_nan))
    cases.append(("exactly-half", np.array([0.5, 0.5000001, 0.4999999, 0.5])))
    return cases


# DAVIS tree: name -> (frames, objects, proposals, kind). Frames of 24 x 40 keep 1,000+ PNGs quick.
DAVIS_SEQUENCES = {
    "perm": (12, 3, 4, "permuted"),       # proposal ids a permutation of the objects
    "fewer": (8, 3, 1, "permuted"),       # fewer proposals than objects: padded with empty ones
    "void": (10, 2, 3, "void"),           # void (255) pixels in the ground truth
    "late": (9, 2, 2, "late-object"),     # object 3 appears after the first frame: not scored
    "twenty": (6, 2, 20, "permuted"),     # the most proposals the unsupervised task allows
    "empty": (7, 2, 0, "permuted"),       # no prediction at all
    "one": (1, 1, 1, "permuted"),
    "two": (2, 2, 2, "permuted"),
    "long255": (255, 2, 2, "permuted"),
    "long256": (256, 1, 2, "permuted"),
    "long300": (300, 2, 3, "permuted"),
}
DAVIS_SHAPE = (24, 40)


def _labels(masks: list[np.ndarray], shape) -> np.ndarray:
    out = np.zeros(shape, np.uint8)
    for k, m in enumerate(masks, start=1):
        out[m] = k
    return out


def davis_arrays(seed: int = 22) -> dict:
    """``{"gt": {seq: (T, H, W) uint8}, "unsupervised": {...}, "semi-supervised": {...}}``."""
    rng = np.random.default_rng(seed)
    gt, unsup, semi = {}, {}, {}
    h, w = DAVIS_SHAPE
    for seq, (t, n_obj, n_prop, kind) in DAVIS_SEQUENCES.items():
        n_gt = n_obj + 1 if kind == "late-object" else n_obj
        objects = [_blobs(rng, t, h, w, 1) for _ in range(n_gt)]
        if kind == "late-object":
            objects[-1][0] = False
        labels = _labels(objects, (t, h, w))
        if kind == "void":
            labels[rng.random(labels.shape) < 0.08] = 255
        labels[0, 0, 0] = n_obj  # the first frame always shows the largest scored id
        gt[seq] = labels
        # Proposals: noisy copies of the objects in a shuffled order, then unrelated blobs.
        order = rng.permutation(n_prop)
        props = []
        for p in range(n_prop):
            src = order[p]
            if src < n_gt:
                props.append(objects[src] ^ (rng.random((t, h, w)) < 0.05))
            else:
                props.append(_blobs(rng, t, h, w, 1))
        unsup[seq] = _labels(props, (t, h, w))
        semi[seq] = _labels([objects[k] ^ (rng.random((t, h, w)) < 0.05) for k in range(min(n_prop, n_obj))],
                            (t, h, w))
    return {"gt": gt, "unsupervised": unsup, "semi-supervised": semi}


def write_davis_case(root: Path, seed: int = 22) -> dict[str, Path]:
    """Write the DAVIS tree (both tasks' annotations, ``val`` image set) and the two results
    folders under ``root``; returns ``{"davis": ..., "unsupervised": ..., "semi-supervised": ...}``."""
    from cmpcv.data.davis17.format import write_davis17, write_results

    arrays = davis_arrays(seed)
    root = Path(root)
    for task in ("unsupervised", "semi-supervised"):
        write_davis17(root / "DAVIS", arrays["gt"], split="val", task=task, atomic=False)
        write_results(root / f"results-{task}", arrays[task], atomic=False)
    return {"davis": root / "DAVIS", "unsupervised": root / "results-unsupervised",
            "semi-supervised": root / "results-semi-supervised"}


def mevis_arrays(seed: int = 23) -> dict:
    """A small MeViS split: ``videos`` (meta), ``masks`` ({anno_id: [mask or None]}), ``preds``
    ({video: {exp_id: (T, H, W) uint8}}) and ``modes`` ({video: {exp_id: PNG mode}})."""
    from cmpcv.data.mevis.format import MeViSExpression, MeViSVideo

    rng = np.random.default_rng(seed)
    specs = {  # video: (frames, (h, w), objects, {exp_id: anno indices}, prediction modes)
        "vid_a": (6, (30, 45), 3, {"0": [0], "1": [0, 1], "2": [], "3": [1, 2]}, "L"),
        "vid_b": (5, (28, 36), 2, {"0": [1], "1": []}, "P"),
        "vid_missing": (4, (20, 20), 1, {"0": [0], "1": [0]}, "L"),
        "vid_c": (7, (33, 31), 2, {"0": [0, 1], "1": [1], "2": [0]}, "RGB"),
    }
    videos, masks, preds, modes = {}, {}, {}, {}
    anno = 0
    for vid, (t, (h, w), n_obj, exps, mode) in specs.items():
        ids = list(range(anno, anno + n_obj))
        anno += n_obj
        objects = [_blobs(rng, t, h, w, 1) for _ in ids]
        for a, m in zip(ids, objects):
            # Some frames carry no RLE (null), as for an object out of view.
            masks[a] = [None if (not m[i].any() or rng.random() < 0.15) else m[i] for i in range(t)]
        videos[vid] = MeViSVideo(frames=tuple(f"{i:05d}" for i in range(t)), expressions={
            e: MeViSExpression(exp=f"expression {e} of {vid}", obj_id=tuple(k for k in sel),
                               anno_id=tuple(ids[k] for k in sel)) for e, sel in exps.items()})
        if vid == "vid_missing":
            continue
        preds[vid], modes[vid] = {}, {}
        for e, sel in exps.items():
            truth = np.zeros((t, h, w), bool)
            for k in sel:
                truth |= objects[k]
            noisy = truth ^ (rng.random(truth.shape) < 0.04) if sel else rng.random(truth.shape) < 0.01
            if e == "1" and vid == "vid_a":
                noisy = np.zeros_like(truth)  # an empty prediction
            # Grey PNGs store 255 or 1, palette PNGs index 1, RGB PNGs a dark colour for part of
            # the mask that OpenCV reads as 0 (background).
            value = {"L": 255 if e != "3" else 1, "P": 1, "RGB": 1}[mode]
            preds[vid][e] = noisy.astype(np.uint8) * value
            modes[vid][e] = mode
    return {"videos": videos, "masks": masks, "preds": preds, "modes": modes}


#: RGB colours of ``mevis_arrays`` predictions: value 1 -> a colour OpenCV reads as grey 1, but
#: every fourth column a colour it reads as 0.
_LIT, _DARK = (255, 40, 40), (3, 0, 0)


def write_mevis_case(root: Path, seed: int = 23) -> dict[str, Path]:
    """Write ``meta_expressions.json``, ``mask_dict.json`` and the results folder under ``root``."""
    from PIL import Image

    from cmpcv.data.davis17.format import write_label_png
    from cmpcv.data.mevis.format import write_mask_dict, write_meta_expressions

    arrays = mevis_arrays(seed)
    root = Path(root)
    write_meta_expressions(root / "meta_expressions.json", arrays["videos"])
    write_mask_dict(root / "mask_dict.json", arrays["masks"])
    results = root / "results"
    for vid, exps in arrays["preds"].items():
        frames = arrays["videos"][vid].frames
        for e, stack in exps.items():
            mode = arrays["modes"][vid][e]
            for name, frame in zip(frames, stack):
                path = results / vid / e / f"{name}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                if mode == "L":
                    write_label_png(path, frame, palette=None, atomic=False)
                elif mode == "P":
                    write_label_png(path, frame, atomic=False)
                else:
                    rgb = np.zeros((*frame.shape, 3), np.uint8)
                    rgb[frame != 0] = _LIT
                    dark = (frame != 0) & (np.arange(frame.shape[1]) % 4 == 0)[None, :]
                    rgb[dark] = _DARK
                    Image.fromarray(rgb).save(path)
    return {"meta": root / "meta_expressions.json", "masks": root / "mask_dict.json", "results": results}


def inputs_digest() -> str:
    """SHA-256 over every array the cases generate (frame cases, statistics, DAVIS, MeViS)."""
    digest = hashlib.sha256()

    def add(a):
        a = np.ascontiguousarray(a)
        digest.update(str((a.dtype.str, a.shape)).encode())
        digest.update(a.tobytes())

    for _, gt, pred, void, _ in frame_cases():
        add(gt), add(pred)
        if void is not None:
            add(void)
    for _, values in statistics_cases():
        add(values)
    davis = davis_arrays()
    for part in ("gt", "unsupervised", "semi-supervised"):
        for seq in sorted(davis[part]):
            add(davis[part][seq])
    mevis = mevis_arrays()
    for a in sorted(mevis["masks"]):
        for m in mevis["masks"][a]:
            add(np.zeros(0) if m is None else m)
    for vid in sorted(mevis["preds"]):
        for e in sorted(mevis["preds"][vid]):
            add(mevis["preds"][vid][e])
    return digest.hexdigest()
