"""Results tables: the published rows (``published.yaml``) and ours, as Markdown / CSV / LaTeX."""
from cmpcv.results.tables import (
    COLUMNS,
    JF_COLUMNS,
    Row,
    Table,
    group_table,
    load_published,
    published_columns,
    published_rows,
    published_title,
    render_csv,
    render_latex,
    render_markdown,
    results_table,
    row_from_metrics,
)

__all__ = [
    "COLUMNS",
    "JF_COLUMNS",
    "Row",
    "Table",
    "group_table",
    "load_published",
    "published_columns",
    "published_rows",
    "published_title",
    "render_csv",
    "render_latex",
    "render_markdown",
    "results_table",
    "row_from_metrics",
]
