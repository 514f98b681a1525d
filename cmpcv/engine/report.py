"""The results of the test pass at the end of training.

The tables are written by the same code as ``python -m cmpcv.evaluate predictions=PATH``
(:func:`cmpcv.results.report.write_report`): ``results.md``/``.csv``/``.tex`` and ``metrics.json``
in the run directory, the dataset's published rows above ours, a per-group table when the samples
carry groups (the shapes set's ``groups.json``). Here they are also handed to the experiment logger.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cmpcv.results.report import write_report


def write_results(
    run_dir: str | os.PathLike,
    predictions: str | os.PathLike,
    *,
    protocol: str,
    name: str,
    logger: Any = None,
    step: int = 0,
) -> Path:
    """Score ``predictions`` and write the tables into ``run_dir``; returns ``results.md``'s path."""
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    report = write_report(predictions, run_dir, protocol=protocol, name=name, published="auto")
    if logger is not None:
        metrics, per_group = report["metrics"], report.get("groups") or {}
        keys = sorted(metrics)
        rows = [["all", *[metrics[k] for k in keys]]] + [
            [g, *[m.get(k) for k in keys]] for g, m in per_group.items()
        ]
        logger.log_table("test/results", ["group", *keys], rows, step=step)
        logger.log_metrics(
            {f"test/{k}": v for k, v in metrics.items() if isinstance(v, (int, float))}, step=step
        )
        for g, m in per_group.items():
            logger.log_metrics({f"test/{g}/{k}": m[k] for k in ("mean_iou", "P@0.5") if k in m}, step=step)
    return Path(run_dir) / "results.md"
