"""The parsers, tokeniser and J-HMDB index on the real published annotation files.

Skipped unless ``CMPCV_SHARED_DATA`` points at them (``.ci/run`` sets it). Figures printed here
(longest sentence, OOV rate against the default GloVe) are recorded in docs/datasets.md.
"""
from __future__ import annotations

from collections import Counter

from cmpcv.data import JHMDBSentences
from cmpcv.data.a2d.format import COPY_INSTANCE, read_a2d_annotation, read_missed_videos
from cmpcv.data.jhmdb.format import read_jhmdb_annotation, read_jhmdb_samples_metadata
from cmpcv.data.text import Vocabulary, oov_words, tokenize


def test_a2d_annotation_file(shared_data_dir):
    folder = shared_data_dir / "a2d_sentences"
    with_copy = read_a2d_annotation(folder / "a2d_annotation.txt", keep_copy=True)
    rows = read_a2d_annotation(folder / "a2d_annotation.txt")
    assert len(with_copy) == 6655 and len(rows) == 6654
    assert [r[:2] for r in with_copy if r[1] == COPY_INSTANCE] == [("T6bNPuKV-wY", COPY_INSTANCE)]
    assert len({v for v, _, _ in rows}) == 3754
    assert len({(v, i) for v, i, _ in rows}) == 6654  # no (video, instance) twice
    assert {i for _, i, _ in rows} <= set(range(16))
    assert all(q == " ".join(q.lower().split()) and q for *_, q in rows)
    missed = read_missed_videos(folder / "a2d_missed_videos.txt")
    assert len(missed) == 28 and not set(missed) & {v for v, _, _ in rows}
    assert not (folder / "a2d_missed_videos.txt").read_bytes().endswith(b"\n")


def test_tokeniser_and_vocabulary_on_every_sentence(shared_data_dir):
    a2d = [q for *_, q in read_a2d_annotation(shared_data_dir / "a2d_sentences" / "a2d_annotation.txt")]
    jhmdb = [q for _, q in read_jhmdb_annotation(shared_data_dir / "jhmdb_sentences" / "jhmdb_annotation.txt")]
    lengths = Counter(len(tokenize(q, max_words=None)) for q in a2d + jhmdb)
    longest = max(a2d + jhmdb, key=lambda q: len(tokenize(q, max_words=None)))
    assert max(lengths) == len(tokenize(longest, max_words=None)) and all(len(tokenize(q)) <= 20 for q in a2d)
    assert min(lengths) >= 1
    vocab = Vocabulary.build(a2d)
    missing = oov_words(vocab, None)
    words = Counter(w for q in a2d for w in tokenize(q))
    oov_tokens = sum(words[w] for w in missing) / sum(words.values())
    print(f"\nA2D+J-HMDB sentences: {len(a2d) + len(jhmdb)}, longest {max(lengths)} words: {longest!r}; "
          f"over 20 words: {sum(n for k, n in lengths.items() if k > 20)}")
    print(f"A2D train+test vocabulary: {len(vocab) - 2} words, {len(missing)} not in glove.6B "
          f"({len(missing) / (len(vocab) - 2):.2%} of types, {oov_tokens:.2%} of tokens): {missing[:15]}")
    assert len(vocab) > 1000 and len(missing) / len(vocab) < 0.1


def test_jhmdb_frozen_index(shared_data_dir, tmp_path):
    folder = shared_data_dir / "jhmdb_sentences"
    entries = read_jhmdb_samples_metadata(folder / "jhmdb_sentences_samples_metadata.json")
    assert len(entries) == 2784 and len({(v, f) for v, _, f, _, _ in entries}) == 2784
    assert len({v for v, *_ in entries}) == 928 and len({a for _, a, *_ in entries}) == 21
    assert all(1 <= f <= total and 15 <= total <= 40 for _, _, f, total, _ in entries)
    assert entries[0][:3] == ("100_pullups_pullup_f_nm_np1_fr_med_1", "pullup", 2)
    # the reader's index needs no frames: it comes from the frozen list alone
    ds = JHMDBSentences(tmp_path, folder / "jhmdb_sentences_samples_metadata.json", cache_dir=False)
    assert len(ds) == 2784 and ds.sample_id(0) == "v_100_pullups_pullup_f_nm_np1_fr_med_1_f_2"
    annotated = dict(read_jhmdb_annotation(folder / "jhmdb_annotation.txt"))
    assert len(annotated) == 928 and {v for v, *_ in entries} == set(annotated)
