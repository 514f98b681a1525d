"""Video files: reading only the frames a clip needs (decord random access, PyAV as the fallback,
PNG folders) and writing frames as H.264 mp4 or PNG folders.

MTTR decodes every frame of a video to use 5-16 of them; here ``read_video_frames`` asks decord
for exactly the clip's indices (``get_batch``), so the cost scales with the clip, not the video.
When decord is missing or fails on a file, PyAV decodes sequentially up to the last needed frame.
The writers (:func:`write_mp4`, :func:`write_png_frames`) are atomic (:mod:`cmpcv.data.atomic`);
datasets, fixtures, the synthetic set and the prediction renderer write through them.

The decoders' own messages (FFmpeg's ``[h264 @ 0x...]`` lines, decord's ``ERROR opening``) are
written by native code straight to file descriptor 2, ahead of any error cmpcv reports. They are
captured while a video is opened or decoded (:func:`native_stderr_captured`) and logged at DEBUG;
the :class:`~cmpcv.data.errors.DataError` says what went wrong in one line. :func:`decode_all`
decodes every frame of a video (``python -m cmpcv.data.check ... deep=true``).
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from cmpcv.data.atomic import atomic_path
from cmpcv.data.errors import DataError

log = logging.getLogger(__name__)

BACKENDS = ("auto", "decord", "pyav")


_STDERR_LOCK = threading.RLock()  # one redirection of fd 2 at a time (it is process-wide)
# decord's messages start with "[hh:mm:ss] /its/source/file.cc:123: ", often nested.
_DECORD_PREFIX = re.compile(r"^\[\d\d:\d\d:\d\d\]\s*\S+:\d+:\s*")


@contextlib.contextmanager
def native_stderr_captured() -> Iterator[None]:
    """Inside the block, what native code writes to file descriptor 2 is kept from the terminal
    and logged at DEBUG (``cmpcv.data.video``) when the block ends."""
    with _STDERR_LOCK:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        try:
            saved = os.dup(2)
        except OSError:  # no fd 2 (a daemon): nothing to protect
            yield
            return
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                sink.seek(0)
                text = sink.read().decode("utf-8", errors="replace").strip()
                if text:
                    log.debug("decoder messages: %s", text.replace("\n", " | "))


def _short(exc: BaseException) -> str:
    """A decoder's error in one line: its first line, without decord's time and source prefixes."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    while _DECORD_PREFIX.match(text):
        text = _DECORD_PREFIX.sub("", text, count=1)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _ranges(indices: Sequence[int]) -> str:
    """``[3, 4, 5, 9]`` -> ``"3-5, 9"``."""
    out, run = [], []
    for i in sorted(indices):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [i]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ", ".join(out)


def _unique(indices: Sequence[int]) -> tuple[list[int], list[int]]:
    """Sorted unique indices and, for each requested index, its position among them."""
    uniq = sorted(set(int(i) for i in indices))
    pos = {v: k for k, v in enumerate(uniq)}
    return uniq, [pos[int(i)] for i in indices]


class _SelectError(ValueError):
    """The clip does not fit the video (e.g. annotated frame past its end): no backend can help."""


Select = Callable[[int], Sequence[int]]


def _as_select(indices: Sequence[int] | Select) -> Select:
    if callable(indices):
        return indices
    fixed = [int(i) for i in indices]
    return lambda n: fixed


def _checked(select: Select, n: int) -> list[int]:
    try:
        idx = [int(i) for i in select(n)]
    except ValueError as exc:
        raise _SelectError(str(exc)) from exc
    if not idx:
        raise _SelectError("no frame indices requested")
    bad = [i for i in idx if not 0 <= i < n]
    if bad:
        raise _SelectError(f"frames {bad} requested from a video of {n} frames")
    return idx


def _decord_read(path: Path, select: Select) -> tuple[np.ndarray, list[int]]:
    import decord

    decord.logging.set_level(decord.logging.QUIET)  # its FFmpeg's log; decord's own lines are captured
    reader = decord.VideoReader(str(path), num_threads=1)
    idx = _checked(select, len(reader))
    uniq, where = _unique(idx)
    # Clamped clips repeat edge frames: decode each distinct frame once, then gather.
    return reader.get_batch(uniq).asnumpy()[where], idx


def _pyav_length(container) -> int:
    stream = container.streams.video[0]
    if stream.frames:
        return int(stream.frames)
    # Containers without a frame count: count packets (demuxing only, no decoding).
    n = sum(1 for p in container.demux(stream) if p.size)
    container.seek(0)
    return n


