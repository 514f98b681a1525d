"""Data: dataset readers, clip sampling and decoding, transforms, text and batching.

Public entry points::

    A2DSentences(root, split, ...)      JHMDBSentences(root, samples_file=None, ...)
    ClipSampler(offsets | num_frames)   ReferringCollator(vocab, max_words=20)
    Vocabulary, tokenize, load_word_vectors      transforms.restore_mask

The names are resolved on first use (PEP 562), so that torch-free modules below this package
(annotation formats, RLE, text) import without pulling in torch and the video decoders.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "A2DSentences": "cmpcv.data.a2d",
    "JHMDBSentences": "cmpcv.data.jhmdb",
    "ReferringClipDataset": "cmpcv.data.referring",
    "SkipCounter": "cmpcv.data.referring",
    "Skipped": "cmpcv.data.referring",
    "ClipSampler": "cmpcv.data.clips",
    "FrameFolder": "cmpcv.data.frame_folder",
    "ReferringCollator": "cmpcv.data.batching",
    "build_dataloader": "cmpcv.data.batching",
    "seed_worker": "cmpcv.data.batching",
    "set_epoch": "cmpcv.data.batching",
    "DataError": "cmpcv.data.errors",
    "Vocabulary": "cmpcv.data.text",
    "load_word_vectors": "cmpcv.data.text",
    "tokenize": "cmpcv.data.text",
    "restore_mask": "cmpcv.data.transforms",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cmpcv.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
