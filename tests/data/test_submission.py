"""Benchmark outputs: submission zips (Ref-YouTube-VOS, MeViS) and the Ref-DAVIS17 object merge."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from cmpcv.data.errors import DataError
from cmpcv.data.submission import (
    YTVOS_PREFIX,
    check_zip,
    expected_entries,
    merge_objects,
    write_mask_png,
    zip_results,
)

VIDEOS = {"vidA": (["00000", "00005", "00010"], ["0", "1"]), "vidB": (["00000", "00005"], ["0", "1", "2"])}


def _results(folder, videos=VIDEOS, skip=None):
    rng = np.random.default_rng(0)
    for vid, (frames, exps) in videos.items():
        for exp in exps:
            for frame in frames:
                if (vid, exp, frame) != skip:
                    write_mask_png(folder / vid / exp / f"{frame}.png", rng.random((6, 8)) > 0.5)


def test_merge_objects_by_hand():
    # Pixels: both objects sure -> the higher; both below 0.5 -> background; one at exactly 0.5
    # (kept); the background's 0.1 beats nothing; a tie goes to the lower label.
    probs = np.array([[[0.6, 0.4, 0.5, 0.0, 0.7]],
                      [[0.7, 0.3, 0.2, 0.0, 0.7]]], dtype=np.float32)
    assert merge_objects(probs).tolist() == [[2, 0, 1, 0, 1]]
    # A probability above the threshold but below the background cannot occur with 0.1 < 0.5;
    # with another background it can: 0.55 < 0.6 -> background.
    assert merge_objects(probs, background=0.65).tolist() == [[2, 0, 0, 0, 1]]
    assert merge_objects(np.zeros((0, 2, 2))).tolist() == [[0, 0], [0, 0]]
    with pytest.raises(ValueError, match="objects, H, W"):
        merge_objects(np.zeros((2, 2)))


def test_ytvos_zip_is_complete_binary_and_under_annotations(tmp_path):
    _results(tmp_path / "res")
    expected = expected_entries(VIDEOS, YTVOS_PREFIX)
    assert len(expected) == 3 * 2 + 2 * 3
    out = zip_results(tmp_path / "res", tmp_path / "sub" / "submission.zip", expected, prefix=YTVOS_PREFIX)
    assert check_zip(out, expected) == []
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        assert sorted(names) == sorted(expected) and all(n.startswith("Annotations/vid") for n in names)
        img = Image.open(io.BytesIO(zf.read("Annotations/vidB/2/00005.png")))
        assert img.format == "PNG" and img.mode == "L" and img.size == (8, 6)
        assert set(np.unique(np.array(img)).tolist()) == {0, 255}
    # MeViS: the video folders at the root.
    mevis = zip_results(tmp_path / "res", tmp_path / "mevis.zip", expected_entries(VIDEOS))
    with zipfile.ZipFile(mevis) as zf:
        assert sorted(zf.namelist()) == sorted(expected_entries(VIDEOS))


def test_incomplete_results_write_nothing(tmp_path):
    _results(tmp_path / "res", skip=("vidB", "2", "00005"))
    target = tmp_path / "submission.zip"
    target.write_bytes(b"an older zip")
    with pytest.raises(DataError, match=r"1 of the 12 expected masks are missing, e.g. Annotations/vidB/2/00005.png"):
        zip_results(tmp_path / "res", target, expected_entries(VIDEOS, YTVOS_PREFIX), prefix=YTVOS_PREFIX)
    assert target.read_bytes() == b"an older zip"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp")] == []


def test_check_zip_names_every_kind_of_problem(tmp_path):
    expected = expected_entries(VIDEOS, YTVOS_PREFIX)
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        for name in expected[2:]:  # the first is missing, the second comes below
            buf = io.BytesIO()
            Image.fromarray(np.full((6, 8), 255, np.uint8)).save(buf, format="PNG")
            zf.writestr(name, buf.getvalue())
        buf = io.BytesIO()
        Image.fromarray(np.full((6, 8), 1, np.uint8)).save(buf, format="PNG")  # a 0/1 mask
        zf.writestr(expected[1], buf.getvalue())
        zf.writestr("Annotations/vidC/0/00000.png", b"\x89PNG not really")
    problems = check_zip(bad, expected)
    text = "\n".join(problems)
    assert "1 of the 12 expected masks are missing, e.g. Annotations/vidA/0/00000.png" in text
    assert "1 entries are not in the annotation file's listing, e.g. Annotations/vidC/0/00000.png" in text
    assert f"{expected[1]}: values [1] (expected only 0 and 255)" in text
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(bad.read_bytes()[:100])
    assert "not a zip file" in check_zip(truncated, expected)[0]
    assert check_zip(tmp_path / "none.zip", expected) == [f"{tmp_path / 'none.zip'}: zip not found"]
