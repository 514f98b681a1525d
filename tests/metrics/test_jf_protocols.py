"""Published J&F rows and the per-protocol reports (davis / refdavis / mevis) that the CLI renders."""
from __future__ import annotations

import numpy as np
import pytest

from cmpcv.data.davis17.format import write_davis17, write_results

from cmpcv.results import load_published, published_columns, published_rows, render_markdown
from cmpcv.results.jf_protocols import run_davis, run_mevis, run_refdavis

JF_DATASETS = ("ytvos", "refdavis", "mevis_valid_u", "mevis_valid")


def test_cmpcv_refer_youtube_vos_row():
    rows = {r.label: r for r in published_rows("ytvos")}
    cmpcv = rows["CMPC-V (I3D)"]
    assert [cmpcv.values[k] for k in ("J&F", "J", "F")] == [47.5, 45.6, 49.3]
    assert (cmpcv.source, cmpcv.protocol) == ("LATER", "server")


def test_every_jf_row_is_sourced_and_consistent():
    sources = load_published()["sources"]
    for dataset in JF_DATASETS:
        assert [key for key, _ in published_columns(dataset)] == ["J&F", "J", "F"]
        for row in published_rows(dataset):
            assert row.source in sources and row.protocol in ("server", "davis2017", "mevis")
            jf, j, f = (row.values[k] for k in ("J&F", "J", "F"))
            assert 0 < jf < 100
            if j is not None:  # J&F is the mean of J and F, to the printed precision
                assert abs((j + f) / 2 - jf) <= 0.051, row.label
    assert [key for key, _ in published_columns("a2d")][:2] == ["P@0.5", "P@0.6"]


@pytest.fixture(scope="module")
def tiny_davis(tmp_path_factory):
    """Two sequences of 10x12 frames (5 and 256 frames), two objects, four results folders."""
    tmp_path = tmp_path_factory.mktemp("tiny_davis")
    rng = np.random.default_rng(9)
    gt = {"short": np.zeros((5, 10, 12), np.uint8), "long": np.zeros((256, 10, 12), np.uint8)}
    for labels in gt.values():
        labels[:, 1:6, 1:6] = 1
        labels[:, 5:9, 6:11] = 2
    write_davis17(tmp_path / "DAVIS", gt, atomic=False)
    roots = []
    for k in range(4):
        noisy = {s: np.where(rng.random(v.shape) < 0.1 * (k + 1), 0, v) for s, v in gt.items()}
        write_results(tmp_path / f"set{k}", noisy, atomic=False)
        roots.append(tmp_path / f"set{k}")
    return tmp_path / "DAVIS", roots


def test_refdavis_report(tiny_davis):
    davis, roots = tiny_davis
    report = run_refdavis(davis, roots, name="mine", progress=False)
    main, per_set, reference = (render_markdown(t).splitlines() for t in report.tables)
    assert main[0] == "**Ref-DAVIS17 (val, mean of the four expression sets; trained on Refer-YouTube-VOS)**"
    assert main[2] == "| Method | J&F | J | F | Protocol | Source |"
    jf = 100 * report.metrics["J&F-Mean"]
    assert main[-1] == (f"| mine | {jf:.1f} | {100 * report.metrics['J-Mean']:.1f} | "
                        f"{100 * report.metrics['F-Mean']:.1f} | davis2017 | mean of 4 sets |")
    assert main[-2].startswith("| SAMWISE (SAM2) | 70.6 | – | – | davis2017 |")
    assert len(per_set) == 4 + 5 and per_set[-1] == main[-1]
    assert per_set[4].startswith(f"| mine, set 0 | {100 * report.metrics['sets'][0]['J&F-Mean']:.1f} |")
    assert any(line.startswith("| CMPC-V (I3D) | 47.5 | 45.6 | 49.3 | server | LATER |") for line in reference)


def test_davis_report_prints_negative_and_missing_decay(tiny_davis):
    davis, roots = tiny_davis
    report = run_davis(davis, roots[3], progress=False)
    figures = render_markdown(report.tables[1]).splitlines()
    assert figures[2] == "| Method | J&F | J-Mean | J-Recall | J-Decay | F-Mean | F-Recall | F-Decay | Protocol | Source |"
    # the 256-frame video makes decay NaN (the toolkit's uint8 bins): printed as missing
    cells = figures[-1].split(" | ")
    assert cells[4] == "–" and cells[7] == "–"
    corrected = run_davis(davis, roots[3], decay="corrected", progress=False)
    decay = corrected.metrics["J-Decay"]
    assert render_markdown(corrected.tables[1]).splitlines()[-1].split(" | ")[4] == f"{100 * decay:.1f}"


def test_mevis_report(mevis_case):
    report = run_mevis(mevis_case["meta"], mevis_case["masks"], mevis_case["results"], progress=False)
    main = render_markdown(report.tables[0]).splitlines()
    assert main[0] == "**MeViS (valid_u, scored offline)**"
    assert main[4].startswith("| LMPM (Swin-T) | 40.2 | 36.5 | 43.9 | mevis | MEVIS_README |")
    assert main[-1].startswith(f"| ours | {100 * report.metrics['J&F']:.1f} |")
    assert report.metrics["missing_videos"] == ["vid_missing"]
