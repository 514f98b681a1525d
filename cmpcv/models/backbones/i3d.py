"""I3D: Inception-v1 inflated to 3D (Carreira and Zisserman, 2017).

Module names follow the widely used PyTorch conversion of DeepMind's Kinetics-400 checkpoint
(``rgb_imagenet.pt``), so its state dict loads unchanged: ``Conv3d_1a_7x7.conv3d.weight``,
``Mixed_3b.b0.conv3d.weight``, ``Mixed_3b.b1b.bn.running_mean``, ... (its ``logits.*`` classifier
is ignored). Those weights expect frames scaled to ``[-1, 1]`` (preset ``inception``: the
conversion's data pipeline computes ``img / 255 * 2 - 1``, as DeepMind's). Convolutions and
max-pools use TensorFlow's "SAME" padding, as the original network, so a slice of a level with
temporal stride s is centred on input frames ``[s*t, s*t + s)`` (its receptive field is wider).

Levels: Mixed_3c (480 ch, stride 8, T/2), Mixed_4f (832 ch, stride 16, T/4), Mixed_5c (1024 ch,
stride 32, T/8); c4 and c5 are upsampled bilinearly to the stride-8 grid of c3 (spec §10).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from cmpcv.models.backbones.base import Backbone, resize_levels, same_padding, strip_keys, video_to_levels

Triple = tuple[int, int, int]


class Unit3D(nn.Module):
    """Conv3d (no bias) + BatchNorm (eps 1e-3, as the TF original) + ReLU, "SAME" padding."""

    def __init__(self, cin: int, cout: int, kernel: Triple = (1, 1, 1), stride: Triple = (1, 1, 1)) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.conv3d = nn.Conv3d(cin, cout, kernel, stride=stride, bias=False)
        self.bn = nn.BatchNorm3d(cout, eps=1e-3, momentum=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv3d(same_padding(x, self.kernel, self.stride))))


class MaxPool3dSame(nn.Module):
    """Max-pool with "SAME" padding; padding with 0 is safe because inputs follow a ReLU."""

    def __init__(self, kernel: Triple, stride: Triple) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool3d(same_padding(x, self.kernel, self.stride), self.kernel, self.stride)


class InceptionBlock(nn.Module):
    """Four branches: 1×1 | 1×1→3×3 | 1×1→3×3 | pool→1×1, concatenated over channels."""

    def __init__(self, cin: int, widths: tuple[int, int, int, int, int, int]) -> None:
        super().__init__()
        w0, w1a, w1b, w2a, w2b, w3 = widths
        self.b0 = Unit3D(cin, w0)
        self.b1a, self.b1b = Unit3D(cin, w1a), Unit3D(w1a, w1b, (3, 3, 3))
        self.b2a, self.b2b = Unit3D(cin, w2a), Unit3D(w2a, w2b, (3, 3, 3))
        self.b3a, self.b3b = MaxPool3dSame((3, 3, 3), (1, 1, 1)), Unit3D(cin, w3)
        self.out_channels = w0 + w1b + w2b + w3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1
        )


# name -> (input channels, branch widths) of the Inception-v1 mixed blocks.
_MIXED = {
    "Mixed_3b": (192, (64, 96, 128, 16, 32, 32)),
    "Mixed_3c": (256, (128, 128, 192, 32, 96, 64)),
    "Mixed_4b": (480, (192, 96, 208, 16, 48, 64)),
    "Mixed_4c": (512, (160, 112, 224, 24, 64, 64)),
    "Mixed_4d": (512, (128, 128, 256, 24, 64, 64)),
    "Mixed_4e": (512, (112, 144, 288, 32, 64, 64)),
    "Mixed_4f": (528, (256, 160, 320, 32, 128, 128)),
    "Mixed_5b": (832, (256, 160, 320, 32, 128, 128)),
    "Mixed_5c": (832, (384, 192, 384, 48, 128, 128)),
}


class I3D(Backbone):
    """Frames ``(B, T, 3, H, W)`` -> c3/c4/c5 ``(B, T_l, C, H/8, W/8)``, T_l = T/2, T/4, T/8 (ceil)."""

    stride = 8
    out_channels = (480, 832, 1024)
    weights_preset = "inception"
    weights_format = "Inception-I3D weights (DeepMind's Kinetics checkpoint in PyTorch layout)"

    def __init__(
        self,
        *,
        weights: str | Path | None = None,
        frozen: bool = True,
        finetune: bool = False,
        normalize: str | None = None,
        allow_normalize_mismatch: bool = False,
        announce_random: bool = True,
    ) -> None:
        super().__init__(normalize=normalize, frozen=frozen, finetune=finetune,
                         allow_normalize_mismatch=allow_normalize_mismatch)
        self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Mixed_3b = InceptionBlock(*_MIXED["Mixed_3b"])
        self.Mixed_3c = InceptionBlock(*_MIXED["Mixed_3c"])
        self.MaxPool3d_4a_3x3 = MaxPool3dSame((3, 3, 3), (2, 2, 2))
        for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
            setattr(self, name, InceptionBlock(*_MIXED[name]))
        self.MaxPool3d_5a_2x2 = MaxPool3dSame((2, 2, 2), (2, 2, 2))
        self.Mixed_5b = InceptionBlock(*_MIXED["Mixed_5b"])
        self.Mixed_5c = InceptionBlock(*_MIXED["Mixed_5c"])
        self._setup(weights, announce_random)

    def temporal_strides(self) -> tuple[int, int, int]:
        return (2, 4, 8)

    def _finetune_modules(self) -> Iterable[nn.Module]:
        return [getattr(self, n) for n in _MIXED]

    def _adapt_state_dict(self, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return strip_keys(state, ("logits.",))

    def _run(self, x: torch.Tensor, names: tuple[str, ...]) -> torch.Tensor:
        for name in names:
            x = getattr(self, name)(x)
        return x

    def _features(self, frames: torch.Tensor) -> list[torch.Tensor]:
        x = frames.transpose(1, 2)  # (B, 3, T, H, W)
        x = self._run(x, ("Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3", "MaxPool3d_3a_3x3"))
        c3 = self._run(x, ("Mixed_3b", "Mixed_3c"))
        c4 = self._run(c3, ("MaxPool3d_4a_3x3", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"))
        c5 = self._run(c4, ("MaxPool3d_5a_2x2", "Mixed_5b", "Mixed_5c"))
        levels = [video_to_levels(c) for c in (c3, c4, c5)]
        return resize_levels(levels, tuple(c3.shape[-2:]))
