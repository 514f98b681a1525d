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


def _dice_term(lg, tg) -> float:
    """1 - soft Dice of one sample, by hand (eps = 1 pixel)."""
    p = [1.0 / (1.0 + math.exp(-float(x))) for x in lg.flatten()]
    y = [float(v) for v in tg.flatten()]
    return 1 - (2 * sum(a * b for a, b in zip(p, y)) + 1) / (sum(p) + sum(y) + 1)


def test_dice_term_adds_hand_computed_soft_dice_to_every_head():
    logits = torch.tensor([[[2.0, -1.0]], [[0.0, 3.0]]])
    aux = torch.stack([logits * 0.5, -logits], dim=1)
    target = torch.tensor([[[1.0, 0.0]], [[0.0, 0.0]]])  # the second sample's target is empty
    plain = ReferringLoss(reduction="mean")({"logits": logits, "aux_logits": aux}, target)
    dice = ReferringLoss(reduction="mean", dice_weight=0.5)({"logits": logits, "aux_logits": aux}, target)

    def dice_mean(lg):
        return sum(_dice_term(lg[b], target[b]) for b in range(2)) / 2

    extra = 0.7 * 0.5 * dice_mean(logits) + 0.1 * 0.5 * sum(dice_mean(aux[:, k]) for k in range(2))
    assert dice["loss"].item() == pytest.approx(plain["loss"].item() + extra, rel=1e-6)
    # Under "sum" the Dice term scales with H * W like the BCE, so the balance is the same.
    summed = ReferringLoss(reduction="sum", dice_weight=0.5)({"logits": logits, "aux_logits": aux}, target)
    assert summed["loss"].item() == pytest.approx(2 * dice["loss"].item(), rel=1e-6)  # H * W = 2
    # A confident, correct prediction of an empty target costs (almost) nothing: eps avoids 0/0.
    empty = ReferringLoss(dice_weight=1.0, aux_weight=0.0)(
        {"logits": torch.full((1, 2, 2), -30.0)}, torch.zeros(1, 2, 2))
    assert empty["loss"].item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="dice_weight"):
        ReferringLoss(dice_weight=-1.0)


def test_dice_weight_decays_linearly_to_zero_at_the_given_step():
    logits = torch.tensor([[[2.0, -1.0], [0.5, -3.0]]])
    target = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    def total(loss: ReferringLoss) -> float:
        return loss({"logits": logits}, target)["loss"].item()

    plain = total(ReferringLoss(reduction="mean", aux_weight=0.0))
    full = total(ReferringLoss(reduction="mean", aux_weight=0.0, dice_weight=2.0))
    decayed = ReferringLoss(reduction="mean", aux_weight=0.0, dice_weight=2.0, dice_decay_steps=10)
    seen = {}
    for step in (0, 5, 10, 15):
        decayed.set_step(step)
        seen[step] = total(decayed)
    assert seen[0] == pytest.approx(full)
    assert seen[10] == pytest.approx(plain) and seen[15] == pytest.approx(plain)
    assert seen[5] == pytest.approx((full + plain) / 2)  # weight 1.0 = half of 2.0
    assert full > plain  # the Dice term is not zero here, so the checks above can tell
    with pytest.raises(ValueError, match="dice_decay_steps"):
        ReferringLoss(dice_decay_steps=-1)


def test_focal_gamma_scales_each_pixel_bce_by_the_wrong_label_probability():
    logits = torch.tensor([[[2.0, -1.0]], [[0.0, 3.0]]])
    target = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])

    def focal(x: float, y: float, gamma: float) -> float:
        p = 1.0 / (1.0 + math.exp(-x))
        wrong = 1 - p if y == 1 else p
        return wrong ** gamma * _bce(x, y)

    for gamma in (0.0, 1.0, 2.0):
        by_hand = sum(focal(float(logits[b, 0, j]), float(target[b, 0, j]), gamma)
                      for b in range(2) for j in range(2)) / 2
        out = ReferringLoss(reduction="sum", final_weight=1.0, focal_gamma=gamma)({"logits": logits}, target)
        assert out["loss"].item() == pytest.approx(by_hand, rel=1e-6)
    # An easy pixel (logit 3 on a positive) loses more weight than a hard one (logit 0).
    easy, hard = (ReferringLoss(reduction="sum", final_weight=1.0, focal_gamma=2.0)(
        {"logits": torch.tensor([[[v]]])}, torch.ones(1, 1, 1))["loss"].item() for v in (3.0, 0.0))
    assert easy / _bce(3.0, 1) < hard / _bce(0.0, 1)
    with pytest.raises(ValueError, match="focal_gamma"):
        ReferringLoss(focal_gamma=-1.0)
