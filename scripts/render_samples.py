"""Ground truth vs prediction for dataset samples, as PNGs: one picture per sample.

Left: the annotated frame with the ground-truth mask; right: the same frame with the model's
mask; below: the sentence and the sample's IoU. Frames are drawn at the network input resolution
(padding cropped; small inputs enlarged), masks with :mod:`cmpcv.viz` as everywhere in cmpcv.
The checkpoint brings its model, vocabulary and dataset config (a training checkpoint)::

    python scripts/render_samples.py checkpoint=outputs/train/.../checkpoints/best.pt
    python scripts/render_samples.py checkpoint=PATH split=test n=12 out=renders dataset.root=/data/a2d
    python scripts/render_samples.py checkpoint=PATH ids=[v_abc_f_12_i_0,v_def_f_30_i_1]

Keys (``key=value``, as in the hydra apps): ``checkpoint`` (required), ``split`` (test), ``n`` (8
samples spread evenly over the split), ``ids`` (these sample ids instead), ``out`` (``renders``),
``threshold`` (0.5), ``device`` (auto), ``min_side`` (256: enlarge smaller frames), and
``dataset.<key>=...`` to override the checkpoint's dataset settings (e.g. a new ``root``).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cmpcv.data.atomic import atomic_path  # noqa: E402
from cmpcv.data.transforms import restore_mask  # noqa: E402
from cmpcv.predict import PredictError, Predictor, load_predictor  # noqa: E402
from cmpcv.viz import PALETTE, draw_video_frame, overlay  # noqa: E402


def _crop(a: np.ndarray, geometry: dict) -> np.ndarray:
    top, left, bottom, right = geometry["pad"]
    h, w = a.shape[:2]
    return a[top:h - bottom, left:w - right]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0  # both empty: a perfect match


@torch.no_grad()
def render_sample(predictor: Predictor, item: dict[str, Any], *, threshold: float = 0.5,
                  min_side: int = 256) -> tuple[np.ndarray, float]:
    """One dataset sample (``ds[i]``) -> ``(picture (H, 2W, 3) uint8, IoU at the original size)``."""
    frames = item["frames"]  # (T, 3, H, W) in [0, 1], padded
    tokens, mask = predictor.collator.encode([item["query"]])
    logits = predictor.model(frames[None].contiguous().to(predictor.device), tokens.to(predictor.device),
                             mask.to(predictor.device))["logits"][0]
    prob = torch.sigmoid(logits.float()).cpu()
    geometry = item["geometry"]
    iou = _iou(restore_mask(prob, geometry, threshold).astype(bool), np.asarray(item["mask"]).astype(bool))
    frame = (frames[frames.shape[0] // 2].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    frame, truth, pred = (_crop(a, geometry) for a in (frame, item["target"].numpy() > 0.5, prob.numpy() > threshold))
    scale = max(1, -(-min_side // min(frame.shape[:2])))  # whole-number enlargement keeps masks crisp
    frame, truth, pred = (np.repeat(np.repeat(a, scale, 0), scale, 1) for a in (frame, truth, pred))
    left = draw_video_frame(frame, [truth], ["ground truth"], [PALETTE[0]])
    right = draw_video_frame(frame, [pred], [f"prediction (IoU {iou:.2f})"], [PALETTE[1]])
    gap = np.full((frame.shape[0], 4, 3), 255, np.uint8)
    picture = overlay(np.concatenate([left, gap, right], axis=1), [], caption=f"{item['sample_id']}: {item['query']}")
    return picture, iou


def _pick(dataset, n: int, ids: list[str] | None) -> list[int]:
    if ids:
        if not hasattr(dataset, "sample_id"):
            raise PredictError("ids= needs a dataset that names its samples (sample_id); use n= instead")
        where = {dataset.sample_id(i): i for i in range(len(dataset))}
        unknown = [s for s in ids if s not in where]
        if unknown:
            raise PredictError(f"sample ids not in this split: {unknown[:5]}")
        return [where[s] for s in ids]
    n = min(n, len(dataset))
    return sorted({int(round(k * (len(dataset) - 1) / max(n - 1, 1))) for k in range(n)})


def main(argv: list[str] | None = None) -> list[Path]:
    from hydra.utils import instantiate
    from omegaconf import OmegaConf
    from PIL import Image

    from cmpcv.engine.checkpoint import load_checkpoint

    args = OmegaConf.from_cli(sys.argv[1:] if argv is None else argv)
    if not args.get("checkpoint"):
        raise PredictError("usage: python scripts/render_samples.py checkpoint=PATH [split=test] [n=8] [out=DIR]")
    predictor = load_predictor(args.checkpoint, args.get("device", "auto"))
    config = OmegaConf.create(load_checkpoint(args.checkpoint)["config"])
    split = str(args.get("split", "test"))
    node = OmegaConf.select(config, f"dataset.{split}")
    if node is None:
        raise PredictError(f"the checkpoint's dataset has no {split!r} split")
    if args.get("dataset"):
        node = OmegaConf.merge(node, args.dataset)
    dataset = instantiate(node)
    ids = [str(s) for s in args.ids] if args.get("ids") else None
    out = Path(str(args.get("out", "renders")))
    written, ious = [], []
    for i in _pick(dataset, int(args.get("n", 8)), ids):
        item = dataset[i]
        picture, iou = render_sample(predictor, item, threshold=float(args.get("threshold", 0.5)),
                                     min_side=int(args.get("min_side", 256)))
        path = out / f"{item['sample_id']}.png"
        with atomic_path(path) as tmp:
            Image.fromarray(picture).save(tmp, format="PNG")
        written.append(path)
        ious.append(iou)
        print(f"{path}  IoU {iou:.3f}  {item['query']}")
    if ious:
        print(f"{len(ious)} samples, mean IoU {np.mean(ious):.3f}")
    return written


if __name__ == "__main__":
    try:
        main()
    except PredictError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
