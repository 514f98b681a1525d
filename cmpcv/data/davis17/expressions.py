"""Ref-DAVIS17's referring expressions: the MPI text files (Khoreva et al., ACCV 2018), torch-free.

```
ref-davis/
  DAVIS/                                   the DAVIS-2017 tree (cmpcv.data.davis17.format)
  davis_text_annotations/
    Davis17_annot1.txt                     annotator 1, from the first frame
    Davis17_annot1_full_video.txt          annotator 1, from the whole video
    Davis17_annot2.txt                     annotator 2, from the first frame
    Davis17_annot2_full_video.txt          annotator 2, from the whole video
```

Each line is ``<video> <object id> "<expression>"``; the object ids are those of the unsupervised
ground truth (``Annotations_unsupervised``), not of the semi-supervised ``Annotations``. The four
files are the four expression sets that the protocol evaluates separately and averages
(spec ``video_benchmarks.md`` Q3); the ``annot2`` files are Latin-1, the others UTF-8. Three
video names are misspelled in the files (:data:`MISSPELLED_VIDEOS`); they are mapped to the DAVIS
names and every mapping is listed (file and line).

Expression ids follow ReferFormer's converter: the ``k``-th object of a video (ids in increasing
order) has expressions ``4k + s`` for set ``s`` = 0 annot1-first, 1 annot1-full, 2 annot2-first,
3 annot2-full. (The converter orders ids as strings, which differs only for videos with an object
id of 10 or more.)
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cmpcv.data.errors import DataError
from cmpcv.data.expressions import Expression, ExpressionVideo

__all__ = [
    "EXPRESSION_SETS", "MISSPELLED_VIDEOS", "TextLine", "TextFile", "expression_set", "parse_text_file",
    "read_text_file", "build_expression_videos", "text_paths", "write_text_file",
]

#: The four expression sets in exp-id order: (name, file name).
EXPRESSION_SETS = (
    ("annot1_first", "Davis17_annot1.txt"),
    ("annot1_full", "Davis17_annot1_full_video.txt"),
    ("annot2_first", "Davis17_annot2.txt"),
    ("annot2_full", "Davis17_annot2_full_video.txt"),
)
#: Video names as misspelled in the text files -> the DAVIS-2017 names (ReferFormer's converter).
MISSPELLED_VIDEOS = {"clasic-car": "classic-car", "dog-scale": "dogs-scale", "motor-bike": "motorbike"}


@dataclass(frozen=True)
class TextLine:
    """One parsed line: the (corrected) video, object id and sentence, and where it came from."""

    video: str
    obj_id: int
    text: str
    line: int


@dataclass(frozen=True)
class TextFile:
    """A parsed text file: its lines, the misspelled names it corrected, and the lines it could not read."""

    path: Path
    lines: tuple[TextLine, ...]
    renamed: tuple[str, ...]
    problems: tuple[str, ...]


def text_paths(text_root: str | os.PathLike) -> list[Path]:
    """The four text files in set order."""
    return [Path(text_root) / name for _, name in EXPRESSION_SETS]


def expression_set(exp_id: str) -> int:
    """The expression set (0-3, :data:`EXPRESSION_SETS`) of an expression id."""
    return int(exp_id) % 4


def _decode(raw: bytes) -> str:
    # annot1 files are UTF-8, annot2 files Latin-1; Latin-1 decodes any byte, so it is the fallback.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def parse_text_file(text: str, path: str | os.PathLike) -> TextFile:
    """Parse the text of one MPI file; a malformed line is a problem line, never an exception."""
    path = Path(path)
    lines, renamed, problems = [], [], []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        parts = line.split(maxsplit=2)
        where = f"{path}: line {number}"
        if len(parts) < 3:
            problems.append(f"{where}: expected '<video> <object id> \"<expression>\"', got {line!r:.80}")
            continue
        video, obj, sentence = parts
        if not obj.isdigit() or int(obj) < 1:
            problems.append(f"{where}: object id must be a positive integer, got {obj!r}")
            continue
        if len(sentence) >= 2 and sentence[0] == sentence[-1] == '"':
            sentence = sentence[1:-1]
        if not sentence.strip():
            problems.append(f"{where}: empty expression for {video} object {obj}")
            continue
        if video in MISSPELLED_VIDEOS:
            renamed.append(f"{where}: video {video!r} read as {MISSPELLED_VIDEOS[video]!r}")
            video = MISSPELLED_VIDEOS[video]
        lines.append(TextLine(video, int(obj), sentence, number))
    return TextFile(path, tuple(lines), tuple(renamed), tuple(problems))


def read_text_file(path: str | os.PathLike) -> TextFile:
    """:func:`parse_text_file` of a file (a missing or unreadable file is a :class:`DataError`)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, "Ref-DAVIS17 text annotation file not found") from None
    except OSError as exc:
        raise DataError(path, f"could not read the Ref-DAVIS17 text annotations: {exc}") from exc
    return parse_text_file(_decode(raw), path)


def build_expression_videos(files: list[TextFile], frames: dict[str, tuple[str, ...]],
                            sets: Iterable[int] = range(4)) -> tuple[dict[str, ExpressionVideo], list[str]]:
    """The :class:`ExpressionVideo` s of the videos in ``frames`` (video -> listed frame names),
    with the expressions of ``sets``, and the problems found (an object described twice in one
    file: the first line wins; an object without an expression in some set)."""
    if len(files) != 4:
        raise ValueError(f"expected the 4 text files in set order, got {len(files)}")
    wanted = sorted(set(sets))
    per_set: list[dict[str, dict[int, TextLine]]] = []
    problems: list[str] = []
    for f in files:
        table: dict[str, dict[int, TextLine]] = {}
        for ln in f.lines:
            seen = table.setdefault(ln.video, {})
            if ln.obj_id in seen:
                problems.append(f"{f.path}: line {ln.line}: {ln.video} object {ln.obj_id} is described again "
                                f"(line {seen[ln.obj_id].line} is kept)")
                continue
            seen[ln.obj_id] = ln
        per_set.append(table)
    videos = {}
    for vid, names in frames.items():
        objects = sorted({o for table in per_set for o in table.get(vid, {})})
        exps = {}
        for k, obj in enumerate(objects):
            for s in wanted:
                ln = per_set[s].get(vid, {}).get(obj)
                if ln is None:
                    problems.append(f"{files[s].path}: no expression for {vid} object {obj} "
                                    f"(set {EXPRESSION_SETS[s][0]})")
                    continue
                exp_id = str(4 * k + s)
                exps[exp_id] = Expression(exp_id, ln.text, (obj,))
        videos[vid] = ExpressionVideo(vid, tuple(names), exps)
    return videos, problems


def write_text_file(path: str | os.PathLike, rows: Iterable[tuple[str, int, str]], *, encoding: str = "utf-8") -> None:
    """Write ``(video, object id, sentence)`` rows in the MPI format (``annot2`` files are Latin-1)."""
    from cmpcv.data.atomic import atomic_write_bytes

    text = "".join(f'{video} {obj} "{sentence}"\n' for video, obj, sentence in rows)
    atomic_write_bytes(path, text.encode(encoding))
