"""The synthetic ``shapes`` set: determinism, the A2D tree, the subsets' ambiguity, the cache, the CLI.

Scene properties are checked on many scenes sampled in memory (fast, no I/O); the tree tests use
one tiny generated tree shared by the module. Sentences are checked with an independent resolver
that reads a query with the word lists only and finds the actors it fits.
"""
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
from cmpcv.data.shapes import tree as shapes_tree
from cmpcv.data.shapes.draw import actor_position, footprints, render, sprite
from cmpcv.data.shapes.scene import COLOURS, KINDS, MOTIONS, RELATIONS, SceneParams, sample_scene
from cmpcv.data.shapes.sentences import MOTION_PHRASES, RELATION_PHRASES, SHAPE_WORDS, SIZE_WORDS
from cmpcv.data.video import read_video_frames, video_length

REPO = Path(__file__).resolve().parents[2]
TINY = {"train_samples": 24, "test_samples": 16}
N_SCENES = 150  # per kind, for the by-construction checks


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("shapes") / "shapes", TINY)


@pytest.fixture(scope="module")
def scenes() -> dict[str, list]:
    params = SceneParams()
    rng = np.random.default_rng(2024)
    return {kind: [sample_scene(kind, params, rng) for _ in range(N_SCENES)] for kind in KINDS}


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
    real, calls, failed_on = shapes_tree.write_mp4, [], []

    def broken(path, frames, **kwargs):
        calls.append(Path(path).stem)
        if Path(path).stem == "train00003":
            failed_on.append(threading.current_thread().name)
            raise OSError(f"{path}: disk full")
        real(path, frames, **kwargs)

    monkeypatch.setattr(shapes_tree, "write_mp4", broken)
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


# -- subsets by construction ---------------------------------------------------------------------

def _centre(actor) -> np.ndarray:
    return np.asarray(actor.centre)


def test_entity_referents_have_unique_shapes(scenes):
    for s in scenes["entity"]:
        shapes = Counter(a.shape for a in s.actors)
        assert all(shapes[s.actors[i].shape] == 1 for i in s.referents)


def test_attribute_pairs_share_shape_and_motion_and_differ_in_one_attribute(scenes):
    for s in scenes["attribute"]:
        a, b = (s.actors[i] for i in s.referents)
        assert a.shape == b.shape and a.motion == b.motion
        assert (a.colour != b.colour) + (a.size != b.size) == 1
        assert sum(x.shape == a.shape for x in s.actors) == 2


def test_relation_twins_are_split_by_a_unique_landmark(scenes):
    margin = SceneParams().relation_margin
    for s in scenes["relation"]:
        a, b = (s.actors[i] for i in s.referents)
        lm = s.actors[s.landmark]
        assert a.appearance == b.appearance and a.motion == b.motion
        assert sum(x.appearance == a.appearance for x in s.actors) == 2
        assert sum(x.shape == lm.shape for x in s.actors) == 1
        axis, sign = RELATIONS[s.relation]
        assert sign * (_centre(a) - _centre(lm))[axis] >= margin
        assert -sign * (_centre(b) - _centre(lm))[axis] >= margin


def test_action_twins_differ_only_in_motion_and_no_relation_separates_them(scenes):
    for s in scenes["action"]:
        a, b = (s.actors[i] for i in s.referents)
        assert a.appearance == b.appearance and a.motion != b.motion
        assert sum(x.appearance == a.appearance for x in s.actors) == 2
        for k, other in enumerate(s.actors):
            if k not in s.referents:
                assert np.all(np.sign(_centre(a) - _centre(other)) == np.sign(_centre(b) - _centre(other)))
                assert np.all(_centre(a) != _centre(other))


@pytest.mark.parametrize("kind", ["action", "relation"])
def test_twins_are_pixel_identical_in_every_frame_apart_from_position(scenes, kind):
    # Crops include a one-pixel ring of background (frames padded with it), so a trail or a blur
    # around either twin would show too.
    checked_annotated = 0
    for s in scenes[kind][:60]:
        frames, _ = render(s)
        frames = np.pad(frames, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=30)
        fp = np.pad(footprints(s), ((0, 0), (0, 0), (1, 1), (1, 1)))
        i, j = s.referents
        e = s.actors[i].extent
        for t in range(s.num_frames):
            crops = []
            for k in (i, j):
                y, x = actor_position(s.actors[k], s, t)
                inside = 0 <= y <= s.height - e and 0 <= x <= s.width - e
                others = np.delete(fp[:, t], k, axis=0).any(0)
                if inside and not others[y:y + e + 2, x:x + e + 2].any():
                    crops.append(frames[t, y:y + e + 2, x:x + e + 2])
            if t == s.anno_index:
                assert len(crops) == 2, "both twins must be whole and unoccluded in the annotated frame"
                checked_annotated += 1
            if len(crops) == 2:
                np.testing.assert_array_equal(crops[0], crops[1])
    assert checked_annotated == 60


def test_annotated_frame_carries_no_motion_information():
    # Twins' positions in the annotated frame must be drawn the same way for every motion. With
    # ~2000 twins per motion the mean centre has a standard error of ~0.3 px, and a two-sample KS
    # test compares whole distributions: moving 20% of one motion's twins by 6 px fails it
    # (p ~ 6e-4), a leak such as "keep movers inside the frame" fails it by far.
    from scipy.stats import ks_2samp

    params, rng = SceneParams(), np.random.default_rng(7)
    by_motion: dict[str, list] = {m: [] for m in params.motions}
    for _ in range(3000):
        s = sample_scene("action", params, rng)
        for i in s.referents:
            by_motion[s.actors[i].motion].append(s.actors[i].centre)
    centres = {m: np.asarray(v) for m, v in by_motion.items()}
    assert min(len(v) for v in centres.values()) > 1500
    for m, c in centres.items():
        assert np.abs(c.mean(0) - centres["still"].mean(0)).max() < 1.5, m
        for axis in (0, 1):
            assert ks_2samp(c[:, axis], centres["still"][:, axis]).pvalue > 1e-3, (m, axis)


