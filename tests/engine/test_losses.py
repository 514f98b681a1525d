import math

import pytest
import torch

from cmpcv.engine.losses import ReferringLoss


def _bce(x: float, y: float) -> float:
    p = 1.0 / (1.0 + math.exp(-x))
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


def test_weighted_sum_matches_hand_computation():
    # 2 samples of 1x2 pixels; final logits and 3 aux heads with known values.
    logits = torch.tensor([[[2.0, -1.0]], [[0.0, 3.0]]])
    aux = torch.stack([logits * 0.5, logits * -1.0, torch.zeros_like(logits)], dim=1)
    target = torch.tensor([[[1.0, 0.0]], [[1.0, 1.0]]])

    def per_head(lg):
        per_sample = [
            sum(_bce(float(lg[b, 0, j]), float(target[b, 0, j])) for j in range(2)) for b in range(2)
        ]
        return sum(per_sample) / 2  # summed over pixels, averaged over the batch

    final = per_head(logits)
    aux_sum = sum(per_head(aux[:, k]) for k in range(3))
    out = ReferringLoss(reduction="sum")({"logits": logits, "aux_logits": aux}, target)
    assert out["loss"].item() == pytest.approx(0.7 * final + 0.1 * aux_sum, rel=1e-6)
    assert out["loss_final"].item() == pytest.approx(final, rel=1e-6)
    mean = ReferringLoss(reduction="mean")({"logits": logits, "aux_logits": aux}, target)
    assert mean["loss"].item() == pytest.approx(out["loss"].item() / 2, rel=1e-6)  # H*W = 2


def test_shape_mismatch_and_bad_reduction_are_clear():
    with pytest.raises(ValueError, match="reduction"):
        ReferringLoss(reduction="avg")
    with pytest.raises(ValueError, match="padded input resolution"):
        ReferringLoss()({"logits": torch.zeros(1, 4, 4)}, torch.zeros(1, 8, 8))
