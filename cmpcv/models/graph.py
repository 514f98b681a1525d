"""The graph convolution shared by the spatial (relation) and temporal graphs, and its norm.

Nodes are rows of ``(B, N, C)`` tensors; an adjacency is ``(B, N, N)`` with rows summing to 1.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class GraphNorm(nn.Module):
    """Layer norm with statistics over *all* nodes and channels of a sample, per-channel affine.

    This is what the released ``tf.contrib.layers.layer_norm`` does on its ``[B, 1, N, C]`` input
    (``begin_norm_axis=1``): GroupNorm with one group, not a per-node LayerNorm. Input
    ``(B, N, C)`` (or any ``(B, ..., C)``); each sample is normalised on its own.
    ``eps`` 1e-12 is the TF default used by the released code.
    """

    def __init__(self, dim: int, eps: float = 1e-12) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1, x.shape[-1])
        # group_norm wants channels at dim 1: (B, C, N).
        y = F.group_norm(flat.transpose(1, 2), 1, self.weight, self.bias, self.eps)
        return y.transpose(1, 2).reshape(x.shape)


class GraphConv(nn.Module):
    """One released ``graph_conv``: ``Z = ReLU(X + LN(A X))``, ``out = norm_c(ReLU(LN(W Z)))``.

    ``x (B, N, C)``; the adjacency is given either dense ``(B, N, N)`` or, for word-mediated
    graphs, as the factor pair ``(A_w (B, N, L), A_v (B, N, L))`` with ``A = A_w A_vᵀ``; then
    ``A X = A_w (A_vᵀ X)`` is computed without forming the N×N matrix (same result, O(N·L·C)).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm_msg = GraphNorm(dim)
        self.proj = nn.Linear(dim, dim)
        self.norm_out = GraphNorm(dim)

    def forward(
        self, x: torch.Tensor, adjacency: torch.Tensor | tuple[torch.Tensor, torch.Tensor]
    ) -> torch.Tensor:
        if isinstance(adjacency, tuple):
            a_w, a_v = adjacency
            msg = a_w @ (a_v.transpose(1, 2) @ x)
        else:
            msg = adjacency @ x
        z = F.relu(x + self.norm_msg(msg))
        return F.normalize(F.relu(self.norm_out(self.proj(z))), dim=-1)


def scaled_attention_logits(queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """``(B, N, C) x (B, M, C) -> (B, N, M)`` dot products divided by √C (every attention here)."""
    return queries @ keys.transpose(1, 2) / queries.shape[-1] ** 0.5
