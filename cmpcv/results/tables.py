"""Results tables: published rows (from ``published.yaml``) + our rows -> Markdown / CSV / LaTeX.

Columns follow the papers: P@0.5 ... P@0.9, mAP, overall IoU, mean IoU (or J&F, J, F for the
J&F benchmarks), all x100 with one decimal; then the protocol that produced the row and its
source. A missing value prints as "–" (Markdown), "--" (LaTeX) or an empty cell (CSV).
"""
from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

#: (metric key, column title) in the papers' order.
COLUMNS = (
    ("P@0.5", "P@0.5"), ("P@0.6", "P@0.6"), ("P@0.7", "P@0.7"), ("P@0.8", "P@0.8"), ("P@0.9", "P@0.9"),
    ("mAP", "mAP"), ("overall_iou", "Overall IoU"), ("mean_iou", "Mean IoU"),
)
GROUP_COLUMNS = (("mean_iou", "Mean IoU"), ("P@0.5", "P@0.5"))
#: The J&F benchmarks' columns (Refer-YouTube-VOS, Ref-DAVIS17, MeViS).
JF_COLUMNS = (("J&F", "J&F"), ("J", "J"), ("F", "F"))
#: Column sets a dataset of ``published.yaml`` may name with ``columns:`` (default: ``precision``).
COLUMN_SETS = {"precision": COLUMNS, "jf": JF_COLUMNS}


@dataclass
class Row:
    """One table row; ``values`` are already x100 (None = missing)."""

    method: str
    values: dict[str, float | None]
    protocol: str
    source: str
    backbone: str | None = None

    @property
    def label(self) -> str:
        return f"{self.method} ({self.backbone})" if self.backbone else self.method


@dataclass
class Table:
    """A rendered-agnostic table: a header and rows of cells (strings or numbers or None)."""

    header: list[str]
    cells: list[list]
    numeric: list[bool]
    title: str | None = None


@lru_cache(maxsize=1)
def load_published() -> dict:
    """The parsed ``published.yaml`` (cached)."""
    text = resources.files("cmpcv.results").joinpath("published.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def published_columns(dataset: str) -> tuple:
    """The ``(metric key, column title)`` pairs of a dataset of ``published.yaml``."""
    data = load_published()
    if dataset not in data["datasets"]:
        raise ValueError(f"no published results for {dataset!r}; known: {sorted(data['datasets'])}")
    return COLUMN_SETS[data["datasets"][dataset].get("columns", "precision")]


def published_rows(dataset: str) -> list[Row]:
    """The published rows of ``dataset`` (``a2d``, ``jhmdb``, ``ytvos``, ``refdavis``,
    ``mevis_valid_u``, ``mevis_valid``), in the file's order."""
    data = load_published()
    columns = published_columns(dataset)
    rows = []
    for entry in data["datasets"][dataset]["rows"]:
        rows.append(Row(
            method=entry["method"], backbone=entry.get("backbone"), protocol=entry["protocol"],
            source=entry["source"],
            values={key: None if entry.get(key) is None else float(entry[key]) for key, _ in columns},
        ))
    return rows


def published_title(dataset: str) -> str:
    return load_published()["datasets"][dataset]["title"]


def _percent(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    # -1 is COCOeval's "no ground truth in this range", NaN "not defined by the protocol".
    if math.isnan(value) or value < 0:
        return None
    return 100.0 * value


def row_from_metrics(name: str, metrics: Mapping[str, float], protocol: str, source: str = "this run",
                     backbone: str | None = None, columns: Sequence[tuple[str, str]] = COLUMNS) -> Row:
    """A row from :func:`cmpcv.metrics.evaluate_samples`-style fractions (keys of ``columns``)."""
    return Row(method=name, backbone=backbone, protocol=protocol, source=source,
               values={key: _percent(metrics.get(key)) for key, _ in columns})


def results_table(rows: Sequence[Row], title: str | None = None,
                  columns: Sequence[tuple[str, str]] = COLUMNS) -> Table:
    header = ["Method"] + [title_ for _, title_ in columns] + ["Protocol", "Source"]
    cells = [[r.label] + [r.values.get(key) for key, _ in columns] + [r.protocol, r.source] for r in rows]
    numeric = [False] + [True] * len(columns) + [False, False]
    return Table(header=header, cells=cells, numeric=numeric, title=title)


def group_table(
    per_group: Mapping[str, Mapping[str, float]], protocol: str, title: str | None = None
) -> Table:
    """Mean IoU and P@0.5 (x100) per group."""
    header = ["Group"] + [t for _, t in GROUP_COLUMNS] + ["Protocol"]
    cells = [[name] + [_percent(m.get(key)) for key, _ in GROUP_COLUMNS] + [protocol]
             for name, m in per_group.items()]
    return Table(header=header, cells=cells, numeric=[False, True, True, False], title=title)


def _fmt(value, missing: str) -> str:
    if value is None:
        return missing
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def render_markdown(table: Table) -> str:
    def line(items):
        return "| " + " | ".join(items) + " |"

    out = [f"**{table.title}**", ""] if table.title else []
    out.append(line(table.header))
    out.append(line(["---:" if num else "---" for num in table.numeric]))
    for row in table.cells:
        out.append(line([_fmt(v, "–").replace("|", "\\|") for v in row]))
    return "\n".join(out) + "\n"


def render_csv(table: Table) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(table.header)
    for row in table.cells:
        writer.writerow([_fmt(v, "") for v in row])
    return buf.getvalue()


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def render_latex(table: Table) -> str:
    """A ``tabular`` (booktabs rules), wrapped in a ``table`` with the title as caption."""
    spec = "".join("r" if num else "l" for num in table.numeric)
    lines = [r"\begin{table}[t]", r"\centering"]
    if table.title:
        lines.append(r"\caption{" + latex_escape(table.title) + "}")
    lines += [r"\begin{tabular}{" + spec + "}", r"\toprule",
              " & ".join(latex_escape(h) for h in table.header) + r" \\", r"\midrule"]
    for row in table.cells:
        lines.append(" & ".join(latex_escape(_fmt(v, "--")) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"
