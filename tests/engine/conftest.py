"""Engine test helpers: compose ``conf/train.yaml`` in-process with tiny settings."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

CONF = Path(__file__).resolve().parents[2] / "conf"


def tiny_overrides(root: Path, dataset: str = "a2d_fixture") -> list[str]:
    """A fixture tree (default A2D), the small model with a tiny 2D backbone, CPU settings, no test pass."""
    return [
        f"dataset={dataset}",
        f"dataset.root={root}",
        "model=cmpcv_small",
        "backbone=tiny2d",
        "trainer=cpu",
        "trainer.batch_size=2",
        "trainer.eval_batch_size=4",
        "trainer.progress=false",
        "trainer.test_at_end=false",
        "trainer.val_every=0",
        "text.word_vectors=random",
        "optim.lr=1e-3",
        "optim.decay_steps=100",
        "trainer.checkpoint_every=1000",
    ]


@pytest.fixture
def compose_train(a2d_fixture_root: Path) -> Callable[..., object]:
    """``compose_train(*overrides)`` -> the composed run config (tiny defaults first)."""
    from hydra import compose, initialize_config_dir

    def _compose(*overrides: str):
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return compose("train", overrides=tiny_overrides(a2d_fixture_root) + list(overrides))

    return _compose


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: on the shared 2-core machine OpenMP's spin-waiting made a training
    step 10-30x slower with 2 threads (0.1 s vs 1-4 s measured) than with 1."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def compose_train_on() -> Callable[..., object]:
    """``compose_train_on(dataset, root, *overrides)``: the tiny run config on another fixture tree
    (``dataset=ytvos_fixture`` with the ``ytvos_fixture_root`` tree, ...)."""
    from hydra import compose, initialize_config_dir

    def _compose(dataset: str, root: Path, *overrides: str):
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return compose("train", overrides=tiny_overrides(root, dataset) + list(overrides))

    return _compose
