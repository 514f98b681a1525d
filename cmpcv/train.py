"""``python -m cmpcv.train``: train CMPC-V, checkpoint, validate, test (docs/training.md).

Examples::

    python -m cmpcv.train experiment=shapes                       # the CPU demo
    python -m cmpcv.train experiment=cmpcv_r2d_a2d dataset.root=/data/a2d_sentences
    torchrun --nproc_per_node=4 -m cmpcv.train experiment=cmpcv_i3d_a2d dataset.root=...
    python -m cmpcv.train -m optim.lr=1e-4,2e-4                   # a sweep, one directory per job

Re-running the same command continues the run from ``checkpoints/last.pt`` (``trainer.resume=auto``).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hashlib

import hydra
from omegaconf import DictConfig, OmegaConf

from cmpcv.engine.trainer import NonFiniteLossError, Trainer, TrainResult

log = logging.getLogger("cmpcv.train")


def run_dirname(overrides: str, max_len: int = 120) -> str:
    """A folder name for a run from hydra's ``override_dirname``: readable, one path component
    (``/`` replaced), at most ``max_len`` characters (a long one is cut and suffixed with a hash of
    the whole, so distinct commands keep distinct folders), ``default`` when there is none."""
    name = overrides.replace("/", "_") or "default"
    if len(name) > max_len:
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        name = f"{name[: max_len - 11]}-{digest}"
    return name


# Used by conf/train.yaml's hydra.run.dir / hydra.sweep.subdir; registered at import, before
# hydra composes, in every process that runs the app (submitit jobs import this module too).
if not OmegaConf.has_resolver("cmpcv_dirname"):
    OmegaConf.register_new_resolver("cmpcv_dirname", run_dirname)


def summary(result: TrainResult, run_dir: Path) -> str:
    """The one-screen report printed at the end of a run."""
    lines = [
        "",
        "=" * 72,
        f"cmpcv.train: {'stopped by signal' if result.stopped_by_signal else 'done'} "
        f"at step {result.step}",
        f"  run directory  : {run_dir}",
    ]
    for label, path in (
        ("last checkpoint", result.checkpoint),
        ("best checkpoint", result.best),
        ("predictions", result.predictions),
        ("results table", result.table),
    ):
        if path is not None:
            lines.append(f"  {label:<15}: {path}")
    if result.metrics:
        m = result.metrics
        lines.append(
            "  test (x100)    : "
            + "  ".join(
                f"{k} {100 * m[k]:.1f}" for k in ("mean_iou", "overall_iou", "P@0.5", "mAP") if k in m
            )
        )
    if result.stopped_by_signal:
        lines.append("  re-run the same command to continue (trainer.resume=auto)")
    lines.append("=" * 72)
    return "\n".join(lines)


def run(cfg: DictConfig, run_dir: str | os.PathLike) -> TrainResult:
    """Train with ``cfg`` in ``run_dir`` (the hydra app's body; tests call it directly)."""
    from cmpcv.engine import distributed as D

    run_dir = Path(run_dir)
    trainer = Trainer(cfg, run_dir)
    try:
        result = trainer.fit()
    finally:
        D.cleanup()
    if trainer.dist.is_main:
        print(summary(result, run_dir), flush=True)
    return result


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig

    if OmegaConf.is_missing(cfg.dataset, "root"):
        # The real datasets cannot be located by default; say so in one line, not a config traceback.
        print(f"error: dataset {cfg.dataset.get('name')!r} needs its tree: add dataset.root=PATH "
              "(docs/datasets.md), or run the embedded demo with experiment=shapes", file=sys.stderr)
        sys.exit(2)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        result = run(cfg, run_dir)
    except NonFiniteLossError as exc:
        log.error("%s", exc)
        sys.exit(3)
    # The return value is what hydra's sweepers optimise (e.g. optuna): test mean IoU when known.
    return None if not result.metrics else float(result.metrics.get("mean_iou", float("nan")))


if __name__ == "__main__":
    main()
