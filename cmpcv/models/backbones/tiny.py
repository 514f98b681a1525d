"""Small from-scratch backbones behind the same contract, for the CPU demo and the tests.

``Tiny2D`` is a narrow residual 2D net applied per frame; ``Tiny3D`` is the same layout with 3D
convolutions whose temporal kernel is 3 and temporal stride 1, so every level keeps all T slices
(``temporal_from=k`` keeps the first k stages frame-wise, time kernel 1).
Both put c3/c4/c5 on one grid of stride ``stride`` (8 by default, or 4 for very small frames):
c3 is the first stage reaching that stride, c4 and c5 follow with dilation instead of striding,
as the DeepLab ResNet does. No pretrained weights exist for them: ``frozen`` defaults to False.

``pooled_rgb=True`` appends the input frame, average-pooled to the level grid (3 channels, after
the pixel normalisation), to every level. A from-scratch net trained on a small budget keeps
little colour in its deeper levels: in the shapes demo's runs, a linear probe on c5 at an actor's
centre cell named its colour in 31-52 % of held-out actors in 9 of 10 runs (chance 25 %), its
size in 96-100 % (scripts/diagnostics/level_probe.py; docs/shapes.md, "Recipe history"). A
pretrained backbone would be expected to keep colour; these three channels hand the tiny nets
the frame's colour directly, for no measurable step cost (0.143 against 0.142 s in the demo).
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from cmpcv.models.backbones.base import Backbone, to_levels, video_to_levels


class _ResBlock(nn.Module):
    """Two 3×3 convs with BatchNorm and a projected shortcut, in 2D or 3D (``dims``)."""

    def __init__(
        self, dims: int, cin: int, cout: int, stride: int = 1, dilation: int = 1, time_kernel: int = 3
    ) -> None:
        super().__init__()
        conv = nn.Conv2d if dims == 2 else nn.Conv3d
        norm = nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d
        # 3D: temporal kernel `time_kernel` (3, or 1 for a frame-wise block) with stride 1 and no
        # temporal dilation, so time is kept.
        k = 3 if dims == 2 else (time_kernel, 3, 3)
        s = stride if dims == 2 else (1, stride, stride)
        d = dilation if dims == 2 else (1, dilation, dilation)
        p = dilation if dims == 2 else (time_kernel // 2, dilation, dilation)
        self.conv1 = conv(cin, cout, k, stride=s, padding=p, dilation=d, bias=False)
        self.bn1 = norm(cout)
        self.conv2 = conv(cout, cout, k, padding=p, dilation=d, bias=False)
        self.bn2 = norm(cout)
        self.shortcut = (
            nn.Sequential(conv(cin, cout, 1, stride=s, bias=False), norm(cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class _TinyNet(Backbone):
    """Shared body: stem (stride 2) -> stages down to ``stride`` -> c3 -> c4 (dil 2) -> c5 (dil 4)."""

    dims: int

    def __init__(
        self,
        *,
        channels: tuple[int, int, int] = (32, 64, 128),
        stem_channels: int = 16,
        stride: int = 8,
        weights: str | Path | None = None,
        frozen: bool = False,
        finetune: bool = False,
        normalize: str = "centre",
        announce_random: bool = False,
        temporal_from: int = 0,
        pooled_rgb: bool = False,
    ) -> None:
        super().__init__(normalize=normalize, frozen=frozen, finetune=finetune)
        if stride not in (4, 8):
            raise ValueError(f"{type(self).__name__}: stride must be 4 or 8, got {stride}")
        if not 0 <= temporal_from <= 4:
            raise ValueError(f"{type(self).__name__}: temporal_from must be 0..4, got {temporal_from}")
        if self.dims == 2 and temporal_from:
            raise ValueError(f"{type(self).__name__}: temporal_from applies to Tiny3D only "
                             "(a 2D net has no time kernel); experiment=shapes sets it, so with "
                             "backbone=tiny2d add ~model.backbone.temporal_from")
        self.stride, self.pooled_rgb = stride, bool(pooled_rgb)
        c3, c4, c5 = (int(c) for c in channels)
        extra = 3 if self.pooled_rgb else 0
        self.out_channels = (c3 + extra, c4 + extra, c5 + extra)
        # Stages stem, layer3, layer4, layer5 = 0..3; those before `temporal_from` see one frame
        # each (time kernel 1, as the SlowFast slow pathway keeps its early stages 2D).
        kt = [1 if i < temporal_from else 3 for i in range(4)]
        stem = [_ResBlock(self.dims, 3, stem_channels, stride=2, time_kernel=kt[0])]
        if stride == 8:
            stem.append(_ResBlock(self.dims, stem_channels, stem_channels, stride=2, time_kernel=kt[0]))
        self.stem = nn.Sequential(*stem)
        self.layer3 = _ResBlock(self.dims, stem_channels, c3, stride=2, time_kernel=kt[1])
        self.layer4 = _ResBlock(self.dims, c3, c4, dilation=2, time_kernel=kt[2])
        self.layer5 = _ResBlock(self.dims, c4, c5, dilation=4, time_kernel=kt[3])
        self._setup(weights, announce_random)

    def _finetune_modules(self) -> Iterable[nn.Module]:
        return (self.layer3, self.layer4, self.layer5)

    def _levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        c3 = self.layer3(self.stem(x))
        c4 = self.layer4(c3)
        return [c3, c4, self.layer5(c4)]

    def _with_rgb(self, levels: list[torch.Tensor], frames: torch.Tensor) -> list[torch.Tensor]:
        """Levels ``(B, T, C, h, w)`` and frames ``(B, T, 3, H, W)`` -> levels ``(B, T, C + 3, h, w)``
        with the frames average-pooled to the ``h x w`` grid (unchanged without ``pooled_rgb``)."""
        if not self.pooled_rgb:
            return levels
        rgb = F.adaptive_avg_pool2d(frames.flatten(0, 1), tuple(levels[0].shape[-2:]))
        rgb = to_levels(rgb, frames.shape[0]).to(levels[0].dtype)
        return [torch.cat([level, rgb], dim=2) for level in levels]


class Tiny2D(_TinyNet):
    """Frames ``(B, T, 3, H, W)`` -> c3/c4/c5 ``(B, T, C_l, H/stride, W/stride)``, per frame."""

    dims = 2
    per_frame = True

    def _features(self, frames: torch.Tensor) -> list[torch.Tensor]:
        levels = [to_levels(c, frames.shape[0]) for c in self._levels(frames.flatten(0, 1))]
        return self._with_rgb(levels, frames)


class Tiny3D(_TinyNet):
    """Frames ``(B, T, 3, H, W)`` -> c3/c4/c5 ``(B, T, C_l, H/stride, W/stride)``, temporal convs."""

    dims = 3

    def _features(self, frames: torch.Tensor) -> list[torch.Tensor]:
        return self._with_rgb([video_to_levels(c) for c in self._levels(frames.transpose(1, 2))], frames)
