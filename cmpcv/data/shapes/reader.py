"""``ShapesSentences``: the ``shapes`` set, generated if needed and read by the A2D reader.

A demo thereby exercises the same reader, clip pipeline, model, engine and evaluator as real data.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

from cmpcv.data.a2d.reader import A2DSentences
from cmpcv.data.shapes.cache import generate
from cmpcv.data.shapes.config import ShapesConfig
from cmpcv.data.shapes.tree import load_groups


class ShapesSentences(A2DSentences):
    """The ``shapes`` set, generated under ``root`` if needed and read by the A2D reader.

    Args:
        root: the tree's folder (created, or rebuilt when its stamp differs from ``generator``).
        split: ``"train"`` or ``"test"``.
        generator: :class:`ShapesConfig` or its fields (a dict / config node); defaults otherwise.
            Its ``seed`` is the generator's; ``seed`` among ``a2d_kwargs`` is the augmentation's.
        **a2d_kwargs: :class:`~cmpcv.data.a2d.reader.A2DSentences` arguments (``clip``, ``size``, ...).

    ``ds[i]`` is the usual sample dict plus ``group``, the sample's subset; ``ds.groups`` lists the
    subset of every sample in index order (for ``StreamingEvaluator.update(groups=...)``).
    """

    def __init__(self, root: str | os.PathLike, split: str = "train",
                 generator: ShapesConfig | Mapping | None = None, **a2d_kwargs) -> None:
        self.config = ShapesConfig.from_mapping(generator)
        generate(root, self.config, progress=True)  # the demo's first minutes: show them
        super().__init__(root, split, **a2d_kwargs)
        subsets = load_groups(root)
        self.groups = [subsets[self.sample_id(i)] for i in range(len(self))]

    def load(self, i: int) -> dict:
        item = super().load(i)
        item["group"] = self.groups[i]
        return item

