from __future__ import annotations

import numpy as np
import pytest

from cmpcv.data.text import PAD_ID, UNK_ID, Vocabulary, load_word_vectors, normalize_query, oov_words, tokenize


def test_tokenize_like_the_released_code():
    assert tokenize("The man's hat.") == ["the", "man", "'", "s", "hat"]
    assert tokenize("  A dog,  running ") == ["a", "dog", ",", "running"]
    assert tokenize(" ".join(str(i) for i in range(30))) == [str(i) for i in range(20)]
    assert len(tokenize(" ".join(["w"] * 30), max_words=None)) == 30
    assert tokenize("") == [] and tokenize(".") == []
    assert normalize_query("  A  Dog\trunning ") == "a dog running"


def test_vocabulary(tmp_path):
    v = Vocabulary.build(["a cat", "a dog", "the cat is a cat"])
    assert v.itos[:2] == ["<pad>", "<unk>"] and (v.stoi["<pad>"], v.stoi["<unk>"]) == (PAD_ID, UNK_ID)
    assert v.itos[2:5] == ["a", "cat", "dog"]  # by frequency, then alphabetical
    assert v.encode(["cat", "zebra"]) == [3, UNK_ID]
    assert Vocabulary.build(["the cat is a cat", "a dog", "a cat"]) == v  # order-independent
    v.save(tmp_path / "vocab.json")
    assert Vocabulary.load(tmp_path / "vocab.json") == v == Vocabulary.from_dict(v.to_dict())
    with pytest.raises(ValueError, match="vocab.json"):
        (tmp_path / "vocab.json").write_text("{}")
        Vocabulary.load(tmp_path / "vocab.json")


def test_word_vectors_from_text_and_npy(tmp_path):
    (tmp_path / "g.txt").write_text("cat 1 2 3\ndog 4 5 6\nfish 7 8 9\n")
    v = Vocabulary(["dog", "cat", "unicorn"])
    m = load_word_vectors(tmp_path / "g.txt", v, seed=0)
    assert m.shape == (5, 3) and m.dtype == np.float32
    assert np.array_equal(m[PAD_ID], np.zeros(3)) and np.array_equal(m[2], [4, 5, 6]) and np.array_equal(m[3], [1, 2, 3])
    expected = np.random.default_rng(0).normal(0, 0.6, (5, 3)).astype(np.float32)
    assert np.array_equal(m[[UNK_ID, 4]], expected[[UNK_ID, 4]])  # OOV rows: N(0, 0.6^2), seeded
    assert not np.array_equal(load_word_vectors(tmp_path / "g.txt", v, seed=1)[4], m[4])
    np.save(tmp_path / "e.npy", np.arange(9, dtype=np.float32).reshape(3, 3))
    (tmp_path / "e.txt").write_text("cat\ndog\nfish")
    m2 = load_word_vectors(tmp_path / "e.npy", v)
    assert np.array_equal(m2[2], [3, 4, 5]) and np.array_equal(m2[4], m[4])
    assert oov_words(v, tmp_path / "g.txt") == ["unicorn"]


def test_default_vectors_are_real_glove():
    v = Vocabulary(["the", "xqzzyv"])
    m = load_word_vectors(None, v)
    assert m.shape == (4, 50)
    np.testing.assert_allclose(m[2, :3], [0.418, 0.24968, -0.41242], atol=1e-5)  # glove.6B.50d "the"
