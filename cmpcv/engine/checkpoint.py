"""Checkpoints: atomic writes, RNG capture, and the resume policy.

A checkpoint is one ``torch.save``d dict:

==============  ==========================================================================
``model``       state dict (unwrapped from DDP)
``optimizer``   / ``scheduler`` / ``scaler`` state dicts (``scaler`` None without fp16)
``step``        optimiser steps done
``data``        ``{"epoch": e, "index": i}``: the next batch is batch ``i`` of epoch ``e``
``rng``         python / numpy / torch / cuda generator states (see :func:`capture_rng`)
``config``      the resolved run config, a plain dict
``vocab``       ``Vocabulary.to_dict()``
``best``        best validation mean IoU so far (None before the first validation)
``wandb_id``    the wandb run id, so a resumed run continues the same dashboard
==============  ==========================================================================

``config`` + ``vocab`` make a checkpoint self-sufficient: ``cmpcv.models.build_model(None,
checkpoint=path)`` and ``Vocabulary.from_dict(ckpt["vocab"])`` are all evaluation and prediction
need.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cmpcv.data.atomic import atomic_path

LAST = "last.pt"
BEST = "best.pt"


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` through :func:`cmpcv.data.atomic.atomic_path` (temp file in the same folder,
    fsync, ``os.replace``): readers and a crash mid-write never see a partial file, and the
    previous version stays until the rename."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint dict, with a clear error when the file is not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        # Everything in a cmpcv checkpoint is tensors and plain Python values, so the safe loader
        # reads it (and cmpcv.models.build_model, which uses it, can read the file directly).
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file named
        raise ValueError(f"checkpoint {path} could not be read ({type(exc).__name__}: {exc})") from exc
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise ValueError(f"checkpoint {path}: expected a dict with a 'model' state dict")
    return ckpt


def _numpy_state_to_plain(state: tuple) -> tuple:
    kind, keys, pos, has_gauss, cached = state
    return (str(kind), [int(k) for k in keys], int(pos), int(has_gauss), float(cached))


def capture_rng() -> dict[str, Any]:
    """Every generator a training step may draw from."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        # As plain ints, so the checkpoint loads with ``torch.load(weights_only=True)``.
        "numpy": _numpy_state_to_plain(np.random.get_state()),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`; a missing ``cuda`` entry (saved on a CPU) is skipped."""
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss), float(cached)))
    torch.set_rng_state(state["torch"].cpu() if hasattr(state["torch"], "cpu") else state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


class preserve_rng:
    """Context manager: whatever runs inside (validation, overlays) leaves every generator as it
    found it, so evaluating mid-run cannot change the training trajectory."""

    def __enter__(self) -> "preserve_rng":
        self._state = capture_rng()
        return self

    def __exit__(self, *exc: object) -> None:
        restore_rng(self._state)


def resolve_resume(resume: str | os.PathLike | None, checkpoint_dir: str | os.PathLike) -> Path | None:
    """Which checkpoint to continue from.

    ``auto``: ``checkpoint_dir/last.pt`` if it exists, else start fresh; ``never`` (or None/false):
    start fresh (an existing ``last.pt`` is overwritten at the first save); anything else is a path
    that must exist.
    """
    if resume is None or resume is False or str(resume).lower() in ("never", "false", "none", "no"):
        return None
    if str(resume).lower() == "auto":
        last = Path(checkpoint_dir) / LAST
        return last if last.is_file() else None
    path = Path(resume)
    if not path.is_file():
        raise FileNotFoundError(f"trainer.resume={resume!r}: no such checkpoint file")
    return path


def remap_word_rows(old: torch.Tensor, old_words: list[str], new: torch.Tensor, new_words: list[str]
                    ) -> tuple[torch.Tensor, int]:
    """Rows of an ``(V_new, D)`` word table: the ``old`` row for every word both vocabularies
    hold, the ``new`` row otherwise. Returns the table and the number of rows carried over."""
    if old.shape[1:] != new.shape[1:]:
        raise ValueError(f"word embeddings differ in width: {tuple(old.shape)} vs {tuple(new.shape)}")
    where = {w: i for i, w in enumerate(old_words)}
    out = new.clone()
    shared = [(i, where[w]) for i, w in enumerate(new_words) if w in where]
    if shared:
        rows, src = zip(*shared)
        out[list(rows)] = old[list(src)].to(out.dtype)
    return out, len(shared)
