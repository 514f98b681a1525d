"""Decoding damaged videos: one clear error, no decoder noise ahead of it, every frame on request."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from cmpcv.data.errors import DataError
from cmpcv.data.video import decode_all, read_video_frames, video_info, write_mp4


def mdat_span(data: bytes) -> tuple[int, int]:
    """``(start, end)`` of the mp4's ``mdat`` payload (the coded frames), from its top-level boxes."""
    offset = 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if kind == b"mdat":
            return offset + 8, offset + size
        offset += size
    raise AssertionError("no mdat box")


def corrupt_frames(src: Path, dst: Path, lo: float, hi: float) -> Path:
    """A copy of ``src`` whose coded frames are overwritten between fractions ``lo`` and ``hi`` of
    the ``mdat`` payload; the header (``moov``) is intact, so the file opens and lists its frames."""
    data = bytearray(src.read_bytes())
    start, end = mdat_span(data)
    data[start + int((end - start) * lo): start + int((end - start) * hi)] = b"\x55" * (
        int((end - start) * hi) - int((end - start) * lo))
    dst.write_bytes(bytes(data))
    return dst


@pytest.fixture(scope="module")
def noisy_video(tmp_path_factory) -> Path:
    """60 frames of noise (large packets), 64x48, moov at the end as write_mp4 puts it."""
    frames = (np.random.default_rng(0).random((60, 48, 64, 3)) * 255).astype(np.uint8)
    path = tmp_path_factory.mktemp("video") / "noise.mp4"
    write_mp4(path, frames, fps=25.0)
    return path


def test_no_decoder_noise_before_the_error(tmp_path, capfd):
    """decord and FFmpeg write straight to file descriptor 2 ("moov atom not found", "ERROR
    opening"): nothing of it may reach the terminal, and the error is one line without decord's
    timestamps and source paths."""
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"not a video at all " * 20)
    capfd.readouterr()
    with pytest.raises(DataError) as info:
        read_video_frames(path, [0, 1])
    with pytest.raises(DataError, match="could not open the video"):
        video_info(path)
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""
    message = str(info.value)
    assert message.startswith(f"{path}: could not decode the video (decord: ")
    assert "\n" not in message and "/github/" not in message and "video_reader.cc" not in message


def test_truncated_video_names_the_missing_frames_as_a_range(tmp_path, noisy_video):
    """A file cut short whose header lists all its frames (the header first, as for streaming):
    the frames that cannot be decoded are one range, not a list of some 50 numbers."""
    import av

    frames = (np.random.default_rng(1).random((60, 48, 64, 3)) * 255).astype(np.uint8)
    full = tmp_path / "faststart.mp4"
    with av.open(str(full), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 10])
    assert video_info(cut)[0] == 60  # the header still lists every frame
    with pytest.raises(DataError) as info:
        read_video_frames(cut, lambda n: range(n), backend="pyav")
    message = str(info.value)
    first_missing = int(message.split("frames ")[1].split("-")[0])
    assert f"frames {first_missing}-59 ({60 - first_missing} of the 60 needed) are listed in the container but " \
           "could not be decoded (is the file truncated?)" in message
    assert len(message) < 400
    with pytest.raises(DataError, match=r"cut.mp4: the data of frame \d+ \(0-based, in stored order\) could not be "
                                        r"decoded .*; \d+ frame\(s\) decoded before it"):
        decode_all(cut)


def test_decode_all_finds_damage_past_the_first_frames(tmp_path, noisy_video):
    """The header check (video_info) and a clip near the start read fine; decoding every frame
    finds the damaged frames in the second half."""
    damaged = corrupt_frames(noisy_video, tmp_path / "damaged.mp4", 0.6, 0.7)
    assert video_info(damaged) == (60, 48, 64)
    assert read_video_frames(damaged, [0, 1, 2])[0].shape == (3, 48, 64, 3)
    assert decode_all(noisy_video) == 60
    with pytest.raises(DataError) as info:
        decode_all(damaged)
    message = str(info.value)
    frame = int(message.split("the data of frame ")[1].split(" ")[0])
    assert 24 <= frame <= 44, message  # in the overwritten span, not at the start
