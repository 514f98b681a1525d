"""Optimiser and learning-rate schedule of the CMPC-V recipe (spec ``cmpc_model.md`` §7).

- Adam, learning rate 2.5e-4, polynomial decay (power 0.9) to 1e-5 at ``decay_steps``.
- Weight decay ``5e-4 * sum 1/2 ||W||^2`` over the head's convolution kernels. An L2 term in the
  loss has the gradient ``wd * W``, which is exactly what ``torch.optim.Adam`` adds with
  ``weight_decay=wd`` (not AdamW's decoupled decay), so the recipe maps onto it. The released
  filter decays the variables named ``DW``/``weights`` outside the backbone: every 1×1 and 3×3
  conv kernel of the head (the released 1x1 convs are ``nn.Linear`` in cmpcv.models), the word-type
  classifier included, but not the language LSTM, the embedding, the layer-norm parameters, or
  the ConvLSTM cell's ``kernel``. Here: weights of conv/linear modules outside the modules named
  in ``no_decay_prefixes``; the paper experiments name ``[backbone, tgfe.fusion]`` (the ConvLSTM),
  which is the released filter exactly. The default ``[backbone]`` also decays the ConvLSTM.
- Biases: learning rate times ``bias_lr_mult``. The released code multiplies the bias *gradient*
  by 2, which Adam's normalisation cancels (up to ``eps``), so its effective multiplier is 1: the
  paper experiments set ``bias_lr_mult: 1.0``. 2 (the default) doubles the biases' step, which
  is what the released multiplier was meant to do; every bias (conv, linear, layer norm, LSTM)
  is in that group.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch
from torch import nn

# Kernels that the released code decays. cmpcv.models implements the released 1x1 convolutions
# (lateral projections, entity perception, graph and TGFE projections, the word-type classifier)
# as nn.Linear on channels-last features, so Linear weights are "conv kernels" here too.
_KERNEL_TYPES = (
    nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
)


def param_groups(
    model: nn.Module,
    *,
    lr: float,
    weight_decay: float = 5e-4,
    bias_lr_mult: float = 2.0,
    no_decay_prefixes: Iterable[str] = ("backbone",),
) -> list[dict[str, Any]]:
    """Split ``model``'s trainable parameters into (at most) three groups.

    ``decay``: weights of convolution and linear (= 1x1 convolution) modules outside
    ``no_decay_prefixes``; ``bias``: every bias
    (lr x ``bias_lr_mult``, no decay); ``other``: the rest (no decay). Frozen parameters are left
    out. Each group carries a ``name`` so logs and tests can find it.
    """
    prefixes = tuple(p.rstrip(".") for p in no_decay_prefixes)
    names = [n for n, _ in model.named_parameters()]
    unknown = [pre for pre in prefixes if not any(n == pre or n.startswith(pre + ".") for n in names)]
    if unknown:
        # A renamed module must not silently start being decayed.
        raise ValueError(f"param_groups: no_decay_prefixes {unknown} name no parameter of the model "
                         f"(top-level modules: {sorted({n.split('.')[0] for n in names})})")
    decay, bias, other = [], [], []
    seen: set[int] = set()
    for mod_name, module in model.named_modules():
        for p_name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            full = f"{mod_name}.{p_name}" if mod_name else p_name
            excluded = any(full == pre or full.startswith(pre + ".") for pre in prefixes)
            if p_name.startswith("bias"):  # conv/linear "bias", LSTM "bias_ih_l0"/"bias_hh_l0"
                bias.append(p)
            elif isinstance(module, _KERNEL_TYPES) and p_name == "weight" and not excluded:
                decay.append(p)
            else:
                other.append(p)
    groups = [
        {"name": "decay", "params": decay, "lr": lr, "weight_decay": weight_decay},
        {"name": "bias", "params": bias, "lr": lr * bias_lr_mult, "weight_decay": 0.0},
        {"name": "other", "params": other, "lr": lr, "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]


def build_optimizer(
    model: nn.Module,
    *,
    lr: float = 2.5e-4,
    weight_decay: float = 5e-4,
    bias_lr_mult: float = 2.0,
    no_decay_prefixes: Iterable[str] = ("backbone",),
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> torch.optim.Adam:
    """Adam over :func:`param_groups`. ``eps=1e-8`` is TF's Adam default as well (TF calls it
    epsilon-hat and applies it the same way up to a bias-correction detail)."""
    groups = param_groups(
        model,
        lr=lr,
        weight_decay=weight_decay,
        bias_lr_mult=bias_lr_mult,
        no_decay_prefixes=no_decay_prefixes,
    )
    if not groups:
        raise ValueError("build_optimizer: the model has no trainable parameters")
    return torch.optim.Adam(groups, lr=lr, betas=tuple(betas), eps=eps)


def poly_factor(step: int, *, decay_steps: int, power: float = 0.9, end_ratio: float = 0.0) -> float:
    """TF ``polynomial_decay`` as a factor of the base learning rate:
    ``(1 - end_ratio) * (1 - min(step, N) / N) ** power + end_ratio``."""
    if decay_steps <= 0:
        raise ValueError(f"poly schedule: decay_steps must be > 0, got {decay_steps}")
    frac = 1.0 - min(step, decay_steps) / decay_steps
    return (1.0 - end_ratio) * math.pow(frac, power) + end_ratio


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    *,
    decay_steps: int,
    power: float = 0.9,
    end_lr: float = 1e-5,
    base_lr: float | None = None,
    warmup_steps: int = 0,
) -> torch.optim.lr_scheduler.LambdaLR:
    """Polynomial decay from each group's learning rate to ``end_lr`` (scaled by the group's own
    multiplier, so biases decay to ``2 * end_lr``) at ``decay_steps``; constant afterwards.
    ``base_lr`` defaults to the optimiser's ``defaults['lr']``. Step it once per optimiser step.

    ``warmup_steps > 0`` multiplies the first steps by a linear ramp, ``(step + 1) / warmup_steps``.
    The released recipe has none (0, the default); it is there for from-scratch models at a high
    learning rate, such as the shapes demo's probes (docs/shapes.md, "Recipe history").
    """
    if warmup_steps < 0:
        raise ValueError(f"poly schedule: warmup_steps must be >= 0, got {warmup_steps}")
    base = float(base_lr if base_lr is not None else optimizer.defaults["lr"])
    end_ratio = end_lr / base if base > 0 else 0.0
    warmup = int(warmup_steps)

    def fn(step: int) -> float:
        ramp = min(1.0, (step + 1) / warmup) if warmup else 1.0
        return ramp * poly_factor(step, decay_steps=int(decay_steps), power=power, end_ratio=end_ratio)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=fn)
