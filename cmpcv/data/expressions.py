"""Videos with referring expressions: the per-video index of the JPEG-folder datasets (torch-free).

Each dataset's ``format`` module parses its annotation files into :class:`ExpressionVideo` s:
the video's listed frames (names of its frame files, in order) and its expressions, each with
the object ids it refers to (several for a union, none for a no-target expression). The clip
readers sample from this index, and an inference engine can walk it to stream every listed
frame of a video with all of its expressions.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cmpcv.data.text import normalize_query

__all__ = ["Expression", "ExpressionVideo", "expression_sample_id", "frame_number", "sort_ids"]


@dataclass(frozen=True)
class Expression:
    """One referring expression of a video.

    ``exp_id`` is the string key of the annotation file; ``text`` the sentence as written;
    ``obj_ids`` the object ids it refers to (mask pixel values or the file's object keys);
    ``anno_ids`` the ids of the stored masks of those objects where a dataset keys masks apart
    from objects (empty otherwise).
    """

    exp_id: str
    text: str
    obj_ids: tuple[int, ...]
    anno_ids: tuple[int, ...] = ()

    @property
    def query(self) -> str:
        """The normalised sentence (lower case, single spaces) that a sample carries."""
        return normalize_query(self.text)


@dataclass(frozen=True)
class ExpressionVideo:
    """A video of the index: its listed frames (file names without suffix) and expressions by id."""

    video_id: str
    frames: tuple[str, ...]
    expressions: Mapping[str, Expression] = field(default_factory=dict)

    def expression_ids(self) -> list[str]:
        """The expression ids in the file's numeric order ("0", "1", ..., "10")."""
        return sort_ids(self.expressions)


def sort_ids(ids: Iterable[str]) -> list[str]:
    """String ids sorted as numbers where they are numbers (``"2" < "10"``), the rest after, by name."""
    return sorted(ids, key=lambda s: (0, int(s), "") if str(s).isdigit() else (1, 0, str(s)))


def frame_number(name: str, position: int) -> int:
    """The 1-based frame number of a sample: the frame file's number + 1 when the name is a
    0-based number (``"00035"`` -> 36), else the 1-based position in the listed frames."""
    return int(name) + 1 if name.isdigit() else position + 1


def expression_sample_id(video_id: str, frame: str, exp_id: str) -> str:
    """The id of an (expression, frame) sample: ``v_{video}_f_{frame name}_e_{exp_id}``."""
    return f"v_{video_id}_f_{frame}_e_{exp_id}"
