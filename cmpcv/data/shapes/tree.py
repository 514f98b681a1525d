"""Writing the ``shapes`` set as an A2D Sentences tree, and reading back its own lists.

Both splits live in one tree (``videoset.csv`` subset 0 = train, 1 = test) and come from different
seeds. Each video is built around one subset and yields two samples, one per referred actor. Beside
the A2D files the root holds:

- ``groups.json``: ``{sample_id: subset}`` with MTTR's ids ``v_{video}_f_{frame}_i_{instance}``,
  for per-subset evaluation;
- ``shapes_samples.json``: per-sentence metadata (actors, subset, per-word types, ...);
- ``shapes_stamp.json``: generator version and parameters, written last (a tree with a stamp is
  complete; :mod:`cmpcv.data.shapes.cache` rebuilds a tree whose stamp differs).
"""
from __future__ import annotations

import contextlib
import json
import os
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cmpcv.data.a2d.format import (
    a2d_paths, a2d_sample_id, write_a2d_annotation, write_a2d_h5, write_missed_videos, write_videoset_csv,
)
from cmpcv.data.atomic import atomic_write_text
from cmpcv.data.shapes.config import SPLITS, ShapesConfig, stamp
from cmpcv.data.shapes.draw import render
from cmpcv.data.shapes.scene import MOTIONS, SHAPES, WORD_TYPES, Scene, sample_scene
from cmpcv.data.shapes.sentences import describe
from cmpcv.data.video import write_mp4

STAMP_FILE = "shapes_stamp.json"
GROUPS_FILE = "groups.json"
SAMPLES_FILE = "shapes_samples.json"


def video_id(split: str, index: int) -> str:
    return f"{split}{index:05d}"


def split_scenes(config: ShapesConfig, split: str) -> Iterator[tuple[str, Scene, np.random.Generator]]:
    """``(video_id, scene, rng)`` of every video of ``split``; ``rng`` continues the scene's stream
    (for its sentences). Each video has its own stream, so the list is reproducible piecewise."""
    code = SPLITS[split]
    kinds = [k for k, n in config.videos_per_subset(split).items() for _ in range(n)]
    order = np.random.default_rng(np.random.SeedSequence([config.seed, code])).permutation(len(kinds))
    # Attribute pairs alternate between differing in colour and in size, so each split holds both
    # in equal numbers (a free draw gave the 50 test pairs of seed 0 only 13 colour pairs).
    seen: Counter = Counter()
    for index, k in enumerate(order):
        kind = kinds[int(k)]
        rng = np.random.default_rng(np.random.SeedSequence([config.seed, code, index + 1]))
        yield video_id(split, index), sample_scene(kind, config, rng, variant=seen[kind]), rng
        seen[kind] += 1


def actor_label(scene: Scene, i: int) -> int:
    """A2D-style ``actor * 10 + action`` code: shape index and motion index, both 1-based."""
    a = scene.actors[i]
    return (SHAPES.index(a.shape) + 1) * 10 + list(MOTIONS).index(a.motion) + 1


def default_workers() -> int:
    """Threads that render and encode videos: the usable cores, at most 4."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(4, cores))


def _write_video(paths, vid: str, scene: Scene, config: ShapesConfig) -> None:
    """Render one scene and write its mp4 and the annotated frame's h5 masks."""
    frames, masks = render(scene, background=config.background)
    write_mp4(paths.video(vid), frames, fps=config.fps, crf=config.crf)
    write_a2d_h5(paths.mask(vid, scene.anno_index + 1), masks, instance_ids=range(len(scene.actors)),
                 labels=[actor_label(scene, i) for i in range(len(scene.actors))])


