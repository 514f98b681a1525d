"""The ablation script's rows (scripts/ablate_shapes.py): each composes on top of the demo's
config into the model its row names, and that model builds."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import open_dict

from cmpcv.models import build_model

REPO = Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location("ablate_shapes", REPO / "scripts" / "ablate_shapes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("row", ["A", "B", "C", "D", "E"])
def test_every_row_composes_into_its_model(row):
    overrides = load_script().ROWS[row][1]
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=shapes", *overrides])
    with open_dict(cfg):
        cfg.model.language.vocab_size = 50
    model = build_model(cfg.model)  # e.g. a Tiny2D handed the demo's temporal_from would raise here
    assert type(model.backbone).__name__ == ("Tiny2D" if row in "BC" else "Tiny3D")
    assert model.cmpc.temporal_graph == (row != "C") and (cfg.dataset.clip.num_frames == 1) == (row == "C")
    assert all((lvl.relation is None) == (row == "D") for lvl in model.cmpc.levels)
    assert len(model.tgfe.rounds) == (0 if row == "E" else 2)
    assert model.head.refine is not None  # every row keeps the demo's head