def _pyav_read(path: Path, select: Select) -> tuple[np.ndarray, list[int]]:
    import av

    with av.open(str(path)) as container:
        idx = _checked(select, _pyav_length(container))
        uniq, where = _unique(idx)
        wanted, got = set(uniq), {}
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for k, frame in enumerate(container.decode(stream)):
            if k in wanted:
                got[k] = frame.to_ndarray(format="rgb24")
            if k >= uniq[-1]:
                break  # stop decoding at the last frame the clip needs
    missing = [i for i in uniq if i not in got]
    if missing:
        raise IndexError(f"frames {_ranges(missing)} ({len(missing)} of the {len(uniq)} needed) are listed in the "
                         "container but could not be decoded (is the file truncated?)")
    return np.stack([got[i] for i in uniq])[where], idx


def read_video_frames(path: str | os.PathLike, indices: Sequence[int] | Select, backend: str = "auto"
                      ) -> tuple[np.ndarray, list[int]]:
    """Decode some frames of a video, never the whole video.

    Args:
        indices: 0-based frame indices (any order, repeats allowed), or a function of the video's
            frame count returning them (e.g. a :class:`~cmpcv.data.clips.ClipSampler` clamping
            at the ends), so the video is opened only once.
        backend: ``"auto"`` (decord, then PyAV), ``"decord"`` or ``"pyav"``.

    Returns:
        ``(frames (len(indices), H, W, 3) uint8 RGB, indices)``.

    Raises:
        DataError: naming the file, when it is missing, the indices do not fit, or no backend
        could decode it.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown video backend {backend!r}; expected one of {BACKENDS}")
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "video file not found")
    select = _as_select(indices)
    errors = []
    readers = {"auto": (_decord_read, _pyav_read), "decord": (_decord_read,), "pyav": (_pyav_read,)}[backend]
    for read in readers:
        try:
            with native_stderr_captured():
                return read(path, select)
        except _SelectError as exc:
            raise DataError(path, str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - decord and PyAV raise many untyped errors on bad files
            name = "decord" if read is _decord_read else "PyAV"
            errors.append(f"{name}: {_short(exc)}")
            log.debug("%s: %s failed: %s", path, name, exc)
    raise DataError(path, f"could not decode the video ({'; '.join(errors)})")


def decode_all(path: str | os.PathLike) -> int:
    """Decode every frame of a video (PyAV, packet by packet, nothing kept); the number of frames.

    The decoder is asked to stop at the first error it detects (``err_detect=explode``) rather
    than conceal it; damage it cannot detect decodes as (wrong) pixels.

    Raises:
        DataError: naming the file and the first packet (one frame each, in stored order) that
        could not be decoded, or how many frames the container lists but does not hold.
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise DataError(path, "video file not found")
    n, packets, opened = 0, 0, False
    try:
        with native_stderr_captured(), av.open(str(path)) as container:
            opened = True
            if not container.streams.video:
                raise DataError(path, "the file has no video stream")
            stream = container.streams.video[0]
            stream.codec_context.options = {"err_detect": "explode"}
            listed = int(stream.frames or 0)
            for packet in container.demux(stream):
                n += len(packet.decode())
                packets += 1
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - PyAV raises many error types for corrupt input
        if not opened:
            raise DataError(path, f"could not open the video: {_short(exc)}") from exc
        raise DataError(path, f"the data of frame {packets} (0-based, in stored order) could not be decoded "
                              f"({_short(exc)}); {n} frame(s) decoded before it") from exc
    if listed and n < listed:
        raise DataError(path, f"only {n} of the {listed} frames the container lists could be decoded "
                              "(is the file truncated?)")
    return n


def video_length(path: str | os.PathLike, backend: str = "auto") -> int:
    """Number of frames of a video, from its container metadata (nothing is decoded)."""
    n: list[int] = []

    def probe(count: int) -> list[int]:
        n.append(count)
        raise ValueError("probe only")

    try:
        read_video_frames(path, probe, backend)
    except DataError:
        if not n:
            raise
    return n[-1]


def read_png_frames(paths: Sequence[str | os.PathLike]) -> np.ndarray:
    """Read PNG frames (e.g. J-HMDB's ``Rename_Images``) as ``(T, H, W, 3)`` uint8 RGB; repeats are read once."""
    from PIL import Image

    cache: dict[str, np.ndarray] = {}
    out = []
    for p in paths:
        key = str(p)
        if key not in cache:
            try:
                with Image.open(key) as img:
                    cache[key] = np.asarray(img.convert("RGB"))
            except FileNotFoundError:
                raise DataError(key, "frame image not found") from None
            except Exception as exc:  # noqa: BLE001 - PIL raises several types for corrupt files
                raise DataError(key, f"could not read frame image: {type(exc).__name__}: {exc}") from exc
        out.append(cache[key])
    shapes = {a.shape for a in out}
    if len(shapes) > 1:
        raise DataError(str(paths[0]), f"frame images of one video differ in size: {sorted(shapes)}")
    return np.stack(out)


