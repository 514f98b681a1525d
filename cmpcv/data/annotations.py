"""Parsers of the released A2D Sentences and J-HMDB Sentences files (no video, no mask is read).

Each follows the MTTR protocol of spec ``datasets_and_evaluation.md`` §1-2 and raises a
:class:`~cmpcv.data.errors.DataError` naming the file and line when a row is malformed. The
per-frame masks are read by :mod:`cmpcv.data.masks`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath

from cmpcv.data.errors import DataError
from cmpcv.data.text import normalize_query

A2D_SUBSETS = {"train": 0, "test": 1}
COPY_INSTANCE = "1 (copy)"  # the one duplicated row of a2d_annotation.txt, dropped as MTTR does
# Published sample counts of the MTTR protocol, used by ``python -m cmpcv.data.check``.
PUBLISHED_COUNTS = {"a2d": {"train": 15747, "test": 3800}, "jhmdb": {"test": 2784}}


def _lines(path: str | os.PathLike, what: str) -> list[str]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(path, f"{what} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"could not read {what}: {exc}") from exc
    return text.splitlines()


def _header(path, lines: list[str], expected: str) -> list[str]:
    if not lines or lines[0].strip() != expected:
        got = lines[0].strip() if lines else "an empty file"
        raise DataError(path, f"expected the header {expected!r}, got {got!r}")
    return lines[1:]


def read_videoset(path: str | os.PathLike) -> dict[str, int]:
    """``Release/videoset.csv`` -> ``{video_id: subset}`` (0 train, 1 test). No header; 9 columns."""
    out: dict[str, int] = {}
    for n, line in enumerate(_lines(path, "A2D videoset.csv"), start=1):
        if not line.strip():
            continue
        cols = line.split(",")
        if len(cols) != 9:
            raise DataError(path, f"line {n}: expected 9 comma-separated columns "
                                  f"(vid,label,...,subset), got {len(cols)}: {line!r}")
        try:
            subset = int(cols[8])
        except ValueError:
            raise DataError(path, f"line {n}: subset (column 9) must be 0 or 1, got {cols[8]!r}") from None
        out[cols[0].strip()] = subset
    return out


def read_a2d_annotation(path: str | os.PathLike, *, keep_copy: bool = False) -> list[tuple[str, int | str, str]]:
    """``a2d_annotation.txt`` -> ``[(video_id, instance_id, normalised query)]`` in file order.

    The ``1 (copy)`` row is dropped (``keep_copy=True`` keeps it, with a string instance id, for
    the check command); any other non-integer instance id is an error.
    """
    rows: list[tuple[str, int | str, str]] = []
    lines = _header(path, _lines(path, "A2D annotation file"), "video_id,instance_id,query")
    for n, line in enumerate(lines, start=2):
        if not line.strip():
            continue
        cols = line.split(",", 2)
        if len(cols) != 3:
            raise DataError(path, f"line {n}: expected video_id,instance_id,query, got {line!r}")
        vid, inst, query = cols[0].strip(), cols[1].strip(), cols[2]
        if inst == COPY_INSTANCE:
            if keep_copy:
                rows.append((vid, inst, normalize_query(query)))
            continue
        try:
            inst_id: int | str = int(inst)
        except ValueError:
            raise DataError(path, f"line {n}: instance_id must be an integer, got {inst!r}") from None
        rows.append((vid, inst_id, normalize_query(query)))
    return rows


def read_missed_videos(path: str | os.PathLike) -> list[str]:
    """``a2d_missed_videos.txt`` -> video ids (one per line; the last line has no newline)."""
    return [line.strip() for line in _lines(path, "A2D missed-videos list") if line.strip()]


def read_jhmdb_annotation(path: str | os.PathLike) -> list[tuple[str, str]]:
    """``jhmdb_annotation.txt`` -> ``[(video_id, normalised query)]``."""
    rows = []
    lines = _header(path, _lines(path, "J-HMDB annotation file"), "video_id,query")
    for n, line in enumerate(lines, start=2):
        if not line.strip():
            continue
        vid, sep, query = line.partition(",")
        if not sep:
            raise DataError(path, f"line {n}: expected video_id,query, got {line!r}")
        rows.append((vid.strip(), normalize_query(query)))
    return rows


def read_jhmdb_samples_metadata(path: str | os.PathLike) -> list[tuple[str, str, int, int, str]]:
    """MTTR's ``jhmdb_sentences_samples_metadata.json`` -> ``[(video_id, action, frame_idx, total_frames, query)]``.

    Only the last three components of the PNG path are trusted (``<action>/<video_id>/<NNNNN>.png``);
    the ``./jhmdb_sentences`` prefix differs between MTTR and ReferFormer.
    """
    path = Path(path)
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(path, "J-HMDB samples metadata not found") from None
    except (OSError, ValueError) as exc:
        raise DataError(path, f"not a JSON samples list: {exc}") from exc
    out = []
    for k, entry in enumerate(entries):
        try:
            vid, png, _mat, total, query = entry
            action, folder, name = PurePosixPath(str(png).replace("\\", "/")).parts[-3:]
            frame = int(PurePosixPath(name).stem)
        except (ValueError, TypeError) as exc:
            raise DataError(path, f"entry {k}: expected [video_id, png_path, mat_path, total_frames, query] "
                                  f"with a .../<action>/<video_id>/<NNNNN>.png path, got {entry!r}") from exc
        if folder != vid:
            raise DataError(path, f"entry {k}: PNG path {png!r} is not in the folder of video {vid!r}")
        out.append((str(vid), action, frame, int(total), normalize_query(query)))
    return out
