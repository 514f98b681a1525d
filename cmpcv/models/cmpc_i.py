"""CMPC-I (spec §4): entity perception, relation-aware reasoning over positions, output projection.

Features are channels-last node sets: ``(B, N, C)`` with ``N = h*w`` grid positions.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from cmpcv.models.fusion import COORD_DIM, EntityPerception
from cmpcv.models.graph import GraphConv, scaled_attention_logits
from cmpcv.models.language import LanguageFeatures


class RelationReasoning(nn.Module):
    """Spatial graph over all positions with word-mediated adjacency, scaled by relation probs.

    ``B[i, t] = p_t^rel (W_m M_i)·(W_l l_t) / √C``; ``A_w`` = softmax over real words,
    ``A_v`` = softmax over nodes, ``A = A_w A_vᵀ`` (rows sum to 1); then one :class:`GraphConv`.
    ``factorized=True`` never forms the N×N matrix (``A M = A_w (A_vᵀ M)``, identical result);
    ``False`` builds it as the released code does (kept for the benchmark and the tests).
    ``entities (B, N, C)`` -> ``(B, N, C)`` normalised.
    """

    def __init__(self, dim: int, lang_dim: int, *, factorized: bool = True) -> None:
        super().__init__()
        self.nodes = nn.Linear(dim, dim)
        self.words = nn.Linear(lang_dim, dim)
        self.graph = GraphConv(dim)
        self.factorized = factorized

    def adjacency(self, entities: torch.Tensor, lang: LanguageFeatures) -> tuple[torch.Tensor, torch.Tensor]:
        """The factors ``(A_w, A_v)``, each ``(B, N, L)``; padded word columns of ``A_w`` are 0."""
        logits = scaled_attention_logits(self.nodes(entities), self.words(lang.words))
        logits = logits * lang.prob("relation").unsqueeze(1)
        a_w = F.softmax(logits.masked_fill(~lang.mask.unsqueeze(1), float("-inf")), dim=2)
        a_v = F.softmax(logits, dim=1)
        return a_w, a_v

    def forward(self, entities: torch.Tensor, lang: LanguageFeatures) -> torch.Tensor:
        a_w, a_v = self.adjacency(entities, lang)
        adjacency = (a_w, a_v) if self.factorized else a_w @ a_v.transpose(1, 2)
        return self.graph(entities, adjacency)


def tile(vector: torch.Tensor, n: int) -> torch.Tensor:
    """``(B, C)`` -> ``(B, n, C)`` (a sentence vector broadcast over positions)."""
    return vector.unsqueeze(1).expand(-1, n, -1)


class CMPCILevel(nn.Module):
    """CMPC-I at one level on one frame: ``Y = ReLU(W [M; G; q_ea; S])`` (released "updated" concat).

    ``visual (B, N, C_v)`` lateral-projected features, ``coords (N, 8)`` -> ``(B, N, C_m)``.
    With ``relation_graph=False`` G is left out of the concatenation (the ablation).
    """

    def __init__(
        self, vis_dim: int, lang_dim: int, mm_dim: int, *, rank: int = 5, relation_graph: bool = True,
        factorized: bool = True,
    ) -> None:
        super().__init__()
        self.entity = EntityPerception(vis_dim, lang_dim, rank)
        self.relation = RelationReasoning(vis_dim, lang_dim, factorized=factorized) if relation_graph else None
        width = vis_dim * (2 if relation_graph else 1) + lang_dim + COORD_DIM
        self.out = nn.Linear(width, mm_dim)

    def forward(self, visual: torch.Tensor, coords: torch.Tensor, lang: LanguageFeatures) -> torch.Tensor:
        return self.decode(visual, self.entity(visual, coords, lang.q_ea), None, coords, lang)

    # The staged form video inference uses (the same interface as CMPCVLevel's; no nodes).
    def project(self, visual: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """Sentence-independent: ``visual (S, N, C_v)`` -> ``(S, N, R*C_v)``."""
        return self.entity.project_visual(visual, coords)

    def entities(self, projected: torch.Tensor, lang: LanguageFeatures) -> torch.Tensor:
        """``projected (S, N, R*C_v)`` with one sentence per row -> ``M (S, N, C_v)``."""
        return self.entity.fuse(projected, lang.q_ea)

    def decode(self, visual_gt: torch.Tensor, entities_gt: torch.Tensor, nodes: torch.Tensor | None,
               coords: torch.Tensor, lang: LanguageFeatures) -> torch.Tensor:
        """``entities_gt (B, N, C_v)`` -> ``Y (B, N, C_m)`` (``visual_gt`` and ``nodes`` unused)."""
        b, n, _ = entities_gt.shape
        parts = [entities_gt] + ([self.relation(entities_gt, lang)] if self.relation is not None else [])
        parts += [tile(lang.q_ea, n), coords.expand(b, n, -1)]
        return F.relu(self.out(torch.cat(parts, dim=-1)))
