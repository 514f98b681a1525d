"""Training on the fixture trees of the JPEG-folder benchmarks (tiny model, CPU): the loss falls,
and a resumed run equals a straight one, as on A2D (test_trainer.py)."""

from __future__ import annotations

import itertools

import pytest

from cmpcv.engine.checkpoint import load_checkpoint
from cmpcv.engine.trainer import Trainer
from cmpcv.train import run

DATASETS = ["ytvos_fixture"]


@pytest.fixture
def fixture_root(request):
    """The session fixture tree of a dataset config (``ytvos_fixture`` -> ``ytvos_fixture_root``)."""
    return lambda dataset: request.getfixturevalue(f"{dataset.removesuffix('_fixture')}_fixture_root")


@pytest.mark.parametrize("dataset", DATASETS)
def test_a_few_steps_lower_the_loss(compose_train_on, fixture_root, dataset, tmp_path):
    cfg = compose_train_on(dataset, fixture_root(dataset), "trainer.batch_size=2", "optim.lr=3e-3",
                           "loss.reduction=mean")
    trainer = Trainer(cfg, tmp_path)
    trainer._build_data(None)
    trainer._build_model(fresh=True)
    trainer.step, trainer.epoch = 0, 0
    batch = next(iter(trainer.loader))
    losses = [trainer._train_step(itertools.repeat(batch))[0] for _ in range(8)]
    assert losses[-1] < 0.7 * losses[0], losses


@pytest.mark.parametrize("dataset", DATASETS)
def test_resume_equals_straight_run(compose_train_on, fixture_root, dataset, tmp_path):
    root = fixture_root(dataset)
    common = ("trainer.accumulate=2", "trainer.max_steps=4", "dataset.flip_prob=0.5")
    straight = run(compose_train_on(dataset, root, *common), tmp_path / "straight")
    first = run(compose_train_on(dataset, root, "trainer.accumulate=2", "trainer.max_steps=2",
                                 "dataset.flip_prob=0.5"), tmp_path / "resumed")
    assert first.step == 2
    resumed = run(compose_train_on(dataset, root, *common), tmp_path / "resumed")  # trainer.resume=auto
    a, b = load_checkpoint(straight.checkpoint), load_checkpoint(resumed.checkpoint)
    assert a["step"] == b["step"] == 4 and a["data"] == b["data"]
    worst = max((a["model"][k].double() - b["model"][k].double()).abs().max().item() for k in a["model"])
    assert worst <= 1e-6, worst


def test_server_scored_splits_turn_validation_and_test_off(compose_train_on, ytvos_fixture_root, tmp_path, caplog):
    cfg = compose_train_on("ytvos_fixture", ytvos_fixture_root, "trainer.max_steps=1", "trainer.val_every=1",
                           "trainer.test_at_end=true")
    result = run(cfg, tmp_path)
    assert result.step == 1 and result.metrics == {}
    assert "has no public ground truth: validation is off" in caplog.text
    assert "has no public ground truth (server-scored): nothing scored" in caplog.text
