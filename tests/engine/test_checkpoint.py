import random

import numpy as np
import pytest
import torch

from cmpcv.engine.checkpoint import (
    atomic_torch_save,
    capture_rng,
    load_checkpoint,
    preserve_rng,
    resolve_resume,
    restore_rng,
)


def _draw():
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_rng_round_trip_through_a_safe_load(tmp_path):
    state = capture_rng()
    expected = _draw()
    path = atomic_torch_save({"model": {"w": torch.ones(2)}, "rng": state}, tmp_path / "c" / "last.pt")
    _draw()
    restore_rng(load_checkpoint(path)["rng"])  # weights_only=True load
    assert _draw() == expected
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temp file left


def test_preserve_rng_leaves_generators_untouched():
    state = capture_rng()
    with preserve_rng():
        _draw()
    after = _draw()
    restore_rng(state)
    assert after == _draw()


def test_failed_write_keeps_previous_file(tmp_path):
    path = atomic_torch_save({"model": {"v": torch.zeros(1)}}, tmp_path / "last.pt")

    class Boom:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_torch_save({"model": Boom()}, path)
    assert load_checkpoint(path)["model"]["v"].item() == 0.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_resume_policy(tmp_path):
    assert resolve_resume("auto", tmp_path) is None
    atomic_torch_save({"model": {}}, tmp_path / "last.pt")
    assert resolve_resume("auto", tmp_path) == tmp_path / "last.pt"
    assert resolve_resume("never", tmp_path) is None
    assert resolve_resume(str(tmp_path / "last.pt"), "/nowhere") == tmp_path / "last.pt"
    with pytest.raises(FileNotFoundError, match="trainer.resume"):
        resolve_resume(str(tmp_path / "missing.pt"), tmp_path)
    (tmp_path / "bad.pt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="bad.pt"):
        load_checkpoint(tmp_path / "bad.pt")
