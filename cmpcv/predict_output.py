"""Where ``python -m cmpcv.predict`` writes: the output checks made before anything is segmented,
the video and mask writers, and the mask folder's manifest.

No output may replace an input (the video, the checkpoint) or a file this command did not write:
:func:`check_outputs` refuses such paths, and paths under an existing file, before the model is
even loaded. A PNG mask folder carries a manifest (:data:`MASKS_MANIFEST`) of the files written
into it, so a re-run replaces its own masks, and only those.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger("cmpcv.predict")

OUTPUT_SUFFIXES = (".mp4", ".gif")


class PredictError(RuntimeError):
    """Bad input for the predictor; the message is one line that says what to do."""


def write_video(path: str | Path, frames: np.ndarray, fps: float) -> Path:
    """Write ``frames (N, H, W, 3)`` as an H.264 mp4 (any other suffix but ``.gif``) or a GIF, atomically."""
    from cmpcv.data.atomic import atomic_path
    from cmpcv.data.video import write_mp4

    path = Path(path)
    if path.suffix.lower() == ".gif":
        from PIL import Image

        images = [Image.fromarray(f) for f in frames]
        # GIF delays are whole centiseconds; PIL rounds the millisecond duration we give it.
        with atomic_path(path) as tmp:
            images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], loop=0,
                           duration=max(20, round(1000.0 / fps)), disposal=1)
        return path
    h, w = frames.shape[1:3]
    if h % 2 or w % 2:
        # H.264 in yuv420p (what players expect) needs even sides: repeat the last row/column.
        log.warning("%dx%d (W x H) is odd; the mp4 repeats the last row/column to %dx%d", w, h, w + w % 2, h + h % 2)
        frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    write_mp4(path, frames, fps=fps)
    return path


#: What a mask folder written by this command holds besides the masks: the list of its own files,
#: so that a later run may replace them (and only them).
MASKS_MANIFEST = ".cmpcv-predict.json"


def _own_files(folder: Path) -> set[str] | None:
    """The files (relative, POSIX) that an earlier run listed in ``folder``'s manifest; None when
    there is no readable manifest."""
    try:
        data = json.loads((folder / MASKS_MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = data.get("files") if isinstance(data, dict) and data.get("written_by") == "cmpcv.predict" else None
    return {str(f) for f in files} if isinstance(files, list) else None


def foreign_files(folder: str | Path) -> list[str]:
    """Entries of the mask folder ``folder`` that ``cmpcv.predict`` did not write (by its manifest),
    sorted; [] for a missing or empty folder, or one holding only an earlier run's masks."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    own = _own_files(folder) or set()
    own_dirs = {str(Path(f).parent.as_posix()) for f in own} - {"."}
    foreign = []
    for entry in sorted(folder.rglob("*")):
        rel = entry.relative_to(folder).as_posix()
        if rel == MASKS_MANIFEST or rel in own or (entry.is_dir() and rel in own_dirs):
            continue
        foreign.append(rel)
    return foreign


def write_masks(path: str | Path, masks: np.ndarray, sentences: Sequence[str], fps: float) -> Path:
    """Save ``masks (S, N, H, W)`` {0, 1}: ``.npz`` -> one compressed file (``masks``, ``sentences``,
    ``fps``); else a folder of 1-based ``00001.png`` (0/255), one subfolder ``s1``, ``s2``, ... per
    sentence when there are several. Every file is written atomically.

    A folder gets a manifest (:data:`MASKS_MANIFEST`) listing what was written. A folder holding
    anything else is refused (:class:`PredictError`); files an earlier run wrote there and this
    one does not (a longer video's last frames, another number of sentences) are removed.
    """
    from PIL import Image

    from cmpcv.data.atomic import atomic_path, atomic_write_text

    path = Path(path)
    if path.suffix.lower() == ".npz":
        with atomic_path(path) as tmp:
            np.savez_compressed(tmp, masks=masks.astype(np.uint8), sentences=np.array(list(sentences)),
                                fps=np.float64(fps))
        return path
    check_masks_folder(path)
    before = _own_files(path) or set()
    written: list[str] = []
    subdirs = [""] if len(sentences) == 1 else [f"s{k}/" for k in range(1, len(sentences) + 1)]
    for sub, per_sentence in zip(subdirs, masks):
        (path / sub).mkdir(parents=True, exist_ok=True)
        for t, m in enumerate(per_sentence, start=1):
            name = f"{sub}{t:05d}.png"
            with atomic_path(path / name) as tmp:
                Image.fromarray((m > 0).astype(np.uint8) * 255).save(tmp, format="PNG")
            written.append(name)
    if len(sentences) > 1:
        atomic_write_text(path / "sentences.txt", "".join(f"s{k}: {s}\n" for k, s in enumerate(sentences, start=1)))
        written.append("sentences.txt")
    # Only what an earlier run of this command wrote is removed, never anything else.
    for stale in sorted(before - set(written)):
        (path / stale).unlink(missing_ok=True)
        parent = (path / stale).parent
        if parent != path and not any(parent.iterdir()):
            parent.rmdir()
    atomic_write_text(path / MASKS_MANIFEST, json.dumps({"written_by": "cmpcv.predict", "files": written}) + "\n")
    return path


def _writable_place(path: Path, key: str) -> None:
    """``path`` can be created: no existing ancestor is a file, and the nearest existing one is a
    writable folder."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise PredictError(f"{key}={path} cannot be written: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise PredictError(f"{key}={path} cannot be written: folder {parent} is not writable")
            return


def _same_file(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))


def check_masks_folder(path: str | Path) -> None:
    """A PNG mask folder may be written: missing, empty, or holding only an earlier run's masks."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise PredictError(f"masks={path} is a file: give a folder for PNG masks or a path ending in .npz")
    foreign = foreign_files(path)
    if foreign:
        raise PredictError(
            f"masks={path} already holds {len(foreign)} file(s) that cmpcv.predict did not write (e.g. "
            f"{foreign[0]}); give a new or empty folder, so that nothing of yours is replaced or deleted")


def check_outputs(output: str | Path | None, masks: str | Path | None,
                  inputs: Mapping[str, str | Path | None] | None = None) -> None:
    """Refuse output paths that could only fail after the whole video was segmented, or that would
    replace an input (``inputs``: key -> path, e.g. ``{"video": ..., "checkpoint": ...}``) or a
    file this command did not write."""
    if not output:
        raise PredictError("no output given: pass output=PATH.mp4 (or .gif)")
    out = Path(str(output))
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise PredictError(f"output={out} must end in .mp4 (H.264) or .gif")
    if out.is_dir():
        raise PredictError(f"output={out} is a folder: give a file name ending in .mp4 or .gif")
    _writable_place(out, "output")
    targets = {"output": out}
    if masks:
        m = Path(str(masks))
        if m.suffix.lower() == ".npz":
            if m.is_dir():
                raise PredictError(f"masks={m} is a folder: give a file name ending in .npz, or a folder "
                                   "name without .npz for PNG masks")
        else:
            check_masks_folder(m)
            if m.resolve() in out.resolve().parents:
                raise PredictError(f"output={out} lies inside masks={m}: keep the video out of the mask folder")
        _writable_place(m, "masks")
        if _same_file(m, out):
            raise PredictError(f"masks={m} and output={out} are the same path: give them different names")
        targets["masks"] = m
    for key, value in (inputs or {}).items():
        if not value:
            continue
        for tkey, target in targets.items():
            if _same_file(target, Path(str(value))):
                raise PredictError(f"{tkey}={target} is the {key} ({value}): writing it would replace your "
                                   f"{key}; give another {tkey} path")