def test_actors_never_overlap_in_the_annotated_frame(scenes):
    gap = SceneParams().gap
    for kind in KINDS:
        for s in scenes[kind]:
            fp = footprints(s)[:, s.anno_index]
            assert fp.sum(0).max() == 1
            for k, a in enumerate(s.actors):
                assert fp[k].sum() == sprite(a.shape, a.extent).sum()  # whole, inside the frame
                for b in s.actors[k + 1:]:
                    ax1, ay1, ax2, ay2 = a.box()
                    bx1, by1, bx2, by2 = b.box()
                    assert max(bx1 - ax2, ax1 - bx2, by1 - ay2, ay1 - by2) > gap


@pytest.mark.parametrize("speed", [4, 6])
def test_moving_actors_travel_speed_pixels_per_frame(speed):
    params, rng = SceneParams(speed=speed), np.random.default_rng(speed)
    assert SceneParams().speed >= 4  # visible at a feature stride of 4
    moved = 0
    for _ in range(20):
        s = sample_scene("action", params, rng)
        fp = footprints(s)
        for k, a in enumerate(s.actors):
            area = sprite(a.shape, a.extent).sum()
            boxes = {}
            for t in range(s.num_frames):
                if fp[k, t].sum() == area:  # wholly inside: its box is the sprite's box
                    ys, xs = np.nonzero(fp[k, t])
                    boxes[t] = np.array([ys.min(), xs.min()])
            for t in boxes:
                if t + 1 in boxes:
                    step = boxes[t + 1] - boxes[t]
                    np.testing.assert_array_equal(step, np.asarray(MOTIONS[a.motion]) * speed)
                    moved += a.motion != "still"
    assert moved > 50


# -- balance and sentences -----------------------------------------------------------------------

def test_subsets_are_balanced(tree):
    assert ShapesConfig().videos_per_subset("test") == {k: 50 for k in KINDS}
    assert ShapesConfig().videos_per_subset("train") == {"entity": 200, "attribute": 200, "relation": 200,
                                                          "action": 400}
    counts = Counter((s["split"], s["subset"]) for s in load_samples(tree))
    assert [counts["test", k] for k in KINDS] == [4, 4, 4, 4]
    assert sum(counts["train", k] for k in KINDS) == 24 and counts["train", "action"] == 10


def _parse_np(words: list[str]) -> dict:
    out = {}
    for w in words:
        for shape, names in SHAPE_WORDS.items():
            if w in names:
                out["shape"] = shape
        for size, names in SIZE_WORDS.items():
            if w in names:
                out["size"] = size
        if w in COLOURS:
            out["colour"] = w
    return out


def _find(phrases: dict[str, tuple[str, ...]], text: str) -> tuple[str | None, str | None]:
    hits = [(len(p), key, p) for key, options in phrases.items() for p in options if f" {p} " in f" {text} "]
    return max(hits)[1:] if hits else (None, None)


def _resolve(query: str, actors: list[dict], drop: str | None = None) -> list[int]:
    """Actors a query fits, read with the vocabularies alone; ``drop`` ignores one word type."""
    relation, phrase = _find(RELATION_PHRASES, query)
    head, landmark_words = (query.split(f" {phrase} ", 1) if relation else (query, ""))
    motion, _ = _find(MOTION_PHRASES, head)
    want = _parse_np(head.split())
    if drop == "attribute":
        want.pop("colour", None), want.pop("size", None)
    fits = [i for i, a in enumerate(actors) if all(a[k] == v for k, v in want.items())
            and (motion is None or drop == "action" or a["motion"] == motion)]
    if relation and drop != "relation":
        lm_want = _parse_np(landmark_words.split())
        landmarks = [i for i, a in enumerate(actors) if all(a[k] == v for k, v in lm_want.items())]
        assert len(landmarks) == 1, f"landmark of {query!r} is ambiguous"
        lm = actors[landmarks[0]]
        axis, sign = RELATIONS[relation]

        def centre(a):
            return (a["y"] + a["extent"] // 2, a["x"] + a["extent"] // 2)
        fits = [i for i in fits if sign * (centre(actors[i])[axis] - centre(lm)[axis]) > 0]
    return fits


def test_attribute_pairs_split_evenly_between_colour_and_size():
    for split in ("train", "test"):
        differ = Counter(
            "colour" if scene.actors[0].colour != scene.actors[1].colour else "size"
            for _, scene, _ in split_scenes(ShapesConfig(), split) if scene.kind == "attribute"
        )
        assert differ["colour"] == differ["size"] == ShapesConfig().videos_per_subset(split)["attribute"] // 2


def test_every_sentence_singles_out_its_actor_and_needs_its_word_type(tree):
    samples = load_samples(tree)
    for s in samples:
        tokens = s["query"].split()
        assert s["query"] == " ".join(s["query"].lower().split()) and len(tokens) <= 20
        assert len(s["word_types"]) == len(tokens)
        assert _resolve(s["query"], s["actors"]) == [s["referent"]], s
        if s["subset"] != "entity":
            # Without the words of its type the sentence fits the twin as well.
            assert sorted(_resolve(s["query"], s["actors"], drop=s["subset"])) == sorted([s["referent"], s["twin"]])
        else:
            assert _resolve(s["words"]["entity"][0], s["actors"]) == [s["referent"]]
        assert s["words"][s["subset"]], f"{s['query']!r} lacks {s['subset']} words"


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
