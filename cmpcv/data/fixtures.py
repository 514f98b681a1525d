"""Fixture content shared by the datasets' miniature trees, and ``python -m cmpcv.data.fixtures OUT``.

Each dataset writes its own format-exact tree (``cmpcv/data/<name>/fixture.py``); the content is
chosen here so that mistakes show: frame ``t`` (0-based) of every video is a flat colour whose
level is :func:`frame_level` ``(t)``, so a decoded frame tells its own index; each mask is
:func:`fixture_mask` ``(video, frame, instance)``, different for every (video, frame, instance)
and never symmetric, and frames are not square, so a wrong frame, instance or transpose fails.
"""
from __future__ import annotations

import importlib
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: ``(folder under OUT, writer)`` of every dataset fixture that ``python -m cmpcv.data.fixtures`` writes.
FIXTURES: tuple[tuple[str, str], ...] = (
    ("a2d_sentences", "cmpcv.data.a2d.fixture.write_a2d_fixture"),
    ("jhmdb_sentences", "cmpcv.data.jhmdb.fixture.write_jhmdb_fixture"),
    ("ref-youtube-vos", "cmpcv.data.ytvos.fixture.write_ytvos_fixture"),
    ("ref-davis", "cmpcv.data.davis17.fixture.write_refdavis_fixture"),
    ("mevis", "cmpcv.data.mevis.fixture.write_mevis_fixture"),
)


def frame_level(t: int) -> int:
    """Grey level of 0-based frame ``t`` of every fixture video (distinct up to t = 20)."""
    return 8 + 12 * t


def fixture_frames(length: int, size: tuple[int, int]) -> np.ndarray:
    """``(length, H, W, 3)`` uint8 frames, frame ``t`` flat at :func:`frame_level` ``(t)``."""
    levels = np.array([frame_level(t) for t in range(length)], dtype=np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (length, *size, 3)).copy()


def fixture_mask(video_id: str, frame_idx: int, instance_id: int, size: tuple[int, int]) -> np.ndarray:
    """The ``(H, W)`` uint8 mask of (video, 1-based frame, instance): a rectangle plus a notch.

    Its position and extent come from a hash of the triple, so every triple gets its own mask;
    the rectangle is never square and the notch breaks every symmetry.
    """
    h, w = size
    rng = np.random.default_rng(zlib.crc32(f"{video_id}/{frame_idx}/{instance_id}".encode()))
    rh = int(rng.integers(6, h // 2))
    rw = int(rng.integers(6, w // 2))
    if rw == rh:
        rw += 1
    top, left = int(rng.integers(0, h - rh)), int(rng.integers(0, w - rw))
    mask = np.zeros(size, dtype=np.uint8)
    mask[top:top + rh, left:left + rw] = 1
    mask[top, left:left + rw // 2] = 0  # notch: the mask differs from its flips and transpose
    return mask


@dataclass
class FixtureManifest:
    """What a fixture tree should yield, computed from the dataset's fixture tables (not by its reader)."""

    root: Path
    samples: dict[str, list[tuple]]  # split -> expected ``.samples``
    sizes: dict[str, tuple[int, int]]  # video_id -> (H, W)
    lengths: dict[str, int]  # video_id -> usable frames


def main(argv: list[str] | None = None) -> None:
    """``python -m cmpcv.data.fixtures [OUT]``: every dataset's tree under OUT (default
    ``fixture_data``), to try the check command on. ``-h``/``--help`` prints the usage."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m cmpcv.data.fixtures",
        description="Write a small tree of every dataset, in its exact on-disk format, under OUT: "
                    + ", ".join(f"OUT/{folder}" for folder, _ in FIXTURES) + ".")
    parser.add_argument("out", nargs="?", default="fixture_data", metavar="OUT",
                        help="folder to write the trees into (default: fixture_data)")
    out = Path(parser.parse_args(argv).out)
    for folder, writer in FIXTURES:
        module, name = writer.rsplit(".", 1)
        getattr(importlib.import_module(module), name)(out / folder)
    print("wrote " + " and ".join(str(out / folder) for folder, _ in FIXTURES))


if __name__ == "__main__":
    main()
