"""Entity perception: the rank-R bilinear ("MUTAN-style") fusion of visual and language features,
and the 8-d spatial coordinate features it consumes.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

COORD_DIM = 8


def spatial_coords(h: int, w: int, *, device: torch.device | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``(h*w, 8)`` per-cell ``[x_min, y_min, x_max, y_max, x_ctr, y_ctr, 1/w, 1/h]`` in ``[-1, 1]``.

    Cells are listed row-major (the order of ``x.flatten(-2)`` on an ``(h, w)`` map), as the
    released ``generate_spatial_batch``.
    """
    ys = torch.arange(h, device=device, dtype=torch.float32)
    xs = torch.arange(w, device=device, dtype=torch.float32)
    y0, x0 = torch.meshgrid(2 * ys / h - 1, 2 * xs / w - 1, indexing="ij")
    y1, x1 = y0 + 2 / h, x0 + 2 / w
    cells = [x0, y0, x1, y1, (x0 + x1) / 2, (y0 + y1) / 2, torch.full_like(x0, 1 / w), torch.full_like(x0, 1 / h)]
    return torch.stack(cells, dim=-1).reshape(h * w, COORD_DIM).to(dtype or torch.float32)


class EntityPerception(nn.Module):
    """``M = norm_c(tanh(Σ_r tanh(W_r^v [V; S]) ⊙ tanh(W_r^l q)))``, rank R (5 in the paper).

    ``visual (B, N, C_v)``, ``coords (N, 8)``, ``sentence (B, C_l)`` -> ``(B, N, C_v)``. The R
    visual (and language) projections run as one wide linear layer and are split afterwards.
    The released code has R separate 1×1 convs, each Xavier-initialised on its own; a generic
    Xavier init of the fused layer counts all R outputs in its fan and draws from a bound
    ``sqrt(6 / (fan_in + R C_v))`` instead of ``sqrt(6 / (fan_in + C_v))`` (0.58× for R = 5,
    C_v = 1000). :meth:`init_per_head` draws every head with its own bound.
    """

    def __init__(self, vis_dim: int, lang_dim: int, rank: int = 5) -> None:
        super().__init__()
        self.rank, self.dim = rank, vis_dim
        self.visual = nn.Linear(vis_dim + COORD_DIM, rank * vis_dim)
        self.language = nn.Linear(lang_dim, rank * vis_dim)

    def init_per_head(self) -> None:
        """Xavier-uniform weights drawn per head (the released R separate convs), zero biases."""
        for layer in (self.visual, self.language):
            for head in layer.weight.data.split(self.dim, dim=0):
                nn.init.xavier_uniform_(head)
            nn.init.zeros_(layer.bias)

    def forward(self, visual: torch.Tensor, coords: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        return self.fuse(self.project_visual(visual, coords), sentence)

    def project_visual(self, visual: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """The sentence-independent half, ``tanh(W_r^v [V; S])`` for all R heads:
        ``visual (B, N, C_v)``, ``coords (N, 8)`` -> ``(B, N, R*C_v)``."""
        b, n, _ = visual.shape
        return torch.tanh(self.visual(torch.cat([visual, coords.expand(b, n, -1)], dim=-1)))

    def fuse(self, projected: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        """``projected (B, N, R*C_v)`` from :meth:`project_visual`, ``sentence (B, C_l)`` -> ``M (B, N, C_v)``."""
        b, n, _ = projected.shape
        u = torch.tanh(self.language(sentence))
        fused = (projected.view(b, n, self.rank, self.dim) * u.view(b, 1, self.rank, self.dim)).sum(2)
        return F.normalize(torch.tanh(fused), dim=-1)
