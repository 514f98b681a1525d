"""Segmentation heads: a 3×3 conv to one logit on the grid, bilinear upsampling to the input size,
and an optional full-resolution refinement of the final logits from the frame itself."""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class MaskRefiner(nn.Module):
    """A residual correction of upsampled logits at input resolution, read off the frame.

    ``logits (B, H, W)``, ``frame (B, 3, H, W)`` (normalised, the annotated frame) -> ``(B, H, W)``:
    ``logits + f([sigmoid(logits); frame])`` with ``f`` three 3×3 convs (``channels`` wide, ReLU
    between; a 7-pixel receptive field). Not in the released model (its masks are bilinear
    upsamplings of a stride-8 logit map). It is for the from-scratch CPU demo, where one grid cell
    spans a quarter to a third of an 11-17 px sprite: the mask of a correctly found actor then
    misses its outline by a pixel or two all round (82-87 mean IoU on small actors), and the frame
    shows exactly where the outline is.
    The last conv starts at zero (:meth:`finish_init`), so an untrained refiner changes nothing.
    """

    def __init__(self, channels: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(4, channels, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(channels, 1, 3, padding=1),
        )

    def finish_init(self) -> None:
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, logits: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
        if frame.shape[0] != logits.shape[0] or tuple(frame.shape[-3:]) != (3, *logits.shape[-2:]):
            raise ValueError(f"MaskRefiner: frame {tuple(frame.shape)} must be (B, 3, H, W) for logits "
                             f"{tuple(logits.shape)}")
        x = torch.cat([torch.sigmoid(logits).unsqueeze(1), frame.to(logits.dtype)], dim=1)
        return logits + self.net(x)[:, 0]


class SegmentationHead(nn.Module):
    """Final head on the fused feature and one auxiliary head per pre-TGFE level.

    ``fused (B, N, C)``, ``levels`` three ``(B, N, C)``, ``grid (h, w)``, ``size (H, W)`` ->
    ``logits (B, H, W)`` and ``aux_logits (B, 3, H, W)``. For a stride-8 grid and ``H = 8h``
    the upsampling is exactly ×8 bilinear with ``align_corners=False`` (half-pixel centres; TF1's
    ``resize_bilinear`` in the released code samples without the half-pixel shift, see
    docs/model.md).
    ``dim`` is filled in by :func:`cmpcv.models.build_model`.

    ``prior_prob``: when given, every head's bias starts at ``logit(prior_prob)``, so the untrained
    model predicts the expected foreground fraction instead of about 0.5 everywhere (the
    RetinaNet prior initialisation). ``None`` keeps zero biases (the released initialisation).
    ``refine_channels``: when > 0, the final logits pass through a :class:`MaskRefiner` of that
    width, which needs the annotated ``frame (B, 3, H, W)`` in :meth:`forward`; 0 (the released
    head) has none. The auxiliary heads are never refined.

    Both take effect through :meth:`finish_init`, which :func:`cmpcv.models.build_model` calls after
    the released Xavier/zero initialisation of every conv (and the constructor calls too, so a
    head built directly starts the same way).
    """

    def __init__(
        self, *, dim: int, num_aux: int = 3, prior_prob: float | None = None, refine_channels: int = 0
    ) -> None:
        super().__init__()
        if prior_prob is not None and not 0.0 < prior_prob < 1.0:
            raise ValueError(f"SegmentationHead: prior_prob must lie in (0, 1), got {prior_prob}")
        if refine_channels < 0:
            raise ValueError(f"SegmentationHead: refine_channels must be >= 0, got {refine_channels}")
        self.prior_prob = prior_prob
        self.final = nn.Conv2d(dim, 1, 3, padding=1)
        self.aux = nn.ModuleList(nn.Conv2d(dim, 1, 3, padding=1) for _ in range(num_aux))
        self.refine = MaskRefiner(refine_channels) if refine_channels else None
        self.finish_init()

    def finish_init(self) -> None:
        """Set what a generic initialisation would overwrite: the prior biases and the refiner's
        zero last layer."""
        if self.prior_prob is not None:
            bias = math.log(self.prior_prob / (1.0 - self.prior_prob))
            for conv in (self.final, *self.aux):
                nn.init.constant_(conv.bias, bias)
        if self.refine is not None:
            self.refine.finish_init()

    @staticmethod
    def _logit_map(conv: nn.Conv2d, x: torch.Tensor, grid: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
        x = x.transpose(1, 2).reshape(x.shape[0], x.shape[2], *grid)  # (B, C, h, w)
        return F.interpolate(conv(x), size=size, mode="bilinear", align_corners=False)[:, 0]

    def forward(
        self, fused: torch.Tensor, levels: list[torch.Tensor], grid: tuple[int, int], size: tuple[int, int],
        frame: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self._logit_map(self.final, fused, grid, size)
        if self.refine is not None:
            if frame is None:
                raise ValueError("SegmentationHead: refine_channels > 0 needs the annotated frame (B, 3, H, W)")
            logits = self.refine(logits, frame)
        aux = torch.stack([self._logit_map(c, y, grid, size) for c, y in zip(self.aux, levels)], dim=1)
        return logits, aux
