"""The synthetic ``shapes`` set: determinism, the A2D tree, the cache, the CLI (its scenes and
sentences: test_shapes_scenes.py). The tree tests share one tiny generated tree (``shapes_tree``)."""
from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from cmpcv.data.a2d.format import a2d_paths, read_a2d_instances, read_a2d_mask
from cmpcv.data.shapes import (
    STAMP_FILE, ShapesConfig, ShapesSentences, generate, load_groups, load_samples, main, read_stamp, split_scenes,
)
from cmpcv.data.shapes import cache as shapes_cache
from cmpcv.data.shapes import tree as tree_module
from cmpcv.data.shapes.draw import render, sprite
from cmpcv.data.shapes.scene import COLOURS, KINDS
from cmpcv.data.video import read_video_frames, video_length

REPO = Path(__file__).resolve().parents[2]
TINY = {"train_samples": 24, "test_samples": 16}


@pytest.fixture
def tree(shapes_tree) -> Path:
    return shapes_tree


def _digests(root: Path, skip_suffix: str = ".mp4") -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.suffix != skip_suffix
            and ".cmpcv_cache" not in p.parts}


# -- determinism ---------------------------------------------------------------------------------

def test_same_seed_gives_identical_files_and_frames(tree, tmp_path):
    again = generate(tmp_path / "again", TINY)
    # Sample list, sentences, groups, metadata and every h5 mask: byte for byte.
    assert _digests(again) == _digests(tree)
    config = ShapesConfig.from_mapping(TINY)
    for split in ("train", "test"):
        for (vid_a, scene_a, _), (vid_b, scene_b, _) in zip(split_scenes(config, split), split_scenes(config, split)):
            assert vid_a == vid_b and scene_a == scene_b
            np.testing.assert_array_equal(render(scene_a)[0], render(scene_b)[0])
    # The videos hold those frames (H.264 at crf 10 is near-lossless, not bit-exact).
    paths = a2d_paths(again)
    for vid, scene, _ in list(split_scenes(config, "test"))[:3]:
        decoded, _ = read_video_frames(paths.video(vid), list(range(scene.num_frames)))
        assert np.abs(decoded.astype(int) - render(scene)[0]).mean() < 3.0


def test_writer_threads_leave_the_tree_unchanged(tmp_path):
    threaded = generate(tmp_path / "threaded", TINY, workers=4)  # several videos in flight at once
    serial = generate(tmp_path / "serial", TINY, workers=1)
    assert _digests(serial) == _digests(threaded)
    paths_t, paths_s = a2d_paths(threaded), a2d_paths(serial)
    config = ShapesConfig.from_mapping(TINY)
    for split in ("train", "test"):
        for vid, scene, _ in split_scenes(config, split):
            assert paths_t.video(vid).is_file(), f"{vid}: no video in the threaded tree"
            frames = list(range(scene.num_frames))
            rendered = render(scene)[0].astype(int)
            # Not bit-exact: libx264 output varies slightly from run to run even on one thread.
            for paths in (paths_t, paths_s):
                decoded, _ = read_video_frames(paths.video(vid), frames)
                assert np.abs(decoded.astype(int) - rendered).mean() < 3.0, (vid, paths.root)


def test_a_failing_video_write_stops_generation_and_leaves_no_tree(tmp_path, monkeypatch):
    real, calls, failed_on = tree_module.write_mp4, [], []

    def broken(path, frames, **kwargs):
        calls.append(Path(path).stem)
        if Path(path).stem == "train00003":
            failed_on.append(threading.current_thread().name)
            raise OSError(f"{path}: disk full")
        real(path, frames, **kwargs)

    monkeypatch.setattr(tree_module, "write_mp4", broken)
    with pytest.raises(ValueError, match="workers must be >= 1, got 0"):
        generate(tmp_path / "s", TINY, workers=0)
    with pytest.raises(OSError, match="train00003.mp4: disk full"):
        generate(tmp_path / "s", TINY, workers=2)
    assert failed_on and failed_on[0].startswith("shapes-writer")  # it ran on a writer thread
    # It stopped early: at most 2 x workers videos are queued behind the failing one.
    n_videos = sum(1 for split in ("train", "test") for _ in split_scenes(ShapesConfig.from_mapping(TINY), split))
    assert len(calls) <= 4 + 4 < n_videos, (len(calls), n_videos)
    assert not (tmp_path / "s").exists()
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]  # the half-written tree is gone


