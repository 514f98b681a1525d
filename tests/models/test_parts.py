"""Building blocks checked against independent formulas: coordinates, graph norm and conv,
entity perception, relation adjacency, ConvLSTM, TGFE, head."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from cmpcv.models.cmpc_i import RelationReasoning
from cmpcv.models.convlstm import ConvLSTMFusion
from cmpcv.models.fusion import EntityPerception, spatial_coords
from cmpcv.models.graph import GraphConv, GraphNorm
from cmpcv.models.head import MaskRefiner, SegmentationHead
from cmpcv.models.language import LanguageFeatures
from cmpcv.models.tgfe import TGFE


def test_spatial_coords_follow_the_released_formula():
    s = spatial_coords(2, 4)
    # cell (h=1, w=2) of a 2x4 map: x in [0, 0.5], y in [0, 1]
    expected = torch.tensor([0.0, 0.0, 0.5, 1.0, 0.25, 0.5, 0.25, 0.5])
    torch.testing.assert_close(s[1 * 4 + 2], expected)
    assert s.shape == (8, 8)


def test_graph_norm_uses_all_nodes_and_channels_of_each_sample():
    torch.manual_seed(0)
    norm = GraphNorm(5)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 2)
        norm.bias.uniform_(-1, 1)
    x = torch.randn(3, 7, 5) * 4 + 2
    y = norm(x)
    for b in range(3):
        ref = (x[b] - x[b].mean()) / torch.sqrt(x[b].var(unbiased=False) + 1e-12) * norm.weight + norm.bias
        torch.testing.assert_close(y[b], ref)


def test_graph_conv_matches_its_equation():
    torch.manual_seed(0)
    gc = GraphConv(4)
    x = torch.randn(2, 6, 4)
    a = F.softmax(torch.randn(2, 6, 6), dim=-1)
    z = F.relu(x + gc.norm_msg(a @ x))
    expected = F.normalize(F.relu(gc.norm_out(z @ gc.proj.weight.T + gc.proj.bias)), dim=-1)
    torch.testing.assert_close(gc(x, a), expected)


def _lang(words: torch.Tensor, mask: torch.Tensor, probs: torch.Tensor) -> LanguageFeatures:
    q = F.normalize(words.sum(1), dim=-1)
    return LanguageFeatures(words=words * mask[..., None], mask=mask, probs=probs * mask[..., None], q_ea=q, q_act=q, q_all=q)


def test_relation_adjacency_rows_sum_to_one_and_ignore_padding():
    torch.manual_seed(0)
    rar = RelationReasoning(6, 5)
    m = F.normalize(torch.randn(1, 9, 6), dim=-1)
    words = F.normalize(torch.randn(1, 3, 5), dim=-1)
    probs = F.softmax(torch.randn(1, 3, 5), dim=-1)
    short = _lang(words[:, :2], torch.ones(1, 2, dtype=torch.bool), probs[:, :2])
    padded = _lang(words, torch.tensor([[True, True, False]]), probs)
    a_w, a_v = rar.adjacency(m, padded)
    dense = a_w @ a_v.transpose(1, 2)
    torch.testing.assert_close(dense.sum(-1), torch.ones(1, 9))
    assert torch.all(a_w[..., 2] == 0)
    # Independent formula on the real words only.
    logits = (rar.nodes(m) @ rar.words(words[:, :2]).transpose(1, 2)) / 6**0.5 * probs[:, None, :2, 2]
    torch.testing.assert_close(dense, F.softmax(logits, 2) @ F.softmax(logits, 1).transpose(1, 2))
    torch.testing.assert_close(rar(m, short), rar(m, padded))


def test_entity_perception_is_a_rank_r_bilinear_product():
    torch.manual_seed(0)
    ep = EntityPerception(4, 3, rank=2)
    v, s, q = torch.randn(1, 5, 4), spatial_coords(1, 5), torch.randn(1, 3)
    vs = torch.tanh(torch.cat([v[0], s], -1) @ ep.visual.weight.T + ep.visual.bias).view(5, 2, 4)
    us = torch.tanh(q[0] @ ep.language.weight.T + ep.language.bias).view(2, 4)
    expected = F.normalize(torch.tanh((vs * us).sum(1)), dim=-1)
    torch.testing.assert_close(ep(v, s, q)[0], expected)


def test_convlstm_first_step_and_level_order():
    torch.manual_seed(0)
    cell = ConvLSTMFusion(4)
    x = torch.randn(2, 3, 4)
    # One step from a zero state: c = σ(LN(i))·tanh(LN(j)), then h = σ(LN(o + w_co c))·tanh(LN(c)).
    j, i, _, o = (torch.cat([x, torch.zeros_like(x)], -1) @ cell.gates.weight.T).chunk(4, -1)
    n = cell.norms
    c = torch.sigmoid(n["i"](i)) * torch.tanh(n["j"](j))
    h = torch.sigmoid(n["o"](o + cell.peep_o * c)) * torch.tanh(n["c"](c))
    torch.testing.assert_close(cell([x]), h)
    y = torch.randn(2, 3, 4)
    assert not torch.allclose(cell([x, y]), cell([y, x]))


def test_tgfe_rounds_are_synchronous_and_per_sample():
    torch.manual_seed(0)
    tgfe = TGFE(dim=4, lang_dim=3, rounds=1)
    levels = [F.normalize(torch.randn(2, 5, 4), dim=-1) for _ in range(3)]
    s = F.normalize(torch.randn(2, 3), dim=-1)
    units = tgfe.rounds[0]
    exchanged = [units[0](levels[0], [levels[1], levels[2]], s), units[1](levels[1], [levels[0], levels[2]], s),
                 units[2](levels[2], [levels[0], levels[1]], s)]
    torch.testing.assert_close(tgfe(levels, s), tgfe.fusion(exchanged))
    one = tgfe([y[1:] for y in levels], s[1:])
    torch.testing.assert_close(tgfe(levels, s)[1:], one)


def test_head_upsamples_by_eight_bilinearly():
    torch.manual_seed(0)
    head = SegmentationHead(dim=3)
    fused = torch.randn(1, 4 * 5, 3)
    logits, aux = head(fused, [fused] * 3, (4, 5), (32, 40))
    grid = head.final(fused.transpose(1, 2).reshape(1, 3, 4, 5))
    expected = F.interpolate(grid, scale_factor=8, mode="bilinear", align_corners=False)[:, 0]
    torch.testing.assert_close(logits, expected)
    assert aux.shape == (1, 3, 32, 40)


def test_head_prior_prob_sets_the_untrained_foreground_probability():
    head = SegmentationHead(dim=4, prior_prob=0.03)
    zeros = torch.zeros(2, 3 * 3, 4)  # no evidence: only the bias speaks
    logits, aux = head(zeros, [zeros] * 3, (3, 3), (12, 12))
    torch.testing.assert_close(torch.sigmoid(logits), torch.full_like(logits, 0.03))
    torch.testing.assert_close(torch.sigmoid(aux), torch.full_like(aux, 0.03))
    assert SegmentationHead(dim=4).final.bias.abs().max() < 1.0  # default: PyTorch's init, untouched
    with pytest.raises(ValueError, match="prior_prob"):
        SegmentationHead(dim=4, prior_prob=1.0)


def test_refining_head_starts_unchanged_and_corrects_only_near_what_the_frame_changes():
    torch.manual_seed(0)
    head = SegmentationHead(dim=3, refine_channels=8)
    fused = torch.randn(2, 4 * 4, 3)
    frame = torch.randn(2, 3, 16, 16)
    logits, _ = head(fused, [fused] * 3, (4, 4), (16, 16), frame=frame)
    plain = head._logit_map(head.final, fused, (4, 4), (16, 16))
    torch.testing.assert_close(logits, plain)  # zero last layer: an untrained refiner is the identity
    with pytest.raises(ValueError, match="annotated frame"):
        head(fused, [fused] * 3, (4, 4), (16, 16))
    with pytest.raises(ValueError, match="MaskRefiner"):
        head(fused, [fused] * 3, (4, 4), (16, 16), frame=frame[:, :, :8])
    torch.nn.init.normal_(head.refine.net[-1].weight)
    with torch.no_grad():
        before, _ = head(fused, [fused] * 3, (4, 4), (16, 16), frame=frame)
        moved = frame.clone()
        moved[0, :, 8, 5] += 3.0  # one pixel of sample 0
        after, _ = head(fused, [fused] * 3, (4, 4), (16, 16), frame=moved)
    changed = (after - before).abs() > 0
    assert changed[0, 8, 5] and not changed[1].any()
    ys, xs = torch.nonzero(changed[0], as_tuple=True)
    # three 3x3 convs: a pixel reaches at most 3 pixels away
    assert (ys - 8).abs().max() <= 3 and (xs - 5).abs().max() <= 3
    with pytest.raises(ValueError, match="refine_channels"):
        SegmentationHead(dim=3, refine_channels=-1)
    assert isinstance(head.refine, MaskRefiner) and SegmentationHead(dim=3).refine is None
