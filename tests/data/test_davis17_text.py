"""The Ref-DAVIS17 text annotations (cmpcv.data.davis17.expressions) on files written in the MPI format."""
from __future__ import annotations

import pytest

from cmpcv.data.davis17.expressions import (
    EXPRESSION_SETS, build_expression_videos, expression_set, read_text_file, text_paths, write_text_file,
)
from cmpcv.data.errors import DataError


def write_four(folder, rows_per_set):
    for s, (path, rows) in enumerate(zip(text_paths(folder), rows_per_set)):
        write_text_file(path, rows, encoding="latin-1" if s >= 2 else "utf-8")
    return [read_text_file(p) for p in text_paths(folder)]


def test_misspelled_videos_are_mapped_and_listed(tmp_path):
    path = tmp_path / "Davis17_annot1.txt"
    path.write_text('clasic-car 1 "a red car"\ndog-scale 2 "the small dog"\nmotor-bike 1 "a man on a motorbike"\n'
                    'motorbike 2 "a second rider"\n')
    f = read_text_file(path)
    assert [(ln.video, ln.obj_id, ln.text) for ln in f.lines] == [
        ("classic-car", 1, "a red car"), ("dogs-scale", 2, "the small dog"),
        ("motorbike", 1, "a man on a motorbike"), ("motorbike", 2, "a second rider")]
    assert f.renamed == (f"{path}: line 1: video 'clasic-car' read as 'classic-car'",
                         f"{path}: line 2: video 'dog-scale' read as 'dogs-scale'",
                         f"{path}: line 3: video 'motor-bike' read as 'motorbike'")


def test_latin1_files_and_malformed_lines(tmp_path):
    path = tmp_path / "Davis17_annot2.txt"
    path.write_bytes('bmx-trees 1 "a man in a caf\xe9 shirt"\n\nbmx-trees x "bad id"\nbmx-trees\n'
                     'bmx-trees 2 ""\nbmx-trees 3 unquoted words\n'.encode("latin-1"))
    f = read_text_file(path)
    assert [(ln.obj_id, ln.text, ln.line) for ln in f.lines] == [(1, "a man in a caf\xe9 shirt", 1),
                                                                 (3, "unquoted words", 6)]
    assert len(f.problems) == 3
    assert f"{path}: line 3: object id must be a positive integer, got 'x'" in f.problems
    assert any("line 4: expected '<video> <object id>" in p for p in f.problems)
    assert any("line 5: empty expression for bmx-trees object 2" in p for p in f.problems)
    with pytest.raises(DataError, match="Ref-DAVIS17 text annotation file not found"):
        read_text_file(tmp_path / "none.txt")


def test_expression_ids_follow_object_then_set(tmp_path):
    rows = [[("gold-fish", o, f"fish {o} set {s}") for o in (10, 2, 1)] for s in range(4)]
    rows[3] = rows[3][1:]  # no annot2-full expression for object 10
    rows[0].append(("gold-fish", 2, "a repeated line"))
    files = write_four(tmp_path, rows)
    videos, problems = build_expression_videos(files, {"gold-fish": ("00000", "00001")})
    v = videos["gold-fish"]
    # objects in numeric order 1, 2, 10 -> k = 0, 1, 2; ids 4k + s
    assert v.expressions["0"].text == "fish 1 set 0" and v.expressions["3"].text == "fish 1 set 3"
    assert v.expressions["5"].obj_ids == (2,) and v.expressions["5"].text == "fish 2 set 1"
    assert v.expressions["8"].obj_ids == (10,) and "11" not in v.expressions
    assert [expression_set(e) for e in ("0", "5", "10")] == [0, 1, 2]
    assert v.expression_ids() == ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]
    assert len(problems) == 2 and "is described again (line 2 is kept)" in problems[0]
    assert "no expression for gold-fish object 10 (set annot2_full)" in problems[1]
    only_first = build_expression_videos(files, {"gold-fish": ("00000",)}, sets=[0])[0]["gold-fish"]
    assert only_first.expression_ids() == ["0", "4", "8"]
    assert [name for name, _ in EXPRESSION_SETS] == ["annot1_first", "annot1_full", "annot2_first", "annot2_full"]
