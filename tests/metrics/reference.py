"""The published evaluation path, written as MTTR runs it, to check cmpcv.metrics against.

COCO objects + ``COCOeval(iouType="segm")`` with ``useCats = 0`` for mAP, and MTTR's P@K/IoU
loop (``calculate_precision_at_k_and_iou_metrics``) on decoded RLEs with float32 torch tensors.
Image ids are the integers 1..N, so pycocotools' ``sorted(image_ids)`` is the input order.
Also used as the baseline of ``benchmarks/bench_metrics.py``.
"""
from __future__ import annotations

import contextlib
import io

import numpy as np


def encode(mask: np.ndarray) -> dict:
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def build_coco(samples):
    """``(coco_gt, detections)`` from ``[(gt, [(pred, score), ...]), ...]`` dense masks."""
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    images, annotations, detections = [], [], []
    for i, (gt, preds) in enumerate(samples, start=1):
        h, w = gt.shape
        rle = encode(gt)
        images.append({"id": i, "height": h, "width": w})
        annotations.append({
            "id": i, "image_id": i, "category_id": 1, "segmentation": rle,
            "area": float(mask_utils.area(rle)), "bbox": mask_utils.toBbox(rle).tolist(), "iscrowd": 0,
        })
        for mask, score in preds:
            detections.append({"image_id": i, "category_id": 1, "segmentation": encode(mask),
                               "score": float(score)})
    coco_gt = COCO()
    coco_gt.dataset = {"images": images, "annotations": annotations,
                       "categories": [{"id": 1, "name": "dummy_class"}]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt.createIndex()
    return coco_gt, detections


def coco_eval_stats(coco_gt, detections) -> np.ndarray:
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes(detections)
        ev = COCOeval(coco_gt, coco_dt, iouType="segm")
        ev.params.useCats = 0
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def mttr_precision_iou(coco_gt, detections):
    """MTTR's loop: top-scored mask (last of tied maxima), float32 IoU with 1e-6, strict ``>``."""
    import torch
    from pycocotools.mask import decode

    by_image: dict[int, list[dict]] = {}
    for d in detections:
        by_image.setdefault(d["image_id"], []).append(d)
    counters = {k: 0 for k in (0.5, 0.6, 0.7, 0.8, 0.9)}
    total_i, total_u, ious = 0.0, 0.0, []
    for image_id in coco_gt.imgs.keys():
        gt_mask = decode(coco_gt.imgToAnns[image_id][0]["segmentation"])
        top = sorted(by_image[image_id], key=lambda a: a["score"])[-1]
        pred_mask = decode(top["segmentation"])
        outputs = torch.tensor(pred_mask).unsqueeze(0).int()
        labels = torch.tensor(gt_mask).unsqueeze(0)
        inter = (outputs & labels).float().sum((1, 2))
        union = (outputs | labels).float().sum((1, 2))
        iou = (inter + 1e-6) / (union + 1e-6)
        iou, inter, union = iou.item(), inter.item(), union.item()
        for k in counters:
            if iou > k:
                counters[k] += 1
        ious.append(iou)
        total_i += inter
        total_u += union
    n = len(ious)
    out = {f"P@{k}": c / n for k, c in counters.items()}
    out["overall_iou"] = total_i / total_u
    out["mean_iou"] = float(np.mean(ious))
    return out


def reference_metrics(samples) -> dict[str, float]:
    coco_gt, detections = build_coco(samples)
    out = mttr_precision_iou(coco_gt, detections)
    stats = coco_eval_stats(coco_gt, detections)
    for k, key in enumerate(("mAP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large")):
        out[key] = float(stats[k])
    return out


def random_samples(seed: int, n: int = 60, shape=(24, 40), max_preds: int = 6, tie_scores: bool = False):
    """Random referring samples: blob-ish ground truths (some empty, some exactly 32**2 or 96**2
    pixels when the frame allows), predictions that perturb the ground truth or are noise/empty."""
    rng = np.random.default_rng(seed)
    h, w = shape
    samples = []
    for i in range(n):
        gt = np.zeros(shape, bool)
        kind = rng.integers(0, 6)
        if kind == 0:
            pass  # empty ground truth
        elif kind == 1 and h * w >= 32 * 32:
            gt.reshape(-1)[rng.choice(h * w, 32 * 32, replace=False)] = True
        elif kind == 2 and h * w >= 96 * 96:
            gt.reshape(-1)[rng.choice(h * w, 96 * 96, replace=False)] = True
        else:
            y0, x0 = rng.integers(0, h - 1), rng.integers(0, w - 1)
            gt[y0:y0 + rng.integers(1, h), x0:x0 + rng.integers(1, w)] = True
        preds = []
        for _ in range(int(rng.integers(1, max_preds + 1))):
            mode = rng.integers(0, 4)
            if mode == 0:
                p = np.zeros(shape, bool)
            elif mode == 1:
                p = rng.random(shape) < rng.random()
            else:
                p = gt ^ (rng.random(shape) < rng.random() * 0.3)
            score = float(rng.integers(0, 3)) / 2 if tie_scores else float(rng.random())
            preds.append((p, score))
        samples.append((gt, preds))
    return samples


def same_metrics(a: dict, b: dict, tol: float = 0.0) -> bool:
    """Equal keys and values within ``tol``; NaN equals NaN (the protocol's "not defined")."""
    if list(a) != list(b):
        return False
    return all((np.isnan(a[k]) and np.isnan(b[k])) or abs(a[k] - b[k]) <= tol for k in a)
