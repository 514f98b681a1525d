"""Objects the engine tests plug in through ``_target_`` (never used outside tests)."""

from __future__ import annotations

import numpy as np
import torch

from cmpcv.data import A2DSentences
from cmpcv.engine.losses import ReferringLoss


class NaNAfterLoss(ReferringLoss):
    """The real loss for ``good_calls`` calls, NaN afterwards (a blown-up run)."""

    def __init__(self, good_calls: int = 2, **kwargs) -> None:
        super().__init__(**kwargs)
        self.good_calls = good_calls
        self.calls = 0

    def forward(self, outputs, target):
        losses = super().forward(outputs, target)
        self.calls += 1
        if self.calls > self.good_calls:
            losses["loss"] = losses["loss"] * torch.tensor(float("nan"))
        return losses


class StepRecordingLoss(ReferringLoss):
    """The real loss; remembers the Dice weight in force at every call (class-level, per run)."""

    weights: list[tuple[int, float]] = []

    def forward(self, outputs, target):
        type(self).weights.append((self.step, self.current_dice_weight))
        return super().forward(outputs, target)


class FullSizeMasks(A2DSentences):
    """The A2D reader, each sample's ground-truth mask at A2D's real frame size (320 x 568). The
    fixture's 48 x 64 masks keep a batch small enough for a worker's 64 KiB result pipe; real ones
    do not, and a worker whose results its dead parent never read then blocks on that pipe."""

    def load(self, i):
        item = super().load(i)
        item["mask"] = np.zeros((320, 568), np.uint8)
        item["mask"][:160] = 1
        return item
