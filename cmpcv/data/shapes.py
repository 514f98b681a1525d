"""The synthetic referring-video set ``shapes``, written as an A2D Sentences tree.

``python -m cmpcv.data.shapes root=PATH`` generates it (if needed) and prints the counts per
subset; ``ShapesSentences(root, split)`` generates it if needed and reads it through the real A2D
reader, so a demo exercises the same reader, clip pipeline, model, engine and evaluator as real
data. Scenes and their sentences come from :mod:`cmpcv.data.shapes_scene`; this module writes
the two splits, the tree and its cache stamp. See ``docs/shapes.md``.

Every sample is tagged with the word type *necessary* to single out its actor (its subset):
``entity``, ``attribute``, ``relation`` or ``action``. Each video is built around one subset and
yields two samples, one per referred actor, so the same frames come with two sentences that must
produce two different masks. Both splits live in one tree (``videoset.csv`` subset 0 = train,
1 = test) and come from different seeds. Beside the A2D files the root holds:

- ``groups.json``: ``{sample_id: subset}`` with MTTR's ids ``v_{video}_f_{frame}_i_{instance}``,
  for per-subset evaluation;
- ``shapes_samples.json``: per-sentence metadata (actors, subset, per-word types, ...);
- ``shapes_stamp.json``: generator version and parameters; a tree with another stamp is rebuilt.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from cmpcv.data.a2d import A2DSentences, a2d_sample_id
from cmpcv.data.atomic import atomic_path, atomic_write_text, current_umask
from cmpcv.data.layout import a2d_paths
from cmpcv.data.shapes_scene import (
    KINDS, MOTIONS, SHAPES, WORD_TYPES, Scene, SceneParams, describe, render, sample_scene,
)
from cmpcv.data.writers import (
    write_a2d_annotation,
    write_a2d_h5,
    write_missed_videos,
    write_mp4,
    write_videoset_csv,
)

#: Bump when the output for a given configuration changes; a tree with another version is rebuilt.
GENERATOR_VERSION = 2  # 2: attribute pairs balanced between colour and size
STAMP_FILE = "shapes_stamp.json"
GROUPS_FILE = "groups.json"
SAMPLES_FILE = "shapes_samples.json"
SPLITS = {"train": 0, "test": 1}


@dataclass(frozen=True)
class ShapesConfig(SceneParams):
    """Everything that determines the generated tree (the cache stamp records all of it).

    The scene fields (``size``, ``speed``, ``motions``, ...) are those of
    :class:`~cmpcv.data.shapes_scene.SceneParams`. Sample counts are per split; ``*_shares`` are
    relative weights of the subsets (each video yields two samples of one subset, so counts are
    rounded to whole videos). The splits draw from different seeds, ``SeedSequence([seed, 0])``
    for train and ``SeedSequence([seed, 1])`` for test.
    """

    train_samples: int = 2000
    test_samples: int = 400
    train_shares: Mapping[str, float] = field(
        default_factory=lambda: {"entity": 1.0, "attribute": 1.0, "relation": 1.0, "action": 2.0})
    test_shares: Mapping[str, float] = field(
        default_factory=lambda: {"entity": 1.0, "attribute": 1.0, "relation": 1.0, "action": 1.0})
    seed: int = 0
    crf: int = 10
    fps: float = 24.0

    @classmethod
    def from_mapping(cls, values: Mapping | ShapesConfig | None) -> ShapesConfig:
        """Build from a dict or an OmegaConf node (lists become tuples); unknown keys are an error."""
        if isinstance(values, ShapesConfig):
            return values
        values = _plain(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"shapes generator: unknown parameter(s) {unknown}; expected some of {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    def __post_init__(self) -> None:
        super().__post_init__()
        for split in SPLITS:
            n, shares = getattr(self, f"{split}_samples"), getattr(self, f"{split}_shares")
            if n < 0:
                raise ValueError(f"shapes generator: {split}_samples must be >= 0, got {n}")
            if set(shares) - set(KINDS) or any(float(v) < 0 for v in shares.values()) or not any(
                    float(v) > 0 for v in shares.values()):
                raise ValueError(f"shapes generator: {split}_shares={dict(shares)} must give non-negative "
                                 f"weights to some of {list(KINDS)}, at least one positive")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"shapes generator: crf must be in 0..51, got {self.crf}")

    def to_dict(self) -> dict:
        return _plain(asdict(self))

    def videos_per_subset(self, split: str) -> dict[str, int]:
        """Number of videos of each subset in ``split`` (largest-remainder rounding of the shares)."""
        videos = getattr(self, f"{split}_samples") // 2
        shares = getattr(self, f"{split}_shares")
        weights = np.array([float(shares.get(k, 0.0)) for k in KINDS])
        exact = videos * weights / weights.sum()
        counts = np.floor(exact).astype(int)
        for k in np.argsort(-(exact - counts), kind="stable")[: videos - counts.sum()]:
            counts[k] += 1
        return {k: int(c) for k, c in zip(KINDS, counts)}


def _plain(values):
    """Plain Python containers from an OmegaConf node, tuples as lists (JSON-comparable)."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(values, (DictConfig, ListConfig)):
            values = OmegaConf.to_container(values, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf ships with hydra, a core dependency
        pass
    if isinstance(values, Mapping):
        return {str(k): _plain(v) for k, v in values.items()}
    if isinstance(values, (list, tuple)):
        return [_plain(v) for v in values]
    return values


# ---------------------------------------------------------------------------------------------
# Splits and the tree


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

    Threads suffice: libx264 releases the GIL, and encoding is most of the generation's time (the
    demo's 8,400 samples: 53 s one at a time; benchmarks/README.md). At most ``2 * workers``
    videos are in flight. Results are collected in submission order, so a failure is raised when
    its turn comes (at the latest ``2 * workers`` videos later); queued jobs are then cancelled and
    running ones finish. Each video is written from its own scene alone, so the tree does not
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


def write_tree(root: str | os.PathLike, config: ShapesConfig, *, workers: int | None = None) -> dict[str, Counter]:
    """Write both splits of the set as an A2D Sentences tree at ``root``; return sample counts
    per split and subset. ``root`` should be empty: use :func:`generate` for the cached version.
    ``workers``: threads rendering and encoding the videos (default :func:`default_workers`); the
    tree is the same with any number."""
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"shapes: workers must be >= 1, got {workers} (None: the usable cores, at most 4)")
    paths, lists = a2d_paths(root), _TreeLists()
    with _video_jobs(workers) as write_video:
        for split in SPLITS:
            lists.counts[split] = Counter()
            for vid, scene, rng in split_scenes(config, split):
                write_video(paths, vid, scene, config)
                lists.add(split, vid, scene, rng)  # in video order, drawing the sentences from rng
    write_videoset_csv(paths.videoset, lists.videoset)
    write_a2d_annotation(paths.annotation, lists.annotations)
    write_missed_videos(paths.missed, [])
    atomic_write_text(Path(root) / GROUPS_FILE, json.dumps(lists.groups, indent=0))
    atomic_write_text(Path(root) / SAMPLES_FILE, json.dumps(lists.samples))
    # The stamp goes last: a tree with a stamp is complete.
    atomic_write_text(Path(root) / STAMP_FILE, json.dumps(_stamp(config), indent=1, sort_keys=True))
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


