"""The results of a test pass: tables (Markdown / CSV / LaTeX), raw metrics, logger table.

Written into the run directory at the end of training, with the published rows of the dataset
(``cmpcv/results/published.yaml``) above our row when the dataset has any, and a per-group table
(e.g. the shapes set's entity / attribute / relation / action) when the samples carry groups.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cmpcv.data.atomic import atomic_write_text
from cmpcv.results import (
    group_table,
    load_published,
    published_rows,
    published_title,
    render_csv,
    render_latex,
    render_markdown,
    results_table,
    row_from_metrics,
)


def results_markdown(metrics: dict[str, float], per_group: dict[str, dict[str, float]], *, dataset: str,
                     protocol: str, name: str) -> tuple[str, str, str]:
    """``(markdown, csv, latex)`` of the main table, the Markdown with the group table appended."""
    known = dataset in load_published().get("datasets", {})
    rows = (published_rows(dataset) if known else []) + [row_from_metrics(name, metrics, protocol)]
    title = published_title(dataset) if known else f"{dataset}: test split"
    table = results_table(rows, title=title)
    md = render_markdown(table)
    if per_group:
        md += "\n\n" + render_markdown(group_table(per_group, protocol, title=f"{name}: per group"))
    return md, render_csv(table), render_latex(table)


def write_results(run_dir: str | os.PathLike, result: Any, *, dataset: str, protocol: str, name: str,
                  logger: Any = None, step: int = 0) -> Path:
    """Write ``results.md``/``.csv``/``.tex`` and ``metrics.json`` (atomically) into ``run_dir``,
    print the Markdown, log the table; returns the Markdown's path."""
    run_dir = Path(run_dir)
    md, csv_text, tex = results_markdown(result.metrics, result.per_group, dataset=dataset, protocol=protocol,
                                         name=name)
    atomic_write_text(run_dir / "results.md", md + "\n")
    atomic_write_text(run_dir / "results.csv", csv_text)
    atomic_write_text(run_dir / "results.tex", tex)
    atomic_write_text(run_dir / "metrics.json", json.dumps(
        {"metrics": result.metrics, "per_group": result.per_group, "num_samples": result.num_samples,
         "protocol": protocol, "dataset": dataset, "step": step}, indent=2, default=float) + "\n")
    print(md, flush=True)
    if logger is not None:
        cols = ["group", *sorted(result.metrics)]
        rows = [["all", *[result.metrics[k] for k in sorted(result.metrics)]]]
        rows += [[g, *[m.get(k) for k in sorted(result.metrics)]] for g, m in result.per_group.items()]
        logger.log_table("test/results", cols, rows, step=step)
        logger.log_metrics({f"test/{k}": v for k, v in result.metrics.items()}, step=step)
    return run_dir / "results.md"
