"""The second video source: a video stored as a folder of image files, one per frame.

Ref-YouTube-VOS, DAVIS and MeViS ship their videos as ``JPEGImages/<video>/<frame>.jpg``; the
frames that exist (every 5th source frame for Ref-YouTube-VOS) are the video. A
:class:`FrameFolder` is one such video: an ordered list of frame names. Reading a clip decodes
only the files at the clip's indices, each distinct file once (clamped clips repeat edge frames).

JPEG decoder (``decoder``): ``"auto"`` uses ``torchvision.io.decode_jpeg`` and falls back to
Pillow for a file it rejects (e.g. a PNG saved under a ``.jpg`` name); ``"torchvision"`` and
``"pillow"`` force one. Both link libjpeg-turbo with the default integer IDCT and return the same
pixels; ``decode_jpeg`` was faster in ``benchmarks/bench_jpeg.py`` (figure in benchmarks/README.md),
which is why it is the default. Other image formats (PNG) are read with Pillow.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cmpcv.data.errors import DataError

__all__ = ["DECODERS", "FrameFolder", "decode_jpeg_pil", "decode_jpeg_torchvision", "frame_problems",
           "read_frame_files", "read_image", "write_jpeg_frames"]

DECODERS = ("auto", "torchvision", "pillow")
JPEG_SUFFIXES = (".jpg", ".jpeg", ".JPG", ".JPEG")

Select = Callable[[int], Sequence[int]]


def decode_jpeg_pil(path: str | os.PathLike) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB of an image file, decoded by Pillow (what MTTR and ReferFormer use)."""
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def decode_jpeg_torchvision(path: str | os.PathLike) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB of a JPEG file, decoded by ``torchvision.io.decode_jpeg``.

    Grey-scale and CMYK JPEGs are converted to RGB. Raises ``RuntimeError`` for a file that is not
    a complete JPEG (truncated, empty, another format).
    """
    from torchvision.io import ImageReadMode, decode_jpeg, read_file

    with warnings.catch_warnings():
        # torchvision 0.29 announces that its image decoders will move to TorchCodec, once per
        # call site; the project pins torchvision < 0.30, where decode_jpeg is present.
        warnings.filterwarnings("ignore", message=".*image decoding and encoding capabilities of TorchVision.*")
        chw = decode_jpeg(read_file(str(path)), mode=ImageReadMode.RGB)
    return chw.permute(1, 2, 0).numpy()


def read_image(path: str | os.PathLike, decoder: str = "auto") -> np.ndarray:
    """One frame file as ``(H, W, 3)`` uint8 RGB; a :class:`DataError` naming the file when it is
    missing or cannot be decoded."""
    if decoder not in DECODERS:
        raise ValueError(f"unknown image decoder {decoder!r}; expected one of {DECODERS}")
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "frame image not found")
    errors = []
    if path.suffix in JPEG_SUFFIXES and decoder in ("auto", "torchvision"):
        try:
            return decode_jpeg_torchvision(path)
        except Exception as exc:  # noqa: BLE001 - torchvision reports every bad file as RuntimeError
            errors.append(f"decode_jpeg: {str(exc).splitlines()[-1].split(', ')[-1]}")
            if decoder == "torchvision":
                raise DataError(path, f"could not decode the frame image ({errors[0]})") from None
    try:
        return decode_jpeg_pil(path)
    except Exception as exc:  # noqa: BLE001 - Pillow raises several types for corrupt files
        errors.append(f"Pillow: {type(exc).__name__}: {exc}")
    raise DataError(path, f"could not decode the frame image ({'; '.join(errors)})")


def read_frame_files(paths: Sequence[str | os.PathLike], decoder: str = "auto") -> np.ndarray:
    """Frame files as ``(T, H, W, 3)`` uint8 RGB, in the order given; a repeated file is decoded once."""
    cache: dict[str, np.ndarray] = {}
    out = []
    for p in paths:
        key = str(p)
        if key not in cache:
            cache[key] = read_image(key, decoder)
        out.append(cache[key])
    if not out:
        raise ValueError("read_frame_files: no frame files given")
    shapes = {a.shape for a in out}
    if len(shapes) > 1:
        sizes = sorted(f"{s[0]}x{s[1]}" for s in shapes)
        raise DataError(Path(str(paths[0])).parent, f"frame images of one video differ in size (H x W): {sizes}")
    return np.stack(out)


@dataclass(frozen=True)
class FrameFolder:
    """One video as a folder of frame files: ``folder/<name><suffix>`` for each name, in order.

    Frame ``k`` (0-based) of the video is ``names[k]``; for Ref-YouTube-VOS the names are the
    meta file's ``frames`` list (``"00000", "00005", ...``), so clip indices count stored frames,
    not source-video frames.
    """

    folder: Path
    names: tuple[str, ...]
    suffix: str = ".jpg"

    @classmethod
    def listing(cls, folder: str | os.PathLike, suffix: str = ".jpg") -> FrameFolder:
        """The frames found in ``folder`` (files ending in ``suffix``), sorted by name."""
        folder = Path(folder)
        try:
            names = sorted(n[: -len(suffix)] for n in os.listdir(folder) if n.endswith(suffix) and not n.startswith("."))
        except FileNotFoundError:
            raise DataError(folder, "frame folder not found") from None
        except NotADirectoryError:
            raise DataError(folder, "expected a frame folder, found a file") from None
        if not names:
            raise DataError(folder, f"frame folder holds no {suffix} files")
        return cls(folder, tuple(names), suffix)

    def __len__(self) -> int:
        return len(self.names)

    def path(self, k: int) -> Path:
        """The file of 0-based frame ``k``."""
        return self.folder / f"{self.names[k]}{self.suffix}"

    def position(self, name: str) -> int:
        """0-based index of the frame called ``name``; a :class:`DataError` when it is not listed."""
        try:
            return self.names.index(name)
        except ValueError:
            raise DataError(self.folder / f"{name}{self.suffix}", f"frame {name!r} is not among the video's "
                            f"{len(self.names)} frames") from None

    def missing(self) -> list[str]:
        """Names whose file does not exist (one directory listing, not one stat per frame)."""
        try:
            present = set(os.listdir(self.folder))
        except OSError:
            return list(self.names)
        return [n for n in self.names if f"{n}{self.suffix}" not in present]

    def read(self, indices: Sequence[int] | Select, decoder: str = "auto") -> tuple[np.ndarray, list[int]]:
        """Decode the frames at 0-based ``indices`` (or ``indices(len(self))``), never the others.

        Same contract as :func:`cmpcv.data.video.read_video_frames`: returns
        ``(frames (len(indices), H, W, 3) uint8 RGB, indices)``; raises :class:`DataError` naming
        the file for a missing or corrupt frame and the folder for indices outside the video.
        """
        n = len(self.names)
        try:
            idx = [int(i) for i in (indices(n) if callable(indices) else indices)]
        except ValueError as exc:
            raise DataError(self.folder, str(exc)) from None
        if not idx:
            raise DataError(self.folder, "no frame indices requested")
        bad = [i for i in idx if not 0 <= i < n]
        if bad:
            raise DataError(self.folder, f"frames {bad} requested from a video of {n} frames")
        return read_frame_files([self.path(i) for i in idx], decoder), idx


def frame_problems(video: FrameFolder, decode: bool = False) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """``(size (H, W) of each readable frame, one line per problem)`` of a video's listed frames:
    missing files, files whose header (or, with ``decode``, whose whole image) cannot be read,
    frames of different sizes. For dataset checks: nothing is decoded unless ``decode``."""
    from PIL import Image

    sizes: dict[str, tuple[int, int]] = {}
    problems = []
    missing = set(video.missing())
    for k, name in enumerate(video.names):
        path = video.path(k)
        if name in missing:
            problems.append(f"{path}: listed frame not found")
            continue
        try:
            if decode:
                sizes[name] = read_image(path).shape[:2]
            else:
                with Image.open(path) as img:
                    sizes[name] = (img.height, img.width)
        except DataError as exc:
            problems.append(str(exc))
        except Exception as exc:  # noqa: BLE001 - Pillow raises several types for corrupt files
            problems.append(f"{path}: could not read the frame header: {type(exc).__name__}: {exc}")
    if len(set(sizes.values())) > 1:
        shown = sorted(f"{h}x{w}" for h, w in set(sizes.values()))
        problems.append(f"{video.folder}: frames differ in size (H x W): {shown}")
    return sizes, problems


def write_jpeg_frames(folder: str | os.PathLike, frames: np.ndarray, names: Sequence[str], *, quality: int = 90,
                      suffix: str = ".jpg") -> None:
    """Write ``frames (T, H, W, 3)`` uint8 RGB as ``folder/<name><suffix>`` JPEGs (Pillow, 4:2:0), each atomically."""
    from PIL import Image

    from cmpcv.data.atomic import atomic_path

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"{folder}: expected frames of shape (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    if len(names) != len(frames):
        raise ValueError(f"{folder}: {len(frames)} frames but {len(names)} names")
    for name, frame in zip(names, frames):
        with atomic_path(Path(folder) / f"{name}{suffix}") as tmp:
            Image.fromarray(np.ascontiguousarray(frame)).save(tmp, format="JPEG", quality=int(quality))
