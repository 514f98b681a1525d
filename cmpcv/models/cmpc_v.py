"""CMPC-V (spec §5) and the three-level module that wraps CMPC-V or CMPC-I per backbone level.

Per level: lateral 1×1 projection + L2 norm of every temporal slice; entity perception on each
slice (shared weights); action-guided pooling of each slice into one temporal node; a temporal
graph whose adjacency is self-attention over nodes; temporal context for the GT slice's positions;
the relation graph on the GT slice; ``Y = ReLU(W [V_gt; G; C; q_all; S])``.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from cmpcv.models.cmpc_i import CMPCILevel, RelationReasoning, tile
from cmpcv.models.fusion import COORD_DIM, EntityPerception, spatial_coords
from cmpcv.models.graph import GraphConv, scaled_attention_logits
from cmpcv.models.language import LanguageFeatures


class TemporalGraph(nn.Module):
    """Action-guided frame nodes, attention adjacency, graph conv, and context for the GT slice.

    ``entities (B, F, N, C)``, ``gt`` the GT slice index -> context ``(B, N, C)`` normalised.
    Action words enter only through the node pooling, not through the adjacency (as released).
    """

    def __init__(self, dim: int, lang_dim: int) -> None:
        super().__init__()
        self.pool_key, self.pool_query = nn.Linear(dim, dim), nn.Linear(lang_dim, dim)
        self.adj_query, self.adj_key = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.graph = GraphConv(dim)
        self.ctx_query, self.ctx_key = nn.Linear(dim, dim), nn.Linear(dim, dim)

    def forward(self, entities: torch.Tensor, q_act: torch.Tensor, gt: int) -> torch.Tensor:
        return self.context(self.pool_nodes(entities, q_act), entities[:, gt])

    def pool_nodes(self, entities: torch.Tensor, q_act: torch.Tensor) -> torch.Tensor:
        """Action-guided pooling of every slice into its node: ``entities (B, F, N, C)``,
        ``q_act (B, C_l)`` -> ``(B, F, C)``. A node depends on its own slice and the sentence only."""
        b, f, n, c = entities.shape
        keys = self.pool_key(entities).reshape(b, f * n, c)
        pool = scaled_attention_logits(keys, self.pool_query(q_act).unsqueeze(1)).reshape(b, f, n)
        return (F.softmax(pool, dim=2).unsqueeze(-1) * entities).sum(2)

    def context(self, nodes: torch.Tensor, gt_entities: torch.Tensor) -> torch.Tensor:
        """Adjacency, graph conv and the GT slice's context: ``nodes (B, F, C)``,
        ``gt_entities (B, N, C)`` -> ``(B, N, C)`` normalised."""
        adjacency = F.softmax(scaled_attention_logits(self.adj_query(nodes), self.adj_key(nodes)), dim=2)
        nodes = self.graph(nodes, adjacency)
        beta = F.softmax(scaled_attention_logits(self.ctx_query(gt_entities), self.ctx_key(nodes)), dim=2)
        return F.normalize(beta @ nodes, dim=-1)


class CMPCVLevel(nn.Module):
    """CMPC-V at one level: ``visual (B, F, N, C_v)``, ``coords (N, 8)``, GT slice -> ``(B, N, C_m)``."""

    def __init__(
        self, vis_dim: int, lang_dim: int, mm_dim: int, *, rank: int = 5, relation_graph: bool = True,
        factorized: bool = True,
    ) -> None:
        super().__init__()
        self.entity = EntityPerception(vis_dim, lang_dim, rank)
        self.temporal = TemporalGraph(vis_dim, lang_dim)
        self.relation = RelationReasoning(vis_dim, lang_dim, factorized=factorized) if relation_graph else None
        width = vis_dim * (3 if relation_graph else 2) + lang_dim + COORD_DIM
        self.out = nn.Linear(width, mm_dim)

    def forward(self, visual: torch.Tensor, coords: torch.Tensor, lang: LanguageFeatures, gt: int) -> torch.Tensor:
        if lang.q_act is None:
            raise ValueError("CMPCVLevel needs the video word types (language.num_types = 5) for q_act")
        b, f, n, c = visual.shape
        q_ea = lang.q_ea.repeat_interleave(f, dim=0)
        m = self.entity(visual.flatten(0, 1), coords, q_ea).view(b, f, n, c)
        return self.decode(visual[:, gt], m[:, gt], self.temporal.pool_nodes(m, lang.q_act), coords, lang)

    # The forward split where the sentence enters, so that video inference can compute each stage
    # once per slice (project), per (slice, sentence) (entities, nodes) and per (clip, sentence)
    # (decode); composed, they are the forward above.
    def project(self, visual: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """Sentence-independent: ``visual (S, N, C_v)`` slices -> ``(S, N, R*C_v)``."""
        return self.entity.project_visual(visual, coords)

    def entities(self, projected: torch.Tensor, lang: LanguageFeatures) -> torch.Tensor:
        """``projected (S, N, R*C_v)`` with one sentence per row -> ``M (S, N, C_v)``."""
        return self.entity.fuse(projected, lang.q_ea)

    def nodes(self, entities: torch.Tensor, lang: LanguageFeatures) -> torch.Tensor:
        """``M (S, N, C_v)`` with one sentence per row -> temporal nodes ``(S, C_v)``."""
        if lang.q_act is None:
            raise ValueError("CMPCVLevel needs the video word types (language.num_types = 5) for q_act")
        return self.temporal.pool_nodes(entities.unsqueeze(1), lang.q_act)[:, 0]

    def decode(self, visual_gt: torch.Tensor, entities_gt: torch.Tensor, nodes: torch.Tensor | None,
               coords: torch.Tensor, lang: LanguageFeatures) -> torch.Tensor:
        """Per (clip, sentence): the GT slice's ``visual_gt`` and ``entities_gt (B, N, C_v)``, the
        clip's ``nodes (B, F, C_v)`` -> ``Y (B, N, C_m)``."""
        b, n, _ = visual_gt.shape
        context = self.temporal.context(nodes, entities_gt)
        parts = [visual_gt]
        parts += [self.relation(entities_gt, lang)] if self.relation is not None else []
        parts += [context, tile(lang.q_all, n), coords.expand(b, n, -1)]
        return F.relu(self.out(torch.cat(parts, dim=-1)))


