"""Helpers for the data tests."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from cmpcv.data.fixtures import frame_level


@pytest.fixture
def a2d_copy(a2d_fixture_root: Path, tmp_path: Path) -> Path:
    """A private copy of the A2D fixture tree, for tests that break it."""
    return Path(shutil.copytree(a2d_fixture_root, tmp_path / "a2d"))


def levels_to_indices(levels: np.ndarray) -> list[int]:
    """0-based frame indices from the grey levels of fixture frames (H.264 is lossy: nearest level)."""
    table = np.array([frame_level(t) for t in range(40)])
    return [int(np.abs(table - v).argmin()) for v in np.asarray(levels, dtype=np.float64)]


def clip_indices(frames: torch.Tensor, geometry: dict) -> list[int]:
    """Frame indices of a processed clip ``(T, 3, H, W)``, read at the centre of its content."""
    top, left, bottom, right = geometry["pad"]
    H, W = geometry["input_size"]
    cy, cx = (top + H - bottom) // 2, (left + W - right) // 2
    return levels_to_indices(frames[:, 1, cy, cx].numpy() * 255.0)


@pytest.fixture(scope="session")
def shapes_tree(tmp_path_factory) -> Path:
    """A tiny generated ``shapes`` tree (24 train, 16 test samples), shared and read-only."""
    from cmpcv.data.shapes import generate

    return generate(tmp_path_factory.mktemp("shapes") / "shapes", {"train_samples": 24, "test_samples": 16})
