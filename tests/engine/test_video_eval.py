"""Whole-video benchmark runs: videos split across ranks, results folders, writers."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cmpcv.data.clips import ClipSampler
from cmpcv.data.frame_sources import ArrayFrames
from cmpcv.data.submission import YTVOS_PREFIX, check_zip, expected_entries, zip_results
from cmpcv.data.transforms import build_resizer
from cmpcv.engine.video_eval import (
    BinaryMaskWriter,
    MergedLabelWriter,
    TaskExpression,
    VideoTask,
    results_folder,
    segment_videos,
    shard,
    video_tasks,
)
from cmpcv.engine.video_inference import VideoSegmenter

from .test_video_inference import SENTENCES, small_model, video


@dataclass
class _Exp:
    text: str
    obj_ids: tuple[int, ...]


@dataclass
class _Video:
    frames: tuple[str, ...]
    expressions: dict


class _Dataset:
    """What the frame-folder readers offer for whole-video inference (duck-typed)."""

    def __init__(self):
        self.arrays = {"vidA": video(7, 24, 32, seed=1), "vidB": video(4, 24, 32, seed=2)}
        self.videos = {
            "vidA": _Video(tuple(f"{5 * i:05d}" for i in range(7)),
                           {"10": _Exp(SENTENCES[0], (2,)), "2": _Exp(SENTENCES[1], (1,))}),
            "vidB": _Video(tuple(f"{i:05d}" for i in range(4)), {"0": _Exp(SENTENCES[2], (1,))}),
        }

    def video_ids(self):
        return list(self.videos)

    def frame_folder(self, vid):
        return ArrayFrames(self.arrays[vid], vid)


def test_shard_gives_every_video_to_one_rank_and_balances():
    tasks = [VideoTask(f"v{i}", lambda: None, ("f",) * n, [TaskExpression("0", "x")] * k)
             for i, (n, k) in enumerate([(30, 2), (10, 1), (80, 4), (5, 3), (40, 2), (12, 1), (7, 7)])]
    for world in (1, 2, 3):
        parts = [shard(tasks, r, world) for r in range(world)]
        ids = [t.video_id for p in parts for t in p]
        assert sorted(ids) == sorted(t.video_id for t in tasks)
        loads = [sum(t.cost for t in p) for p in parts]
        assert max(loads) - min(loads) <= max(t.cost for t in tasks)
        assert parts == [shard(tasks, r, world) for r in range(world)]  # the same on every call
    # By hand, costs 60, 10, 320, 15, 80, 12, 49 dealt largest first to the lighter rank: 320 to
    # rank 0, then 80, 60, 49, 15, 12, 10 all to rank 1 (226 in all, still below 320).
    assert [t.video_id for t in shard(tasks, 0, 2)] == ["v2"]
    assert [t.video_id for t in shard(tasks, 1, 2)] == ["v0", "v1", "v3", "v4", "v5", "v6"]
    # Three ranks: 320 -> r0; 80 -> r1; 60 -> r2; 49 -> r2 (60 < 80); 15, 12, 10 -> r1 (95, 107, 117
    # against r2's 109).
    assert [[t.video_id for t in shard(tasks, r, 3)] for r in range(3)] == [["v2"], ["v1", "v3", "v4", "v5"],
                                                                          ["v0", "v6"]]


def test_binary_masks_every_frame_and_expression_then_zip(tmp_path):
    ds = _Dataset()
    tasks = video_tasks(ds)
    assert [[e.exp_id for e in t.expressions] for t in tasks] == [["10", "2"], ["0"]]
    model, collator = small_model("tiny2d")
    segmenter = VideoSegmenter(model, ClipSampler(), build_resizer("pad", 32), batch_size=3)
    final = tmp_path / "results"
    with results_folder(final) as folder:
        n = segment_videos(segmenter, collator.encode, tasks, BinaryMaskWriter(folder), progress=False)
    assert n == 7 * 2 + 4
    listing = {vid: (v.frames, list(v.expressions)) for vid, v in ds.videos.items()}
    expected = expected_entries(listing)
    assert sorted(p.relative_to(final).as_posix() for p in final.rglob("*.png")) == sorted(expected)
    # The files hold the engine's masks.
    tokens, mask = collator.encode([SENTENCES[0], SENTENCES[1]])
    preds = list(segmenter.segment(ds.arrays["vidA"], tokens, mask))
    for p in preds:
        for k, exp in enumerate(["10", "2"]):
            png = np.array(Image.open(final / "vidA" / exp / f"{5 * p.index:05d}.png"))
            np.testing.assert_array_equal(png, p.masks()[k] * 255)
    sub = zip_results(final, tmp_path / "submission.zip", expected_entries(listing, YTVOS_PREFIX), prefix=YTVOS_PREFIX)
    assert check_zip(sub, expected_entries(listing, YTVOS_PREFIX)) == []


def test_merged_labels_use_object_ids_per_set(tmp_path):
    class _Pred:
        index = 0

        def probs_original(self):
            return np.array([[[0.9, 0.2, 0.6]], [[0.7, 0.3, 0.8]], [[0.1, 0.95, 0.1]]], np.float32)

    # Expressions "0" and "4" are set 0 (objects 3 and 1); "1" is set 1 (object 1).
    task = VideoTask("v", lambda: None, ("00000",), [TaskExpression("0", "a", (3,)), TaskExpression("1", "b", (1,)),
                                                     TaskExpression("4", "c", (1,))])
    written = {}
    writer = MergedLabelWriter({0: tmp_path / "s0", 1: tmp_path / "s1", 2: tmp_path / "s2"}, lambda e: int(e) % 4,
                               lambda path, labels: written.__setitem__(path, labels))
    writer(task, 0, _Pred())
    # set 0: object 1 -> probs [0.1, 0.95, 0.1], object 3 -> [0.9, 0.2, 0.6]
    assert written[tmp_path / "s0" / "v" / "00000.png"].tolist() == [[3, 1, 3]]
    assert written[tmp_path / "s1" / "v" / "00000.png"].tolist() == [[1, 0, 1]]
    assert written[tmp_path / "s2" / "v" / "00000.png"].tolist() == [[0, 0, 0]]


def test_results_folder_is_complete_or_absent(tmp_path):
    final = tmp_path / "out"
    final.mkdir()
    (final / "old.png").write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with results_folder(final) as folder:
            (folder / "new.png").write_bytes(b"new")
            raise RuntimeError("stopped")
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and (final / "old.png").is_file()
    with results_folder(final) as folder:
        (folder / "new.png").write_bytes(b"new")
    assert [p.name for p in final.iterdir()] == ["new.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
