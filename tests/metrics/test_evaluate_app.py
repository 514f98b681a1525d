"""python -m cmpcv.evaluate, through hydra's compose API (no subprocess)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from cmpcv.evaluate import run, write_example_predictions
from cmpcv.predictions import read_predictions, score_predictions

CONF = str(Path(__file__).resolve().parents[2] / "conf")


def config(*overrides):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(config_name="evaluate", overrides=list(overrides))


def test_example_writes_all_outputs(tmp_path, capsys):
    run(config("example=true", f"output_dir={tmp_path}"))
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["example_predictions.jsonl", "metrics.json", "results.csv", "results.md", "results.tex"]
    saved = json.loads((tmp_path / "metrics.json").read_text())
    preds = read_predictions(tmp_path / "example_predictions.jsonl")
    metrics, per_group = score_predictions(preds)
    assert saved["metrics"] == metrics and saved["groups"] == per_group
    assert sorted(per_group) == ["action", "attribute", "entity", "relation"]
    assert 0.2 < metrics["mean_iou"] < 0.9  # the example spreads over the P@K range
    md = (tmp_path / "results.md").read_text()
    assert "| cmpcv (this run) |" in md and "**Per group**" in md
    assert md in capsys.readouterr().out


def test_example_is_deterministic(tmp_path):
    a = write_example_predictions(tmp_path / "a.jsonl")
    b = write_example_predictions(tmp_path / "b.jsonl")
    strip = lambda p: [r for r in p.read_text().splitlines()[1:]]  # noqa: E731 (header has a timestamp)
    assert strip(a) == strip(b)


def test_published_block_and_protocol(tmp_path):
    path = write_example_predictions(tmp_path / "p.jsonl", num_samples=8)
    out = tmp_path / "out"
    run(config(f"predictions={path}", f"output_dir={out}", "published=a2d", "protocol=cmpc", "name=mine"))
    md = (out / "results.md").read_text()
    assert "**A2D Sentences (test)**" in md
    assert "| CMPC-V (I3D) | 65.5 | 59.2 | 50.6 | 34.2 | 9.8 | 40.4 | 65.3 | 57.3 | cmpc | seed |" in md
    assert "| mine |" in md and md.count("| cmpc | p.jsonl |") == 1
    saved = json.loads((out / "metrics.json").read_text())  # strict JSON: NaN became null
    assert saved["protocol"] == "cmpc" and saved["metrics"]["AP_small"] is None


def test_nothing_to_evaluate():
    with pytest.raises(ValueError, match="nothing to evaluate"):
        run(config("output_dir=/nonexistent/never-created"))


def test_dataset_group_is_selectable():
    cfg = config("dataset=shapes")
    assert cfg.get("dataset") is not None
