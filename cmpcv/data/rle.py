"""COCO run-length encoding: validation of compressed ``counts`` strings (torch-free).

pycocotools trusts its input: a ``counts`` string whose runs do not add up to ``H * W`` makes
``decode`` return garbage and ``merge(intersect=True)`` loop forever. :func:`rle_counts` parses
the string the way pycocotools' ``rleFrString`` does, vectorised with NumPy, and
:func:`check_rle` rejects any RLE whose runs are malformed, negative or do not cover the mask
exactly, so that only well-formed RLEs ever reach pycocotools.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["RLEError", "check_rle", "rle_counts"]

# A run is at most H * W < 2**35 pixels: 7 characters of 5 bits each.
_MAX_CHARS_PER_RUN = 7


class RLEError(ValueError):
    """An RLE that pycocotools would misread."""


def rle_counts(counts: str | bytes) -> np.ndarray:
    """The run lengths ``(M,)`` int64 coded by a compressed COCO ``counts`` string.

    Each run is a little-endian sequence of 5-bit groups (character ``48 + group``, bit ``0x20``
    set while more groups follow, bit ``0x10`` of the last group the sign), and from the fourth
    run on each value is a difference to the run two places before it.
    """
    raw = counts.encode("ascii") if isinstance(counts, str) else bytes(counts)
    c = np.frombuffer(raw, dtype=np.uint8).astype(np.int64) - 48
    if c.size == 0:
        return np.zeros(0, np.int64)
    bad = np.flatnonzero((c < 0) | (c > 63))
    if bad.size:
        raise RLEError(f"character {raw[bad[0]:bad[0] + 1]!r} at {int(bad[0])} is not an RLE code (expected '0'..'o')")
    last = (c & 0x20) == 0
    if not last[-1]:
        raise RLEError("the counts string ends in the middle of a run")
    ends = np.flatnonzero(last)
    starts = np.concatenate([[0], ends[:-1] + 1])
    lengths = ends - starts + 1
    if lengths.max() > _MAX_CHARS_PER_RUN:
        raise RLEError(f"a run is coded with {int(lengths.max())} characters (at most {_MAX_CHARS_PER_RUN} fit a mask)")
    run = np.repeat(np.arange(ends.size), lengths)
    k = np.arange(c.size) - starts[run]
    values = np.bincount(run, weights=(c & 0x1F) << (5 * k), minlength=ends.size).astype(np.int64)
    negative = (c[ends] & 0x10) != 0
    values[negative] -= np.left_shift(1, 5 * lengths[negative])
    # Delta coding from the fourth run on: run m adds run m - 2.
    for first in (1, 2):
        chain = values[first::2]
        values[first::2] = np.cumsum(chain)
    return values


def check_rle(rle: Mapping, where: str, size: Sequence[int] | None = None) -> dict:
    """``{"size": [H, W], "counts": str}`` from a COCO RLE object, or a :class:`RLEError` naming
    ``where``. Checks that ``size`` is two non-negative integers (equal to ``size`` if given),
    that ``counts`` is a compressed string, and that its runs are non-negative and add up to
    ``H * W``."""
    if not isinstance(rle, Mapping) or "size" not in rle or "counts" not in rle:
        raise RLEError(f"{where}: expected an RLE object with 'size' and 'counts'")
    try:
        h, w = (int(v) for v in rle["size"])
    except (TypeError, ValueError):
        raise RLEError(f"{where}: 'size' must be [height, width], got {rle['size']!r}") from None
    if h < 0 or w < 0:
        raise RLEError(f"{where}: 'size' must be non-negative, got {[h, w]}")
    if size is not None and [h, w] != [int(v) for v in size]:
        raise RLEError(f"{where}: size {[h, w]} does not match the expected {[int(v) for v in size]}")
    counts = rle["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii", errors="replace")
    if not isinstance(counts, str):
        raise RLEError(f"{where}: 'counts' must be a compressed RLE string, got {type(counts).__name__}")
    try:
        runs = rle_counts(counts)
    except RLEError as err:
        raise RLEError(f"{where}: {err}") from None
    if runs.size and runs.min() < 0:
        raise RLEError(f"{where}: the counts code a negative run ({int(runs.min())})")
    if int(runs.sum()) != h * w:
        raise RLEError(f"{where}: the counts cover {int(runs.sum())} pixels, but size {[h, w]} has {h * w}")
    return {"size": [h, w], "counts": counts}
