"""What a trained backbone's levels still know about each actor: a linear probe per level.

For every actor of every test video of the shapes set (200 videos, 629 actors), the feature vector
at the grid cell under the actor's centre, on the annotated slice, is read from c3, c4 and c5 of
a checkpoint's backbone. A linear classifier (softmax regression) is fitted on 70 % of the
actors and scored on the other 30 %, once for colour, once for shape (4 classes each, chance
25 %) and once for size (2 classes, chance 50 %). It answers whether a from-scratch backbone
kept what the sentences ask about, independently of the rest of the model.

    python scripts/diagnostics/level_probe.py --data /tmp/demo_v6_data /tmp/demo_v6/checkpoints/last.pt [more]

The test clips are decoded once and cached next to the data, as ``probe_shapes.py`` beside it
does. What it found is summarised in docs/shapes.md ("Recipe history").
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE)]  # this checkout's cmpcv; the sibling probe_shapes

from cmpcv.data.shapes import STAMP_FILE, load_samples  # noqa: E402
from cmpcv.engine.checkpoint import load_checkpoint  # noqa: E402
from cmpcv.predict import PredictError, load_predictor  # noqa: E402
from probe_shapes import CONF, load_split  # noqa: E402  (a sibling script, not a package)

LABELS = {"colour": ("red", "green", "blue", "yellow"), "shape": ("circle", "square", "triangle", "diamond"),
          "size": ("small", "big")}


def actor_features(checkpoint: str, frames: torch.Tensor, samples: list[dict]) -> tuple[dict, dict]:
    """``level -> (A, C)`` features at each actor's centre cell and ``attribute -> (A,)`` labels."""
    try:
        model = load_predictor(checkpoint, device="cpu").model.eval()
    except PredictError as err:
        raise SystemExit(f"level_probe: {err}") from None
    num_frames = int(load_checkpoint(checkpoint)["config"]["dataset"]["clip"]["num_frames"])
    if num_frames not in (1, frames.shape[1]):
        raise SystemExit(f"level_probe: {checkpoint} was trained on {num_frames}-frame clips; the probe reads "
                         f"{frames.shape[1]}-frame clips (the demo's) or their middle frame only")
    feats: dict[str, list[torch.Tensor]] = {"c3": [], "c4": [], "c5": []}
    labels: dict[str, list[int]] = {k: [] for k in LABELS}
    seen: set[str] = set()
    with torch.no_grad():
        for i, sample in enumerate(samples):
            if sample["video_id"] in seen:
                continue
            seen.add(sample["video_id"])
            clip = frames[i:i + 1]
            if num_frames == 1:  # a single-frame model (row C) sees the annotated frame only
                mid = clip.shape[1] // 2
                clip = clip[:, mid:mid + 1]
            levels = model.backbone(clip)
            slice_, stride = levels[0].shape[1] // 2, clip.shape[-1] // levels[0].shape[-1]
            grid = levels[0].shape[-1]
            for actor in sample["actors"]:
                x0, y0, x1, y1 = actor["box"]
                gy = min(grid - 1, int((y0 + y1) / 2 / stride))
                gx = min(grid - 1, int((x0 + x1) / 2 / stride))
                for name, level in zip(feats, levels):
                    feats[name].append(level[0, slice_, :, gy, gx].float())
                for key, values in LABELS.items():
                    if actor[key] not in values:
                        raise SystemExit(f"level_probe: {sample['sample_id']}: {key} {actor[key]!r} is not one "
                                         f"of {values}; the probe knows the default generator's words only")
                    labels[key].append(values.index(actor[key]))
    return ({k: torch.stack(v) for k, v in feats.items()},
            {k: torch.tensor(v) for k, v in labels.items()})


def linear_probe(x: torch.Tensor, y: torch.Tensor, classes: int, train_share: float = 0.7) -> float:
    """Held-out accuracy of softmax regression on standardised features (first share trains)."""
    train = torch.arange(len(y)) < int(len(y) * train_share)
    x = (x - x[train].mean(0)) / (x[train].std(0) + 1e-6)
    torch.manual_seed(0)
    w = torch.zeros(x.shape[1], classes, requires_grad=True)
    b = torch.zeros(classes, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=0.05)
    for _ in range(300):
        loss = F.cross_entropy(x[train] @ w + b, y[train]) + 1e-3 * w.pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float(((x[~train] @ w + b).argmax(1) == y[~train]).float().mean())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="paths.data_dir holding the generated set")
    parser.add_argument("checkpoints", nargs="+", help="checkpoints of models trained on that set")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=shapes", f"paths.data_dir={args.data}"])
    stamp = Path(cfg.dataset.root) / STAMP_FILE
    if not stamp.is_file():
        raise SystemExit(f"level_probe: no generated shapes set under {cfg.dataset.root} (no {STAMP_FILE}); "
                         "pass the paths.data_dir of a run of experiment=shapes")
    samples = load_samples(cfg.dataset.root, "test")
    # Cached like probe_shapes' clips: keyed by the tree's stamp and the clip length.
    tag = f"{hashlib.sha1(stamp.read_bytes()).hexdigest()[:10]}_t{int(cfg.dataset.clip.num_frames)}"
    split = load_split(cfg, "test", args.data / f"probe_test_{tag}.pt")
    if [s["query"] for s in samples] != list(split["query"]):
        raise SystemExit(f"level_probe: {args.data}: the sample list and the test split disagree")
    for checkpoint in args.checkpoints:
        feats, labels = actor_features(checkpoint, split["frames"], samples)
        print(checkpoint)
        for level, x in feats.items():
            cells = "  ".join(f"{k} {100 * linear_probe(x, labels[k], len(LABELS[k])):.0f} %" for k in LABELS)
            print(f"  {level} ({x.shape[1]} channels, {len(x)} actors): {cells}")


if __name__ == "__main__":
    main()