def video_info(path: str | os.PathLike) -> tuple[int, int, int]:
    """``(frames, H, W)`` of a video from its container header (PyAV; nothing is decoded)."""
    import av

    path = Path(path)
    if not path.is_file():
        raise DataError(path, "video file not found")
    try:
        with native_stderr_captured(), av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError(path, "the file has no video stream")
            stream = container.streams.video[0]
            return _pyav_length(container), int(stream.codec_context.height), int(stream.codec_context.width)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - PyAV raises many error types for corrupt input
        raise DataError(path, f"could not open the video: {_short(exc)}") from exc


def _check_frames(frames: np.ndarray, what: str) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"{what}: expected frames of shape (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    if frames.shape[0] == 0:
        raise ValueError(f"{what}: expected at least one frame")
    return frames


class Mp4Writer:
    """An H.264 mp4 (yuv420p) written frame by frame with PyAV, atomically: frames go to a
    temporary file next to ``path``, which replaces ``path`` only when the block ends without an
    error. ``with Mp4Writer(path, fps) as out: out.add(frame)`` for ``(H, W, 3)`` uint8 RGB frames
    of one even size (yuv420p subsamples chroma 2x2). ``gop`` sets the key-frame interval
    (libx264's default when None); a short one makes random access cheaper."""

    def __init__(self, path: str | os.PathLike, fps: float = 24.0, crf: int = 18, *, gop: int | None = None) -> None:
        self.path, self.fps, self.crf, self.gop = Path(path), fps, int(crf), gop
        self.count = 0
        self._stream = self._container = self._atomic = None

    def __enter__(self) -> Mp4Writer:
        self._atomic = atomic_path(self.path)
        self._tmp = self._atomic.__enter__()
        return self

    def add(self, frame: np.ndarray) -> None:
        import av  # deferred: only the writers need the encoder

        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"{self.path}: expected a frame (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
        h, w = frame.shape[:2]
        if self._stream is None:
            if h % 2 or w % 2:
                raise ValueError(f"{self.path}: H.264 yuv420p needs even height and width, got {h}x{w} (H x W)")
            self._container = av.open(str(self._tmp), mode="w", format="mp4")
            stream = self._container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            # One encoder thread: with several, libx264's output depends on scheduling, and the
            # tiny videos of fixtures and the synthetic set encode faster without thread start-up.
            # Even so, the bytes (and a few decoded pixels) can differ from run to run; no encoder
            # option makes them stable, so tests compare decoded frames with a tolerance.
            options = {"crf": str(self.crf), "threads": "1"}
            if self.gop is not None:
                options["g"] = str(int(self.gop))
            stream.options = options
            self._stream, self._size = stream, (h, w)
        elif (h, w) != self._size:
            raise ValueError(f"{self.path}: frame {self.count} is {h}x{w}, the first was {self._size[0]}x{self._size[1]}")
        # Convert to yuv420p ourselves: left to the encoder, the RGB->YUV conversion is not
        # reproducible from run to run (decoded pixels then differ by up to 14 levels).
        rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        for packet in self._stream.encode(rgb.reformat(format="yuv420p")):
            self._container.mux(packet)
        self.count += 1

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if self._container is not None:
                if exc_type is None:
                    for packet in self._stream.encode():  # flush delayed (B-)frames
                        self._container.mux(packet)
                self._container.close()
            if exc_type is None and not self.count:
                raise ValueError(f"{self.path}: expected at least one frame")
        except BaseException:
            self._atomic.__exit__(*sys.exc_info())
            raise
        return bool(self._atomic.__exit__(exc_type, exc, tb))


def write_mp4(path: str | os.PathLike, frames: np.ndarray, fps: float = 24.0, crf: int = 18, *,
              gop: int | None = None) -> None:
    """Encode ``frames (T, H, W, 3)`` uint8 RGB as an H.264 mp4 (yuv420p) with PyAV, atomically
    (:class:`Mp4Writer`). ``H`` and ``W`` must be even."""
    frames = _check_frames(frames, str(path))
    with Mp4Writer(path, fps, crf, gop=gop) as out:
        for frame in frames:
            out.add(frame)


def write_png_frames(folder: str | os.PathLike, frames: np.ndarray) -> None:
    """Write ``frames (T, H, W, 3)`` uint8 RGB as ``00001.png``, ``00002.png``, ... in ``folder``."""
    from PIL import Image

    folder = Path(folder)
    frames = _check_frames(frames, str(folder))
    folder.mkdir(parents=True, exist_ok=True)
    for t, frame in enumerate(frames, start=1):
        with atomic_path(folder / f"{t:05d}.png") as tmp:
            Image.fromarray(frame).save(tmp, format="PNG")
