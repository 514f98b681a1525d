"""Checkpoints: atomic writes, RNG capture, and the resume policy (which checkpoint, and whether
this command may continue it: same data, same model; ``run=DIR`` -> its checkpoint).

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
``dataset``     ``{"name", "root"}`` (absolute): a resume on another tree is refused
``skipped``     training samples skipped so far under ``dataset.on_error=skip``: id -> times
==============  ==========================================================================

``config`` + ``vocab`` make a checkpoint self-sufficient: ``cmpcv.models.build_model(None,
checkpoint=path)`` and ``Vocabulary.from_dict(ckpt["vocab"])`` are all evaluation and prediction
need.
"""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cmpcv.data.atomic import atomic_path

log = logging.getLogger(__name__)

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


def run_checkpoint(run_dir: str | os.PathLike) -> Path:
    """The checkpoint of a training run directory (``run=DIR``): ``checkpoints/best.pt`` (best
    validation score) when the run validated, else ``checkpoints/last.pt``. ``DIR`` may also be
    its ``checkpoints`` folder. A :class:`FileNotFoundError` says what the folder lacks."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run={run_dir}: no such folder (give a training run directory, e.g. "
                                "outputs/train/experiment-shapes)")
    folder = run_dir if run_dir.name == "checkpoints" and not (run_dir / "checkpoints").is_dir() else run_dir / "checkpoints"
    for name in (BEST, LAST):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"run={run_dir}: no {folder.name}/{BEST} or {folder.name}/{LAST} in it (is it a "
                            "`python -m cmpcv.train` run directory that has saved a checkpoint?)")


class ResumeError(ValueError):
    """The checkpoint to continue from does not belong to this command (another dataset, another
    model); nothing in the run directory has been changed. The message is one line."""


def dataset_identity(dataset_cfg: Any) -> dict[str, str | None]:
    """What identifies a run's data: the dataset's name and its root as an absolute path."""
    root = dataset_cfg.get("root") if dataset_cfg is not None else None
    return {"name": dataset_cfg.get("name") if dataset_cfg is not None else None,
            "root": None if root in (None, "") else str(Path(str(root)).expanduser().resolve())}


def resume_advice(resume: Any, path: Path, run_dir: Path) -> str:
    """What to do when the checkpoint to continue from belongs to another run."""
    if str(resume).lower() == "auto":
        return (f"train this command in a new run directory (hydra.run.dir=NEW_DIR), or pass "
                f"trainer.resume=never to start over in {run_dir} (it replaces that run's checkpoints and results)")
    return (f"trainer.resume={path} names a checkpoint of another run: give the settings it was trained with "
            "(its config is stored in it), or leave trainer.resume out to train from scratch")


def check_resume_data(ckpt: dict[str, Any], dataset_cfg: Any, path: Path, resume: Any, run_dir: Path) -> None:
    """Refuse (:class:`ResumeError`) to continue a run found in the run directory
    (``trainer.resume=auto``) on a dataset other than the one it was trained on; a checkpoint named
    explicitly (``trainer.resume=PATH``, e.g. to fine-tune) only gets a warning."""
    saved = ckpt.get("dataset") or dataset_identity((ckpt.get("config") or {}).get("dataset") or {})
    now = dataset_identity(dataset_cfg)
    if saved.get("root") is None or saved == now:
        return
    message = (f"cannot resume from {path}: it was trained on dataset {saved.get('name')} at {saved.get('root')}, "
               f"this command reads dataset {now['name']} at {now['root']}")
    if str(resume).lower() != "auto":
        log.warning("%s; continuing, as trainer.resume names the checkpoint", message)
        return
    raise ResumeError(f"{message}; {resume_advice(resume, path, run_dir)}")


def resume_mismatch(exc: Exception, ckpt: dict[str, Any], model_cfg: Any, path: Path, resume: Any,
                    run_dir: Path) -> ResumeError:
    """The one-line :class:`ResumeError` for a checkpoint whose weights do not fit the model
    (``exc``: the :class:`~cmpcv.models.StateDictMismatch`): what differs, and what to do."""
    diffs = config_differences((ckpt.get("config") or {}).get("model"), model_cfg, "model")
    return ResumeError(
        f"cannot resume from {path}: its weights do not fit this command's model ({mismatch_summary(str(exc))})"
        + (f"; the model config differs: {'; '.join(diffs)}" if diffs else "")
        + f"; {resume_advice(resume, path, run_dir)}")


def mismatch_summary(message: str) -> str:
    """One line out of a :class:`~cmpcv.models.StateDictMismatch` listing: the counts per kind
    and the first mismatch."""
    lines = message.splitlines()
    counts = [line.strip().rstrip(":") for line in lines if line.startswith("  ") and not line.startswith("    ")]
    example = next((line.strip() for line in lines if line.startswith("    ")), "")
    return ", ".join(counts) + (f"; e.g. {example}" if example else "")


def config_differences(saved: Any, current: Any, prefix: str, limit: int = 3) -> list[str]:
    """``"key: A in the checkpoint, B here"`` for the leaves where two plain config trees differ
    (the first ``limit``; keys naming weight files are left out: they only matter at the start)."""
    out: list[str] = []

    def walk(a: Any, b: Any, key: str) -> None:
        if len(out) >= limit or key.rsplit(".", 1)[-1] in ("weights", "vocab_size"):
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b), key=str):
                walk(a.get(k), b.get(k), f"{key}.{k}")
        elif a != b:
            out.append(f"{key}: {a!r} in the checkpoint, {b!r} here")

    walk(saved, current, prefix)
    return out
