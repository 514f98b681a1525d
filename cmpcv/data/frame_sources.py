"""Whole videos as frame sources for inference: any frames by index, read in increasing order.

A *frame source* is anything with ``len(source)`` (its number of frames) and
``source.read(indices) -> (frames (k, H, W, 3) uint8 RGB, indices)``, the contract of
:func:`cmpcv.data.video.read_video_frames` and of a folder of frame files
(``cmpcv.data.frame_folder.FrameFolder``). Whole-video inference asks for each frame once, in
increasing order, in small chunks; the sources here keep their decoder open between chunks so
that a video is decoded once, front to back, whatever its length:

* :class:`ArrayFrames`: frames already in memory (``(N, H, W, 3)`` uint8);
* :class:`VideoFile`: a video file; PyAV decoding forward from where the previous chunk stopped,
  decord's random access for a chunk behind it;
* a folder of JPEG or PNG frames (:func:`frame_folder`, ``cmpcv.data.frame_folder.FrameFolder``).

:func:`open_frames` turns what a user passes (an array, a video path, or a source) into one.
Torch-free.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from cmpcv.data.errors import DataError
from cmpcv.data.video import _short, native_stderr_captured

log = logging.getLogger(__name__)

__all__ = ["ArrayFrames", "FrameSource", "VideoFile", "open_frames"]


@runtime_checkable
class FrameSource(Protocol):
    def __len__(self) -> int: ...

    def read(self, indices: Sequence[int]) -> tuple[np.ndarray, list[int]]: ...


def _check_indices(indices: Sequence[int], n: int, where: object) -> list[int]:
    idx = [int(i) for i in indices]
    if not idx:
        raise DataError(str(where), "no frame indices requested")
    bad = [i for i in idx if not 0 <= i < n]
    if bad:
        raise DataError(str(where), f"frames {bad[:5]} requested from a video of {n} frames")
    return idx


class ArrayFrames:
    """``frames (N, H, W, 3)`` uint8 RGB already decoded, as a frame source."""

    def __init__(self, frames: np.ndarray, name: str = "frames array") -> None:
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"{name}: expected frames (N, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
        if not len(frames):
            raise ValueError(f"{name}: the video has no frames")
        self.frames, self.name = frames, name

    def __len__(self) -> int:
        return len(self.frames)

    def read(self, indices: Sequence[int]) -> tuple[np.ndarray, list[int]]:
        idx = _check_indices(indices, len(self.frames), self.name)
        return self.frames[idx], idx


class VideoFile:
    """A video file read chunk by chunk with its decoders kept open.

    ``backend="auto"``: PyAV decodes forward from where the previous chunk stopped (whole-video
    inference reads every frame once, in order, in constant memory); a chunk behind that position
    (clip-by-clip reading) is read with decord's random access instead of decoding from the start
    again. decord is not the forward reader because its memory grows with the video's length:
    whole-video inference reading a 1,000-frame 640x272 mp4 through decord peaked 0.45-0.52 GB
    higher than on a 100-frame one, by its first prediction already; through PyAV the two peaks
    were within 20 MB (R2D-101 at paper widths, 64x64 input, 4 sentences). ``"pyav"`` or
    ``"decord"`` use one decoder for everything. ``len()`` is the number of frames the container
    lists. A file no decoder opens, or a chunk that cannot be decoded, raises :class:`DataError`
    naming the file (and the frames).
    """

    def __init__(self, path: str | os.PathLike, backend: str = "auto") -> None:
        if backend not in ("auto", "decord", "pyav"):
            raise ValueError(f"unknown video backend {backend!r}; expected auto, decord or pyav")
        self.path, self.backend = Path(path), backend
        if not self.path.is_file():
            raise DataError(self.path, "video file not found")
        self._decord: Any = None
        self._av: Any = None  # [container, frame iterator, index of the next frame it yields]
        self._length = 0
        errors: dict[str, str] = {}
        # The decoders' own messages (FFmpeg's, decord's) go to the log, not the terminal.
        with native_stderr_captured():
            if backend in ("auto", "pyav"):
                try:
                    import av

                    with av.open(str(self.path)) as container:
                        stream = container.streams.video[0]
                        self._length = int(stream.frames) or sum(1 for p in container.demux(stream) if p.size)
                except Exception as exc:  # noqa: BLE001 - PyAV raises many error types for corrupt input
                    errors["PyAV"] = _short(exc)
            if backend == "decord" or "PyAV" in errors:
                try:
                    self._length = len(self._open_decord())
                except Exception as exc:  # noqa: BLE001 - decord raises untyped errors on bad files
                    errors["decord"] = _short(exc)
        if len(errors) == (2 if backend == "auto" else 1):
            listed = "; ".join(f"{k}: {errors[k]}" for k in ("decord", "PyAV") if k in errors)
            raise DataError(self.path, f"could not decode the video ({listed})")
        if self._length < 1:
            raise DataError(self.path, "the video has no frames")
        self._pyav_ok = "PyAV" not in errors

    def _open_decord(self) -> Any:
        if self._decord is None:
            import decord

            decord.logging.set_level(decord.logging.QUIET)
            self._decord = decord.VideoReader(str(self.path), num_threads=1)
        return self._decord

    def __len__(self) -> int:
        return self._length

    def read(self, indices: Sequence[int]) -> tuple[np.ndarray, list[int]]:
        idx = _check_indices(indices, self._length, self.path)
        uniq = sorted(set(idx))
        behind = self._av is not None and self._av[2] > uniq[0]
        try:
            with native_stderr_captured():
                if self.backend == "decord" or not self._pyav_ok or (self.backend == "auto" and behind):
                    got = self._open_decord().get_batch(uniq).asnumpy()
                else:
                    got = np.stack(self._pyav_frames(uniq))
        except DataError:
            raise
        except Exception as exc:  # noqa: BLE001 - decoders raise many untyped errors
            raise DataError(self.path, f"could not decode frames {uniq[0]}-{uniq[-1]} ({_short(exc)})") from None
        pos = {f: k for k, f in enumerate(uniq)}
        return got[[pos[i] for i in idx]], idx

    def _pyav_frames(self, wanted: list[int]) -> list[np.ndarray]:
        import av

        if self._av is None or self._av[2] > wanted[0]:
            self.close()
            container = av.open(str(self.path))
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            self._av = [container, container.decode(stream), 0]
        out = []
        container, frames, nxt = self._av
        for target in wanted:
            while True:
                try:
                    frame = next(frames)
                except StopIteration:
                    raise DataError(self.path, f"frame {target} is listed but the stream ended after {nxt} "
                                               "frames (is the file truncated?)") from None
                nxt += 1
                if nxt - 1 == target:
                    out.append(frame.to_ndarray(format="rgb24"))
                    break
        self._av[2] = nxt
        return out

    def close(self) -> None:
        if self._av is not None:
            self._av[0].close()
            self._av = None

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass


FOLDER_SUFFIXES = (".jpg", ".jpeg", ".png")


def frame_folder(path: str | os.PathLike) -> FrameSource:
    """A folder of frame files as a video: its JPEGs (``.jpg``, else ``.jpeg``), else its PNGs,
    in name order (:class:`cmpcv.data.frame_folder.FrameFolder`)."""
    from cmpcv.data.frame_folder import FrameFolder

    path = Path(path)
    present = {p.suffix for p in path.iterdir() if p.is_file() and not p.name.startswith(".")}
    for suffix in FOLDER_SUFFIXES:
        if suffix in present:
            return FrameFolder.listing(path, suffix)
    raise DataError(path, f"the folder holds no frame files ({', '.join(FOLDER_SUFFIXES)})")


def open_frames(video: Any, backend: str = "auto") -> FrameSource:
    """A frame source from ``video``: a frame source (returned as is), an ``(N, H, W, 3)`` uint8
    array, the path of a video file, or a folder of frame files (:func:`frame_folder`)."""
    if isinstance(video, np.ndarray):
        return ArrayFrames(video)
    if isinstance(video, (str, os.PathLike)):
        path = Path(video)
        if path.is_dir():
            return frame_folder(path)
        return VideoFile(path, backend)
    if isinstance(video, FrameSource):
        return video
    raise TypeError(f"open_frames: expected a video path, an (N, H, W, 3) uint8 array or a frame source "
                    f"(len() and read(indices)), got {type(video).__name__}")
