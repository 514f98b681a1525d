"""Segmentation heads: a 3×3 conv to one logit on the grid, bilinear upsampling to the input size."""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


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
    RetinaNet prior initialisation); with small objects the early steps then need not first
    push the whole background down. The shapes demo uses it (benchmarks/README.md, "Recipe
    probes"). ``None`` keeps the default initialisation.
    """

    def __init__(self, *, dim: int, num_aux: int = 3, prior_prob: float | None = None) -> None:
        super().__init__()
        self.final = nn.Conv2d(dim, 1, 3, padding=1)
        self.aux = nn.ModuleList(nn.Conv2d(dim, 1, 3, padding=1) for _ in range(num_aux))
        if prior_prob is not None:
            if not 0.0 < prior_prob < 1.0:
                raise ValueError(f"SegmentationHead: prior_prob must lie in (0, 1), got {prior_prob}")
            bias = math.log(prior_prob / (1.0 - prior_prob))
            for conv in (self.final, *self.aux):
                nn.init.constant_(conv.bias, bias)

    @staticmethod
    def _logit_map(conv: nn.Conv2d, x: torch.Tensor, grid: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
        x = x.transpose(1, 2).reshape(x.shape[0], x.shape[2], *grid)  # (B, C, h, w)
        return F.interpolate(conv(x), size=size, mode="bilinear", align_corners=False)[:, 0]

    def forward(
        self, fused: torch.Tensor, levels: list[torch.Tensor], grid: tuple[int, int], size: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self._logit_map(self.final, fused, grid, size)
        aux = torch.stack([self._logit_map(c, y, grid, size) for c, y in zip(self.aux, levels)], dim=1)
        return logits, aux
