"""The synthetic referring-video set ``shapes``, written as an A2D Sentences tree (docs/shapes.md).

``python -m cmpcv.data.shapes root=PATH`` generates it (if needed) and prints the counts per
subset; ``ShapesSentences(root, split)`` generates it if needed and reads it through the real A2D
reader, so a demo exercises the same reader, clip pipeline, model, engine and evaluator as real
data. Every sample is tagged with the word type *necessary* to single out its actor (its subset):
``entity``, ``attribute``, ``relation`` or ``action``. Each video is built around one subset and
yields two samples, one per referred actor, so the same frames come with two sentences that must
produce two different masks.

Modules, in the order data flows through them:

- ``scene``: what a scene holds and how one of each subset is sampled;
- ``draw``: sprites, motion over time, frames and masks;
- ``sentences``: the referring sentence of each referred actor, with per-word types;
- ``config``: :class:`ShapesConfig` (every parameter of a tree) and its stamp;
- ``tree``: writing both splits as an A2D tree plus ``groups.json`` and ``shapes_samples.json``;
- ``formats``: writing them as MeViS-style or Refer-YouTube-VOS-style splits instead;
- ``cache``: :func:`generate`, which writes a tree once per configuration and swaps it in whole;
- ``reader``: :class:`ShapesSentences`; ``format_readers``: :class:`ShapesMeViS`, :class:`ShapesYTVOS`;
  ``cli``: the command line.

Names resolve on first use, so the generator imports without torch.
"""
from __future__ import annotations

from cmpcv.data.lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(
        ("KINDS", "COLOURS", "SHAPES", "SIZES", "MOTIONS", "RELATIONS", "OPPOSITE", "WORD_TYPES",
         "Actor", "Scene", "SceneParams", "sample_scene"), "cmpcv.data.shapes.scene"),
    **dict.fromkeys(("sprite", "actor_position", "footprints", "render"), "cmpcv.data.shapes.draw"),
    **dict.fromkeys(("SHAPE_WORDS", "SIZE_WORDS", "MOTION_PHRASES", "RELATION_PHRASES", "describe"),
                    "cmpcv.data.shapes.sentences"),
    **dict.fromkeys(("GENERATOR_VERSION", "SPLITS", "ShapesConfig"), "cmpcv.data.shapes.config"),
    **dict.fromkeys(("STAMP_FILE", "GROUPS_FILE", "SAMPLES_FILE", "video_id", "split_scenes", "actor_label",
                     "default_workers", "write_tree", "read_stamp", "load_groups", "load_samples"),
                    "cmpcv.data.shapes.tree"),
    "generate": "cmpcv.data.shapes.cache",
    "ShapesSentences": "cmpcv.data.shapes.reader",
    **dict.fromkeys(("ShapesMeViS", "ShapesYTVOS"), "cmpcv.data.shapes.format_readers"),
    **dict.fromkeys(("FORMATS", "write_format_tree", "write_mevis_tree", "write_ytvos_tree"),
                    "cmpcv.data.shapes.formats"),
    "visible_masks": "cmpcv.data.shapes.draw",
    **dict.fromkeys(("render_samples", "main"), "cmpcv.data.shapes.cli"),
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