@contextlib.contextmanager
def _video_jobs(workers: int) -> Iterator:
    """``submit(scene args)``: runs :func:`_write_video` inline (``workers == 1``) or on a thread pool.

    Threads suffice: libx264 releases the GIL, and encoding is most of the generation's time. At
    most ``2 * workers`` videos are in flight. Results are collected in submission order, so a
    failure is raised when its turn comes (at the latest ``2 * workers`` videos later); queued jobs
    are then cancelled and running ones finish. Each video is written from its own scene alone, so the tree does not
    depend on ``workers``.
    """
    if workers <= 1:
        yield _write_video
        return
    pending: deque = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shapes-writer") as pool:
        def submit(*args) -> None:
            while len(pending) >= 2 * workers:
                pending.popleft().result()
            pending.append(pool.submit(_write_video, *args))

        try:
            yield submit
            while pending:
                pending.popleft().result()
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def write_tree(root: str | os.PathLike, config: ShapesConfig, *, workers: int | None = None,
               progress: str | None = None) -> dict[str, Counter]:
    """Write both splits of the set as an A2D Sentences tree at ``root``; return sample counts
    per split and subset. ``root`` should be empty: use :func:`~cmpcv.data.shapes.cache.generate`
    for the cached version. ``workers``: threads rendering and encoding the videos (default
    :func:`default_workers`); the tree is the same with any number. ``progress``: the label of a
    progress bar (videos written, rate, ETA) on stderr; None shows none."""
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"shapes: workers must be >= 1, got {workers} (None: the usable cores, at most 4)")
    paths, lists = a2d_paths(root), _TreeLists()
    bar = None
    if progress is not None:
        from tqdm.auto import tqdm

        total = sum(sum(config.videos_per_subset(split).values()) for split in SPLITS)
        bar = tqdm(total=total, desc=progress, unit="video", dynamic_ncols=True, mininterval=0.5)
    try:
        with _video_jobs(workers) as write_video:
            for split in SPLITS:
                lists.counts[split] = Counter()
                for vid, scene, rng in split_scenes(config, split):
                    write_video(paths, vid, scene, config)
                    lists.add(split, vid, scene, rng)  # in video order, drawing the sentences from rng
                    if bar is not None:
                        bar.update(1)  # submitted: at most 2 * workers ahead of the written ones
    finally:
        if bar is not None:
            bar.close()
    write_videoset_csv(paths.videoset, lists.videoset)
    write_a2d_annotation(paths.annotation, lists.annotations)
    write_missed_videos(paths.missed, [])
    atomic_write_text(Path(root) / GROUPS_FILE, json.dumps(lists.groups, indent=0))
    atomic_write_text(Path(root) / SAMPLES_FILE, json.dumps(lists.samples))
    # The stamp goes last: a tree with a stamp is complete.
    atomic_write_text(Path(root) / STAMP_FILE, json.dumps(stamp(config), indent=1, sort_keys=True))
    return lists.counts


@dataclass
class _TreeLists:
    """The rows of the tree's lists, gathered video by video."""

    videoset: list = field(default_factory=list)
    annotations: list = field(default_factory=list)
    groups: dict = field(default_factory=dict)
    samples: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)

    def add(self, split: str, vid: str, scene: Scene, rng: np.random.Generator) -> None:
        frame_idx = scene.anno_index + 1
        self.videoset.append({"vid": vid, "label": actor_label(scene, scene.referents[0]),
                              "start_time": "00:00:00", "end_time": "00:00:01",
                              "height": scene.height, "width": scene.width, "total_frames": scene.num_frames,
                              "annotated_frames": 1, "subset": SPLITS[split]})
        for which in scene.referents:
            sentence = describe(scene, which, rng)
            query = " ".join(sentence.tokens)
            sid = a2d_sample_id(vid, frame_idx, which)
            self.annotations.append((vid, which, query))
            self.groups[sid] = scene.kind
            self.counts[split][scene.kind] += 1
            self.samples.append({
                "sample_id": sid, "split": split, "video_id": vid, "frame_idx": frame_idx,
                "instance_id": which, "subset": scene.kind, "query": query,
                "word_types": sentence.types,
                "words": {t: [w for w, wt in zip(sentence.tokens, sentence.types) if wt == t]
                          for t in WORD_TYPES[:4]},
                "referent": which, "twin": scene.referents[1 - scene.referents.index(which)],
                "landmark": scene.landmark, "speed": scene.speed,
                "actors": [{**a.to_dict(), "box": list(a.box())} for a in scene.actors],
            })


def read_stamp(root: str | os.PathLike) -> dict | None:
    """The stamp of the tree at ``root``, or None when there is none (or it is unreadable)."""
    try:
        return json.loads((Path(root) / STAMP_FILE).read_text())
    except (OSError, ValueError):
        return None


def load_groups(root: str | os.PathLike) -> dict[str, str]:
    """``{sample_id: subset}`` of a generated tree."""
    return json.loads((Path(root) / GROUPS_FILE).read_text())


def load_samples(root: str | os.PathLike, split: str | None = None) -> list[dict]:
    """Per-sentence metadata of a generated tree, optionally of one split."""
    samples = json.loads((Path(root) / SAMPLES_FILE).read_text())
    return [s for s in samples if split is None or s["split"] == split]
