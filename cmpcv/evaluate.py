"""``python -m cmpcv.evaluate``: score a predictions file and write the results table.

    python -m cmpcv.evaluate predictions=preds.jsonl.gz published=a2d
    python -m cmpcv.evaluate predictions=preds.jsonl.gz ground_truth=a2d_test_coco.json
    python -m cmpcv.evaluate checkpoint=run/best.pt dataset=a2d     # inference first
    python -m cmpcv.evaluate example=true                           # a small synthetic example

Writes ``results.md``, ``results.csv``, ``results.tex`` (published rows + ours, and a per-group
table when samples carry groups) and ``metrics.json`` (every metric, unrounded) into
``output_dir`` (default: the hydra run dir), atomically, and prints the Markdown table
(:func:`cmpcv.results.report.write_report`).
"""
from __future__ import annotations

import sys
from pathlib import Path

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf

from cmpcv.predictions import PredictionWriter
from cmpcv.results.report import write_report

EXAMPLE_GROUPS = ("entity", "attribute", "relation", "action")


def write_example_predictions(path: str | Path, num_samples: int = 40, seed: int = 0) -> Path:
    """A small self-contained predictions file from deterministic synthetic masks.

    Each sample is an ellipse in a 48x64 frame with three scored guesses (shifted and rescaled
    copies, so IoUs spread over the P@K range), tagged with one of the ``shapes`` demo's groups.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:48, :64]

    def ellipse(cy, cx, ry, rx):
        return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1

    meta = {"dataset": "example", "split": "synthetic", "protocol": "mttr",
            "config": {"generator": "cmpcv.evaluate.write_example_predictions", "seed": seed}}
    with PredictionWriter(path, meta=meta) as writer:
        for i in range(num_samples):
            cy, cx = rng.uniform(12, 36), rng.uniform(16, 48)
            ry, rx = rng.uniform(4, 12), rng.uniform(5, 16)
            gt = ellipse(cy, cx, ry, rx)
            masks, scores = [], []
            for _ in range(3):
                shift = rng.normal(0, 0.35, size=2) * (ry, rx)
                scale = rng.uniform(0.75, 1.25)
                masks.append(ellipse(cy + shift[0], cx + shift[1], ry * scale, rx * scale))
                scores.append(round(float(rng.uniform()), 4))
            writer.add(f"example_{i:04d}", np.stack(masks), scores, gt_mask=gt,
                       group=EXAMPLE_GROUPS[i % len(EXAMPLE_GROUPS)])
    return Path(path)


def _output_dir(cfg: DictConfig) -> Path:
    if cfg.get("output_dir"):
        return Path(cfg.output_dir)
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir)


def run(cfg: DictConfig) -> dict:
    """The app without hydra's wrapper (tests call it with a composed config)."""
    if not (cfg.get("example") or cfg.get("checkpoint") or cfg.get("predictions")):
        raise ValueError(
            "nothing to evaluate: set predictions=PATH, checkpoint=PATH dataset=NAME, or example=true"
        )
    out_dir = _output_dir(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.get("example"):
        path = write_example_predictions(out_dir / "example_predictions.jsonl")
    elif cfg.get("checkpoint"):
        from cmpcv.engine.inference import predict_to_file  # needs the model stack: import only here

        path = predict_to_file(cfg)
    else:
        path = Path(cfg.predictions)

    return write_report(path, out_dir, protocol=str(cfg.protocol), name=str(cfg.name),
                        ground_truth=cfg.get("ground_truth"), groups=cfg.get("groups"),
                        published=cfg.get("published", "auto"))


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        print("config:\n" + OmegaConf.to_yaml(cfg), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
