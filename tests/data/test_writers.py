"""The writers produce the released formats byte for byte where it matters."""
from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

from cmpcv.data import video
from cmpcv.data.a2d import format as a2d_format
from cmpcv.data.jhmdb import format as jhmdb_format
from cmpcv.data.atomic import atomic_write_bytes, current_umask


def test_a2d_h5_layout_is_transposed_like_matlab(tmp_path):
    masks = np.zeros((3, 4, 6), np.uint8)
    masks[0, 1, 2] = masks[1, 3, 5] = masks[2, 0, 0] = 1
    a2d_format.write_a2d_h5(tmp_path / "m.h5", masks, [4, 7])  # a surplus mask at the end
    with h5py.File(tmp_path / "m.h5") as f:
        assert f["reMask"].shape == (3, 6, 4) and f["reMask"].dtype == np.uint8
        assert f["reMask"][0][2, 1] == 1 and f["reMask"][1][5, 3] == 1
        assert f["instance"].dtype == np.float64 and list(f["instance"][:]) == [4.0, 7.0]
        assert f["reBBox"].shape == (4, 3) and list(f["reBBox"][:, 1]) == [5, 3, 5, 3]
        assert f["id"].shape == (1, 3)
    a2d_format.write_a2d_h5(tmp_path / "s.h5", masks[:1], [0])
    with h5py.File(tmp_path / "s.h5") as f:
        assert f["reMask"].shape == (6, 4)  # a single instance is stored (W, H)


def test_a2d_h5_rejects_more_ids_than_masks(tmp_path):
    with pytest.raises(ValueError, match="instance ids"):
        a2d_format.write_a2d_h5(tmp_path / "m.h5", np.zeros((1, 4, 4), np.uint8), [0, 1])


def test_text_files(tmp_path):
    a2d_format.write_missed_videos(tmp_path / "missed.txt", ["a", "b"])
    assert (tmp_path / "missed.txt").read_bytes() == b"a\nb"  # no trailing newline, as released
    a2d_format.write_videoset_csv(tmp_path / "v.csv", [dict(vid="x", subset=1, height=48, width=64, total_frames=9)])
    (line,) = (tmp_path / "v.csv").read_text().splitlines()
    cols = line.split(",")
    assert len(cols) == 9 and cols[0] == "x" and cols[-1] == "1" and cols[4:7] == ["48", "64", "9"]
    a2d_format.write_a2d_annotation(tmp_path / "a.txt", [("x", "1 (copy)", "a cat")])
    assert (tmp_path / "a.txt").read_text() == "video_id,instance_id,query\nx,1 (copy),a cat\n"
    with pytest.raises(ValueError, match="comma"):
        jhmdb_format.write_jhmdb_annotation(tmp_path / "j.txt", [("x", "a, b")])
    with pytest.raises(ValueError, match="subset"):
        a2d_format.write_videoset_csv(tmp_path / "v.csv", [dict(vid="x", subset=2, height=1, width=1, total_frames=1)])


def test_puppet_mask_and_pngs(tmp_path):
    masks = np.random.default_rng(0).integers(0, 2, (5, 6, 8)).astype(np.uint8)
    jhmdb_format.write_puppet_mask(tmp_path / "puppet_mask.mat", masks)
    stored = scipy.io.loadmat(tmp_path / "puppet_mask.mat")["part_mask"]
    assert stored.shape == (6, 8, 5) and np.array_equal(stored[:, :, 3], masks[3])
    video.write_png_frames(tmp_path / "png", np.zeros((3, 6, 8, 3), np.uint8))
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == ["00001.png", "00002.png", "00003.png"]


def test_mp4_needs_even_sides_and_leaves_no_temp_file(tmp_path):
    with pytest.raises(ValueError, match="even"):
        video.write_mp4(tmp_path / "v.mp4", np.zeros((2, 7, 8, 3), np.uint8))
    video.write_mp4(tmp_path / "v.mp4", np.zeros((3, 8, 8, 3), np.uint8))
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]


def test_umask_is_read_without_being_set_and_threaded_writes_keep_it(tmp_path, monkeypatch):
    old = os.umask(0o077)
    try:
        if Path("/proc/self/status").is_file():  # Linux: read from /proc, never set
            def no_set(mask):
                raise AssertionError("current_umask() changed the process's umask to read it")

            with monkeypatch.context() as m:
                m.setattr(os, "umask", no_set)
                assert current_umask() == 0o077

        # The shapes set writes from several threads at once: every file gets the mode a plain
        # open() would give under this umask, and the umask is the same afterwards.
        def write(k: int) -> None:
            for i in range(40):
                atomic_write_bytes(tmp_path / f"{k}_{i}.bin", b"x")

        threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        modes = {stat.S_IMODE(p.stat().st_mode) for p in tmp_path.glob("*.bin")}
        assert modes == {0o600}
        assert current_umask() == 0o077
    finally:
        os.umask(old)
