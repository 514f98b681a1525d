"""Training and evaluation engine: the loop, checkpoints, DDP, loggers, optimiser, loss, inference.

Entry points: ``python -m cmpcv.train`` (:mod:`cmpcv.train`), :class:`cmpcv.engine.trainer.Trainer`,
:func:`cmpcv.engine.inference.predict_to_file` (used by ``python -m cmpcv.evaluate checkpoint=...``).
docs/training.md describes the whole.
"""
