"""``python -m cmpcv.evaluate``: score a predictions file and write the results table.

    python -m cmpcv.evaluate predictions=preds.jsonl.gz published=a2d
    python -m cmpcv.evaluate predictions=preds.jsonl.gz ground_truth=a2d_test_coco.json
    python -m cmpcv.evaluate checkpoint=run/best.pt dataset=a2d     # inference first
    python -m cmpcv.evaluate example=true                           # a small synthetic example

Writes ``results.md``, ``results.csv``, ``results.tex`` (published rows + ours, and a per-group
table when samples carry groups) and ``metrics.json`` (every metric, unrounded) into
``output_dir`` (default: ``outputs/evaluate/<date>/<time>``, made only once there is something
to write), atomically, and prints the Markdown table (:func:`cmpcv.results.report.write_report`).
``run=DIR`` (a training run directory) evaluates its ``checkpoints/best.pt``, else ``last.pt``.
Bad input ends with one line and exit code 2 (:mod:`cmpcv.cli`).
"""
from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator
from pathlib import Path

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf

from cmpcv import cli
from cmpcv.data.errors import DataError
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
    """``output_dir``, or a new ``<paths.output_dir>/evaluate/<date>/<time>`` (with a ``-2``,
    ``-3``, ... suffix when a call in the same second took that name). Not created here."""
    if cfg.get("output_dir"):
        return Path(str(cfg.output_dir))
    now = datetime.datetime.now()
    root = OmegaConf.select(cfg, "paths.output_dir", default=None) or os.environ.get("CMPCV_OUTPUT_DIR") or "outputs"
    base = Path(str(root)) / "evaluate" / now.strftime("%Y-%m-%d")
    name = now.strftime("%H-%M-%S")
    out, k = base / name, 1
    while out.exists():
        k += 1
        out = base / f"{name}-{k}"
    return out


@contextlib.contextmanager
def _removed_if_left_empty(folder: Path) -> Iterator[None]:
    """On an exception, remove ``folder`` (and parents up to the first existing one) if this call
    created them and left them empty: a failed evaluation leaves no empty output folder."""
    missing = []
    p = folder
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    try:
        yield
    except BaseException:
        for p in missing:  # deepest first
            with contextlib.suppress(OSError):
                p.rmdir()  # only succeeds when empty
        raise


def _checkpoint(cfg: DictConfig) -> str | None:
    """``checkpoint=PATH`` or the checkpoint of ``run=DIR`` (``best.pt``, else ``last.pt``)."""
    if cfg.get("run") and cfg.get("checkpoint"):
        raise cli.UserError("give either run=DIR or checkpoint=PATH, not both")
    if cfg.get("run") or (cfg.get("checkpoint") and Path(str(cfg.checkpoint)).is_dir()):
        from cmpcv.engine.checkpoint import run_checkpoint

        return str(run_checkpoint(cfg.get("run") or cfg.checkpoint))
    return str(cfg.checkpoint) if cfg.get("checkpoint") else None


def run(cfg: DictConfig) -> dict:
    """The app without hydra's wrapper (tests call it with a composed config)."""
    checkpoint = _checkpoint(cfg)
    if not (cfg.get("example") or checkpoint or cfg.get("predictions")):
        raise ValueError(
            "nothing to evaluate: set predictions=PATH, run=DIR (a training run), checkpoint=PATH, or example=true"
        )
    for key in ("ground_truth", "groups"):
        if cfg.get(key) and not Path(str(cfg[key])).is_file():
            raise FileNotFoundError(f"{key}={cfg[key]}: no such file")
    out_dir = _output_dir(cfg)
    with _removed_if_left_empty(out_dir):
        if cfg.get("example"):
            path = write_example_predictions(out_dir / "example_predictions.jsonl")
        elif checkpoint:
            from cmpcv.engine.inference import predict_to_file  # needs the model stack: import only here

            path = predict_to_file(cfg, checkpoint=checkpoint, output_dir=out_dir)
        else:
            path = Path(str(cfg.predictions))
        return write_report(path, out_dir, protocol=str(cfg.protocol), name=str(cfg.name),
                            ground_truth=cfg.get("ground_truth"), groups=cfg.get("groups"),
                            published=cfg.get("published", "auto"))


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    # Bad input (a missing or malformed file, an RLE that does not cover its mask, a checkpoint
    # that is not one): one line, exit code 2. Anything else is a bug: traceback, exit code 1.
    with cli.user_errors(ValueError, FileNotFoundError, DataError):
        run(cfg)


if __name__ == "__main__":
    cli.run(main)