class CMPC(nn.Module):
    """Lateral projections + one CMPC-V (or, with ``temporal_graph=False``, CMPC-I on the GT
    slice) per level, each with its own parameters.

    ``levels``: backbone output, three ``(B, T_l, C_l, h, w)``; ``gt``: per-level GT slice
    (``backbone.gt_index(T)``) -> three ``(B, h*w, mm_dim)``.
    ``in_channels`` and ``lang_dim`` are filled in by :func:`cmpcv.models.build_model`.
    ``normalize_lateral=False`` skips the per-position L2 norm of the lateral projection (spec
    §5 has it); it is a diagnostic switch: the norm discards how strongly a position responds,
    which may be where a from-scratch backbone carries colour (docs/shapes.md, "Recipe history", fusion).
    ``entity_init``: ``per_head`` draws entity perception's R projections with per-head Xavier
    bounds, as the released R separate convs (:meth:`finish_init`); ``fused`` leaves the generic
    Xavier init of the fused layer (a 0.58× smaller bound at paper widths).
    """

    def __init__(
        self,
        *,
        in_channels: tuple[int, int, int],
        lang_dim: int,
        vis_dim: int = 1000,
        mm_dim: int = 500,
        rank: int = 5,
        temporal_graph: bool = True,
        relation_graph: bool = True,
        factorized_adjacency: bool = True,
        normalize_lateral: bool = True,
        entity_init: str = "fused",
    ) -> None:
        super().__init__()
        if entity_init not in ("per_head", "fused"):
            raise ValueError(f"CMPC: entity_init must be 'per_head' or 'fused', got {entity_init!r}")
        self.out_dim, self.temporal_graph, self.normalize_lateral = mm_dim, temporal_graph, normalize_lateral
        self.entity_init = entity_init
        self.lateral = nn.ModuleList(nn.Linear(c, vis_dim) for c in in_channels)
        block = CMPCVLevel if temporal_graph else CMPCILevel
        self.levels = nn.ModuleList(
            block(vis_dim, lang_dim, mm_dim, rank=rank, relation_graph=relation_graph, factorized=factorized_adjacency)
            for _ in in_channels
        )

    def finish_init(self) -> None:
        """After the generic Xavier/zero init (:func:`cmpcv.models.build_model`): per-head bounds
        for entity perception when ``entity_init == "per_head"``."""
        if self.entity_init == "per_head":
            for module in self.modules():
                if isinstance(module, EntityPerception):
                    module.init_per_head()

    def forward(
        self, levels: list[torch.Tensor], lang: LanguageFeatures, gt: tuple[int, ...]
    ) -> list[torch.Tensor]:
        h, w = levels[0].shape[-2:]
        coords = spatial_coords(h, w, device=levels[0].device, dtype=levels[0].dtype)
        outs = []
        for k, (x, level, g) in enumerate(zip(levels, self.levels, gt)):
            if tuple(x.shape[-2:]) != (h, w):
                raise ValueError(f"CMPC: backbone levels must share one grid, got {[tuple(l.shape) for l in levels]}")
            if not self.temporal_graph:
                x = x[:, g : g + 1]  # only the GT slice is computed at all
            v = self.visual(k, x)
            outs.append(level(v, coords, lang, g) if self.temporal_graph else level(v[:, 0], coords, lang))
        return outs

    def visual(self, k: int, x: torch.Tensor) -> torch.Tensor:
        """Level ``k``'s lateral projection (+ L2 norm): backbone level ``(B, T_l, C_l, h, w)`` ->
        ``V (B, T_l, h*w, C_v)``. Sentence-independent, slice by slice."""
        x = x.permute(0, 1, 3, 4, 2).flatten(2, 3)  # (B, T_l, N, C_l)
        v = self.lateral[k](x)
        return F.normalize(v, dim=-1) if self.normalize_lateral else v
