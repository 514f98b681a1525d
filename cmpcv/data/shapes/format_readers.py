"""``ShapesMeViS`` and ``ShapesYTVOS``: the ``shapes`` set written in a JPEG-folder format
(:mod:`cmpcv.data.shapes.formats`), generated if needed and read by the MeViS or the
Refer-YouTube-VOS reader, so the path from those readers through training and evaluation runs
on data made on the spot.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

from cmpcv.data.mevis.reader import MeViS
from cmpcv.data.shapes.cache import generate
from cmpcv.data.shapes.config import ShapesConfig
from cmpcv.data.shapes.tree import load_samples
from cmpcv.data.ytvos.reader import RefYouTubeVOS


class ShapesMeViS(MeViS):
    """The ``shapes`` set as MeViS splits (``train``; ``valid_u`` = its test split), generated under
    ``root`` if needed (``generator`` as for :class:`ShapesSentences`) and read by :class:`MeViS`."""

    def __init__(self, root: str | os.PathLike, split: str = "train",
                 generator: ShapesConfig | Mapping | None = None, **kwargs) -> None:
        self.config = ShapesConfig.from_mapping(generator)
        generate(root, self.config, fmt="mevis")
        super().__init__(root, split, **kwargs)

    def expression_groups(self) -> dict[str, str]:
        """``{"<video>_<exp_id>": subset}`` of the split (entity / attribute / relation / action),
        keyed as MeViS's evaluation names expressions."""
        return {f"{r['video_id']}_{r['exp_id']}": r["subset"] for r in load_samples(self.root, self.split)}


class ShapesYTVOS(RefYouTubeVOS):
    """The ``shapes`` set as a Refer-YouTube-VOS tree (``train``; ``valid`` = its test split, no
    masks), generated under ``root`` if needed and read by :class:`RefYouTubeVOS`."""

    def __init__(self, root: str | os.PathLike, split: str = "train",
                 generator: ShapesConfig | Mapping | None = None, **kwargs) -> None:
        self.config = ShapesConfig.from_mapping(generator)
        generate(root, self.config, fmt="ytvos")
        super().__init__(root, split, **kwargs)
