"""The JPEG-folder video source (cmpcv.data.frame_folder) on real JPEG files written here."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cmpcv.data import frame_folder
from cmpcv.data.errors import DataError
from cmpcv.data.fixtures import fixture_frames, frame_level
from cmpcv.data.frame_folder import FrameFolder, read_frame_files, read_image
from tests.data.conftest import levels_to_indices


def write_jpeg_folder(folder: Path, n: int, size=(24, 40), step: int = 5) -> list[str]:
    """``n`` flat JPEG frames named like Ref-YouTube-VOS (00000, 00005, ...); frame k has level frame_level(k)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"{step * k:05d}" for k in range(n)]
    for name, frame in zip(names, fixture_frames(n, size)):
        Image.fromarray(frame).save(folder / f"{name}.jpg", quality=95)
    return names


def test_listing_sorted_and_reads_only_requested(tmp_path, monkeypatch):
    names = write_jpeg_folder(tmp_path / "vid", 12)
    (tmp_path / "vid" / ".hidden.jpg").write_bytes(b"")
    (tmp_path / "vid" / "notes.txt").write_text("x")
    video = FrameFolder.listing(tmp_path / "vid")
    assert video.names == tuple(names) and len(video) == 12
    decoded = []
    real = frame_folder.decode_jpeg_torchvision
    monkeypatch.setattr(frame_folder, "decode_jpeg_torchvision", lambda p: decoded.append(Path(p).stem) or real(p))
    frames, idx = video.read([0, 0, 3, 11, 11])
    assert idx == [0, 0, 3, 11, 11]
    assert frames.shape == (5, 24, 40, 3) and frames.dtype == np.uint8
    assert levels_to_indices(frames[:, 12, 20, 1]) == [0, 0, 3, 11, 11]
    assert decoded == ["00000", "00015", "00055"]  # each distinct file once, nothing else


def test_select_function_gets_the_frame_count(tmp_path):
    write_jpeg_folder(tmp_path / "v", 7)
    seen = []
    frames, idx = FrameFolder.listing(tmp_path / "v").read(lambda n: seen.append(n) or [n - 1, n - 1])
    assert seen == [7] and idx == [6, 6]
    assert levels_to_indices(frames[:, 0, 0, 0]) == [6, 6]


def test_decoders_agree_on_real_content(tmp_path):
    rng = np.random.default_rng(0)
    img = (rng.random((37, 53, 3)) * 255).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "a.jpg", quality=85)
    Image.fromarray(img[:, :, 0]).save(tmp_path / "grey.jpg")
    for name in ("a.jpg", "grey.jpg"):
        a = read_image(tmp_path / name, "pillow")
        b = read_image(tmp_path / name, "torchvision")
        assert a.shape == b.shape and a.shape[2] == 3
        np.testing.assert_array_equal(a, b)


def test_missing_frame_names_the_file(tmp_path):
    write_jpeg_folder(tmp_path / "v", 4)
    video = FrameFolder.listing(tmp_path / "v")
    (tmp_path / "v" / "00010.jpg").unlink()
    assert video.missing() == ["00010"]
    with pytest.raises(DataError, match=r"00010\.jpg: frame image not found"):
        video.read([1, 2])
    video.read([0, 1, 3])  # the other frames still read


@pytest.mark.parametrize("decoder", ["auto", "torchvision", "pillow"])
def test_truncated_or_foreign_jpeg_is_a_data_error(tmp_path, decoder):
    write_jpeg_folder(tmp_path / "v", 2, size=(64, 96))
    good = (tmp_path / "v" / "00000.jpg").read_bytes()
    (tmp_path / "v" / "00005.jpg").write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match=r"00005\.jpg: could not decode the frame image"):
        FrameFolder.listing(tmp_path / "v").read([1], decoder=decoder)
    (tmp_path / "v" / "00005.jpg").write_bytes(b"")
    with pytest.raises(DataError, match=r"00005\.jpg: could not decode"):
        FrameFolder.listing(tmp_path / "v").read([1], decoder=decoder)


def test_auto_falls_back_to_pillow_for_a_png_named_jpg(tmp_path):
    frame = fixture_frames(3, (8, 10))[2]
    Image.fromarray(frame).save(tmp_path / "00000.jpg", format="PNG")
    np.testing.assert_array_equal(read_image(tmp_path / "00000.jpg", "auto"), frame)
    with pytest.raises(DataError, match="decode_jpeg: Not a JPEG file"):
        read_image(tmp_path / "00000.jpg", "torchvision")


def test_sizes_differ_and_bad_indices(tmp_path):
    write_jpeg_folder(tmp_path / "v", 3)
    Image.fromarray(fixture_frames(1, (24, 41))[0]).save(tmp_path / "v" / "00010.jpg")
    video = FrameFolder.listing(tmp_path / "v")
    with pytest.raises(DataError, match=r"differ in size .*24x40.*24x41"):
        video.read([0, 2])
    with pytest.raises(DataError, match=r"frames \[3\] requested from a video of 3 frames"):
        video.read([0, 3])
    with pytest.raises(DataError, match="no frame indices"):
        video.read([])
    with pytest.raises(ValueError, match="unknown image decoder"):
        video.read([0], decoder="cv2")


def test_folder_problems(tmp_path):
    with pytest.raises(DataError, match="frame folder not found"):
        FrameFolder.listing(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"holds no \.jpg files"):
        FrameFolder.listing(tmp_path / "empty")
    video = FrameFolder(tmp_path / "empty", ("00000", "00005"))
    with pytest.raises(DataError, match=r"frame '00007' is not among the video's 2 frames"):
        video.position("00007")
    assert video.position("00005") == 1


def test_png_frames_through_the_same_reader(tmp_path):
    frames = fixture_frames(4, (10, 14))
    for k, f in enumerate(frames):
        Image.fromarray(f).save(tmp_path / f"{k + 1:05d}.png")
    video = FrameFolder.listing(tmp_path, suffix=".png")
    got, _ = video.read([3, 0])
    np.testing.assert_array_equal(got, frames[[3, 0]])
    assert read_frame_files([tmp_path / "00002.png"])[0, 0, 0, 0] == frame_level(1)
