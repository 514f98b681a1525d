"""Generating the shapes set: videos written one at a time vs on writer threads.

    python benchmarks/bench_generate.py [--train-samples 800] [--rounds 2] [--workers 2]

Writes the set (``--train-samples`` training and 200 test samples, the demo's other settings)
into fresh temporary folders, alternating ``workers=1`` (the baseline) and ``--workers`` threads;
each keeps its best round, and the figure is their ratio in the same run. Most of the time is
libx264 encoding, which releases the GIL, so threads overlap it. Results: benchmarks/README.md,
"Set generation".
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from cmpcv.data.shapes import default_workers, generate


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-samples", type=int, default=800)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=default_workers())
    args = parser.parse_args(argv)
    if args.workers < 2:
        parser.error(f"--workers must be at least 2 to compare with one thread, got {args.workers}")
    config = {"train_samples": args.train_samples, "test_samples": 200}
    best = {1: float("inf"), args.workers: float("inf")}
    for _ in range(args.rounds):
        for workers in best:
            folder = Path(tempfile.mkdtemp(prefix="bench_generate-"))
            try:
                start = time.perf_counter()
                generate(folder / "shapes", config, workers=workers)
                best[workers] = min(best[workers], time.perf_counter() - start)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
    result = {"samples": args.train_samples + 200, "serial_s": round(best[1], 2),
              "workers": args.workers, "threads_s": round(best[args.workers], 2),
              "speedup": round(best[1] / best[args.workers], 2)}
    print(result)
    return result


if __name__ == "__main__":
    main()
