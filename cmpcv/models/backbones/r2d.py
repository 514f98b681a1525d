"""R2D: torchvision's ResNet applied to every frame independently, dilated to stride 8.

torchvision's ResNet with dilation in the last two stages
(``replace_stride_with_dilation=[False, True, True]``), so layer2/3/4 (c3/c4/c5: 512/1024/2048
channels for depth 50/101) all sit on the stride-8 grid. Loads torchvision ResNet state dicts
(``conv1.weight``, ``layer1.0.conv1.weight``, ..., ``fc.*`` is ignored), which expect ImageNet
mean/std RGB pixels (preset ``imagenet``).

This is an ImageNet stand-in for the released R2D backbone, not a copy of it: the released
DeepLab-v2 ResNet-101 (:mod:`.deeplab`) puts the downsampling stride in the first 1×1 conv of a
block (torchvision: in the 3×3), and dilates every block of res4/res5 by 2/4 (torchvision: the
first block of each by 1/2).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
import torchvision
from torch import nn

from cmpcv.models.backbones.base import Backbone, strip_keys, to_levels

_RESNETS = {50: torchvision.models.resnet50, 101: torchvision.models.resnet101}


class R2D(Backbone):
    """Frames ``(B, T, 3, H, W)`` -> c3/c4/c5 ``(B, T, C, H/8, W/8)``, C = 512/1024/2048."""

    stride = 8
    per_frame = True
    out_channels = (512, 1024, 2048)
    weights_preset = "imagenet"
    weights_format = "torchvision ResNet weights"

    def __init__(
        self,
        *,
        depth: int = 101,
        weights: str | Path | None = None,
        frozen: bool = True,
        finetune: bool = False,
        normalize: str | None = None,
        allow_normalize_mismatch: bool = False,
        announce_random: bool = True,
    ) -> None:
        super().__init__(normalize=normalize, frozen=frozen, finetune=finetune,
                         allow_normalize_mismatch=allow_normalize_mismatch)
        if depth not in _RESNETS:
            raise ValueError(f"R2D: depth must be one of {sorted(_RESNETS)}, got {depth}")
        net = _RESNETS[depth](weights=None, replace_stride_with_dilation=[False, True, True])
        # The classifier is never used; dropping it keeps the state dict to what runs.
        del net.fc, net.avgpool
        self.net = net
        self._setup(weights, announce_random)

    def _finetune_modules(self) -> Iterable[nn.Module]:
        return (self.net.layer2, self.net.layer3, self.net.layer4)

    def _adapt_state_dict(self, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {f"net.{k}": v for k, v in strip_keys(state, ("fc.",)).items()}

    def _features(self, frames: torch.Tensor) -> list[torch.Tensor]:
        n = self.net
        x = frames.flatten(0, 1)
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        c3 = n.layer2(n.layer1(x))
        c4 = n.layer3(c3)
        c5 = n.layer4(c4)
        return [to_levels(c, frames.shape[0]) for c in (c3, c4, c5)]
