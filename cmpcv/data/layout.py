"""Where each file of the A2D Sentences and J-HMDB Sentences trees lives.

One description of each tree, shared by the readers, the fixture generator, the synthetic set and
``python -m cmpcv.data.check``, so that they cannot disagree about a path. The layout is the one
MTTR and ReferFormer expect (spec ``datasets_and_evaluation.md`` §1-2)::

    a2d_sentences/
    ├── Release/videoset.csv                      # 9 columns, no header
    ├── Release/clips320H/<video_id>.mp4
    └── text_annotations/
        ├── a2d_annotation.txt                    # video_id,instance_id,query
        ├── a2d_missed_videos.txt
        └── a2d_annotation_with_instances/<video_id>/<frame:05d>.h5

    jhmdb_sentences/
    ├── Rename_Images/<action>/<video_id>/<frame:05d>.png
    ├── puppet_mask/<action>/<video_id>/puppet_mask.mat
    ├── jhmdb_annotation.txt                      # video_id,query
    └── jhmdb_sentences_samples_metadata.json     # optional: MTTR's frozen 2,784 samples
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class A2DPaths:
    """Paths of an A2D Sentences tree rooted at ``root``."""

    root: Path

    @property
    def videoset(self) -> Path:
        return self.root / "Release" / "videoset.csv"

    @property
    def clips_dir(self) -> Path:
        return self.root / "Release" / "clips320H"

    @property
    def annotation(self) -> Path:
        return self.root / "text_annotations" / "a2d_annotation.txt"

    @property
    def missed(self) -> Path:
        return self.root / "text_annotations" / "a2d_missed_videos.txt"

    @property
    def masks_dir(self) -> Path:
        return self.root / "text_annotations" / "a2d_annotation_with_instances"

    def video(self, video_id: str) -> Path:
        return self.clips_dir / f"{video_id}.mp4"

    def mask_dir(self, video_id: str) -> Path:
        return self.masks_dir / video_id

    def mask(self, video_id: str, frame_idx: int) -> Path:
        """The h5 file of 1-based frame ``frame_idx``."""
        return self.masks_dir / video_id / f"{frame_idx:05d}.h5"

    @property
    def annotation_files(self) -> tuple[Path, ...]:
        """The files whose change invalidates a cached sample index."""
        return (self.videoset, self.annotation, self.missed)


@dataclass(frozen=True)
class JHMDBPaths:
    """Paths of a J-HMDB Sentences tree rooted at ``root``."""

    root: Path

    @property
    def frames_dir(self) -> Path:
        return self.root / "Rename_Images"

    @property
    def masks_dir(self) -> Path:
        return self.root / "puppet_mask"

    @property
    def annotation(self) -> Path:
        return self.root / "jhmdb_annotation.txt"

    @property
    def samples_metadata(self) -> Path:
        return self.root / "jhmdb_sentences_samples_metadata.json"

    def frame_dir(self, action: str, video_id: str) -> Path:
        return self.frames_dir / action / video_id

    def frame(self, action: str, video_id: str, frame_idx: int) -> Path:
        """The PNG of 1-based frame ``frame_idx``."""
        return self.frames_dir / action / video_id / f"{frame_idx:05d}.png"

    def mask(self, action: str, video_id: str) -> Path:
        return self.masks_dir / action / video_id / "puppet_mask.mat"

    @property
    def annotation_files(self) -> tuple[Path, ...]:
        return (self.annotation,)


def a2d_paths(root: str | os.PathLike) -> A2DPaths:
    """The :class:`A2DPaths` of the A2D Sentences tree at ``root``."""
    return A2DPaths(Path(root))


def jhmdb_paths(root: str | os.PathLike) -> JHMDBPaths:
    """The :class:`JHMDBPaths` of the J-HMDB Sentences tree at ``root``."""
    return JHMDBPaths(Path(root))
