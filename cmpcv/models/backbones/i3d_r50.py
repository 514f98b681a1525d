"""I3D-R50: pytorchvideo's ResNet-50 I3D (the ``i3d_r50`` hub architecture, built untrained).

Loads pytorchvideo's Kinetics checkpoint ``I3D_8x8_R50.pyth`` from a local file: a dict whose
``model_state`` holds ``blocks.0.conv.weight``, ``blocks.1.res_blocks.0.branch2.conv_a.weight``,
... (the classification head ``blocks.6.*`` is ignored). Levels: res3 / res4 / res5 (blocks 3/4/5;
512/1024/2048 ch at spatial strides 8/16/32); time is halved once after res2, so every level has
T/2 slices. c4 and c5 are upsampled bilinearly to c3's stride-8 grid, as for :class:`~.i3d.I3D`
(inferred: cheaper than dilating res4/res5, and the same recipe for both 3D backbones).
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import nn

with warnings.catch_warnings():
    # pytorchvideo decorates helpers with torch.jit.script, which torch 2.14 flags as deprecated.
    warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
    from pytorchvideo.models.hub import i3d_r50

from cmpcv.models.backbones.base import Backbone, resize_levels, strip_keys, video_to_levels

_HEAD = "blocks.6."


class I3DR50(Backbone):
    """Frames ``(B, T, 3, H, W)`` -> c3/c4/c5 ``(B, floor(T/2), C, H/8, W/8)``, C = 512/1024/2048.

    pytorchvideo's Kinetics weights expect its Kinetics mean/std (preset ``kinetics``).
    """

    stride = 8
    out_channels = (512, 1024, 2048)
    weights_preset = "kinetics"
    weights_format = "pytorchvideo Kinetics weights"

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
        net = i3d_r50(pretrained=False)
        # Keep the attribute name "blocks" so the published keys map one to one.
        self.blocks = nn.ModuleList(list(net.blocks)[:6])
        self._setup(weights, announce_random)

    def temporal_strides(self) -> tuple[int, int, int]:
        return (2, 2, 2)

    def _finetune_modules(self) -> Iterable[nn.Module]:
        return (self.blocks[3], self.blocks[4], self.blocks[5])

    def _adapt_state_dict(self, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if "model_state" in state:  # the .pyth container
            state = state["model_state"]
        return strip_keys(state, (_HEAD,))

    def _features(self, frames: torch.Tensor) -> list[torch.Tensor]:
        x = frames.transpose(1, 2)  # (B, 3, T, H, W)
        for block in self.blocks[:3]:  # stem, res2, temporal pool
            x = block(x)
        c3 = self.blocks[3](x)
        c4 = self.blocks[4](c3)
        c5 = self.blocks[5](c4)
        levels = [video_to_levels(c) for c in (c3, c4, c5)]
        return resize_levels(levels, tuple(c3.shape[-2:]))
