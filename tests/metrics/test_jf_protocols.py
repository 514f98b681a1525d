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


def test_mevis_report_by_subset(mevis_case):
    """Each group's J and F are the means over its expressions' (hand-checked against the
    per-expression figures); expressions outside ``groups`` count only in the split's row."""
    report = run_mevis(mevis_case["meta"], mevis_case["masks"], mevis_case["results"], progress=False)
    per = report.metrics["per_expression"]
    keys = sorted(per)
    assert len(keys) >= 3
    groups = {keys[0]: "action", keys[1]: "action", keys[2]: "entity"}
    grouped = run_mevis(mevis_case["meta"], mevis_case["masks"], mevis_case["results"], progress=False,
                        groups=groups)
    action = grouped.metrics["groups"]["action"]
    assert action["expressions"] == 2
    assert action["J"] == pytest.approx((per[keys[0]][0] + per[keys[1]][0]) / 2)
    assert action["F"] == pytest.approx((per[keys[0]][1] + per[keys[1]][1]) / 2)
    assert action["J&F"] == pytest.approx((action["J"] + action["F"]) / 2)
    assert grouped.metrics["groups"]["entity"]["J"] == pytest.approx(per[keys[2]][0])
    table = render_markdown(grouped.tables[1]).splitlines()
    assert table[0] == "**J&F by subset (expressions in brackets)**"
    assert table[4].startswith(f"| ours, action (2) | {100 * action['J&F']:.1f} | {100 * action['J']:.1f} |")
    assert table[-1] == render_markdown(report.tables[0]).splitlines()[-1]  # the split's own row


def _evaluate(*overrides):
    from cmpcv.evaluate import run
    from tests.metrics.test_evaluate_app import config

    return run(config(*overrides))


def test_cli_davis_and_refdavis_write_the_reports(tiny_davis, tmp_path, capsys):
    import json

    davis, roots = tiny_davis
    report = _evaluate("protocol=davis", f"davis_root={davis}", f"results={roots[1]}", f"output_dir={tmp_path / 'd'}")
    direct = run_davis(davis, roots[1], name="cmpcv (this run)", progress=False)
    assert report["metrics"]["J&F-Mean"] == direct.metrics["J&F-Mean"]
    md = (tmp_path / "d" / "results.md").read_text()
    assert md == "\n".join(render_markdown(t) for t in direct.tables) and md in capsys.readouterr().out
    saved = json.loads((tmp_path / "d" / "metrics.json").read_text())
    assert saved["protocol"] == "davis" and saved["split"] == "val"
    assert saved["metrics"]["J-Decay"] is None  # NaN (the 256-frame video) written as null

    listed = "results=[" + ",".join(str(r) for r in roots) + "]"
    report = _evaluate("protocol=refdavis", f"davis_root={davis}", listed, f"output_dir={tmp_path / 'r'}")
    assert report["metrics"]["J&F-Mean"] == run_refdavis(davis, roots, progress=False).metrics["J&F-Mean"]
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["metrics.json", "results.csv", "results.md",
                                                                    "results.tex"]


def test_cli_mevis_reports_missing_videos(mevis_case, tmp_path, capsys):
    report = _evaluate("protocol=mevis", f"meta={mevis_case['meta']}", f"masks={mevis_case['masks']}",
                       f"results={mevis_case['results']}", f"output_dir={tmp_path}")
    assert report["metrics"]["J&F"] == run_mevis(mevis_case["meta"], mevis_case["masks"], mevis_case["results"],
                                                 progress=False).metrics["J&F"]
    assert "warning: 1 video(s) have no prediction folder and score 0: vid_missing" in capsys.readouterr().out


@pytest.mark.parametrize("overrides, message", [
    (["protocol=davis"], "protocol=davis needs davis_root=PATH"),
    (["protocol=refdavis", "davis_root=.", "results=only_one"], "needs results=[A1,A1_FULL,A2,A2_FULL]"),
    (["protocol=mevis", "meta=nowhere.json"], "meta=nowhere.json: no such file"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, overrides, message):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "cmpcv.evaluate", *overrides, f"output_dir={tmp_path / 'out'}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
