"""What the learned word-type parser makes of each kind of word in the shapes set's sentences.

CMPC's parser learns word types without labels; entity perception reads the sentence through
``q_ea``, which pools the words by their entity + attribute probability. The shapes set knows
what every word is (its sample list names the shape, colour, size, relation and motion words),
so a checkpoint's parser can be read against that: mean probability of each type per word kind
(``shape``, ``colour``, ``size``, ``relation``, ``action``, ``other``), over the test sentences.

    python scripts/diagnostics/word_types.py <data>/shapes/shapes_samples.json /tmp/demo_v5/checkpoints/last.pt [more]

What it found is summarised in docs/shapes.md ("Recipe history").
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's cmpcv

from cmpcv.data.shapes import SIZE_WORDS  # noqa: E402
from cmpcv.data.text import tokenize  # noqa: E402
from cmpcv.models.language import VIDEO_TYPES  # noqa: E402
from cmpcv.predict import PredictError, load_predictor  # noqa: E402

_SIZE = {w for words in SIZE_WORDS.values() for w in words}  # small, little, tiny, big, large


def word_kind(word: str, word_type: str) -> str:
    """The kind of a word from its type in the sample list (attributes split colour / size)."""
    if word_type == "attribute":
        return "size" if word in _SIZE else "colour"
    return {"entity": "shape", "unnecessary": "other"}.get(word_type, word_type)


def type_table(checkpoint: str, samples: list[dict]) -> dict[str, dict[str, float]]:
    """``kind -> {type: mean probability, "n": words}`` for one checkpoint."""
    try:
        predictor = load_predictor(checkpoint, device="cpu")
    except PredictError as err:
        raise SystemExit(f"word_types: {err}") from None
    language = predictor.model.language.eval()
    sums: dict[str, torch.Tensor] = collections.defaultdict(lambda: torch.zeros(len(VIDEO_TYPES)))
    counts: collections.Counter = collections.Counter()
    with torch.no_grad():
        for sample in samples:
            words = tokenize(sample["query"], max_words=None)
            if len(words) != len(sample["word_types"]):
                raise SystemExit(f"word_types: sample {sample['sample_id']}: {len(words)} words but "
                                 f"{len(sample['word_types'])} word types in the sample list")
            ids = torch.tensor([predictor.vocab.encode(words)])
            probs = language(ids, torch.ones_like(ids, dtype=torch.bool)).probs[0]
            if probs.shape[-1] != len(VIDEO_TYPES):
                raise SystemExit(f"word_types: {checkpoint} has an image parser ({probs.shape[-1]} types), not CMPC-V's")
            for word, word_type, p in zip(words, sample["word_types"], probs):
                kind = word_kind(word, word_type)
                sums[kind] += p
                counts[kind] += 1
    return {k: {**{t: round(float(v) / counts[k], 3) for t, v in zip(VIDEO_TYPES, sums[k])}, "n": counts[k]}
            for k in sorted(sums)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("samples", help="the set's shapes_samples.json")
    parser.add_argument("checkpoints", nargs="+", help="checkpoints of CMPC-V models trained on that set")
    parser.add_argument("--split", default="test")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    samples = [s for s in json.loads(Path(args.samples).read_text()) if s["split"] == args.split]
    if not samples:
        raise SystemExit(f"word_types: {args.samples} has no {args.split!r} samples")
    for checkpoint in args.checkpoints:
        print(checkpoint)
        for kind, row in type_table(checkpoint, samples).items():
            cells = "  ".join(f"{t} {row[t]:.2f}" for t in VIDEO_TYPES)
            print(f"  {kind:8s} n={row['n']:4d}  {cells}  (entity+attribute {row['entity'] + row['attribute']:.2f})")


if __name__ == "__main__":
    main()