def test_different_seeds_and_splits_differ(tree, tmp_path):
    other = generate(tmp_path / "other", {**TINY, "seed": 1})
    a, b = a2d_paths(tree), a2d_paths(other)
    assert a.annotation.read_text() != b.annotation.read_text()
    assert read_a2d_mask(a.mask("test00000", 9), 0).tolist() != read_a2d_mask(b.mask("test00000", 9), 0).tolist()
    config = ShapesConfig.from_mapping(TINY)
    train = {scene.actors for _, scene, _ in split_scenes(config, "train")}
    test = {scene.actors for _, scene, _ in split_scenes(config, "test")}
    assert not train & test


def test_more_training_samples_leave_the_test_split_unchanged():
    # The demo trains on a larger train split than the generator's default; results on the test
    # split stay comparable only if its scenes and sentences do not depend on train_samples.
    def test_scenes(train_samples: int) -> list:
        config = ShapesConfig.from_mapping({**TINY, "train_samples": train_samples})
        return [(vid, scene, rng.integers(1 << 30)) for vid, scene, rng in split_scenes(config, "test")]

    small, large = test_scenes(TINY["train_samples"]), test_scenes(5 * TINY["train_samples"])
    assert small and small == large


# -- the A2D tree --------------------------------------------------------------------------------

def test_tree_reads_through_the_a2d_reader(tree):
    samples = {s["sample_id"]: s for s in load_samples(tree)}
    groups = load_groups(tree)
    assert set(groups) == set(samples)
    for split, n in (("train", TINY["train_samples"]), ("test", TINY["test_samples"])):
        ds = ShapesSentences(tree, split, generator=TINY, clip={"num_frames": 8}, size=64)
        assert len(ds) == n
        ids = [ds.sample_id(i) for i in range(len(ds))]
        assert sorted(ids) == sorted(k for k, s in samples.items() if s["split"] == split)
        assert ds.groups == [groups[k] for k in ids]
        for i in (0, len(ds) - 1):
            item, meta = ds[i], samples[ids[i]]
            assert item["query"] == meta["query"] and item["group"] == meta["subset"]
            assert item["frames"].shape == (8, 3, 64, 64)
            # The ground truth is the referent's sprite where the metadata puts it.
            actor = meta["actors"][meta["instance_id"]]
            expected = np.zeros((64, 64), np.uint8)
            e = actor["extent"]
            expected[actor["y"]:actor["y"] + e, actor["x"]:actor["x"] + e] = sprite(actor["shape"], e)
            np.testing.assert_array_equal(item["mask"], expected)
            # The annotated frame sits at T // 2 and shows the referent's colour inside its mask
            # (the median: H.264's half-resolution chroma blurs the outline).
            anno = (item["frames"][4].permute(1, 2, 0).numpy() * 255)[expected.astype(bool)]
            assert np.abs(np.median(anno, axis=0) - COLOURS[actor["colour"]]).max() < 12


def test_tree_files_follow_the_a2d_layout(tree):
    paths = a2d_paths(tree)
    rows = [line.split(",") for line in paths.videoset.read_text().splitlines()]
    assert all(len(r) == 9 for r in rows) and {r[8] for r in rows} == {"0", "1"}
    for vid, _, _, _, h, w, total, annotated, _ in rows[:4]:
        assert (int(h), int(w), int(total), int(annotated)) == (64, 64, 16, 1)
        assert video_length(paths.video(vid)) == 16
        assert read_a2d_instances(paths.mask(vid, 9)) == list(range(len(read_a2d_instances(paths.mask(vid, 9)))))
    assert paths.annotation.read_text().splitlines()[0] == "video_id,instance_id,query"
    # Both clip settings fit inside the video around the middle frame: no clamping needed.
    ds = ShapesSentences(tree, "test", generator=TINY, clip={"offsets": [-8, -4, 0, 4, 7]}, size=96)
    assert [9 - 1 + o for o in ds.clip.offsets] == [0, 4, 8, 12, 15]
    assert ds[0]["frames"].shape == (5, 3, 96, 96)


# -- cache, CLI, config --------------------------------------------------------------------------

def test_cache_reuses_rebuilds_and_refuses_foreign_folders(tmp_path):
    root = generate(tmp_path / "s", {"train_samples": 4, "test_samples": 4})
    stamp_time = (root / STAMP_FILE).stat().st_mtime_ns
    generate(root, {"train_samples": 4, "test_samples": 4})
    assert (root / STAMP_FILE).stat().st_mtime_ns == stamp_time  # not regenerated
    generate(root, {"train_samples": 4, "test_samples": 8})
    assert read_stamp(root)["config"]["test_samples"] == 8
    assert len(load_samples(root, "test")) == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == [".s.lock", "s"]  # no temporary folders left
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="no shapes_stamp.json"):
        generate(foreign, {"train_samples": 4, "test_samples": 4})
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_generating_the_set_shows_progress_with_an_eta(tmp_path, capfd):
    """The demo's first minute or two is spent writing the set: the reader says so, with a bar."""
    config = {"train_samples": 8, "test_samples": 4}
    ShapesSentences(tmp_path / "s", "train", generator=config, cache_dir=False)
    err = capfd.readouterr().err
    assert f"shapes: generating {tmp_path / 's'}" in err
    assert "6/6" in err and "video" in err and "<" in err  # 6 videos; tqdm's "elapsed<remaining"
    ShapesSentences(tmp_path / "s", "test", generator=config, cache_dir=False)
    assert capfd.readouterr().err == ""  # a tree already in place is not announced


