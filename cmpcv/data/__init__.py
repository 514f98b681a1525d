"""Data: dataset readers, clip sampling and decoding, transforms, text and batching.

Public entry points::

    A2DSentences(root, split, ...)      JHMDBSentences(root, samples_file=None, ...)
    ClipSampler(offsets | num_frames)   ReferringCollator(vocab, max_words=20)
    Vocabulary, tokenize, load_word_vectors      transforms.restore_mask
"""
from cmpcv.data.a2d import A2DSentences
from cmpcv.data.batching import ReferringCollator, build_dataloader, seed_worker, set_epoch
from cmpcv.data.clips import ClipSampler
from cmpcv.data.errors import DataError
from cmpcv.data.jhmdb import JHMDBSentences
from cmpcv.data.referring import ReferringClipDataset, SkipCounter, Skipped
from cmpcv.data.text import Vocabulary, load_word_vectors, tokenize
from cmpcv.data.transforms import restore_mask

__all__ = [
    "A2DSentences", "JHMDBSentences", "ReferringClipDataset", "ClipSampler", "ReferringCollator",
    "build_dataloader", "seed_worker", "set_epoch", "DataError", "SkipCounter", "Skipped",
    "Vocabulary", "load_word_vectors", "tokenize", "restore_mask",
]
