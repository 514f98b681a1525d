"""``python -m cmpcv.evaluate checkpoint=... dataset=ytvos|mevis|davis17`` on the format-exact
fixture trees: every output written, checked and scored, one process and two (DDP)."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from PIL import Image

from cmpcv.data.submission import YTVOS_PREFIX, check_zip, merge_objects
from cmpcv.evaluate import run
from cmpcv.predict import load_predictor
from tests.engine.conftest import CONF
from tests.predict.conftest import make_checkpoint

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny2d checkpoint with random weights (what it predicts does not matter here)."""
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt", steps=0)


def _cfg(checkpoint, dataset, root, out, *extra):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("evaluate", overrides=[f"checkpoint={checkpoint}", f"dataset={dataset}",
                                              f"dataset.root={root}", f"output_dir={out}", "device=cpu",
                                              "batch_size=3", "progress=false", *extra])


def _listing(meta_path: Path, prefix: str) -> list[str]:
    """Every (video, expression, frame) of a meta_expressions.json, read here with json."""
    videos = json.loads(meta_path.read_text())["videos"]
    return sorted(f"{prefix}{v}/{e}/{f}.png" for v, entry in videos.items() for e in entry["expressions"]
                  for f in entry["frames"])


def _engine_masks(checkpoint, dataset, video_id):
    """The masks of one video, computed here with the engine and the dataset's own frames."""
    from cmpcv.engine.video_inference import VideoSegmenter

    predictor = load_predictor(checkpoint, "cpu")
    video = dataset.videos[video_id]
    ids = video.expression_ids()
    tokens, mask = predictor.collator.encode([video.expressions[e].text for e in ids])
    engine = VideoSegmenter(predictor.model, dataset.clip, dataset.resizer, batch_size=2)
    return ids, video.frames, list(engine.segment(dataset.frame_folder(video_id), tokens, mask))


def test_ytvos_submission_zip(checkpoint, ytvos_fixture_root, tmp_path, capsys):
    from cmpcv.data.ytvos import RefYouTubeVOS

    report = run(_cfg(checkpoint, "ytvos_fixture", ytvos_fixture_root, tmp_path / "out"))
    out = capsys.readouterr().out
    zpath = Path(report["submission"])
    assert zpath == tmp_path / "out" / "submission_ytvos_valid.zip"
    assert "unreliable since 2026" in out and str(zpath) in out and "checked complete" in out
    # The listing of the valid meta minus the test meta, read here.
    test_ids = set(json.loads((ytvos_fixture_root / "meta_expressions/test/meta_expressions.json").read_text())["videos"])
    expected = [e for e in _listing(ytvos_fixture_root / "meta_expressions/valid/meta_expressions.json", YTVOS_PREFIX)
                if e.split("/")[1] not in test_ids]
    assert check_zip(zpath, expected) == []
    with zipfile.ZipFile(zpath) as zf:
        assert sorted(zf.namelist()) == expected
        ds = RefYouTubeVOS(ytvos_fixture_root, "valid", clip={"num_frames": 4}, size=64, cache_dir=False)
        vid = ds.video_ids()[0]
        ids, frames, preds = _engine_masks(checkpoint, ds, vid)
        for p in preds:
            for k, e in enumerate(ids):
                png = np.array(Image.open(io.BytesIO(zf.read(f"Annotations/{vid}/{e}/{frames[p.index]}.png"))))
                np.testing.assert_array_equal(png, p.masks()[k] * 255)
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["submission"] == str(zpath)