def _stamp(config: ShapesConfig) -> dict:
    return {"generator": "cmpcv.data.shapes", "version": GENERATOR_VERSION, "config": config.to_dict()}


def read_stamp(root: str | os.PathLike) -> dict | None:
    """The stamp of the tree at ``root``, or None when there is none (or it is unreadable)."""
    try:
        return json.loads((Path(root) / STAMP_FILE).read_text())
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an advisory lock (so DDP ranks generate once); a no-op where ``fcntl`` is missing, where
    the "first rename wins" rule of :func:`_swap_in` still keeps the tree whole."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(lock_path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def generate(root: str | os.PathLike, config: ShapesConfig | Mapping | None = None, *, verbose: bool = False,
             workers: int | None = None) -> Path:
    """Make sure the tree at ``root`` holds the set of ``config``; generate it if not. Returns ``root``.

    The tree is written into a temporary folder beside ``root`` and renamed into place, so readers
    never see half a tree; a tree with a different stamp is replaced, a non-empty folder without a
    stamp is never touched (it is not ours). ``workers``: see :func:`write_tree`.
    """
    config = ShapesConfig.from_mapping(config)
    root = Path(root)
    wanted = json.loads(json.dumps(_stamp(config)))
    if read_stamp(root) == wanted:
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(root.parent / f".{root.name}.lock"):
        if read_stamp(root) == wanted:  # another process generated it while we waited
            return root
        if root.exists() and read_stamp(root) is None and any(root.iterdir()):
            raise FileExistsError(f"{root}: exists, is not empty and has no {STAMP_FILE}; refusing to "
                                  f"overwrite it with the shapes set (choose another root)")
        tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
        try:
            start = time.perf_counter()
            counts = write_tree(tmp, config, workers=workers)
            _swap_in(tmp, root, wanted)
            if verbose:
                print(f"shapes: generated {root} in {time.perf_counter() - start:.1f} s: "
                      + "; ".join(f"{s} {dict(c)}" for s, c in counts.items()), file=sys.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def _swap_in(tmp: Path, root: Path, wanted: dict) -> None:
    """Rename ``tmp`` onto ``root``; an old tree is moved aside first and deleted after."""
    if read_stamp(root) == wanted:  # someone else's identical copy is already in place
        return
    _as_umask_allows(tmp)
    old = None
    if root.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=root.parent))
        os.replace(root, old / root.name)
    try:
        os.replace(tmp, root)
    except OSError:
        # Another process renamed its own copy in first (no lock available): keep the winner if it
        # is the tree we want.
        if read_stamp(root) != wanted:
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    with contextlib.suppress(OSError):  # make the rename durable where directories can be fsynced
        fd = os.open(root.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _as_umask_allows(tree: Path) -> None:
    """Give the tree the permissions of ordinary files and folders: ``mkdtemp`` / ``mkstemp`` (used
    for atomic writes) create them private (0700 / 0600), but a data folder is meant to be shared."""
    umask = current_umask()
    os.chmod(tree, 0o777 & ~umask)
    for folder, dirs, files in os.walk(tree):
        for d in dirs:
            os.chmod(os.path.join(folder, d), 0o777 & ~umask)
        for f in files:
            os.chmod(os.path.join(folder, f), 0o666 & ~umask)


def load_groups(root: str | os.PathLike) -> dict[str, str]:
    """``{sample_id: subset}`` of a generated tree."""
    return json.loads((Path(root) / GROUPS_FILE).read_text())


def load_samples(root: str | os.PathLike, split: str | None = None) -> list[dict]:
    """Per-sentence metadata of a generated tree, optionally of one split."""
    samples = json.loads((Path(root) / SAMPLES_FILE).read_text())
    return [s for s in samples if split is None or s["split"] == split]


# ---------------------------------------------------------------------------------------------
# Dataset entry point


class ShapesSentences(A2DSentences):
    """The ``shapes`` set, generated under ``root`` if needed and read by the A2D reader.

    Args:
        root: the tree's folder (created, or rebuilt when its stamp differs from ``generator``).
        split: ``"train"`` or ``"test"``.
        generator: :class:`ShapesConfig` or its fields (a dict / config node); defaults otherwise.
            Its ``seed`` is the generator's; ``seed`` among ``a2d_kwargs`` is the augmentation's.
        **a2d_kwargs: :class:`~cmpcv.data.a2d.A2DSentences` arguments (``clip``, ``size``, ...).

    ``ds[i]`` is the usual sample dict plus ``group``, the sample's subset; ``ds.groups`` lists the
    subset of every sample in index order (for ``StreamingEvaluator.update(groups=...)``).
    """

    def __init__(self, root: str | os.PathLike, split: str = "train",
                 generator: ShapesConfig | Mapping | None = None, **a2d_kwargs) -> None:
        self.config = ShapesConfig.from_mapping(generator)
        generate(root, self.config)
        super().__init__(root, split, **a2d_kwargs)
        subsets = load_groups(root)
        self.groups = [subsets[self.sample_id(i)] for i in range(len(self))]

    def load(self, i: int) -> dict:
        item = super().load(i)
        item["group"] = self.groups[i]
        return item


# ---------------------------------------------------------------------------------------------
# Command line: python -m cmpcv.data.shapes root=PATH [field=value ...] [render=N] [render_dir=PATH]


def render_samples(root: str | os.PathLike, out_dir: str | os.PathLike, per_subset: int = 2,
                   split: str = "test", scale: int = 3) -> list[Path]:
    """Draw the first ``per_subset`` samples of each subset to PNG, from the written files.

    Each image is the 8 frames around the annotated frame (decoded from the mp4), the annotated one
    with the ground truth outlined, and the sentence above them.
    """
    from PIL import Image, ImageDraw
    from scipy import ndimage

    from cmpcv.data.masks import read_a2d_mask
    from cmpcv.data.video import read_video_frames

    paths, out_dir, written = a2d_paths(root), Path(out_dir), []
    out_dir.mkdir(parents=True, exist_ok=True)
    shown: Counter = Counter()
    for s in load_samples(root, split):
        if shown[s["subset"]] >= per_subset:
            continue
        shown[s["subset"]] += 1
        anno = s["frame_idx"] - 1
        frames, _ = read_video_frames(paths.video(s["video_id"]), list(range(max(anno - 4, 0), anno + 4)))
        mask = read_a2d_mask(paths.mask(s["video_id"], s["frame_idx"]), s["instance_id"]).astype(bool)
        k = min(anno, 4)
        frames[k][mask & ~ndimage.binary_erosion(mask)] = 255  # outline the ground truth
        strip = np.concatenate(list(frames), axis=1).repeat(scale, 0).repeat(scale, 1)
        image = Image.new("RGB", (strip.shape[1], strip.shape[0] + 16), (0, 0, 0))
        image.paste(Image.fromarray(strip), (0, 16))
        ImageDraw.Draw(image).text((2, 2), f"[{s['subset']}] {s['query']}", fill=(255, 255, 255))
        path = out_dir / f"{s['sample_id']}.png"
        with atomic_path(path) as tmp:
            image.save(tmp, format="PNG")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> dict[str, Counter]:
    """Generate (if needed) and print the sample counts per split and subset."""
    from omegaconf import OmegaConf

    args = _plain(OmegaConf.from_cli(sys.argv[1:] if argv is None else argv))
    if "root" not in args:
        raise SystemExit("usage: python -m cmpcv.data.shapes root=PATH [field=value ...] [render=N] "
                         f"[render_dir=PATH]\nfields: {', '.join(f.name for f in fields(ShapesConfig))}")
    root, render_n = Path(args.pop("root")), int(args.pop("render", 0))
    render_dir = Path(args.pop("render_dir", root / "previews"))
    start = time.perf_counter()
    generate(root, args)
    elapsed = time.perf_counter() - start
    counts = {split: Counter(s["subset"] for s in load_samples(root, split)) for split in SPLITS}
    print(f"shapes set at {root} (ready in {elapsed:.1f} s)")
    for split, c in counts.items():
        print(f"  {split:5s} {sum(c.values()):5d} samples: " + ", ".join(f"{k} {c[k]}" for k in KINDS))
    if render_n:
        for path in render_samples(root, render_dir, per_subset=render_n):
            print(f"  wrote {path}")
    return counts


if __name__ == "__main__":
    main()
