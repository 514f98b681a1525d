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


class VideoWriter:
    """The output video written frame by frame: an H.264 mp4 (any suffix but ``.gif``) streamed to
    a temporary file (:class:`cmpcv.data.video.Mp4Writer`), or a GIF (its frames are kept until
    the end); either replaces ``path`` only when the block ends without an error. An odd side is
    padded by repeating the last row/column (H.264 in yuv420p needs even sides)."""

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path, self.fps = Path(path), fps
        self.gif = self.path.suffix.lower() == ".gif"
        self._images: list = []
        self._mp4 = None
        self._warned = False

    def __enter__(self) -> VideoWriter:
        if not self.gif:
            from cmpcv.data.video import Mp4Writer

            self._mp4 = Mp4Writer(self.path, fps=self.fps).__enter__()
        return self

    def add(self, frame: np.ndarray) -> None:
        if self.gif:
            from PIL import Image

            self._images.append(Image.fromarray(frame))
            return
        h, w = frame.shape[:2]
        if h % 2 or w % 2:
            if not self._warned:
                log.warning("%dx%d (W x H) is odd; the mp4 repeats the last row/column to %dx%d",
                            w, h, w + w % 2, h + h % 2)
                self._warned = True
            frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        self._mp4.add(frame)

    def __exit__(self, exc_type, exc, tb) -> bool:
        if not self.gif:
            return bool(self._mp4.__exit__(exc_type, exc, tb))
        if exc_type is None:
            from cmpcv.data.atomic import atomic_path

            # GIF delays are whole centiseconds; PIL rounds the millisecond duration we give it.
            with atomic_path(self.path) as tmp:
                self._images[0].save(tmp, format="GIF", save_all=True, append_images=self._images[1:], loop=0,
                                     duration=max(20, round(1000.0 / self.fps)), disposal=1)
        return False


def write_video(path: str | Path, frames: np.ndarray, fps: float) -> Path:
    """Write ``frames (N, H, W, 3)`` as an H.264 mp4 (any other suffix but ``.gif``) or a GIF, atomically."""
    with VideoWriter(path, fps) as out:
        for frame in frames:
            out.add(frame)
    return Path(path)


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


class MaskWriter:
    """Binary masks written as they come: ``add(index, masks (S, H, W))`` for frames 0, 1, ...

    ``.npz`` -> one compressed file at the end (``masks`` uint8 ``(S, N, H, W)``, ``sentences``,
    ``fps``; the masks are kept until then); else a folder of 1-based ``00001.png`` (0/255), one
    subfolder ``s1``, ``s2``, ... per sentence when there are several, each file written
    atomically as its frame is ready. :meth:`close` writes the folder's manifest
    (:data:`MASKS_MANIFEST`) and removes the files an earlier run wrote there that this one did
    not (a longer video's last frames, another number of sentences); a folder holding anything
    else is refused (:class:`PredictError`) before anything is written.
    """

    def __init__(self, path: str | Path, sentences: Sequence[str], fps: float) -> None:
        self.path, self.sentences, self.fps = Path(path), list(sentences), fps
        self.npz = self.path.suffix.lower() == ".npz"
        self._kept: list[np.ndarray] = []
        self.written: list[str] = []
        if not self.npz:
            check_masks_folder(self.path)
            self._before = _own_files(self.path) or set()
            self._subdirs = [""] if len(self.sentences) == 1 else [f"s{k}/" for k in range(1, len(self.sentences) + 1)]

    def add(self, index: int, masks: np.ndarray) -> None:
        from PIL import Image

        from cmpcv.data.atomic import atomic_path

        if self.npz:
            self._kept.append(np.asarray(masks, dtype=np.uint8))
            return
        for sub, m in zip(self._subdirs, masks):
            name = f"{sub}{index + 1:05d}.png"
            with atomic_path(self.path / name) as tmp:
                Image.fromarray((np.asarray(m) > 0).astype(np.uint8) * 255).save(tmp, format="PNG")
            self.written.append(name)

    def close(self) -> Path:
        from cmpcv.data.atomic import atomic_path, atomic_write_text

        path = self.path
        if self.npz:
            with atomic_path(path) as tmp:
                np.savez_compressed(tmp, masks=np.stack(self._kept, axis=1), sentences=np.array(self.sentences),
                                    fps=np.float64(self.fps))
            return path
        path.mkdir(parents=True, exist_ok=True)
        if len(self.sentences) > 1:
            atomic_write_text(path / "sentences.txt",
                              "".join(f"s{k}: {s}\n" for k, s in enumerate(self.sentences, start=1)))
            self.written.append("sentences.txt")
        # Only what an earlier run of this command wrote is removed, never anything else.
        for stale in sorted(self._before - set(self.written)):
            (path / stale).unlink(missing_ok=True)
            parent = (path / stale).parent
            if parent != path and not any(parent.iterdir()):
                parent.rmdir()
        atomic_write_text(path / MASKS_MANIFEST,
                          json.dumps({"written_by": "cmpcv.predict", "files": self.written}) + "\n")
        return path


def write_masks(path: str | Path, masks: np.ndarray, sentences: Sequence[str], fps: float) -> Path:
    """Save ``masks (S, N, H, W)`` {0, 1} (:class:`MaskWriter`)."""
    writer = MaskWriter(path, sentences, fps)
    for t in range(masks.shape[1]):
        writer.add(t, masks[:, t])
    return writer.close()


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
