"""The J&F protocols, one function each, as ``python -m cmpcv.evaluate protocol=...`` runs them:
score a results folder and lay the figures out next to the published rows.

* :func:`run_davis`: one DAVIS-2017 results folder (unsupervised or semi-supervised);
* :func:`run_refdavis`: Ref-DAVIS17, four results folders and their mean;
* :func:`run_mevis`: a MeViS split (``valid_u`` by default).

Each returns a :class:`JFReport`: the metrics (fractions, as :mod:`cmpcv.metrics.davis` /
:mod:`cmpcv.metrics.mevis` return them), the rows, and the tables to render with
:func:`~cmpcv.results.tables.render_markdown` / ``render_csv`` / ``render_latex``. The first
table is the benchmark's (published rows, then ours); the last is the published
Refer-YouTube-VOS table, where CMPC-V's own J&F is (there is no CMPC-V number on Ref-DAVIS17
or MeViS), for reference only: it is not the same benchmark.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from cmpcv.results.tables import (
    JF_COLUMNS,
    Row,
    Table,
    published_rows,
    published_title,
    results_table,
    row_from_metrics,
)

__all__ = ["DAVIS_FIGURES", "JFReport", "run_davis", "run_mevis", "run_refdavis"]

#: The DAVIS toolkit's seven global figures as (metric key, column title).
DAVIS_FIGURES = (("J&F-Mean", "J&F"), ("J-Mean", "J-Mean"), ("J-Recall", "J-Recall"), ("J-Decay", "J-Decay"),
                 ("F-Mean", "F-Mean"), ("F-Recall", "F-Recall"), ("F-Decay", "F-Decay"))


@dataclass
class JFReport:
    metrics: dict
    rows: list[Row]
    tables: list[Table] = field(default_factory=list)


def _jf(metrics: Mapping) -> dict:
    """``{"J&F", "J", "F"}`` from either a DAVIS result (``J&F-Mean``, ...) or a MeViS one."""
    if "J&F-Mean" in metrics:
        return {"J&F": metrics["J&F-Mean"], "J": metrics["J-Mean"], "F": metrics["F-Mean"]}
    return {key: metrics[key] for key in ("J&F", "J", "F")}


def _reference_table() -> Table:
    title = published_title("ytvos") + ": published, for reference"
    return results_table(published_rows("ytvos"), title=title, columns=JF_COLUMNS)


def _benchmark_table(ours: list[Row], published: str | None, title: str) -> tuple[list[Row], Table]:
    rows = (published_rows(published) if published else []) + ours
    return rows, results_table(rows, title=published_title(published) if published else title, columns=JF_COLUMNS)


def run_davis(davis_root: str | os.PathLike, results: str | os.PathLike, *, task: str = "unsupervised",
              split: str = "val", name: str = "ours", published: str | None = None, decay: str = "toolkit",
              progress: bool = True, workers: int = 1) -> JFReport:
    """DAVIS-2017 J&F of one results folder. ``published``: a dataset of ``published.yaml`` to
    list above our row (e.g. ``refdavis`` when the folder is one Ref-DAVIS17 expression set)."""
    from cmpcv.metrics.davis import evaluate_davis

    metrics = evaluate_davis(davis_root, results, task=task, split=split, decay=decay, progress=progress,
                             workers=workers)
    ours = row_from_metrics(name, _jf(metrics), protocol="davis2017", source=str(results), columns=JF_COLUMNS)
    rows, main = _benchmark_table([ours], published, f"DAVIS-2017 {split} ({task})")
    # Decay may be negative (better at the end) or NaN (see docs/evaluation.md, "J&F"): x100 as it is.
    values = {key: None if math.isnan(metrics[key]) else 100.0 * metrics[key] for key, _ in DAVIS_FIGURES}
    figures = results_table([Row(method=name, values=values, protocol="davis2017", source=str(results))],
                            title=f"DAVIS-2017 toolkit figures, {split} ({task})", columns=DAVIS_FIGURES)
    return JFReport(metrics, rows, [main, figures, _reference_table()])


def run_refdavis(davis_root: str | os.PathLike, results: Sequence[str | os.PathLike], *, split: str = "val",
                 name: str = "ours", decay: str = "toolkit", progress: bool = True, workers: int = 1) -> JFReport:
    """Ref-DAVIS17: the four expression sets (annotator 1 first-frame, annotator 1 full-video,
    annotator 2 first-frame, annotator 2 full-video) and their mean, next to the published rows."""
    from cmpcv.metrics.davis import evaluate_refdavis

    metrics = evaluate_refdavis(davis_root, results, split=split, decay=decay, progress=progress, workers=workers)
    ours = row_from_metrics(name, _jf(metrics), protocol="davis2017", source="mean of 4 sets", columns=JF_COLUMNS)
    rows, main = _benchmark_table([ours], "refdavis", "Ref-DAVIS17")
    sets = [row_from_metrics(f"{name}, set {k}", _jf(m), protocol="davis2017", source=str(m["results"]),
                             columns=JF_COLUMNS) for k, m in enumerate(metrics["sets"])]
    per_set = results_table(sets + [ours], title=f"Ref-DAVIS17 {split}: the four expression sets and their mean",
                            columns=JF_COLUMNS)
    return JFReport(metrics, rows, [main, per_set, _reference_table()])


def run_mevis(meta_expressions: str | os.PathLike, mask_dict: str | os.PathLike, results: str | os.PathLike, *,
              name: str = "ours", published: str | None = "mevis_valid_u", progress: bool = True,
              workers: int = 1, groups: Mapping[str, str] | None = None) -> JFReport:
    """MeViS J&F of one results folder (``valid_u`` ground truth by default). ``groups``
    (``{"<video>_<exp_id>": group}``, e.g. the synthetic set's subsets) adds a table of each
    group's J&F (means over its expressions, as the split's figures) to ``metrics["groups"]``."""
    from cmpcv.metrics.mevis import evaluate_mevis

    metrics = evaluate_mevis(meta_expressions, mask_dict, results, progress=progress, workers=workers)
    ours = row_from_metrics(name, _jf(metrics), protocol="mevis", source=str(results), columns=JF_COLUMNS)
    rows, main = _benchmark_table([ours], published, "MeViS")
    tables = [main]
    if groups:
        per: dict[str, list[tuple[float, float]]] = {}
        for key, jf in metrics["per_expression"].items():
            if key in groups:
                per.setdefault(groups[key], []).append(jf)
        figures = {g: {"J": float(np.mean([j for j, _ in v])), "F": float(np.mean([f for _, f in v])),
                       "expressions": len(v)} for g, v in sorted(per.items())}
        for fig in figures.values():
            fig["J&F"] = (fig["J"] + fig["F"]) / 2
        metrics["groups"] = figures
        tables.append(results_table(
            [row_from_metrics(f"{name}, {g} ({fig['expressions']})", fig, protocol="mevis", source=str(results),
                              columns=JF_COLUMNS) for g, fig in figures.items()] + [ours],
            title="J&F by subset (expressions in brackets)", columns=JF_COLUMNS))
    return JFReport(metrics, rows, tables + [_reference_table()])
