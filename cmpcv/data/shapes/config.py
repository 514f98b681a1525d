"""The parameters of the ``shapes`` set: :class:`ShapesConfig` and the cache stamp that records them."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from cmpcv.data.shapes.scene import KINDS, SceneParams

#: Bump when the output for a given configuration changes; a tree with another version is rebuilt.
GENERATOR_VERSION = 2  # version 2 balances attribute pairs between colour and size
SPLITS = {"train": 0, "test": 1}


@dataclass(frozen=True)
class ShapesConfig(SceneParams):
    """Everything that determines the generated tree (the cache stamp records all of it).

    The scene fields (``size``, ``speed``, ``motions``, ...) are those of
    :class:`~cmpcv.data.shapes.scene.SceneParams`. Sample counts are per split; ``*_shares`` are
    relative weights of the subsets (each video yields two samples of one subset, so counts are
    rounded to whole videos). The splits draw from different seeds, ``SeedSequence([seed, 0])``
    for train and ``SeedSequence([seed, 1])`` for test.
    """

    train_samples: int = 2000
    test_samples: int = 400
    train_shares: Mapping[str, float] = field(
        default_factory=lambda: {"entity": 1.0, "attribute": 1.0, "relation": 1.0, "action": 2.0})
    test_shares: Mapping[str, float] = field(
        default_factory=lambda: {"entity": 1.0, "attribute": 1.0, "relation": 1.0, "action": 1.0})
    seed: int = 0
    crf: int = 10
    fps: float = 24.0

    @classmethod
    def from_mapping(cls, values: Mapping | ShapesConfig | None) -> ShapesConfig:
        """Build from a dict or an OmegaConf node (lists become tuples); unknown keys are an error."""
        if isinstance(values, ShapesConfig):
            return values
        values = plain(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"shapes generator: unknown parameter(s) {unknown}; expected some of {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    def __post_init__(self) -> None:
        super().__post_init__()
        for split in SPLITS:
            n, shares = getattr(self, f"{split}_samples"), getattr(self, f"{split}_shares")
            if n < 0:
                raise ValueError(f"shapes generator: {split}_samples must be >= 0, got {n}")
            if set(shares) - set(KINDS) or any(float(v) < 0 for v in shares.values()) or not any(
                    float(v) > 0 for v in shares.values()):
                raise ValueError(f"shapes generator: {split}_shares={dict(shares)} must give non-negative "
                                 f"weights to some of {list(KINDS)}, at least one positive")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"shapes generator: crf must be in 0..51, got {self.crf}")

    def to_dict(self) -> dict:
        return plain(asdict(self))

    def videos_per_subset(self, split: str) -> dict[str, int]:
        """Number of videos of each subset in ``split`` (largest-remainder rounding of the shares)."""
        videos = getattr(self, f"{split}_samples") // 2
        shares = getattr(self, f"{split}_shares")
        weights = np.array([float(shares.get(k, 0.0)) for k in KINDS])
        exact = videos * weights / weights.sum()
        counts = np.floor(exact).astype(int)
        for k in np.argsort(-(exact - counts), kind="stable")[: videos - counts.sum()]:
            counts[k] += 1
        return {k: int(c) for k, c in zip(KINDS, counts)}


def plain(values):
    """Plain Python containers from an OmegaConf node, tuples as lists (JSON-comparable)."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(values, (DictConfig, ListConfig)):
            values = OmegaConf.to_container(values, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf ships with hydra, a core dependency
        pass
    if isinstance(values, Mapping):
        return {str(k): plain(v) for k, v in values.items()}
    if isinstance(values, (list, tuple)):
        return [plain(v) for v in values]
    return values


def stamp(config: ShapesConfig) -> dict:
    """What a generated tree records about itself: the generator, its version and ``config``."""
    return {"generator": "cmpcv.data.shapes", "version": GENERATOR_VERSION, "config": config.to_dict()}
