"""What every backbone shares: the level contract, pixel normalisation, freezing, weight loading.

Contract. ``backbone(frames)`` with ``frames (B, T, 3, H, W)`` RGB in ``[0, 1]`` returns three
levels ``[c3, c4, c5]``, each ``(B, T_level, C_level, h, w)`` on one common grid of stride
``backbone.stride`` (8 for the paper backbones: 40×40 for a 320×320 input). ``T_level`` may differ
per level (3D backbones pool time); ``backbone.gt_index(T)`` gives, per level, the temporal slice
that covers the annotated frame ``T // 2``, so CMPC-V knows which slice plays the GT frame.

Freezing follows the released code: by default (``frozen=True``) no backbone parameter trains and
BatchNorm stays in inference mode even under ``model.train()``. ``finetune=True`` makes the stages
that produce c3..c5 trainable while BatchNorm statistics stay frozen (the released ``-finetune``);
``frozen=False`` trains everything with BatchNorm in training mode (the small from-scratch nets).

Pixel normalisation is bound to the weights. Each backbone class loads one published weights
format and names, in ``weights_preset``, the :data:`~cmpcv.data.normalize.PRESETS` entry its
publisher trained with (torchvision ResNet: ``imagenet``; Inception-I3D: ``inception``;
pytorchvideo: ``kinetics``; DeepLab: ``caffe_bgr``). ``normalize: null`` (the paper backbones'
config) follows it. Naming another preset while loading weights is an error, because such
weights then see pixels they were never trained on and nothing else would notice; weights that
were in fact trained with another preset (a fine-tuned copy) can be loaded with
``allow_normalize_mismatch=True``, which logs a warning naming both.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from cmpcv.data.normalize import PRESETS, PixelNormalize, describe_preset
from cmpcv.models.state import load_strict

log = logging.getLogger(__name__)
_ANNOUNCED_RANDOM: set[str] = set()


class Backbone(nn.Module):
    """Base class; subclasses build their layers, then call :meth:`_setup`.

    Subclasses define ``out_channels: tuple[int, int, int]``, ``stride: int``, ``_features(x)``
    (normalised frames ``(B, T, 3, H, W)`` -> three levels) and ``_finetune_modules()``; they may
    override :meth:`temporal_strides` and :meth:`_adapt_state_dict` (published layout -> ours).
    """

    out_channels: tuple[int, int, int]
    stride: int
    #: The pixel preset the published weights this class loads were trained with (None: the
    #: class has no published weights; its config must name a preset).
    weights_preset: str | None = None
    #: What those weights are, for messages ("torchvision ResNet weights").
    weights_format: str = "pretrained weights"
    #: Every frame goes through the network on its own (a 2D net in eval mode): the features of a
    #: frame are the same in every clip that holds it, so whole-video inference computes them once.
    per_frame: bool = False

    def __init__(
        self,
        *,
        normalize: str | None = None,
        frozen: bool = True,
        finetune: bool = False,
        allow_normalize_mismatch: bool = False,
    ) -> None:
        super().__init__()
        preset = normalize if normalize is not None else self.weights_preset
        if preset is None:
            raise ValueError(f"{type(self).__name__}: normalize must name a preset ({sorted(PRESETS)}); "
                             "this backbone has no published weights whose preset it could follow")
        self.normalize = PixelNormalize(preset)
        self.frozen = frozen
        self.finetune = finetune
        self.allow_normalize_mismatch = allow_normalize_mismatch

    # ----------------------------------------------------------------------------- contract
    def temporal_strides(self) -> tuple[int, int, int]:
        """How many input frames one temporal slice of each level covers (1 for 2D backbones)."""
        return (1, 1, 1)

    def gt_index(self, num_frames: int) -> tuple[int, int, int]:
        """Per level, the temporal slice covering the annotated frame ``num_frames // 2``."""
        return tuple((num_frames // 2) // s for s in self.temporal_strides())  # type: ignore[return-value]

    def forward(self, frames: torch.Tensor) -> list[torch.Tensor]:
        if frames.dim() != 5 or frames.shape[2] != 3:
            raise ValueError(f"{type(self).__name__}: expected frames (B, T, 3, H, W), got {tuple(frames.shape)}")
        # A frozen backbone needs no graph: saves the activations' memory and the backward pass.
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.trains_any()):
            return self._features(self.normalize(frames))

    def _features(self, frames: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    # ----------------------------------------------------------------------------- freezing
    def _finetune_modules(self) -> Iterable[nn.Module]:
        raise NotImplementedError

    def trains_any(self) -> bool:
        return any(p.requires_grad for p in self.parameters())

    def _setup(self, weights: str | Path | None, announce_random: bool = True) -> None:
        """Load weights (or announce random init), then apply the freezing policy."""
        if weights is not None:
            self.check_normalize(weights)
            self.load_weights(weights)
        elif announce_random and type(self).__name__ not in _ANNOUNCED_RANDOM:
            _ANNOUNCED_RANDOM.add(type(self).__name__)
            log.warning("%s: no weights path given, starting from random initialisation", type(self).__name__)
        if self.frozen:
            self.requires_grad_(False)
            if self.finetune:
                for m in self._finetune_modules():
                    m.requires_grad_(True)

    def train(self, mode: bool = True) -> "Backbone":
        super().train(mode)
        if self.frozen:
            # Released code: BatchNorm always runs with its stored statistics (is_training=False).
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    # ----------------------------------------------------------------------------- weights
    def check_normalize(self, weights: str | Path) -> None:
        """Raise unless the pixel preset is the one the weights at ``weights`` were trained with
        (warn instead with ``allow_normalize_mismatch=True``)."""
        expected, used = self.weights_preset, self.normalize.preset
        if expected is None or used == expected:
            return
        name = type(self).__name__
        msg = (f"{name}: {self.weights_format} ({weights}) expect pixels normalised as "
               f"'{expected}' ({describe_preset(expected)}), but model.backbone.normalize is "
               f"'{used}' ({describe_preset(used)})")
        if not self.allow_normalize_mismatch:
            raise ValueError(f"{msg}. Remove the normalize override (null follows the weights), or set "
                             f"model.backbone.allow_normalize_mismatch=true if these weights were "
                             f"trained with '{used}'.")
        log.warning("%s. Loading anyway (allow_normalize_mismatch=true): the features are only right "
                    "if these weights were trained with '%s'.", msg, used)

    def _read_state(self, path: Path) -> object:
        """The object stored at ``path`` (a PyTorch file by default)."""
        return torch.load(path, map_location="cpu", weights_only=True)

    def _adapt_state_dict(self, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Map a published checkpoint's keys onto this module's (default: unchanged)."""
        return dict(state)

    def load_weights(self, path: str | Path) -> None:
        """Load a published checkpoint from a local file; strict, listing every mismatch."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{type(self).__name__}: weights file {path} does not exist")
        state = self._read_state(path)
        if not isinstance(state, Mapping):
            raise ValueError(f"{type(self).__name__}: {path} holds a {type(state).__name__}, expected a state dict")
        load_strict(self, self._adapt_state_dict(state), source=str(path))


def strip_keys(state: Mapping[str, torch.Tensor], prefixes: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Drop the keys that start with one of ``prefixes`` (e.g. a classifier we do not use)."""
    return {k: v for k, v in state.items() if not k.startswith(prefixes)}


def same_padding(x: torch.Tensor, kernel: Sequence[int], stride: Sequence[int], value: float = 0.0) -> torch.Tensor:
    """Pad ``(B, C, *spatial)`` like TensorFlow "SAME": each output size is ``ceil(in / stride)``,
    the odd pixel of padding goes at the end. ``kernel`` and ``stride`` have one entry per
    spatial dimension (2 for images, 3 for videos)."""
    pads: list[int] = []
    for size, k, s in zip(reversed(x.shape[2:]), reversed(tuple(kernel)), reversed(tuple(stride))):
        total = max((math.ceil(size / s) - 1) * s + k - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value) if any(pads) else x


def to_levels(x: torch.Tensor, batch: int) -> torch.Tensor:
    """``(B*T, C, h, w)`` from a per-frame 2D network -> ``(B, T, C, h, w)``."""
    return x.reshape(batch, -1, *x.shape[1:])


def video_to_levels(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, T, h, w)`` from a 3D network -> ``(B, T, C, h, w)``."""
    return x.transpose(1, 2)


def resize_levels(levels: list[torch.Tensor], size: tuple[int, int]) -> list[torch.Tensor]:
    """Bring ``(B, T, C, h, w)`` levels to one ``size`` grid (bilinear, align_corners=False)."""
    out = []
    for x in levels:
        if tuple(x.shape[-2:]) != tuple(size):
            b, t = x.shape[:2]
            x = nn.functional.interpolate(x.flatten(0, 1), size=size, mode="bilinear", align_corners=False)
            x = x.reshape(b, t, *x.shape[1:])
        out.append(x)
    return out
