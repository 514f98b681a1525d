"""Training and evaluation engine: the loop, checkpoints, DDP, loggers, optimiser, loss, inference.

Entry points: ``python -m cmpcv.train`` (:mod:`cmpcv.train`), :class:`cmpcv.engine.trainer.Trainer`,
:func:`cmpcv.engine.inference.predict_to_file` (used by ``python -m cmpcv.evaluate checkpoint=...``),
:class:`cmpcv.engine.video_inference.VideoSegmenter` (whole videos, used by ``cmpcv.predict`` and the
video benchmarks, :mod:`cmpcv.engine.video_benchmarks`). docs/training.md describes the whole,
docs/video_inference.md the whole-video engine.
"""
