"""Language encoder and word-type parser (spec §2-3).

Tokens ``(B, L)`` int64, left-aligned with padding id 0, and ``token_mask (B, L)`` bool (True on
real words) -> :class:`LanguageFeatures`. The LSTM runs on packed sequences, so a word's feature
never depends on how much padding follows the sentence, at any batch size (the released code
skipped pad steps with a batch-1-only test).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

# Word types, in the order of the classifier's outputs.
VIDEO_TYPES = ("entity", "attribute", "relation", "action", "unnecessary")
IMAGE_TYPES = ("entity", "attribute", "relation", "unnecessary")


@dataclass
class LanguageFeatures:
    """Everything CMPC and TGFE read from the sentence. Padding positions are exactly zero.

    words ``(B, L, C_l)`` L2-normalised LSTM outputs; mask ``(B, L)`` bool; probs ``(B, L, K)``;
    q_ea, q_act, q_all ``(B, C_l)`` the pooled entity+attribute / action / all-necessary vectors
    (q_act is None for the image parser, K = 4).
    """

    words: torch.Tensor
    mask: torch.Tensor
    probs: torch.Tensor
    q_ea: torch.Tensor
    q_act: torch.Tensor | None
    q_all: torch.Tensor

    def take(self, rows: torch.Tensor | list[int]) -> "LanguageFeatures":
        """The features of the sentences at ``rows`` (an index per output row; repeats allowed)."""
        rows = torch.as_tensor(rows, dtype=torch.long, device=self.words.device)
        pick = lambda t: None if t is None else t.index_select(0, rows)  # noqa: E731
        return LanguageFeatures(words=pick(self.words), mask=pick(self.mask), probs=pick(self.probs),
                                q_ea=pick(self.q_ea), q_act=pick(self.q_act), q_all=pick(self.q_all))

    def prob(self, name: str) -> torch.Tensor:
        """``(B, L)`` probability of one word type (see :data:`VIDEO_TYPES`)."""
        types = VIDEO_TYPES if self.probs.shape[-1] == len(VIDEO_TYPES) else IMAGE_TYPES
        return self.probs[..., types.index(name)]


def pool_words(words: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``norm(Σ_t w_t l_t)``: ``words (B, L, C)``, ``weights (B, L)`` -> ``(B, C)``."""
    return F.normalize((weights.unsqueeze(-1) * words).sum(1), dim=-1)


class LanguageEncoder(nn.Module):
    """Embedding -> one-layer LSTM (packed) -> L2 norm -> word-type softmax -> pooled vectors.

    ``word_vectors`` (np.ndarray ``(vocab_size, embed_dim)``) initialises the trainable embedding;
    without it the embedding is drawn from N(0, 1). ``num_types`` is 5 (video) or 4 (image).
    ``parser_init``: ``xavier`` gives the word-type classifier Xavier-uniform weights and zero
    biases, as every released 1×1 conv; ``torch`` keeps PyTorch's ``nn.Linear`` default
    (Kaiming-uniform with a = √5, uniform biases).
    """

    def __init__(
        self,
        *,
        vocab_size: int,
        embed_dim: int = 300,
        hidden_dim: int = 1000,
        type_hidden_dim: int = 500,
        num_types: int = 5,
        word_vectors: np.ndarray | None = None,
        parser_init: str = "torch",
    ) -> None:
        super().__init__()
        if num_types not in (len(VIDEO_TYPES), len(IMAGE_TYPES)):
            raise ValueError(f"LanguageEncoder: num_types must be 5 (video) or 4 (image), got {num_types}")
        if parser_init not in ("xavier", "torch"):
            raise ValueError(f"LanguageEncoder: parser_init must be 'xavier' or 'torch', got {parser_init!r}")
        self.hidden_dim, self.num_types = hidden_dim, num_types
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        if word_vectors is not None:
            vectors = np.asarray(word_vectors)
            if vectors.shape != (vocab_size, embed_dim):
                raise ValueError(
                    f"LanguageEncoder: word_vectors have shape {vectors.shape}, expected "
                    f"(vocab_size, embed_dim) = ({vocab_size}, {embed_dim}) from model.language"
                )
            with torch.no_grad():
                self.embedding.weight.copy_(torch.from_numpy(vectors.astype(np.float32)))
        self.lstm = nn.LSTM(embed_dim, hidden_dim, batch_first=True)
        self.word_types = nn.Sequential(
            nn.Linear(hidden_dim, type_hidden_dim), nn.ReLU(), nn.Linear(type_hidden_dim, num_types)
        )
        self.reset_lstm()
        if parser_init == "xavier":
            for layer in (self.word_types[0], self.word_types[2]):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)

    def reset_lstm(self) -> None:
        """Glorot weights, zero biases, forget-gate bias 1 (TF ``BasicLSTMCell`` defaults)."""
        h = self.hidden_dim
        for name, p in self.lstm.named_parameters():
            if name.startswith("weight"):
                nn.init.xavier_uniform_(p)
            else:
                nn.init.zeros_(p)
        with torch.no_grad():  # PyTorch gate order is (input, forget, cell, output).
            self.lstm.bias_ih_l0[h : 2 * h].fill_(1.0)

    def encode_words(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` tokens -> ``(B, L, C_l)`` normalised word features, zero at padding."""
        lengths = mask.sum(1)
        if bool((lengths == 0).any()):
            empty = torch.nonzero(lengths == 0).flatten().tolist()
            raise ValueError(f"LanguageEncoder: token_mask has no real word for batch rows {empty}")
        expected = torch.arange(mask.shape[1], device=mask.device) < lengths.unsqueeze(1)
        if not torch.equal(mask, expected):
            raise ValueError("LanguageEncoder: tokens must be left-aligned (token_mask True, then only False)")
        packed = pack_padded_sequence(self.embedding(tokens), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=tokens.shape[1])
        return F.normalize(out, dim=-1)  # padding rows are 0 and stay 0

    def forward(self, tokens: torch.Tensor, token_mask: torch.Tensor) -> LanguageFeatures:
        mask = token_mask.bool()
        words = self.encode_words(tokens, mask)
        probs = F.softmax(self.word_types(words), dim=-1) * mask.unsqueeze(-1)
        unnecessary = probs[..., -1]
        real = mask.to(probs.dtype)
        q_ea = pool_words(words, probs[..., 0] + probs[..., 1])
        q_act = pool_words(words, probs[..., 3]) if self.num_types == len(VIDEO_TYPES) else None
        q_all = pool_words(words, real - unnecessary)
        return LanguageFeatures(words=words, mask=mask, probs=probs, q_ea=q_ea, q_act=q_act, q_all=q_all)
