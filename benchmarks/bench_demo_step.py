"""Time one training step of the shapes demo: fp32 against bf16, or the config against variants.

One step is the demo's model, loss and Adam on a random batch.

The modes alternate in one process on the same random batch, and each keeps its best of
``--repeats`` rounds, so a ratio is robust to load that a shared machine adds to all of them.
Whether bf16 is *native* here is printed too (``cmpcv.engine.precision.cpu_has_native_bf16``):
``trainer.precision=auto`` picks bf16 on a CPU only then. Sentences are ``--tokens`` words long
(the demo's test sentences have 4-13). Results: benchmarks/README.md, "Demo training step".

    python benchmarks/bench_demo_step.py --threads 2 --steps 8 --repeats 3
    python benchmarks/bench_demo_step.py --threads 2 --variant "model.cmpc.vis_dim=64 model.cmpc.rank=5"

With ``--variant`` (repeatable; each a space-separated list of overrides on top of the config),
the config's step and each variant's are timed in bf16 and reported as ratios to the config's.
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import open_dict

from cmpcv.engine.precision import autocast, cpu_has_native_bf16
from cmpcv.models import build_model

CONF = Path(__file__).resolve().parents[1] / "conf"
VOCAB = 60


def make_step(overrides: list[str], precision: str, tokens: int) -> tuple[Callable[[], None], dict]:
    """A closure running one step of ``experiment=shapes`` + ``overrides``, and the batch's sizes."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=shapes", *overrides])
    onednn = bool(cfg.trainer.cpu_onednn)
    with open_dict(cfg):
        cfg.model.language.vocab_size = VOCAB
    torch.manual_seed(0)
    model = build_model(cfg.model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = instantiate(cfg.loss)  # the demo's own loss (BCE + Dice, mean reduction)
    b, t, size = int(cfg.trainer.batch_size), int(cfg.dataset.clip.num_frames), int(cfg.dataset.size)
    generator = torch.Generator().manual_seed(0)
    frames = torch.rand(b, t, 3, size, size, generator=generator)
    words = torch.randint(1, VOCAB, (b, tokens), generator=generator)
    mask = torch.ones(b, tokens, dtype=torch.bool)
    target = (torch.rand(b, size, size, generator=generator) > 0.97).float()
    cpu = torch.device("cpu")

    def step() -> None:
        torch.backends.mkldnn.enabled = onednn  # process-wide: set per step, a variant may differ
        with autocast(precision, cpu):
            out = model(frames, words, mask)
        loss = loss_fn(out, target)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step, {"batch": b, "frames": t, "size": size}


def best_times(steps: dict[str, Callable[[], None]], n: int, repeats: int) -> dict[str, float]:
    """Seconds per step of each closure: rounds alternate between them, each keeps its best."""
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(repeats):
        for name, step in steps.items():
            for _ in range(2):  # warm-up: oneDNN builds its kernels per shape and dtype
                step()
            start = time.perf_counter()
            for _ in range(n):
                step()
            best[name] = min(best[name], (time.perf_counter() - start) / n)
    return best


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per round")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per mode (best kept)")
    parser.add_argument("--tokens", type=int, default=7, help="words per sentence")
    parser.add_argument("--variant", action="append", default=[],
                        help="overrides (space-separated) to time against the config, in bf16")
    parser.add_argument("overrides", nargs="*", help="config overrides on top of experiment=shapes")
    args = parser.parse_args(argv)
    for name in ("threads", "steps", "repeats", "tokens"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if len(set(args.variant)) != len(args.variant):
        parser.error("each --variant must be different")
    torch.set_num_threads(args.threads)
    base = list(args.overrides)
    if args.variant:
        steps = {"": make_step(base, "bf16", args.tokens)[0]}  # "": the config itself
        for variant in args.variant:
            steps[variant] = make_step(base + variant.split(), "bf16", args.tokens)[0]
        best = best_times(steps, args.steps, args.repeats)
        result = {"threads": args.threads, "tokens": args.tokens, "native_bf16": cpu_has_native_bf16(),
                  "config_s": round(best[""], 4),
                  "variants": {v: {"s": round(best[v], 4), "ratio": round(best[v] / best[""], 3)}
                               for v in args.variant}}
    else:
        steps, sizes = {}, {}
        for precision in ("32", "bf16"):
            steps[precision], sizes = make_step(base, precision, args.tokens)
        best = best_times(steps, args.steps, args.repeats)
        result = {"threads": args.threads, **sizes, "native_bf16": cpu_has_native_bf16(),
                  "fp32_s": round(best["32"], 3), "bf16_s": round(best["bf16"], 3),
                  "fp32_over_bf16": round(best["32"] / best["bf16"], 2)}
    print(result)
    return result


if __name__ == "__main__":
    main()
