"""Language encoder: packed LSTM, word types, pooled vectors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from cmpcv.models.language import LanguageEncoder


def encoder(**kw) -> LanguageEncoder:
    torch.manual_seed(0)
    return LanguageEncoder(vocab_size=20, embed_dim=6, hidden_dim=8, type_hidden_dim=5, **kw).eval()


def test_word_features_match_an_unpadded_step_by_step_lstm():
    enc = encoder()
    tokens = torch.tensor([[3, 4, 5, 0, 0], [7, 8, 9, 10, 11]])
    mask = tokens > 0
    with torch.no_grad():
        feats = enc(tokens, mask)
        for b in range(2):
            n = int(mask[b].sum())
            h = torch.zeros(1, 1, 8)
            c = torch.zeros(1, 1, 8)
            for t in range(n):  # one word at a time: no padding anywhere
                out, (h, c) = enc.lstm(enc.embedding(tokens[b : b + 1, t : t + 1]), (h, c))
                torch.testing.assert_close(feats.words[b, t], F.normalize(out[0, 0], dim=-1))
            assert torch.all(feats.words[b, n:] == 0)


def test_probabilities_and_pooled_vectors():
    enc = encoder()
    tokens = torch.tensor([[3, 4, 5, 0], [7, 8, 0, 0]])
    mask = tokens > 0
    with torch.no_grad():
        f = enc(tokens, mask)
    torch.testing.assert_close(f.probs.sum(-1), mask.float())
    for b in range(2):
        n = int(mask[b].sum())
        w, p = f.words[b, :n], f.probs[b, :n]
        torch.testing.assert_close(f.q_ea[b], F.normalize((w * (p[:, 0] + p[:, 1])[:, None]).sum(0), dim=0))
        torch.testing.assert_close(f.q_act[b], F.normalize((w * p[:, 3:4]).sum(0), dim=0))
        torch.testing.assert_close(f.q_all[b], F.normalize((w * (1 - p[:, 4:5])).sum(0), dim=0))
    assert torch.equal(f.prob("action"), f.probs[..., 3])


def test_image_parser_has_no_action_vector():
    f = encoder(num_types=4)(torch.tensor([[3, 4]]), torch.tensor([[True, True]]))
    assert f.q_act is None and f.probs.shape == (1, 2, 4)


def test_word_vectors_initialise_the_embedding_and_forget_bias_is_one():
    vectors = np.random.default_rng(0).normal(size=(20, 6)).astype(np.float32)
    enc = encoder(word_vectors=vectors)
    assert np.array_equal(enc.embedding.weight.detach().numpy(), vectors)
    assert enc.embedding.weight.requires_grad
    assert torch.all(enc.lstm.bias_ih_l0[8:16] == 1) and torch.all(enc.lstm.bias_ih_l0[:8] == 0)
    with pytest.raises(ValueError, match=r"word_vectors have shape \(20, 5\)"):
        encoder(word_vectors=vectors[:, :5])


def test_bad_masks_are_rejected():
    enc = encoder()
    with pytest.raises(ValueError, match="no real word for batch rows \\[1\\]"):
        enc(torch.tensor([[3, 0], [0, 0]]), torch.tensor([[True, False], [False, False]]))
