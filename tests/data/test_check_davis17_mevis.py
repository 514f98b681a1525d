"""python -m cmpcv.data.check dataset=davis17|mevis on the fixture trees, intact and broken."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir

from cmpcv.data.check import run_check
from cmpcv.data.davis17.format import DAVIS17Paths, write_label_png
from cmpcv.data.mevis.format import MeViSPaths

CONF = str(Path(__file__).resolve().parents[2] / "conf")


def _check(dataset, root, *overrides):
    with initialize_config_dir(config_dir=CONF, version_base=None):
        return run_check(compose("check", overrides=[f"dataset={dataset}", f"dataset.root={root}", *overrides]))


def test_davis17_intact_tree_lists_the_misspellings(davis17_fixture_root):
    r = _check("davis17_fixture", davis17_fixture_root)
    assert r.errors == [] and r.warnings == []
    assert r.counts == {"train videos": 2, "train samples": 44, "val videos": 2, "val samples": 60}
    assert r.published == {"train videos": 60, "val videos": 30}
    text = "\n".join(r.notes)
    for old, new in (("clasic-car", "classic-car"), ("dog-scale", "dogs-scale"), ("motor-bike", "motorbike")):
        assert f"Davis17_annot1.txt: video '{old}' read as '{new}' (line " in text
        assert f"Davis17_annot2_full_video.txt: video '{old}' read as '{new}' (line " in text
    assert len(r.notes) == 3 * 4


def test_davis17_problems_are_named(davis17_fixture_root, tmp_path):
    root = Path(shutil.copytree(davis17_fixture_root, tmp_path / "d"))
    davis = DAVIS17Paths(root / "DAVIS")
    (davis.images() / "gold-fish" / "00001.jpg").unlink()
    write_label_png(davis.mask_dir("motorbike") / "00002.png", np.zeros((40, 64), np.uint8))
    (davis.mask_dir("classic-car") / "00004.png").unlink()
    r = _check("davis17_fixture", root)
    text = "\n".join(r.errors)
    assert "gold-fish/00001.jpg: listed frame not found" in text
    assert "motorbike/00002.png: mask is 40x64 but the frame is 48x64 (H x W)" in text
    assert "classic-car/00004.png: mask not found" in text
    assert len(r.errors) == 3, text


def test_mevis_intact_tree_and_version(mevis_fixture_root):
    r = _check("mevis_fixture", mevis_fixture_root, "dataset.test.split=valid")
    assert r.errors == []
    assert r.counts["train videos"] == 2 and r.counts["train expressions"] == 5 and r.counts["train samples"] == 17
    assert r.counts["valid_u samples"] == 6 and r.counts["valid samples"] == 2
    # the train and valid_u metas hold no-target expressions: v2; valid has none: v1
    assert r.published["train expressions"] == 27502 and r.published["valid expressions"] == 2236
    notes = "\n".join(r.notes)
    assert "train/meta_expressions.json: looks like MeViS v2 (1 no-target expression(s); 1 refer to several" in notes
    assert "valid/meta_expressions.json: looks like MeViS v1 (0 no-target" in notes


def test_mevis_problems_are_named(mevis_fixture_root, tmp_path):
    root = Path(shutil.copytree(mevis_fixture_root, tmp_path / "m"))
    paths = MeViSPaths(root, "train")
    (paths.frames_dir("mv_train_a") / "00003.jpg").write_bytes(b"")
    masks = json.loads(paths.mask_dict.read_text())
    masks["101"] = [None] * 6  # object 1 of mv_train_a never appears
    masks["200"][1]["size"] = [40, 50]
    masks["200"][1]["counts"] = masks["200"][3]["counts"] = "0"  # not a valid cover of 40x50 / 40x54
    paths.mask_dict.write_text(json.dumps(masks))
    r = _check("mevis_fixture", root)
    text = "\n".join(r.errors)
    assert "mv_train_a/00003.jpg: could not read the frame header" in text
    assert "mask_dict.json: anno_id 200, frame 1:" in text
    assert len(r.errors) == 2, text
    assert any("expression 2 refers to anno_id(s) ['101'], empty in all 6 frames" in w for w in r.warnings)


def test_command_line(mevis_fixture_root, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(CONF).parent)}
    root = Path(shutil.copytree(mevis_fixture_root, tmp_path / "m"))
    command = [sys.executable, "-m", "cmpcv.data.check", "dataset=mevis_fixture", f"dataset.root={root}"]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=root)
    assert proc.returncode == 0 and proc.stdout.rstrip().endswith("OK"), proc.stdout + proc.stderr
    MeViSPaths(root, "valid_u").mask_dict.unlink()
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=root)
    assert proc.returncode == 2 and "valid_u/mask_dict.json: MeViS mask_dict.json not found" in proc.stdout  # bad input
