"""Score a predictions file and write its results tables: the report of an evaluation.

Used by ``python -m cmpcv.evaluate`` and by the test pass at the end of training
(:mod:`cmpcv.engine.report`), so both write the same files from the same code. Into ``out_dir``,
atomically: ``results.md``, ``results.csv``, ``results.tex`` (the dataset's published rows above
ours, and a per-group table when samples carry groups) and ``metrics.json`` (every metric,
unrounded; NaN, "not defined by the protocol", written as null).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from cmpcv.data.atomic import atomic_write_text
from cmpcv.predictions import load_coco_ground_truth, read_predictions, score_predictions
from cmpcv.results.tables import (
    group_table, published_rows, published_title, render_csv, render_latex, render_markdown, results_table,
    row_from_metrics,
)


def json_safe(obj: Any) -> Any:
    """``obj`` with every NaN replaced by None, so that it is strict JSON."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def published_block(choice: str, meta: dict) -> str | None:
    """The ``published.yaml`` block to show: ``choice``, or for ``"auto"`` the one of the file's dataset."""
    choice = str(choice).lower()
    if choice == "auto":
        dataset = str(meta.get("dataset") or "").lower()
        return "a2d" if "a2d" in dataset else "jhmdb" if "jhmdb" in dataset.replace("-", "") else None
    if choice in ("none", "null", ""):
        return None
    return choice


def write_report(predictions: str | os.PathLike, out_dir: str | os.PathLike, *, protocol: str, name: str,
                 ground_truth: str | os.PathLike | None = None, groups: str | os.PathLike | None = None,
                 published: str = "auto") -> dict:
    """Score ``predictions`` and write the tables and ``metrics.json`` into ``out_dir``.

    Args:
        predictions: a :mod:`cmpcv.predictions` file.
        out_dir: the folder of the outputs (it must exist).
        protocol: ``"mttr"`` or ``"cmpc"``.
        name: the label of our row.
        ground_truth: a COCO ground-truth file, when the predictions file carries none.
        groups: a JSON ``{sample_id: group}`` file, for the per-group table.
        published: a ``published.yaml`` block, ``"auto"`` (from the file's dataset) or ``"none"``.

    Returns the report written to ``metrics.json`` (before NaN becomes null); prints the Markdown
    tables and the files written.
    """
    path, out_dir = Path(predictions), Path(out_dir)
    preds = read_predictions(path)
    gt = load_coco_ground_truth(ground_truth) if ground_truth else None
    sample_groups = None
    if groups:
        sample_groups = json.loads(Path(groups).read_text(encoding="utf-8"))
        if not isinstance(sample_groups, dict):
            raise ValueError(f"{groups}: expected a JSON object {{sample_id: group}}")
    metrics, per_group = score_predictions(preds, gt, protocol=protocol, groups=sample_groups)

    block = published_block(published, preds.meta)
    rows = published_rows(block) if block else []
    rows.append(row_from_metrics(str(name), metrics, protocol, source=path.name))
    own_title = f"{preds.meta.get('dataset') or 'Results'} ({len(preds.records)} samples)"
    title = published_title(block) if block else own_title
    tables = [results_table(rows, title=title)]
    if per_group:
        tables.append(group_table(per_group, protocol, title="Per group"))

    report = {
        "name": str(name), "protocol": protocol, "predictions": str(path),
        "ground_truth": str(ground_truth) if ground_truth else None,
        "num_samples": len(preds.records), "meta": preds.meta,
        "metrics": metrics, "groups": per_group,
    }
    write_tables(out_dir, tables, report)
    return report


def write_tables(out_dir: str | os.PathLike, tables: list, report: dict) -> str:
    """Write ``tables`` as ``results.md`` / ``.csv`` / ``.tex`` and ``report`` as ``metrics.json``
    into the existing folder ``out_dir``, each atomically; print the Markdown and the files
    written, and return the Markdown."""
    out_dir = Path(out_dir)
    markdown = "\n".join(render_markdown(t) for t in tables)
    atomic_write_text(out_dir / "results.md", markdown)
    atomic_write_text(out_dir / "results.csv", "\n".join(render_csv(t) for t in tables))
    atomic_write_text(out_dir / "results.tex", "\n".join(render_latex(t) for t in tables))
    atomic_write_text(out_dir / "metrics.json", json.dumps(json_safe(report), indent=2, default=str) + "\n")
    print(markdown)
    print(f"wrote {out_dir / 'results.md'}, results.csv, results.tex, metrics.json")
    return markdown
