"""One training step of the shapes demo (model + loss + Adam) in fp32 and under bf16 autocast.

The two modes alternate in one process on the same random batch and weights, and each keeps its
best of ``--repeats`` rounds, so the ratio is robust to load that a shared machine adds to both.
Whether bf16 is *native* here is printed too (``cmpcv.engine.precision.cpu_has_native_bf16``):
``trainer.precision=auto`` picks bf16 on a CPU only then. Results: benchmarks/README.md,
"Embedded demo".

    python benchmarks/bench_demo_step.py --threads 2 --steps 8 --repeats 3
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import open_dict

from cmpcv.engine.precision import autocast, cpu_has_native_bf16
from cmpcv.models import build_model

CONF = Path(__file__).resolve().parents[1] / "conf"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per round")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per mode (best kept)")
    parser.add_argument("overrides", nargs="*", help="config overrides on top of experiment=shapes")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=shapes", *args.overrides])
    torch.backends.mkldnn.enabled = bool(cfg.trainer.cpu_onednn)
    with open_dict(cfg):
        cfg.model.language.vocab_size = 60
    torch.manual_seed(0)
    model = build_model(cfg.model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = instantiate(cfg.loss)  # the demo's own loss (BCE + Dice, mean reduction)
    b, t, size = int(cfg.trainer.batch_size), int(cfg.dataset.clip.num_frames), int(cfg.dataset.size)
    frames = torch.rand(b, t, 3, size, size)
    tokens, mask = torch.randint(1, 60, (b, 7)), torch.ones(b, 7, dtype=torch.bool)
    target = (torch.rand(b, size, size) > 0.97).float()
    cpu = torch.device("cpu")

    def step(precision: str) -> None:
        with autocast(precision, cpu):
            out = model(frames, tokens, mask)
        loss = loss_fn(out, target)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    best = {"32": float("inf"), "bf16": float("inf")}
    for _ in range(args.repeats):
        for precision in best:
            for _ in range(2):  # warm-up: oneDNN builds its kernels per dtype
                step(precision)
            start = time.perf_counter()
            for _ in range(args.steps):
                step(precision)
            best[precision] = min(best[precision], (time.perf_counter() - start) / args.steps)
    result = {"threads": args.threads, "batch": b, "frames": t, "size": size,
              "native_bf16": cpu_has_native_bf16(), "fp32_s": round(best["32"], 3),
              "bf16_s": round(best["bf16"], 3), "fp32_over_bf16": round(best["32"] / best["bf16"], 2)}
    print(result)
    return result


if __name__ == "__main__":
    main()
