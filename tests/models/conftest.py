"""Helpers for the model tests: configs from conf/ at small widths, and small batches."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig, OmegaConf

CONF = Path(__file__).resolve().parents[2] / "conf"
VOCAB = 40

# Backbone config name -> frames per clip used by the tests (every level needs 2+ slices so the temporal attention gets gradients).
FRAMES = {"tiny2d": 3, "tiny3d": 3, "r2d_50": 3, "i3d": 16, "i3d_r50": 4}


def model_cfg(backbone: str = "tiny2d", model: str = "cmpcv_small", **cmpc_overrides) -> DictConfig:
    """The ``model`` node as the hydra backbone group would fill it, vocab size set."""
    cfg = OmegaConf.load(CONF / "model" / f"{model}.yaml")
    cfg.backbone = OmegaConf.load(CONF / "backbone" / f"{backbone}.yaml")
    cfg.language.vocab_size = VOCAB
    for key, value in cmpc_overrides.items():
        OmegaConf.update(cfg, key, value)
    return cfg


def make_batch(batch: int = 2, frames: int = 3, size: int = 32, words: int = 6, seed: int = 0):
    """Random frames, and left-aligned sentences of decreasing length padded with 0."""
    g = torch.Generator().manual_seed(seed)
    clip = torch.rand(batch, frames, 3, size, size, generator=g)
    lengths = torch.tensor([max(1, words - 2 * i) for i in range(batch)])
    mask = torch.arange(words) < lengths.unsqueeze(1)
    tokens = torch.randint(2, VOCAB, (batch, words), generator=g) * mask
    return clip, tokens, mask


@pytest.fixture
def cfg_for():
    return model_cfg


def compose_run(*overrides: str) -> DictConfig:
    """The run config ``conf/train.yaml`` composes for ``overrides`` (e.g. ``experiment=...``),
    as ``python -m cmpcv.train`` would."""
    from hydra import compose, initialize_config_dir

    import cmpcv.train  # noqa: F401  (registers the resolvers the config uses)

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=list(overrides))


def randomize_batchnorm(module: torch.nn.Module, seed: int = 0) -> None:
    """Random BatchNorm affine parameters and running statistics, so a wrong pixel normalisation
    cannot hide behind identity-like statistics."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                c = m.num_features
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.randn(c, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=g) + 0.5)


def find_tf_python() -> str | None:
    """A Python interpreter with TensorFlow: ``$CMPCV_TF_PYTHON``, or this one if it imports
    tensorflow; None otherwise (the TensorFlow comparisons then skip)."""
    import importlib.util
    import os
    import sys

    if os.environ.get("CMPCV_TF_PYTHON"):
        return os.environ["CMPCV_TF_PYTHON"]
    return sys.executable if importlib.util.find_spec("tensorflow") is not None else None


def published_i3d_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict under the published names of the PyTorch Inception-I3D conversion
    (``rgb_imagenet.pt``), written out independently of cmpcv's module: random weights and random
    BatchNorm statistics, no ``num_batches_tracked`` (the conversion predates it), and its
    ``logits`` classifier."""
    stem = [("Conv3d_1a_7x7", 3, 64, 7), ("Conv3d_2b_1x1", 64, 64, 1), ("Conv3d_2c_3x3", 64, 192, 3)]
    mixed = {
        "Mixed_3b": (192, [64, 96, 128, 16, 32, 32]), "Mixed_3c": (256, [128, 128, 192, 32, 96, 64]),
        "Mixed_4b": (480, [192, 96, 208, 16, 48, 64]), "Mixed_4c": (512, [160, 112, 224, 24, 64, 64]),
        "Mixed_4d": (512, [128, 128, 256, 24, 64, 64]), "Mixed_4e": (512, [112, 144, 288, 32, 64, 64]),
        "Mixed_4f": (528, [256, 160, 320, 32, 128, 128]), "Mixed_5b": (832, [256, 160, 320, 32, 128, 128]),
        "Mixed_5c": (832, [384, 192, 384, 48, 128, 128]),
    }
    units = list(stem)
    for name, (cin, (w0, w1a, w1b, w2a, w2b, w3)) in mixed.items():
        units += [(f"{name}.b0", cin, w0, 1), (f"{name}.b1a", cin, w1a, 1), (f"{name}.b1b", w1a, w1b, 3),
                  (f"{name}.b2a", cin, w2a, 1), (f"{name}.b2b", w2a, w2b, 3), (f"{name}.b3b", cin, w3, 1)]
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, cin, cout, k in units:
        state[f"{name}.conv3d.weight"] = torch.randn(cout, cin, k, k, k, generator=g) * (2.0 / (cin * k**3)) ** 0.5
        state[f"{name}.bn.weight"] = torch.rand(cout, generator=g) + 0.5
        state[f"{name}.bn.bias"] = torch.randn(cout, generator=g) * 0.1
        state[f"{name}.bn.running_mean"] = torch.randn(cout, generator=g) * 0.1
        state[f"{name}.bn.running_var"] = torch.rand(cout, generator=g) + 0.5
    state["logits.conv3d.weight"] = torch.randn(400, 1024, 1, 1, 1, generator=g)
    state["logits.conv3d.bias"] = torch.zeros(400)
    return state
