"""python -m cmpcv.evaluate, through hydra's compose API, and a few command lines as users type them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from cmpcv.evaluate import run, write_example_predictions
from cmpcv.predictions import read_predictions, score_predictions

ROOT = Path(__file__).resolve().parents[2]
CONF = str(ROOT / "conf")


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


def test_zero_batch_size_is_refused_not_replaced(tmp_path):
    with pytest.raises(ValueError, match=r"^batch_size=0 must be an integer >= 1$"):
        run(config("checkpoint=x.pt", "batch_size=0", f"output_dir={tmp_path / 'out'}"))
    assert not (tmp_path / "out").exists()


def test_dataset_group_is_selectable():
    cfg = config("dataset=shapes")
    assert cfg.get("dataset") is not None


# ------------------------------------------------------------------------------ the command line
def evaluate_cli(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CMPCV_OUTPUT_DIR", None)
    return subprocess.run([sys.executable, "-m", "cmpcv.evaluate", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_rle_short_of_its_mask_is_one_line_not_a_hang(tmp_path):
    """An RLE whose counts do not cover its size ("jn02" for 48x64) sent pycocotools' merge into
    an endless loop: the command must answer at once (the timeout fails the test otherwise)."""
    path = write_example_predictions(tmp_path / "p.jsonl", num_samples=4)
    lines = path.read_text().splitlines()
    record = json.loads(lines[3])
    record["masks"][1]["counts"] = "jn02"
    lines[3] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    proc = evaluate_cli(tmp_path, "predictions=p.jsonl", timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        "error: p.jsonl: record 3 (line 4, sample id 'example_0002'): mask 1: the counts cover 988 pixels, "
        "but size [48, 64] has 3072"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.jsonl"]  # no output folder for a failure


def test_output_folder_only_with_results(tmp_path):
    proc = evaluate_cli(tmp_path, "example=true")
    assert proc.returncode == 0, proc.stderr
    (out,) = (tmp_path / "outputs" / "evaluate").glob("*/*")
    assert sorted(p.name for p in out.iterdir()) == [
        "example_predictions.jsonl", "metrics.json", "results.csv", "results.md", "results.tex"]
    assert f"wrote {out.relative_to(tmp_path) / 'results.md'}" in proc.stdout
    for bad in (["predictions=missing.jsonl"], [], ["no_such_key=1"]):
        proc = evaluate_cli(tmp_path, *bad)
        assert proc.returncode == 2, (bad, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("Could not override 'no_such_key'")  # hydra's own message
    assert len(list((tmp_path / "outputs" / "evaluate").glob("*/*"))) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outputs"]
