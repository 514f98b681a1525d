"""Writing the ``shapes`` set in the JPEG-folder benchmark formats: MeViS-style and Refer-YouTube-VOS-style.

The same scenes and sentences as the A2D tree (:mod:`cmpcv.data.shapes.tree`, same seeds), but
every frame is annotated: each actor's visible mask in every frame
(:func:`~cmpcv.data.shapes.draw.visible_masks`). Its ``action`` subset is a motion-expression task
by construction (the two referents differ only in how they move), which is what MeViS measures.

- ``mevis``: ``train/`` (the train split) and ``valid_u/`` (the test split, with public masks) in
  the MeViS layout: ``JPEGImages/<video>/<frame>.jpg`` (``00000``, ``00001``, ...),
  ``meta_expressions.json`` (``obj_id``: the actor's index, ``anno_id``: a running number) and
  ``mask_dict.json`` (one COCO RLE per frame, ``null`` where the actor is out of view).
- ``ytvos``: ``train/`` with ``JPEGImages`` and palette-PNG ``Annotations`` (pixel value = actor
  index + 1) and ``meta_expressions/{train,valid,test}``; the test split is ``valid/`` without
  masks, as the real validation set (the ``test`` meta is empty, so all its videos are
  validation videos). Frames are named as stored Refer-YouTube-VOS frames (``00000``, ``00005``, ...).

``shapes_samples.json`` lists each expression with its subset and sentence metadata.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from cmpcv.data.atomic import atomic_write_text
from cmpcv.data.expressions import Expression, ExpressionVideo
from cmpcv.data.frame_folder import write_jpeg_frames
from cmpcv.data.shapes.config import ShapesConfig
from cmpcv.data.shapes.draw import render, visible_masks
from cmpcv.data.shapes.sentences import describe
from cmpcv.data.shapes.tree import SAMPLES_FILE, split_scenes

FORMATS = ("mevis", "ytvos")
MEVIS_SPLITS = {"train": "train", "test": "valid_u"}
YTVOS_SPLITS = {"train": "train", "test": "valid"}


def _videos(config: ShapesConfig, split: str):
    """``(video_id, scene, frames, visible masks (N, T, H, W), [(referent, sentence)])`` of a split."""
    for vid, scene, rng in split_scenes(config, split):
        frames, _ = render(scene, background=config.background)
        sentences = [(which, describe(scene, which, rng)) for which in scene.referents]
        yield vid, scene, frames, visible_masks(scene), sentences


def _record(split: str, vid: str, exp_id: str, scene, which: int, sentence) -> dict:
    return {"split": split, "video_id": vid, "exp_id": exp_id, "subset": scene.kind, "referent": which,
            "query": " ".join(sentence.tokens), "word_types": sentence.types, "anno_index": scene.anno_index}


def write_mevis_tree(root: str | os.PathLike, config: ShapesConfig) -> dict[str, int]:
    """Write the set as MeViS ``train`` and ``valid_u`` splits at ``root``; return expressions per split."""
    from cmpcv.data.mevis.format import MeViSExpression, MeViSPaths, MeViSVideo, write_mask_dict, write_meta_expressions

    records, counts, anno = [], {}, 0
    for split, name in MEVIS_SPLITS.items():
        paths, meta, masks = MeViSPaths(root, name), {}, {}
        for vid, scene, frames, visible, sentences in _videos(config, split):
            names = [f"{t:05d}" for t in range(scene.num_frames)]
            write_jpeg_frames(paths.frames_dir(vid), frames, names, quality=95)
            annos = {}
            for i in range(len(scene.actors)):
                annos[i], anno = anno, anno + 1
                masks[annos[i]] = [m if m.any() else None for m in visible[i]]
            exps = {}
            for k, (which, sentence) in enumerate(sentences):
                exps[str(k)] = MeViSExpression(" ".join(sentence.tokens), (which,), (annos[which],))
                records.append(_record(name, vid, str(k), scene, which, sentence))
            meta[vid] = MeViSVideo(tuple(names), exps)
        write_meta_expressions(paths.meta_expressions, meta)
        write_mask_dict(paths.mask_dict, masks)
        counts[name] = sum(len(v.expressions) for v in meta.values())
    atomic_write_text(Path(root) / SAMPLES_FILE, json.dumps(records))
    return counts


def write_ytvos_tree(root: str | os.PathLike, config: ShapesConfig) -> dict[str, int]:
    """Write the set as a Refer-YouTube-VOS tree at ``root``; return expressions per split."""
    from cmpcv.data.ytvos.format import write_meta_expressions, write_video, ytvos_paths

    paths, records, counts = ytvos_paths(root), [], {}
    for split, name in YTVOS_SPLITS.items():
        meta = {}
        for vid, scene, frames, visible, sentences in _videos(config, split):
            names = [f"{5 * t:05d}" for t in range(scene.num_frames)]
            ids = None
            if name == "train":
                ids = np.zeros(frames.shape[:3], dtype=np.uint8)
                for i in range(len(scene.actors)):
                    ids[visible[i] > 0] = i + 1
            write_video(paths, name, vid, frames, names, ids, quality=95)
            exps = {}
            for k, (which, sentence) in enumerate(sentences):
                exps[str(k)] = Expression(str(k), " ".join(sentence.tokens), (which + 1,))
                records.append(_record(name, vid, str(k), scene, which, sentence))
            meta[vid] = ExpressionVideo(vid, tuple(names), exps)
        write_meta_expressions(paths.meta_expressions(name), meta)
        counts[name] = sum(len(v.expressions) for v in meta.values())
    write_meta_expressions(paths.meta_expressions("test"), {})
    atomic_write_text(Path(root) / SAMPLES_FILE, json.dumps(records))
    return counts


def write_format_tree(root: str | os.PathLike, config: ShapesConfig, fmt: str) -> dict[str, int]:
    """Write the set in ``fmt`` (:data:`FORMATS`) at ``root``."""
    if fmt == "mevis":
        return write_mevis_tree(root, config)
    if fmt == "ytvos":
        return write_ytvos_tree(root, config)
    raise ValueError(f"shapes: unknown format {fmt!r}; expected 'a2d' or one of {FORMATS}")


__all__ = ["FORMATS", "MEVIS_SPLITS", "YTVOS_SPLITS", "write_format_tree", "write_mevis_tree",
           "write_ytvos_tree"]
