"""Mixed precision: which dtype to autocast to, and whether a GradScaler is needed.

``precision``: ``"32"`` (no autocast), ``"bf16"``, ``"16"`` (fp16 with loss scaling; CUDA only) or
``"auto"``: bf16 on a CUDA device that supports it, fp32 otherwise (CPU autocast is slower than
fp32 for these convolutions on most CPUs, so it is opt-in there).
"""

from __future__ import annotations

import contextlib
from typing import ContextManager

import torch

CHOICES = ("auto", "32", "bf16", "16")


def resolve_precision(precision: str | int, device: torch.device) -> str:
    p = str(precision)
    if p not in CHOICES:
        raise ValueError(f"trainer.precision must be one of {CHOICES}, got {precision!r}")
    if p == "auto":
        return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "32"
    if p == "16" and device.type != "cuda":
        raise ValueError("trainer.precision=16 (fp16 with loss scaling) needs a CUDA device; use bf16 or 32")
    return p


def autocast(precision: str, device: torch.device) -> ContextManager:
    """Autocast context for a resolved ``precision`` (a no-op for ``"32"``)."""
    if precision == "32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """A GradScaler, enabled only for fp16 (bf16 has fp32's range and needs no scaling)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "16")
