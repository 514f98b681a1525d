"""Pixel normalisation presets, one per publisher of pretrained weights.

Frames travel through the data pipeline as RGB floats in ``[0, 1]`` (padding is 0), and the
backbone normalises them as its pretrained weights expect: every backbone class names the preset
of the weights format it loads (``Backbone.weights_preset``), and its config follows it unless
told otherwise (:mod:`cmpcv.models.backbones.base`). Keeping the preset with the backbone means a
checkpoint always sees the statistics it was trained with, and the data pipeline, the predictor
and the tests need not know which backbone is in use. Padding with 0 *before* normalisation
matches the released code, which zero-pads the raw image and then subtracts the mean.
"""
from __future__ import annotations

import torch
from torch import nn

# name -> (mean, std, bgr), mean/std in [0, 1] units of the (possibly reordered) channels.
PRESETS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float], bool]] = {
    # DeepLab-v2 ResNet-101 (Caffe, and its TensorFlow conversion used by the released code):
    # BGR, the Caffe mean subtracted in 0..255 units, no std division.
    "caffe_bgr": ((104.00698793 / 255, 116.66876762 / 255, 122.67891434 / 255), (1 / 255,) * 3, True),
    # torchvision's ImageNet models (ResNet-50/101).
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), False),
    # pytorchvideo's Kinetics-400 models (I3D-R50).
    "kinetics": ((0.45, 0.45, 0.45), (0.225, 0.225, 0.225), False),
    # Inception-I3D (DeepMind's Kinetics checkpoint and its PyTorch conversion): [-1, 1].
    "inception": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), False),
    # Small from-scratch backbones: centre the input only.
    "centre": ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), False),
}

_DESCRIPTIONS = {
    "caffe_bgr": "BGR, 0-255 minus the Caffe mean (104.0, 116.7, 122.7)",
    "imagenet": "RGB, ImageNet mean/std (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225)",
    "kinetics": "RGB, Kinetics mean/std 0.45 / 0.225",
    "inception": "RGB scaled to [-1, 1]",
    "centre": "RGB, (x - 0.5) / 0.25",
}


def describe_preset(preset: str) -> str:
    """One line saying what ``preset`` does to the pixels (for messages and docs)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown normalisation preset {preset!r}; expected one of {sorted(PRESETS)}")
    return _DESCRIPTIONS[preset]


class PixelNormalize(nn.Module):
    """Normalise RGB frames in ``[0, 1]`` with one of :data:`PRESETS`.

    Input and output: ``(..., 3, H, W)``; the channel axis is the third from the end.
    """

    def __init__(self, preset: str = "imagenet") -> None:
        super().__init__()
        if preset not in PRESETS:
            raise ValueError(f"unknown normalisation preset {preset!r}; expected one of {sorted(PRESETS)}")
        mean, std, bgr = PRESETS[preset]
        self.preset = preset
        self.bgr = bgr
        self.register_buffer("mean", torch.tensor(mean).view(3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(3, 1, 1), persistent=False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.shape[-3] != 3:
            raise ValueError(f"expected 3 colour channels at dim -3, got shape {tuple(frames.shape)}")
        if self.bgr:
            frames = frames.flip(-3)
        return (frames - self.mean.to(frames.dtype)) / self.std.to(frames.dtype)

    def extra_repr(self) -> str:
        return f"preset={self.preset!r}"
