"""python -m cmpcv.data.check dataset=ytvos on the fixture tree, intact and broken."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from PIL import Image

from cmpcv.data.check import run_check
from cmpcv.data.davis17.format import write_label_png
from cmpcv.data.ytvos import ytvos_paths

CONF = str(Path(__file__).resolve().parents[2] / "conf")


def _check(root, *overrides):
    with initialize_config_dir(config_dir=CONF, version_base=None):
        return run_check(compose("check", overrides=["dataset=ytvos_fixture", f"dataset.root={root}", *overrides]))


def test_intact_tree(ytvos_fixture_root):
    r = _check(ytvos_fixture_root)
    assert r.errors == []
    assert r.counts == {"train videos": 3, "train samples": 34, "valid videos": 2, "valid samples": 24,
                        "test videos": 1, "test samples": 6}
    assert r.published == {"train videos": 3471, "valid videos": 202, "test videos": 305}
    # the fixture's one expression whose object never appears
    assert r.warnings == [f"{ytvos_paths(ytvos_fixture_root).meta_expressions('train')}: video 2b3c4d5e6f: "
                          "expression 1 refers to object 2, which appears in none of its 4 masks"]
    assert any("24 expressions in the train and valid metas (published: 15,009)" in n for n in r.notes)
    assert "OK" in r.format()


def test_every_problem_is_named(ytvos_fixture_root, tmp_path):
    root = Path(shutil.copytree(ytvos_fixture_root, tmp_path / "t"))
    p = ytvos_paths(root)
    p.meta_json.unlink()  # an older download
    p.frame("train", "0a1b2c3d4e", "00010").unlink()
    p.frame("valid", "3c4d5e6f70", "00005").write_bytes(b"not a jpeg")
    p.annotation("1f2e3d4c5b", "00005").unlink()
    write_label_png(p.annotation("0a1b2c3d4e", "00020"), np.zeros((40, 64), np.uint8))
    Image.open(p.annotation("2b3c4d5e6f", "00000")).convert("RGB").save(p.annotation("2b3c4d5e6f", "00000"))
    p.frames_dir("valid", "4d5e6f7081").rename(p.frames_dir("valid", "4d5e6f7081-renamed"))
    r = _check(root)
    text = "\n".join(r.errors)
    assert "0a1b2c3d4e/00010.jpg: listed frame not found" in text
    assert "3c4d5e6f70/00005.jpg: could not read the frame header" in text
    assert "1f2e3d4c5b/00005.png: mask not found" in text
    assert "0a1b2c3d4e/00020.png: mask is 40x64 but the frame is 48x64 (H x W)" in text
    assert "2b3c4d5e6f/00000.png: mask: expected an indexed (palette) or greyscale PNG, got mode RGB" in text
    assert "4d5e6f7081: frame folder of video 4d5e6f7081 not found (a renamed or missing video)" in text
    # the bad masks are found while indexing too (no meta.json: presence comes from the masks): listed once
    assert len(r.errors) == 6, text
    assert any("meta.json is absent" in n for n in r.notes)
    assert r.counts["valid videos"] == 1


def test_missing_test_meta_and_a_background_obj_id(ytvos_fixture_root, tmp_path):
    root = Path(shutil.copytree(ytvos_fixture_root, tmp_path / "t"))
    p = ytvos_paths(root)
    p.meta_expressions("test").unlink()
    meta = json.loads(p.meta_expressions("train").read_text())
    meta["videos"]["0a1b2c3d4e"]["expressions"]["0"]["obj_id"] = "0"
    p.meta_expressions("train").write_text(json.dumps(meta))
    r = _check(root)
    text = "\n".join(r.errors)
    assert "meta_expressions/test/meta_expressions.json: not found: the 202 validation videos" in text
    assert "video 0a1b2c3d4e: expression 0: 'obj_id' must be a mask object id 1-255" in text
    assert "valid videos" not in r.counts and r.counts["train samples"] == 34 - 6
