"""Text-guided feature exchange between levels (spec §6), followed by ConvLSTM fusion.

Level features are ``(B, N, C)``; the sentence vector ``s (B, C_l)`` is ``q_all``.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from cmpcv.models.convlstm import ConvLSTMFusion
from cmpcv.models.graph import scaled_attention_logits


class ExchangeUnit(nn.Module):
    """Updates one target level from the others: ``Y_i' = norm_c(Y_i + Σ_j m_{j→i})``.

    A sentence-guided global vector ``h_i = norm(W [Σ_n α_n Y_i,n ; s])`` with
    ``α = softmax_n(W_a Y_i · W_s s / √C)`` gates the messages
    ``m_{j→i} = ReLU(W_j Y_j) ⊙ σ(W_gj h_i)``; every source level j has its own two layers.
    """

    def __init__(self, dim: int, lang_dim: int, num_sources: int) -> None:
        super().__init__()
        self.attn_feat, self.attn_lang = nn.Linear(dim, dim), nn.Linear(lang_dim, dim)
        self.summary = nn.Linear(dim + lang_dim, dim)
        self.messages = nn.ModuleList(nn.Linear(dim, dim) for _ in range(num_sources))
        self.gates = nn.ModuleList(nn.Linear(dim, dim) for _ in range(num_sources))

    def forward(self, target: torch.Tensor, sources: list[torch.Tensor], sentence: torch.Tensor) -> torch.Tensor:
        alpha = F.softmax(scaled_attention_logits(self.attn_feat(target), self.attn_lang(sentence).unsqueeze(1)), dim=1)
        pooled = (alpha * target).sum(1)  # (B, C)
        # Per-sample vector normalisation (the released call normalised the whole batch tensor).
        h = F.normalize(self.summary(torch.cat([pooled, sentence], dim=-1)), dim=-1).unsqueeze(1)
        out = target
        for y, message, gate in zip(sources, self.messages, self.gates):
            out = out + F.relu(message(y)) * torch.sigmoid(gate(h))
        return F.normalize(out, dim=-1)


class TGFE(nn.Module):
    """``rounds`` synchronous exchange rounds (own parameters per round and level), then ConvLSTM.

    ``levels``: three ``(B, N, C)``; ``sentence (B, C_l)`` -> fused ``(B, N, C)``. ``rounds=0``
    skips the exchange (the ablation) and fuses the CMPC outputs directly.
    ``dim`` and ``lang_dim`` are filled in by :func:`cmpcv.models.build_model`.
    """

    def __init__(self, *, dim: int, lang_dim: int, rounds: int = 2, num_levels: int = 3) -> None:
        super().__init__()
        if rounds < 0:
            raise ValueError(f"TGFE: rounds must be >= 0, got {rounds}")
        self.rounds = nn.ModuleList(
            nn.ModuleList(ExchangeUnit(dim, lang_dim, num_levels - 1) for _ in range(num_levels))
            for _ in range(rounds)
        )
        self.fusion = ConvLSTMFusion(dim)

    def forward(self, levels: list[torch.Tensor], sentence: torch.Tensor) -> torch.Tensor:
        for units in self.rounds:
            # Synchronous: every unit of a round reads the previous round's outputs.
            levels = [
                unit(y, [z for j, z in enumerate(levels) if j != i], sentence)
                for i, (unit, y) in enumerate(zip(units, levels))
            ]
        return self.fusion(levels)
