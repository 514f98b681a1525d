"""Strict state-dict loading that explains every mismatch at once.

``nn.Module.load_state_dict`` stops at the first shape mismatch and reports missing and unexpected
keys in one long line. Loading the wrong checkpoint (another backbone, other widths, another
vocabulary) is a common mistake, so :func:`load_strict` collects missing keys, unexpected keys and
shape mismatches together and raises one :class:`StateDictMismatch` that names the source.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

_MAX_LISTED = 20


class StateDictMismatch(RuntimeError):
    """A state dict does not fit a module: lists missing/unexpected keys and shape mismatches."""


def _listing(title: str, items: list[str]) -> str:
    shown = items[:_MAX_LISTED]
    more = f"\n    ... and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    return f"  {title} ({len(items)}):\n" + "\n".join(f"    {s}" for s in shown) + more


def load_strict(module: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Load ``state_dict`` into ``module``; raise :class:`StateDictMismatch` unless it fits exactly.

    ``source`` names where the weights came from (a path, "checkpoint['model']") for the message.
    BatchNorm's ``num_batches_tracked`` may be absent (old conversions predate it); PyTorch then
    fills it in, as it does for any state dict without version metadata.
    """
    own = module.state_dict()
    wrong_shape = {
        k for k, v in state_dict.items() if k in own and isinstance(v, torch.Tensor) and v.shape != own[k].shape
    }
    mismatched = [f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}" for k in sorted(wrong_shape)]
    result = module.load_state_dict({k: v for k, v in state_dict.items() if k not in wrong_shape}, strict=False)
    missing = [k for k in result.missing_keys if k not in wrong_shape and not k.endswith("num_batches_tracked")]
    unexpected = list(result.unexpected_keys)
    if missing or unexpected or mismatched:
        parts = [f"weights from {source} do not fit {type(module).__name__}:"]
        if missing:
            parts.append(_listing("missing keys", missing))
        if unexpected:
            parts.append(_listing("unexpected keys", unexpected))
        if mismatched:
            parts.append(_listing("shape mismatches", mismatched))
        raise StateDictMismatch("\n".join(parts))
