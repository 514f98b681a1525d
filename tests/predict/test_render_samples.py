"""``scripts/render_samples.py``: ground truth vs prediction for samples of the checkpoint's dataset."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cmpcv.predict import PredictError

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "render_samples.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("render_samples", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_renders_samples_of_the_checkpoint_dataset(script, checkpoint, a2d_fixture_root, tmp_path, capsys):
    # The checkpoint's config names the a2d_fixture dataset (64x64 input); point it at the tree.
    paths = script.main([f"checkpoint={checkpoint}", f"dataset.root={a2d_fixture_root}", "n=2",
                         f"out={tmp_path}", "device=cpu", "min_side=128"])
    assert len(paths) == 2 and all(p.parent == tmp_path and p.suffix == ".png" for p in paths)
    printed = capsys.readouterr().out
    assert "mean IoU" in printed
    for p in paths:
        picture = np.asarray(Image.open(p))
        assert picture.ndim == 3 and picture.shape[0] > 128  # panels enlarged to >= 128, caption below
        # Two panels of one width with a 4-pixel white gap between them.
        gap = (picture.shape[1] - 4) // 2
        assert (picture[:128, gap:gap + 4] == 255).all()
    with pytest.raises(PredictError, match="not in this split"):
        script.main([f"checkpoint={checkpoint}", f"dataset.root={a2d_fixture_root}", "ids=[nope]",
                     f"out={tmp_path}", "device=cpu"])


def test_iou_of_empty_masks_is_one(script):
    empty = np.zeros((4, 4), bool)
    full = np.ones((4, 4), bool)
    assert script._iou(empty, empty) == 1.0 and script._iou(full, empty) == 0.0
    half = full.copy()
    half[:2] = False
    assert script._iou(half, full) == 0.5
