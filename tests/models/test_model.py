"""Behaviour of the assembled model for every backbone at small widths and small inputs."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from cmpcv.models import CMPCVModel, StateDictMismatch, build_model
from cmpcv.models.language import VIDEO_TYPES
from tests.models.conftest import FRAMES, VOCAB, make_batch, model_cfg

BACKBONES = list(FRAMES)
_BUILT: dict[str, CMPCVModel] = {}


def built(backbone: str) -> CMPCVModel:
    """One eval-mode model per backbone for the read-only tests (construction is the slow part)."""
    if backbone not in _BUILT:
        torch.manual_seed(0)
        _BUILT[backbone] = build_model(model_cfg(backbone)).eval()
    return _BUILT[backbone]


@pytest.mark.parametrize("backbone", BACKBONES)
def test_shapes_probabilities_and_batch_independence(backbone):
    model = built(backbone)
    frames, tokens, mask = make_batch(batch=2, frames=FRAMES[backbone], size=32)
    with torch.no_grad():
        out = model(frames, tokens, mask)
        singles = [model(frames[i : i + 1], tokens[i : i + 1, : int(mask[i].sum())], mask[i : i + 1, : int(mask[i].sum())]) for i in range(2)]
    assert out["logits"].shape == (2, 32, 32)
    assert out["aux_logits"].shape == (2, 3, 32, 32)
    assert out["word_probs"].shape == (2, tokens.shape[1], len(VIDEO_TYPES))
    sums = out["word_probs"].sum(-1)
    torch.testing.assert_close(sums[mask], torch.ones(int(mask.sum())))
    assert torch.all(out["word_probs"][~mask] == 0)
    # A batch of two equals two batches of one, each with its own (unpadded) sentence length.
    for i, single in enumerate(singles):
        for key in ("logits", "aux_logits"):
            torch.testing.assert_close(out[key][i], single[key][0], atol=1e-5, rtol=1e-5)
    assert torch.isfinite(out["logits"]).all()


@pytest.mark.parametrize("backbone", BACKBONES)
def test_padding_never_changes_the_output(backbone):
    model = built(backbone)
    frames, tokens, mask = make_batch(batch=2, frames=FRAMES[backbone], size=32)
    more_tokens = F.pad(tokens, (0, 7))
    more_mask = F.pad(mask, (0, 7))
    with torch.no_grad():
        a, b = model(frames, tokens, mask), model(frames, more_tokens, more_mask)
    torch.testing.assert_close(a["logits"], b["logits"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a["aux_logits"], b["aux_logits"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a["word_probs"], b["word_probs"][:, : tokens.shape[1]], atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_gradients_reach_every_trainable_module_and_no_frozen_backbone(backbone):
    torch.manual_seed(1)
    model = build_model(model_cfg(backbone)).train()
    frames, tokens, mask = make_batch(batch=2, frames=FRAMES[backbone], size=32)
    out = model(frames, tokens, mask)
    target = (torch.rand(2, 32, 32) > 0.5).float()
    loss = F.binary_cross_entropy_with_logits(out["logits"], target) + F.binary_cross_entropy_with_logits(
        out["aux_logits"], target.unsqueeze(1).expand_as(out["aux_logits"])
    )
    loss.backward()
    frozen = model.backbone.frozen
    for name, p in model.named_parameters():
        if name.startswith("backbone.") and frozen:
            assert not p.requires_grad and p.grad is None, name
            continue
        if name == "language.embedding.weight":  # only the rows of words in the batch
            assert p.grad[tokens[mask]].abs().sum() > 0
            continue
        assert p.requires_grad and p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reaches {name}"
    if frozen:  # BatchNorm statistics stay frozen in train mode, as released
        bns = [m for m in model.backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        assert bns and not any(m.training for m in bns)


def _fixed_types(types: list[int], vocab_size: int = VOCAB) -> nn.Module:
    """Replaces the word-type classifier: word t gets type ``types[t]`` with probability exactly 1."""

    class Fixed(nn.Module):
        def forward(self, words: torch.Tensor) -> torch.Tensor:
            logits = torch.zeros(*words.shape[:2], len(VIDEO_TYPES))
            logits[:, torch.arange(len(types)), torch.tensor(types)] = 1e4  # exp(-1e4) == 0 in float32
            return logits + 0 * words.sum(-1, keepdim=True)

    return Fixed()


def _action_word_effect(temporal_graph: bool, rounds: int, freeze_sentence: bool) -> float:
    """Max |Δ logits| when only the last word (typed as action) of the sentence changes.

    The LSTM is unidirectional, so the earlier words' features do not change; with the word types
    fixed, the action word can reach the output only through q_act (temporal graph) and q_all.
    ``freeze_sentence`` replaces q_all by a constant, closing that route.
    """
    torch.manual_seed(0)
    cfg = model_cfg("tiny2d", **{"cmpc.temporal_graph": temporal_graph, "tgfe.rounds": rounds})
    model = build_model(cfg).eval()
    ent, att, rel, act = (VIDEO_TYPES.index(n) for n in ("entity", "attribute", "relation", "action"))
    model.language.word_types = _fixed_types([ent, att, rel, act])
    constant = torch.nn.functional.normalize(torch.randn(1, model.language.hidden_dim), dim=-1)
    if freeze_sentence:
        model.language.register_forward_hook(lambda m, i, out: dataclasses.replace(out, q_all=constant))
    frames, _, _ = make_batch(batch=1, frames=3, size=32)
    mask = torch.ones(1, 4, dtype=torch.bool)
    with torch.no_grad():
        a = model(frames, torch.tensor([[5, 6, 7, 8]]), mask)["logits"]
        b = model(frames, torch.tensor([[5, 6, 7, 9]]), mask)["logits"]
    return float((a - b).abs().max())


def test_action_word_reaches_the_output_through_the_temporal_graph():
    # Temporal graph on: with the sentence vector frozen, the action word still changes the logits.
    assert _action_word_effect(temporal_graph=True, rounds=2, freeze_sentence=True) > 1e-4
    # Temporal graph off (CMPC-I on the GT frame): with the sentence vector frozen nothing changes...
    assert _action_word_effect(temporal_graph=False, rounds=2, freeze_sentence=True) == 0.0
    # ... and without TGFE (the only reader of q_all in CMPC-I mode) nothing changes either ...
    assert _action_word_effect(temporal_graph=False, rounds=0, freeze_sentence=False) == 0.0
    # ... while through q_all in TGFE it does: the pooled sentence vector is the only route.
    assert _action_word_effect(temporal_graph=False, rounds=2, freeze_sentence=False) > 1e-4


def test_the_action_word_changes_logits_with_the_learned_parser():
    model = built("tiny2d")
    frames, _, _ = make_batch(batch=1, frames=3, size=32)
    mask = torch.ones(1, 4, dtype=torch.bool)
    with torch.no_grad():
        a = model(frames, torch.tensor([[5, 6, 7, 8]]), mask)["logits"]
        b = model(frames, torch.tensor([[5, 6, 7, 9]]), mask)["logits"]
    assert (a - b).abs().max() > 1e-4


@pytest.mark.parametrize(
    "overrides",
    [
        {"cmpc.temporal_graph": False},
        {"cmpc.relation_graph": False},
        {"tgfe.rounds": 0},
        {"tgfe.rounds": 1},
        {"cmpc.factorized_adjacency": False},
    ],
)
def test_switches_build_and_run(overrides):
    torch.manual_seed(0)
    model = build_model(model_cfg("tiny3d", **overrides)).eval()
    frames, tokens, mask = make_batch(batch=2, frames=3, size=32)
    with torch.no_grad():
        out = model(frames, tokens, mask)
    assert out["logits"].shape == (2, 32, 32) and torch.isfinite(out["logits"]).all()
    names = [n for n, _ in model.named_parameters()]
    if overrides.get("cmpc.temporal_graph") is False:
        assert not any(".temporal." in n for n in names)
    if overrides.get("cmpc.relation_graph") is False:
        assert not any(".relation." in n for n in names)
    if "tgfe.rounds" in overrides:
        assert len(model.tgfe.rounds) == overrides["tgfe.rounds"]


def test_build_model_keeps_the_head_prior_and_an_identity_refiner_that_then_learns():
    # build_model re-initialises every conv (Xavier, zero bias): the head's own init must survive it.
    torch.manual_seed(0)
    model = build_model(model_cfg("tiny2d", **{"head.prior_prob": 0.03, "head.refine_channels": 8})).train()
    logit = math.log(0.03 / 0.97)
    for conv in (model.head.final, *model.head.aux):
        torch.testing.assert_close(conv.bias, torch.full_like(conv.bias, logit))
    frames, tokens, mask = make_batch(batch=2, frames=FRAMES["tiny2d"], size=32)
    out = model(frames, tokens, mask)
    refiner, model.head.refine = model.head.refine, None
    torch.testing.assert_close(out["logits"], model(frames, tokens, mask)["logits"])  # refiner: identity
    model.head.refine = refiner
    target = (torch.rand(2, 32, 32) > 0.5).float()
    F.binary_cross_entropy_with_logits(out["logits"], target).backward()
    first, last = refiner.net[0], refiner.net[-1]
    assert last.weight.grad.abs().sum() > 0 and first.weight.grad.abs().sum() == 0  # zero last layer
    with torch.no_grad():
        last.weight -= 0.1 * last.weight.grad
    model.zero_grad()
    F.binary_cross_entropy_with_logits(model(frames, tokens, mask)["logits"], target).backward()
    assert first.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("normalize", [True, False])
def test_normalize_lateral_switch_controls_the_entity_perception_input(normalize):
    torch.manual_seed(0)
    model = build_model(model_cfg("tiny2d", **{"cmpc.normalize_lateral": normalize})).eval()
    seen = []
    model.cmpc.levels[0].entity.register_forward_hook(lambda mod, args, out: seen.append(args[0]))
    with torch.no_grad():
        model(*make_batch())
    norms = seen[0].norm(dim=-1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5) == normalize


def test_factorized_adjacency_equals_the_dense_released_form():
    torch.manual_seed(0)
    dense = build_model(model_cfg("tiny2d", **{"cmpc.factorized_adjacency": False})).eval()
    factorized = build_model(model_cfg("tiny2d")).eval()
    factorized.load_state_dict(dense.state_dict())
    frames, tokens, mask = make_batch()
    with torch.no_grad():
        torch.testing.assert_close(dense(frames, tokens, mask)["logits"], factorized(frames, tokens, mask)["logits"], atol=1e-5, rtol=1e-5)


def test_checkpoint_round_trip_and_determinism(tmp_path):
    cfg = model_cfg("tiny3d")
    torch.manual_seed(3)
    model = build_model(cfg).eval()
    torch.manual_seed(3)
    again = build_model(cfg).eval()
    for (k, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), k  # same seed, same weights
    frames, tokens, mask = make_batch(frames=3)
    with torch.no_grad():
        expected = model(frames, tokens, mask)["logits"]
        assert torch.equal(expected, again(frames, tokens, mask)["logits"])
    from omegaconf import OmegaConf

    path = tmp_path / "ckpt.pt"
    torch.save({"model": model.state_dict(), "config": {"model": OmegaConf.to_container(cfg)}}, path)
    torch.manual_seed(99)  # a different init must be fully overwritten
    restored = build_model(None, path).eval()
    with torch.no_grad():
        assert torch.equal(restored(frames, tokens, mask)["logits"], expected)
    # A dict checkpoint works too, with an explicit cfg.
    restored = build_model(cfg, {"model": model.state_dict()}).eval()
    with torch.no_grad():
        assert torch.equal(restored(frames, tokens, mask)["logits"], expected)


def test_loading_another_architecture_lists_every_mismatch():
    state = build_model(model_cfg("tiny2d")).state_dict()
    with pytest.raises(StateDictMismatch) as err:
        build_model(model_cfg("tiny3d"), {"model": state})
    msg = str(err.value)
    assert "backbone.layer3.conv1.weight: checkpoint (32, 16, 3, 3) vs model (16, 16, 3, 3, 3)" in msg
    wider = model_cfg("tiny2d", **{"cmpc.relation_graph": False})
    with pytest.raises(StateDictMismatch) as err:
        build_model(wider, {"model": state})
    msg = str(err.value)
    assert "unexpected keys" in msg and "cmpc.levels.0.relation.nodes.weight" in msg
    assert "cmpc.levels.0.out.weight" in msg  # narrower concatenation -> shape mismatch listed too


def test_build_errors_are_explicit():
    cfg = model_cfg("tiny2d")
    cfg.language.vocab_size = None
    with pytest.raises(ValueError, match="vocab_size"):
        build_model(cfg)
    with pytest.raises(ValueError, match="checkpoint holds no config"):
        build_model(None, {"model": {}})
    cfg = model_cfg("tiny2d")
    with pytest.raises(ValueError, match="left-aligned"):
        build_model(cfg)(torch.rand(1, 3, 3, 32, 32), torch.tensor([[0, 5]]), torch.tensor([[False, True]]))


def test_word_vectors_reach_the_embedding_through_build_model():
    import numpy as np

    vectors = np.random.default_rng(0).normal(size=(VOCAB, 50)).astype(np.float32)
    model = build_model(model_cfg("tiny2d"), word_vectors=vectors)
    assert np.array_equal(model.language.embedding.weight.detach().numpy(), vectors)
