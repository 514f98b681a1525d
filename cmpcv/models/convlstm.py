"""A ConvLSTM with a 1×1 kernel, peepholes and layer norm, run over the level sequence c3→c4→c5.

With a 1×1 kernel the convolution is a per-position linear layer, so features stay channels-last
``(B, N, C)``. Layer norm (released ``util/cell.py``, ``normalize=True``) normalises each gate and
the cell over all positions and channels of a sample (:class:`~cmpcv.models.graph.GraphNorm`), and
the gate projection then has no bias. Peephole weights are per channel (inferred: the released
ones are per position *and* channel, which would tie the model to one input size).
"""
from __future__ import annotations

import torch
from torch import nn

from cmpcv.models.graph import GraphNorm


class ConvLSTMFusion(nn.Module):
    """``steps``: list of ``(B, N, C)`` (c3, c4, c5) -> the last hidden state ``(B, N, C)``."""

    def __init__(self, dim: int, forget_bias: float = 1.0) -> None:
        super().__init__()
        self.dim, self.forget_bias = dim, forget_bias
        self.gates = nn.Linear(2 * dim, 4 * dim, bias=False)
        self.peep_i, self.peep_f, self.peep_o = (nn.Parameter(torch.zeros(dim)) for _ in range(3))
        self.norms = nn.ModuleDict({k: GraphNorm(dim) for k in ("j", "i", "f", "o", "c")})

    def forward(self, steps: list[torch.Tensor]) -> torch.Tensor:
        h = torch.zeros_like(steps[0])
        c = torch.zeros_like(steps[0])
        for x in steps:
            j, i, f, o = self.gates(torch.cat([x, h], dim=-1)).chunk(4, dim=-1)
            # Input and forget gates peek at the previous cell, the output gate at the new one.
            i = torch.sigmoid(self.norms["i"](i + self.peep_i * c))
            f = torch.sigmoid(self.norms["f"](f + self.peep_f * c) + self.forget_bias)
            c = f * c + i * torch.tanh(self.norms["j"](j))
            o = torch.sigmoid(self.norms["o"](o + self.peep_o * c))
            c = self.norms["c"](c)
            h = o * torch.tanh(c)
        return h
