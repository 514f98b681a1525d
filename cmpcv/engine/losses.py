"""The CMPC-V training loss (spec ``cmpc_model.md`` §7).

``L = w_final * l(logits) + w_aux * sum_k l(aux_logits[:, k])`` with ``l`` = BCE (+ optional Dice,
below): sigmoid cross-entropy on the
logits at input resolution (the model upsamples them to the padded input size, e.g. 320x320)
against the padded ground truth; padding counts as background, positives and negatives weigh 1.

``dice_weight`` (0 = the released loss) adds ``dice_weight * (1 - soft Dice)`` per head, the soft
Dice ``2 Σ p y / (Σ p + Σ y)`` of the sigmoid probabilities computed per sample and averaged over
the batch. It is for small objects trained from scratch, where the BCE is dominated by background
pixels: the shapes demo (3 % foreground) predicts no foreground at all for its first ~300 steps
with BCE alone (docs/shapes.md, "Recipe history"). Under ``reduction="sum"`` the Dice term
is multiplied by ``H * W`` as the BCE is, so one ``dice_weight`` means the same balance under
both reductions and at any input size. Dice rewards hedging, though: a model that cannot yet
tell two identical actors apart loses 1/3 by masking both and 1/2 on average by picking one, and
the shapes demo did mask both twins in up to 43 of 100 relation samples with it (the BCE-only demo
in none). ``dice_decay_steps`` therefore lets the weight fall linearly to 0
at that optimiser step (the trainer calls :meth:`ReferringLoss.set_step`), to keep Dice's early
start and leave the end of training to the BCE. Two probes of it did not help (docs/shapes.md,
"Recipe history").

``focal_gamma`` (0 = plain BCE, the released loss) scales each pixel's BCE by ``(1 - p_t)^gamma``,
``p_t`` the probability given to the pixel's true label (the focal loss of Lin et al., RetinaNet,
without its class weight ``alpha``). At 3 % foreground most pixels are plain background that the
model already gets right, and their small BCE gradients can add up to as much as those of the few
pixels that decide a sample, such as the look-alike actor that a sentence rules out. The focal factor takes the
easy pixels out of the sum. It is meant for heads initialised at a low foreground prior
(``head.prior_prob``), as RetinaNet pairs the two.

Reduction (``reduction``):

- ``"sum"`` (the released code): summed over the pixels of a sample, averaged over the batch. The
  loss then scales with the input area (102,400 pixels at 320x320), and so do the gradients; Adam
  normalises the gradient scale away, so the recipe's learning rate still applies, but the
  logged value is large and fp16 overflows earlier.
- ``"mean"``: averaged over pixels and batch, i.e. exactly ``sum / (H * W)``. Numerically tamer
  and comparable across input sizes. With Adam the parameter updates are the same as with
  ``"sum"`` up to Adam's ``eps`` (the gradient is scaled by the constant ``1 / (H * W)``, which the
  second-moment normalisation cancels), so the learning rate needs no change; weight decay,
  however, is added to the gradient by the optimiser and is then ``H * W`` times stronger
  relative to the data term, so divide ``optim.weight_decay`` by ``H * W`` to keep the recipe's
  balance.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

REDUCTIONS = ("sum", "mean")


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """``1 - 2 Σ p y / (Σ p + Σ y)`` per sample of ``(B, H, W)`` logits / {0, 1} targets, batch mean.

    ``eps`` (one pixel) keeps an empty target with an empty prediction at loss 0 instead of 0/0.
    """
    p = torch.sigmoid(logits.float()).flatten(1)
    y = target.float().flatten(1)
    dice = (2 * (p * y).sum(1) + eps) / (p.sum(1) + y.sum(1) + eps)
    return (1 - dice).mean()


class ReferringLoss(nn.Module):
    """Weighted BCE (+ optional soft Dice) over the final and auxiliary logits.

    Args:
        final_weight: weight of the final logits' BCE (0.7 as released).
        aux_weight: weight of each auxiliary head's BCE (0.1 as released).
        reduction: ``"sum"`` (over pixels, then mean over the batch; released) or ``"mean"``.
        dice_weight: weight of the soft-Dice term added to every head's BCE (0: released loss).
        dice_decay_steps: if > 0, the Dice weight falls linearly from ``dice_weight`` at step 0
            to 0 at this step (0: constant).
        focal_gamma: focusing exponent of the BCE (0: plain BCE, released).
    """

    def __init__(
        self, final_weight: float = 0.7, aux_weight: float = 0.1, reduction: str = "sum",
        dice_weight: float = 0.0, dice_decay_steps: int = 0, focal_gamma: float = 0.0,
    ) -> None:
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"loss reduction must be one of {REDUCTIONS}, got {reduction!r}")
        if dice_weight < 0:
            raise ValueError(f"loss dice_weight must be >= 0, got {dice_weight}")
        if dice_decay_steps < 0:
            raise ValueError(f"loss dice_decay_steps must be >= 0, got {dice_decay_steps}")
        if focal_gamma < 0:
            raise ValueError(f"loss focal_gamma must be >= 0, got {focal_gamma}")
        self.focal_gamma = float(focal_gamma)
        self.dice_weight = float(dice_weight)
        self.dice_decay_steps = int(dice_decay_steps)
        self.step = 0
        self.final_weight = float(final_weight)
        self.aux_weight = float(aux_weight)
        self.reduction = reduction

    def set_step(self, step: int) -> None:
        """The optimiser step about to be taken (for ``dice_decay_steps``)."""
        self.step = int(step)

    @property
    def current_dice_weight(self) -> float:
        if not self.dice_decay_steps:
            return self.dice_weight
        return self.dice_weight * max(0.0, 1.0 - self.step / self.dice_decay_steps)

    def _head_loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """One head's BCE (+ Dice): ``logits``/``target`` ``(B, H, W)`` -> scalar, per :attr:`reduction`."""
        # Computed in float32 even under autocast: a sum over 1e5 pixels loses precision in bf16.
        per_pixel = F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="none")
        if self.focal_gamma:
            # 1 - p_t = exp(-BCE) is the probability given to the wrong label.
            per_pixel = per_pixel * (1 - torch.exp(-per_pixel)).pow(self.focal_gamma)
        per_sample = per_pixel.flatten(1).sum(1) if self.reduction == "sum" else per_pixel.flatten(1).mean(1)
        loss = per_sample.mean()
        weight = self.current_dice_weight
        if weight:
            area = logits[0].numel() if self.reduction == "sum" else 1
            loss = loss + weight * area * soft_dice_loss(logits, target)
        return loss

    def forward(self, outputs: dict[str, torch.Tensor], target: torch.Tensor) -> dict[str, torch.Tensor]:
        """``outputs``: the model's dict (``logits (B, H, W)``, optional ``aux_logits (B, K, H, W)``);
        ``target (B, H, W)`` in {0, 1}. Returns ``loss`` (the weighted total), ``loss_final`` and
        ``loss_aux`` (the unweighted sum over auxiliary heads, 0 without them), Dice included."""
        logits = outputs["logits"]
        if logits.shape != target.shape:
            raise ValueError(
                f"loss: logits have shape {tuple(logits.shape)} but the target has {tuple(target.shape)}; "
                "the model must return logits at the padded input resolution (B, H, W)"
            )
        final = self._head_loss(logits, target)
        aux = final.new_zeros(())
        aux_logits = outputs.get("aux_logits")
        if aux_logits is not None and self.aux_weight != 0.0:
            for k in range(aux_logits.shape[1]):
                aux = aux + self._head_loss(aux_logits[:, k], target)
        total = self.final_weight * final + self.aux_weight * aux
        return {"loss": total, "loss_final": final.detach(), "loss_aux": aux.detach()}
