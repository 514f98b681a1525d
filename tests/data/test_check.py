"""python -m cmpcv.data.check on fixture trees, intact and broken."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from cmpcv.data.a2d.format import a2d_paths
from cmpcv.data.check import run_check

CONF = str(Path(__file__).resolve().parents[2] / "conf")


def _cfg(*overrides):
    with initialize_config_dir(config_dir=CONF, version_base=None):
        return compose("check", overrides=list(overrides))


def test_intact_trees_pass(a2d_fixture_root, jhmdb_fixture_root):
    r = run_check(_cfg("dataset=a2d_fixture", f"dataset.root={a2d_fixture_root}"))
    assert r.errors == [] and r.counts == {"train": 18, "test": 8}
    assert r.published == {"train": 15747, "test": 3800}
    r = run_check(_cfg("dataset=jhmdb_fixture", f"dataset.root={jhmdb_fixture_root}"))
    assert r.errors == [] and r.counts == {"test": 9} and r.published == {"test": 2784}
    assert any("1 video(s) have more PNGs than masks" in n for n in r.notes)
    strict = run_check(_cfg("dataset=jhmdb_fixture", f"dataset.root={jhmdb_fixture_root}", "strict_counts=true"))
    assert len(strict.errors) == 1 and "2784" in strict.errors[0]


def test_every_problem_is_reported(a2d_copy):
    from cmpcv.data.a2d.format import write_a2d_h5

    paths = a2d_paths(a2d_copy)
    paths.video("teB_single").unlink()
    paths.mask("trA-2inst", 8).write_bytes(b"broken")
    write_a2d_h5(paths.mask("trC-copy", 12), __import__("numpy").ones((2, 40, 64), "uint8"), [0, 1])
    with open(paths.annotation, "a") as fh:
        fh.write("ghost-video,0,a ghost\n")
    r = run_check(_cfg("dataset=a2d_fixture", f"dataset.root={a2d_copy}"))
    text = "\n".join(r.errors)
    assert "trA-2inst/00008.h5" in text and "teB_single.mp4: video file not found" in text
    assert "ghost-video" in text and "mask is 40x64 but the video is 48x64" in text
    assert len(r.errors) == 5  # the 40x64 frame holds 2 sentence samples
    assert "FAILED: 5 error(s)" in r.format()


@pytest.mark.parametrize("broken", [False, True])
def test_command_exit_code(a2d_copy, broken):
    if broken:
        a2d_paths(a2d_copy).video("trA-2inst").unlink()
    proc = subprocess.run([sys.executable, "-m", "cmpcv.data.check", "dataset=a2d_fixture", f"dataset.root={a2d_copy}"],
                          capture_output=True, text=True, cwd=a2d_copy, env={**os.environ, "PYTHONPATH": str(Path(CONF).parent)})
    assert proc.returncode == (2 if broken else 0), proc.stderr  # 2: bad input, as every cmpcv command
    assert "train      18 (published: 15,747)" in proc.stdout
    assert ("trA-2inst.mp4: video file not found" in proc.stdout) == broken
    assert not (a2d_copy / "outputs").exists()


def test_each_dataset_package_brings_its_check():
    from cmpcv.data import A2DSentences, JHMDBSentences, ReferringClipDataset
    from cmpcv.data.a2d.check import check as a2d_check
    from cmpcv.data.check import find_check
    from cmpcv.data.jhmdb.check import check as jhmdb_check
    from cmpcv.data.shapes import ShapesSentences

    assert find_check(A2DSentences) is a2d_check and find_check(JHMDBSentences) is jhmdb_check
    assert find_check(ShapesSentences) is a2d_check  # written in the A2D format, no check of its own
    assert find_check(ReferringClipDataset) is None
    r = run_check(_cfg("dataset=jhmdb_fixture", "dataset.root=/nonexistent",
                       "dataset.val._target_=cmpcv.data.ReferringClipDataset"))
    assert r.errors == ["dataset 'jhmdb_fixture': no check for 'cmpcv.data.ReferringClipDataset' (a dataset "
                        "package cmpcv.data.<name> provides one as check.check(cfg, report))"]


def test_fixtures_command_writes_every_listed_tree(tmp_path):
    from cmpcv.data.fixtures import FIXTURES

    proc = subprocess.run([sys.executable, "-m", "cmpcv.data.fixtures", str(tmp_path)], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(Path(CONF).parent)})
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(folder for folder, _ in FIXTURES)
    r = run_check(_cfg("dataset=jhmdb_fixture", f"dataset.root={tmp_path / 'jhmdb_sentences'}"))
    assert r.errors == [] and r.counts == {"test": 9}


def test_fixtures_help_writes_nothing(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "cmpcv.data.fixtures", "--help"], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(Path(CONF).parent)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: python -m cmpcv.data.fixtures [-h] [OUT]")
    assert list(tmp_path.iterdir()) == []  # no folder named --help


def test_deep_check_decodes_every_frame(a2d_copy, jhmdb_fixture_root, tmp_path):
    """Damage past a video's first frames (its header intact) and a broken PNG that is not a
    video's first: the default check reads headers and first frames and passes; deep=true
    decodes every frame and names the file."""
    import shutil

    from cmpcv.data.jhmdb.format import jhmdb_paths
    from tests.data.test_video import corrupt_frames

    video = a2d_paths(a2d_copy).video("trA-2inst")
    corrupt_frames(video, video, 0.5, 0.8)
    assert run_check(_cfg("dataset=a2d_fixture", f"dataset.root={a2d_copy}")).errors == []
    deep = run_check(_cfg("dataset=a2d_fixture", f"dataset.root={a2d_copy}", "deep=true"))
    assert len(deep.errors) == 1, deep.errors
    assert deep.errors[0].startswith(f"{video}: the data of frame ") and "(video trA-2inst, " in deep.errors[0]

    root = Path(shutil.copytree(jhmdb_fixture_root, tmp_path / "jhmdb"))
    paths = jhmdb_paths(root)
    png = sorted(paths.frames_dir.rglob("*.png"))[3]  # not a first frame
    assert png.name != "00001.png"
    png.write_bytes(png.read_bytes()[:40])  # cut inside the image data
    assert run_check(_cfg("dataset=jhmdb_fixture", f"dataset.root={root}")).errors == []
    deep = run_check(_cfg("dataset=jhmdb_fixture", f"dataset.root={root}", "deep=true"))
    assert len(deep.errors) == 1 and deep.errors[0].startswith(f"{png}: could not read frame image"), deep.errors