@pytest.mark.parametrize("locked", [True, False])
def test_racing_generators_leave_one_whole_tree(tmp_path, monkeypatch, locked):
    if not locked:  # where no lock is available, the "first rename wins" rule must still hold
        import contextlib

        monkeypatch.setattr(shapes_cache, "_exclusive", lambda path: contextlib.nullcontext())
    config, errors = {"train_samples": 8, "test_samples": 8}, []

    def run():
        try:
            generate(tmp_path / "s", config)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert read_stamp(tmp_path / "s")["config"]["train_samples"] == 8
    assert len(ShapesSentences(tmp_path / "s", "train", generator=config, cache_dir=False)) == 8
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".s.tmp") or p.name.startswith(".s.old")] == []


def test_cli_prints_counts_and_renders_previews(tmp_path, capsys):
    counts = main([f"root={tmp_path / 's'}", "train_samples=8", "test_samples=8", "render=1",
                   f"render_dir={tmp_path / 'png'}"])
    out = capsys.readouterr().out
    assert "test      8 samples: entity 2, attribute 2, relation 2, action 2" in out
    assert counts["train"] == Counter({k: 2 for k in KINDS})
    assert len(list((tmp_path / "png").glob("*.png"))) == 4


def test_module_command_runs_the_cli(tmp_path):
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "cmpcv.data.shapes", f"root={tmp_path / 's'}", "train_samples=4",
                           "test_samples=4"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    assert "train     4 samples:" in proc.stdout and read_stamp(tmp_path / "s")["config"]["test_samples"] == 4
    usage = subprocess.run([sys.executable, "-m", "cmpcv.data.shapes"], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(REPO)})
    assert usage.returncode != 0 and "usage: python -m cmpcv.data.shapes root=PATH" in usage.stderr


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="even"):
        ShapesConfig(size=63)
    with pytest.raises(ValueError, match="unknown parameter"):
        ShapesConfig.from_mapping({"sped": 4})
    with pytest.raises(ValueError, match="motions"):
        ShapesConfig(motions=("left", "sideways"))
    with pytest.raises(ValueError, match="opposite pairs"):
        ShapesConfig(relations=("left", "right", "above"))


def _compose_dataset(tmp_path: Path, *overrides: str):
    """``conf/dataset/shapes.yaml`` composed by hydra as the training app does (clip group included)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base=None):
        return compose(config_name="train", overrides=["dataset=shapes", f"paths.data_dir={tmp_path}", *overrides])


def test_yaml_matches_the_defaults_and_instantiates(tmp_path):
    from hydra.utils import instantiate

    cfg = _compose_dataset(tmp_path)
    assert set(cfg.dataset) >= {"name", "root", "size", "clip", "train", "val", "test"}
    assert OmegaConf.to_container(cfg.dataset.generator, resolve=True) == ShapesConfig().to_dict()
    cfg.dataset.generator.train_samples, cfg.dataset.generator.test_samples = 8, 8
    train, test = instantiate(cfg.dataset.train), instantiate(cfg.dataset.test)
    assert (train.split, len(train), test.split, len(test)) == ("train", 8, "test", 8)
    assert train.root == tmp_path / "shapes" and train.clip.num_frames == 8 and train.flip_prob == 0.5
    assert json.loads((tmp_path / "shapes" / "groups.json").read_text())
    r2d = _compose_dataset(tmp_path, "dataset/clip=r2d", "dataset.generator.train_samples=8",
                           "dataset.generator.test_samples=8")
    assert instantiate(r2d.dataset.val).clip.offsets == (-8, -4, 0, 4, 7)


def test_a2d_check_finds_no_problem(tmp_path):
    # ``python -m cmpcv.data.check`` on the generated tree: ShapesSentences has no check of its own,
    # so the one of its base class's package (cmpcv.data.a2d.check) runs.
    from cmpcv.data.check import run_check

    cfg = _compose_dataset(tmp_path, "dataset.generator.train_samples=12", "dataset.generator.test_samples=8")
    report = run_check(cfg)
    assert report.counts == {"train": 12, "test": 8}
    assert not report.errors and not report.warnings, report.format()
