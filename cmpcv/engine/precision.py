"""Mixed precision: which dtype to autocast to, and whether a GradScaler is needed.

``precision``: ``"32"`` (no autocast), ``"bf16"``, ``"16"`` (fp16 with loss scaling; CUDA only) or
``"auto"``: bf16 on a CUDA device that supports it, and on a CPU with native bf16 arithmetic
(AVX512-BF16 or AMX) while oneDNN is enabled: there autocast makes a training step of the shapes
demo 1.35-1.42x faster than fp32 (benchmarks/README.md, "Demo training step"; docs/shapes.md,
"Recipe history"). fp32 otherwise: without
native bf16 or without oneDNN, bf16 kernels are emulated or reference code, slower than fp32.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import ContextManager

import torch

CHOICES = ("auto", "32", "bf16", "16")


NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def native_bf16_in(cpuinfo: str) -> bool:
    """Whether a ``/proc/cpuinfo`` text lists a CPU flag for native bf16 arithmetic."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags" and set(value.split()) & set(NATIVE_BF16_FLAGS):
            return True
    return False


@functools.cache
def cpu_has_native_bf16() -> bool:
    """This machine's CPU computes bf16 natively (Linux ``/proc/cpuinfo``; False where unreadable)."""
    try:
        return native_bf16_in(Path("/proc/cpuinfo").read_text())
    except OSError:
        return False


def resolve_precision(precision: str | int, device: torch.device) -> str:
    p = str(precision)
    if p not in CHOICES:
        raise ValueError(f"trainer.precision must be one of {CHOICES}, got {precision!r}")
    if p == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "32"
        native = device.type == "cpu" and cpu_has_native_bf16()
        onednn = torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
        return "bf16" if native and onednn else "32"
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
