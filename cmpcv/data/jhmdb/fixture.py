"""A format-exact miniature J-HMDB Sentences tree, for tests and examples.

Written with the writers of :mod:`cmpcv.data.jhmdb.format` (PNG frames, MATLAB
``puppet_mask.mat``, the released annotation file, an MTTR-style frozen sample list), it carries
the quirks of spec ``datasets_and_evaluation.md`` §2: puppet masks shorter than the PNG list, and
evaluated frames at both ends of a video. Frames and masks come from :mod:`cmpcv.data.fixtures`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cmpcv.data.fixtures import FixtureManifest, fixture_frames, fixture_mask
from cmpcv.data.jhmdb.format import (
    jhmdb_paths, write_jhmdb_annotation, write_jhmdb_samples_metadata, write_puppet_mask,
)
from cmpcv.data.video import write_png_frames


@dataclass(frozen=True)
class JHMDBVideo:
    video_id: str
    action: str
    n_png: int
    n_masks: int
    frozen_frames: tuple[int, ...]  # MTTR-style frozen evaluation frames (1-based)
    query: str
    size: tuple[int, int] = (48, 64)


JHMDB_VIDEOS = (
    # masks shorter than the PNG list: the last 3 PNGs are dropped
    JHMDBVideo("Pullup_jv1_f_nm_np1", "pullup", 15, 12, (2, 7, 12), "man in black pulling up"),
    JHMDBVideo("wave_jv2_u_cm_np1", "wave", 18, 18, (1, 9, 18), "A girl   waving her left hand"),
    JHMDBVideo("wave_jv3_f_nm_np1", "wave", 16, 16, (3, 8, 16), "a boy is waving"),
)


def write_jhmdb_fixture(root: str | os.PathLike, *, frozen_samples: bool = True) -> FixtureManifest:
    """Write the mini J-HMDB Sentences tree at ``root`` (with an MTTR-style frozen sample list)."""
    paths = jhmdb_paths(root)
    write_jhmdb_annotation(paths.annotation, [(v.video_id, v.query) for v in JHMDB_VIDEOS])
    for v in JHMDB_VIDEOS:
        write_png_frames(paths.frame_dir(v.action, v.video_id), fixture_frames(v.n_png, v.size))
        masks = np.stack([fixture_mask(v.video_id, f, -1, v.size) for f in range(1, v.n_masks + 1)])
        write_puppet_mask(paths.mask(v.action, v.video_id), masks)
    if frozen_samples:
        write_jhmdb_samples_metadata(paths.samples_metadata, [
            (v.video_id, v.action, f, min(v.n_png, v.n_masks), v.query) for v in JHMDB_VIDEOS for f in v.frozen_frames])
    expected = [(v.video_id, f, " ".join(v.query.lower().split())) for v in JHMDB_VIDEOS for f in v.frozen_frames]
    return FixtureManifest(Path(root), {"test": expected}, {v.video_id: v.size for v in JHMDB_VIDEOS},
                           {v.video_id: min(v.n_png, v.n_masks) for v in JHMDB_VIDEOS})