def test_mevis_valid_u_is_scored(checkpoint, mevis_fixture_root, tmp_path):
    from cmpcv.metrics.mevis import evaluate_mevis

    report = run(_cfg(checkpoint, "mevis_fixture", mevis_fixture_root, tmp_path / "out"))
    results = Path(report["results"])
    split = mevis_fixture_root / "valid_u"
    assert sorted(p.relative_to(results).as_posix() for p in results.rglob("*.png")) == \
        _listing(split / "meta_expressions.json", "")
    want = evaluate_mevis(split / "meta_expressions.json", split / "mask_dict.json", results)
    assert report["metrics"]["J&F"] == want["J&F"] and report["metrics"]["expressions"] == want["expressions"]
    assert "cmpcv (this run)" in (tmp_path / "out" / "results.md").read_text()


def test_refdavis_merged_labels_and_four_sets(checkpoint, davis17_fixture_root, tmp_path):
    from cmpcv.data.davis17 import RefDAVIS17
    from cmpcv.data.davis17.expressions import expression_set
    from cmpcv.data.palette import read_label_png

    report = run(_cfg(checkpoint, "davis17_fixture", davis17_fixture_root, tmp_path / "out"))
    folders = [Path(f) for f in report["results"]]
    assert [f.name for f in folders] == ["results_annot1_first", "results_annot1_full", "results_annot2_first",
                                         "results_annot2_full"]
    assert len(report["metrics"]["sets"]) == 4 and 0.0 <= report["metrics"]["J&F-Mean"] <= 1.0
    ds = RefDAVIS17(davis17_fixture_root, "val", clip={"num_frames": 4}, size=64, cache_dir=False)
    vid = ds.video_ids()[0]
    ids, frames, preds = _engine_masks(checkpoint, ds, vid)
    objects = {e: ds.videos[vid].expressions[e].obj_ids[0] for e in ids}
    for s, folder in enumerate(folders):
        rows = sorted((objects[e], k) for k, e in enumerate(ids) if expression_set(e) == s)
        lut = np.array([0] + [o for o, _ in rows])
        for p in preds:
            want = lut[merge_objects(p.probs_original()[[k for _, k in rows]])]
            np.testing.assert_array_equal(read_label_png(folder / vid / f"{frames[p.index]}.png"), want)


def test_ddp_splits_the_videos_and_writes_one_zip(checkpoint, ytvos_fixture_root, tmp_path):
    """Two processes under torchrun: each segments its share of the videos, rank 0 zips; the zip
    holds the same masks as one process's."""
    single = run(_cfg(checkpoint, "ytvos_fixture", ytvos_fixture_root, tmp_path / "one"))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "cmpcv.evaluate",
           f"checkpoint={checkpoint}", "dataset=ytvos_fixture", f"dataset.root={ytvos_fixture_root}",
           f"output_dir={tmp_path / 'two'}", "device=cpu", "batch_size=3", "progress=false"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert proc.stdout.count("checked complete") == 1  # rank 0 alone writes and reports
    with zipfile.ZipFile(single["submission"]) as a, zipfile.ZipFile(tmp_path / "two" / "submission_ytvos_valid.zip") as b:
        assert sorted(a.namelist()) == sorted(b.namelist())
        for name in a.namelist():
            assert np.array_equal(np.array(Image.open(io.BytesIO(a.read(name)))),
                                  np.array(Image.open(io.BytesIO(b.read(name))))), name
    assert not [p for p in (tmp_path / "two").iterdir() if p.name.startswith(".tmp")]


def test_check_command_verifies_a_zip(checkpoint, ytvos_fixture_root, tmp_path):
    report = run(_cfg(checkpoint, "ytvos_fixture", ytvos_fixture_root, tmp_path / "out"))
    good = Path(report["submission"])
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        names = sorted(src.namelist())
        for name in names[1:]:
            dst.writestr(name, src.read(name))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for path, code, text in ((good, 0, "masks of 2 videos, complete"), (bad, 2, f"missing, e.g. {names[0]}")):
        proc = subprocess.run([sys.executable, "-m", "cmpcv.data.check", "dataset=ytvos_fixture",
                               f"dataset.root={ytvos_fixture_root}", f"submission={path}"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == code, proc.stdout + proc.stderr
        assert text in proc.stdout
