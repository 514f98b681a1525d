"""Validation, the end-of-training test pass, wandb offline, and ``cmpcv.evaluate checkpoint=...``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cmpcv.engine.checkpoint import load_checkpoint
from cmpcv.engine.inference import foreground_score
from cmpcv.train import run


def test_foreground_score_ignores_padding():
    import torch

    prob = torch.tensor([[0.9, 0.7, 0.99], [0.2, 0.1, 0.99]])
    geometry = {"pad": (0, 0, 0, 1)}  # last column is padding
    assert foreground_score(prob, geometry) == pytest.approx(0.8)
    assert foreground_score(torch.full((2, 2), 0.3), {"pad": (0, 0, 0, 0)}) == pytest.approx(0.3)


def test_train_validate_test_wandb_and_evaluate(
    compose_train, a2d_fixture_root, jhmdb_fixture_root, tmp_path, monkeypatch
):
    from hydra import compose, initialize_config_dir

    from cmpcv.evaluate import run as evaluate_run
    from cmpcv.predictions import read_predictions
    from tests.engine.conftest import CONF

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run_dir = tmp_path / "run"
    over = (
        "logger=wandb",
        "logger.name=engine-test",
        "trainer.val_every=1",
        "trainer.num_overlays=3",
        "trainer.test_at_end=true",
    )
    first = run(compose_train(*over, "trainer.max_steps=1"), run_dir)
    ck1 = load_checkpoint(first.checkpoint)
    assert ck1["wandb_id"] and (run_dir / "checkpoints" / "best.pt").is_file()
    result = run(compose_train(*over, "trainer.max_steps=2"), run_dir)  # resumes, same wandb run
    ck = load_checkpoint(result.checkpoint)
    assert ck["step"] == 2 and ck["wandb_id"] == ck1["wandb_id"] and ck["best"] is not None
    runs = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and all(r.name.endswith(ck1["wandb_id"]) for r in runs)
    assert any(r.suffix == ".wandb" for r in runs[-1].iterdir())
    media = list((runs[-1] / "files" / "media").rglob("*.png"))
    assert len(media) == 3  # the validation overlays of step 2
    # the test pass: predictions with one scored mask per test sample at ground-truth size, a table
    preds = read_predictions(result.predictions)
    assert len(preds.records) == 8 and all(
        len(r.masks) == 1 and 0.0 <= r.scores[0] <= 1.0 for r in preds.records
    )
    assert all(r.gt is not None and list(r.size) == r.gt["size"] for r in preds.records)
    assert (run_dir / "results.md").read_text().count("cmpcv (this run)") == 1
    trained = json.loads((run_dir / "metrics.json").read_text())["metrics"]

    # python -m cmpcv.evaluate checkpoint=last.pt dataset=a2d_fixture gives the same numbers
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        ecfg = compose(
            "evaluate",
            overrides=[
                f"checkpoint={result.checkpoint}",
                "dataset=a2d_fixture",
                f"dataset.root={a2d_fixture_root}",
                f"output_dir={tmp_path / 'eval'}",
                "num_workers=0",
                "device=cpu",
                "batch_size=3",
            ],
        )
    report = evaluate_run(ecfg)
    assert (tmp_path / "eval" / "results.md").is_file()
    assert (tmp_path / "eval" / "predictions_a2d_fixture_test.jsonl.gz").is_file()
    for key, value in trained.items():
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        assert report["metrics"][key] == pytest.approx(value, abs=1e-9), key

    # J-HMDB is evaluated with the A2D-trained checkpoint (the protocol): one record per sample
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        jcfg = compose(
            "evaluate",
            overrides=[
                f"checkpoint={result.checkpoint}",
                "dataset=jhmdb_fixture",
                f"dataset.root={jhmdb_fixture_root}",
                f"output_dir={tmp_path / 'jhmdb'}",
                "num_workers=0",
                "device=cpu",
            ],
        )
    jreport = evaluate_run(jcfg)
    jpreds = read_predictions(tmp_path / "jhmdb" / "predictions_jhmdb_fixture_test.jsonl.gz")
    assert jreport["num_samples"] == len(jpreds.records) > 0
    assert all(r.sample_id.startswith("v_") and "_i_" not in r.sample_id for r in jpreds.records)
