"""Published rows and the Markdown / CSV / LaTeX renderers."""
from __future__ import annotations

import csv
import io

import pytest

from cmpcv.results import (
    group_table,
    published_rows,
    render_csv,
    render_latex,
    render_markdown,
    results_table,
    row_from_metrics,
)

KEYS = ("P@0.5", "P@0.6", "P@0.7", "P@0.8", "P@0.9", "mAP", "overall_iou", "mean_iou")


def values(row):
    return [row.values[k] for k in KEYS]


def test_cmpcv_rows_equal_the_seed_page():
    a2d = {r.label: r for r in published_rows("a2d")}
    # Papers With Code page of CMPC-V (the seed), as fractions there, x100 here.
    assert values(a2d["CMPC-V (I3D)"]) == [65.5, 59.2, 50.6, 34.2, 9.8, 40.4, 65.3, 57.3]
    assert values(a2d["CMPC-V (R2D)"]) == [59.0, 52.7, 43.4, 28.4, 6.8, 35.1, 64.9, 51.5]
    jhmdb = {r.label: r for r in published_rows("jhmdb")}
    assert values(jhmdb["CMPC-V (I3D)"]) == [81.3, 65.7, 37.1, 7.0, None, 34.2, 61.6, 61.7]
    for row in (a2d["CMPC-V (I3D)"], a2d["CMPC-V (R2D)"], jhmdb["CMPC-V (I3D)"]):
        assert row.source == "seed" and row.protocol == "cmpc"


def test_every_published_row_is_complete_and_sourced():
    for dataset in ("a2d", "jhmdb"):
        rows = published_rows(dataset)
        assert len(rows) >= 8
        for r in rows:
            assert r.source in ("seed", "SURVEY", "MEM") and r.protocol in ("cmpc", "paper")
            assert all(v is None or 0 <= v <= 100 for v in values(r))
    with pytest.raises(ValueError, match="no published results"):
        published_rows("refer_youtube_vos")


def our_table():
    metrics = {"P@0.5": 0.6555, "P@0.6": 0.5, "P@0.7": 0.25, "P@0.8": 0.125, "P@0.9": 0.0,
               "mAP": -1.0, "overall_iou": 0.72, "mean_iou": float("nan")}
    ours = row_from_metrics("ours_a", metrics, protocol="mttr", source="preds.jsonl")
    return results_table(published_rows("a2d")[:1] + [ours], title="A2D & co")


def test_markdown_columns_in_paper_order_x100_one_decimal():
    text = render_markdown(our_table())
    lines = text.splitlines()
    assert lines[0] == "**A2D & co**"
    assert lines[2] == ("| Method | P@0.5 | P@0.6 | P@0.7 | P@0.8 | P@0.9 | mAP | Overall IoU | Mean IoU "
                        "| Protocol | Source |")
    assert lines[-1] == "| ours_a | 65.5 | 50.0 | 25.0 | 12.5 | 0.0 | – | 72.0 | – | mttr | preds.jsonl |"
    assert lines[-2].startswith("| Hu et al. (ECCV16) | 34.8 | 23.6 |")
    assert lines[-2].endswith("| paper | MEM |")


def test_csv_round_trips():
    rows = list(csv.reader(io.StringIO(render_csv(our_table()))))
    assert rows[0][0] == "Method" and rows[0][-2:] == ["Protocol", "Source"]
    assert rows[-1] == ["ours_a", "65.5", "50.0", "25.0", "12.5", "0.0", "", "72.0", "", "mttr",
                        "preds.jsonl"]


def test_latex_escapes_and_marks_missing():
    text = render_latex(our_table())
    assert r"\caption{A2D \& co}" in text and r"\begin{tabular}{lrrrrrrrrll}" in text
    assert r"ours\_a & 65.5 & 50.0 & 25.0 & 12.5 & 0.0 & -- & 72.0 & -- & mttr & preds.jsonl \\" in text
    assert text.count(r"\\") == 3  # header + 2 rows


def test_group_table():
    per_group = {"action": {"mean_iou": 0.5, "P@0.5": 0.25}, "entity": {"mean_iou": 0.75, "P@0.5": 1.0}}
    table = group_table(per_group, protocol="mttr", title="Per group")
    assert render_markdown(table).splitlines()[-2:] == ["| action | 50.0 | 25.0 | mttr |",
                                                        "| entity | 75.0 | 100.0 | mttr |"]
