"""Data: dataset readers, clip sampling and decoding, transforms, text and batching.

Public entry points::

    A2DSentences(root, split, ...)      JHMDBSentences(root, samples_file=None, ...)
    ClipSampler(offsets | num_frames)   ReferringCollator(vocab, max_words=20)
    Vocabulary, tokenize, load_word_vectors      transforms.restore_mask

The names are resolved on first use (PEP 562), so that torch-free modules below this package
(annotation formats, RLE, text) import without pulling in torch and the video decoders. Each
dataset lives in its own subpackage, ``cmpcv.data.<name>`` (``a2d``, ``jhmdb``, ``shapes``).
"""
from __future__ import annotations

from cmpcv.data.lazy import lazy_exports

_EXPORTS = {
    "A2DSentences": "cmpcv.data.a2d.reader",
    "JHMDBSentences": "cmpcv.data.jhmdb.reader",
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
    "DAVIS17Paths": "cmpcv.data.davis17.format",
    "MeViSPaths": "cmpcv.data.mevis.format",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
