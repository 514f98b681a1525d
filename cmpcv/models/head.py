"""Segmentation heads: a 3×3 conv to one logit on the grid, bilinear upsampling to the input size,
and an optional full-resolution refinement of the final logits from the frame itself."""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

UPSAMPLE_MODES = ("half_pixel", "tf_legacy")


def _legacy_matrix(n_in: int, n_out: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``(n_out, n_in)`` interpolation weights of TF1's legacy bilinear resize along one axis."""
    coord = torch.arange(n_out, dtype=torch.float64) * (n_in / n_out)
    lo = coord.floor().long().clamp(max=n_in - 1)
    hi = (lo + 1).clamp(max=n_in - 1)
    frac = coord - lo
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    rows = torch.arange(n_out)
    m.index_put_((rows, lo), 1 - frac, accumulate=True)
    m.index_put_((rows, hi), frac, accumulate=True)
    return m.to(device=device, dtype=dtype)


def upsample_logits(x: torch.Tensor, size: tuple[int, int], mode: str = "half_pixel") -> torch.Tensor:
    """Bilinear resize of ``(B, C, h, w)`` to ``(B, C, *size)``.

    ``half_pixel``: ``F.interpolate(..., align_corners=False)``. ``tf_legacy``: TF1's
    ``tf.image.resize_bilinear`` with its defaults (``align_corners=False``,
    ``half_pixel_centers=False``), which the released code uses: output pixel i samples input
    coordinate ``i * h / H``, interpolating towards the next row/column and clamping at the last.
    """
    if mode == "half_pixel":
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    if mode != "tf_legacy":
        raise ValueError(f"upsample_logits: mode must be one of {UPSAMPLE_MODES}, got {mode!r}")
    rows = _legacy_matrix(x.shape[-2], size[0], x.device, x.dtype)
    cols = _legacy_matrix(x.shape[-1], size[1], x.device, x.dtype)
    return torch.einsum("yh,bchw,xw->bcyx", rows, x, cols)


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
    ``logits (B, H, W)`` and ``aux_logits (B, 3, H, W)``, upsampled bilinearly as ``upsample``
    says: ``half_pixel`` (PyTorch, ``align_corners=False``: output pixel i samples input
    coordinate ``(i + 0.5) h / H - 0.5``) or ``tf_legacy`` (the released code's TF1
    ``resize_bilinear``: it samples ``i h / H``, clamped at the last row/column). At ×8 the two
    differ by 0.4375 grid cells, i.e. 3.5 output pixels (:func:`upsample_logits`).
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
        self, *, dim: int, num_aux: int = 3, prior_prob: float | None = None, refine_channels: int = 0,
        upsample: str = "half_pixel",
    ) -> None:
        super().__init__()
        if upsample not in UPSAMPLE_MODES:
            raise ValueError(f"SegmentationHead: upsample must be one of {UPSAMPLE_MODES}, got {upsample!r}")
        self.upsample = upsample
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

    def _logit_map(self, conv: nn.Conv2d, x: torch.Tensor, grid: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
        x = x.transpose(1, 2).reshape(x.shape[0], x.shape[2], *grid)  # (B, C, h, w)
        return upsample_logits(conv(x), size, self.upsample)[:, 0]

    def forward(
        self, fused: torch.Tensor, levels: list[torch.Tensor], grid: tuple[int, int], size: tuple[int, int],
        frame: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.final_logits(fused, grid, size, frame)
        aux = torch.stack([self._logit_map(c, y, grid, size) for c, y in zip(self.aux, levels)], dim=1)
        return logits, aux

    def final_logits(self, fused: torch.Tensor, grid: tuple[int, int], size: tuple[int, int],
                     frame: torch.Tensor | None = None) -> torch.Tensor:
        """The final head alone (inference needs no auxiliary heads): ``fused (B, N, C)`` -> ``(B, H, W)``."""
        logits = self._logit_map(self.final, fused, grid, size)
        if self.refine is not None:
            if frame is None:
                raise ValueError("SegmentationHead: refine_channels > 0 needs the annotated frame (B, 3, H, W)")
            logits = self.refine(logits, frame)
        return logits
