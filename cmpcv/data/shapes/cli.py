"""``python -m cmpcv.data.shapes root=PATH [format=a2d|mevis|ytvos] [field=value ...] [render=N] [render_dir=PATH]``.

Generates the set (if needed) in the A2D format or a JPEG-folder one (:mod:`cmpcv.data.shapes.formats`),
prints the sample (A2D) or expression counts per split and subset, and optionally draws ``N``
samples per subset of an A2D tree to PNG previews. ``field`` is any field of
:class:`~cmpcv.data.shapes.config.ShapesConfig` (docs/shapes.md).
"""
from __future__ import annotations

import os
import sys
import time
from collections import Counter
from dataclasses import fields
from pathlib import Path

import numpy as np

from cmpcv.data.a2d.format import a2d_paths
from cmpcv.data.atomic import atomic_path
from cmpcv.data.shapes.cache import generate
from cmpcv.data.shapes.config import SPLITS, ShapesConfig, plain
from cmpcv.data.shapes.scene import KINDS
from cmpcv.data.shapes.tree import load_samples


def render_samples(root: str | os.PathLike, out_dir: str | os.PathLike, per_subset: int = 2,
                   split: str = "test", scale: int = 3) -> list[Path]:
    """Draw the first ``per_subset`` samples of each subset to PNG, from the written files.

    Each image is the 8 frames around the annotated frame (decoded from the mp4), the annotated one
    with the ground truth outlined, and the sentence above them.
    """
    from PIL import Image, ImageDraw
    from scipy import ndimage

    from cmpcv.data.a2d.format import read_a2d_mask
    from cmpcv.data.video import read_video_frames

    paths, out_dir, written = a2d_paths(root), Path(out_dir), []
    out_dir.mkdir(parents=True, exist_ok=True)
    shown: Counter = Counter()
    for s in load_samples(root, split):
        if shown[s["subset"]] >= per_subset:
            continue
        shown[s["subset"]] += 1
        anno = s["frame_idx"] - 1
        frames, _ = read_video_frames(paths.video(s["video_id"]), list(range(max(anno - 4, 0), anno + 4)))
        mask = read_a2d_mask(paths.mask(s["video_id"], s["frame_idx"]), s["instance_id"]).astype(bool)
        k = min(anno, 4)
        frames[k][mask & ~ndimage.binary_erosion(mask)] = 255  # outline the ground truth
        strip = np.concatenate(list(frames), axis=1).repeat(scale, 0).repeat(scale, 1)
        image = Image.new("RGB", (strip.shape[1], strip.shape[0] + 16), (0, 0, 0))
        image.paste(Image.fromarray(strip), (0, 16))
        ImageDraw.Draw(image).text((2, 2), f"[{s['subset']}] {s['query']}", fill=(255, 255, 255))
        path = out_dir / f"{s['sample_id']}.png"
        with atomic_path(path) as tmp:
            image.save(tmp, format="PNG")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> dict[str, Counter]:
    """Generate (if needed) and print the sample counts per split and subset."""
    from omegaconf import OmegaConf

    args = plain(OmegaConf.from_cli(sys.argv[1:] if argv is None else argv))
    if "root" not in args:
        raise SystemExit("usage: python -m cmpcv.data.shapes root=PATH [format=a2d|mevis|ytvos] [field=value ...] "
                         f"[render=N] [render_dir=PATH]\nfields: {', '.join(f.name for f in fields(ShapesConfig))}")
    root, render_n = Path(args.pop("root")), int(args.pop("render", 0))
    render_dir = Path(args.pop("render_dir", root / "previews"))
    fmt = str(args.pop("format", "a2d"))
    start = time.perf_counter()
    generate(root, args, progress=True, fmt=fmt)
    elapsed = time.perf_counter() - start
    records = load_samples(root)
    splits = list(SPLITS) if fmt == "a2d" else list(dict.fromkeys(s["split"] for s in records))
    counts = {split: Counter(s["subset"] for s in records if s["split"] == split) for split in splits}
    unit, width = ("samples", 5) if fmt == "a2d" else ("expressions", 7)
    print(f"shapes set at {root} ({'' if fmt == 'a2d' else fmt + ', '}ready in {elapsed:.1f} s)")
    for split, c in counts.items():
        print(f"  {split:{width}s} {sum(c.values()):5d} {unit}: " + ", ".join(f"{k} {c[k]}" for k in KINDS))
    if render_n and fmt == "a2d":
        for path in render_samples(root, render_dir, per_subset=render_n):
            print(f"  wrote {path}")
    return counts
