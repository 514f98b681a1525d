"""Training on the fixture trees of the JPEG-folder benchmarks (tiny model, CPU): the loss falls,
and a resumed run equals a straight one, as on A2D (test_trainer.py)."""

from __future__ import annotations

import itertools
import logging

import pytest
import torch

from cmpcv.engine.checkpoint import load_checkpoint
from cmpcv.engine.trainer import Trainer
from cmpcv.train import run

DATASETS = ["ytvos_fixture", "davis17_fixture", "mevis_fixture"]


@pytest.fixture
def fixture_root(request):
    """The fixture tree of a dataset config (``ytvos_fixture`` -> ``ytvos_fixture_root``)."""
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


def test_fine_tuning_from_an_a2d_run_carries_weights_and_shared_word_rows(
        compose_train, compose_train_on, ytvos_fixture_root, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="cmpcv.engine.trainer")
    a2d = run(compose_train("trainer.max_steps=2"), tmp_path / "a2d")
    src = load_checkpoint(a2d.checkpoint)
    cfg = compose_train_on("ytvos_fixture", ytvos_fixture_root, f"+trainer.init_from={a2d.checkpoint}",
                           "trainer.max_steps=1")
    trainer = Trainer(cfg, tmp_path / "ytvos")
    trainer._build_data(None)
    trainer._build_model(fresh=True)
    fresh = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer._init_from(a2d.checkpoint)
    now = trainer.model.state_dict()
    key = "language.embedding.weight"
    old_words, new_words = src["vocab"]["itos"], trainer.vocab.itos
    shared = [w for w in new_words if w in old_words]
    assert {"the", "on", "left", "right"} <= set(shared) and len(shared) < len(new_words)
    for i, w in enumerate(new_words):
        expected = src["model"][key][old_words.index(w)] if w in old_words else fresh[key][i]
        assert torch.equal(now[key][i], expected), w
    assert all(torch.equal(now[k], src["model"][k]) for k in now if k != key)
    assert f"{len(shared)} of {len(new_words)} words keep their trained embedding" in caplog.text
    result = run(cfg, tmp_path / "ytvos-run")  # the whole run starts from it, at step 0
    assert result.step == 1


def test_init_from_a_different_model_names_the_mismatch(compose_train, compose_train_on, ytvos_fixture_root, tmp_path):
    a2d = run(compose_train("trainer.max_steps=1", "backbone=tiny3d"), tmp_path / "a2d")
    cfg = compose_train_on("ytvos_fixture", ytvos_fixture_root, f"+trainer.init_from={a2d.checkpoint}",
                           "trainer.max_steps=1")
    with pytest.raises(Exception, match=r"weights from trainer.init_from=.* do not fit"):
        run(cfg, tmp_path / "ytvos")


@pytest.mark.parametrize("experiment", ["cmpcv_i3d_ytvos", "cmpcv_i3d_ytvos_from_a2d", "cmpcv_i3d_mevis"])
def test_experiments_compose_and_read_the_fixture(experiment, request):
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from omegaconf import OmegaConf
    from omegaconf.errors import MissingMandatoryValue

    from tests.engine.conftest import CONF

    mevis = experiment.endswith("mevis")
    root = request.getfixturevalue("mevis_fixture_root" if mevis else "ytvos_fixture_root")
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={experiment}", f"dataset.root={root}",
                                          "dataset.cache_dir=false"])
    assert cfg.text.word_vectors == "required" and cfg.optim.bias_lr_mult == 1.0  # as experiment=cmpcv_i3d_a2d
    train = instantiate(cfg.dataset.train)
    assert len(train) == (17 if mevis else 34) and train.clip.num_frames == 8 and train.flip_prob == 0.5
    if mevis:  # valid_u has public masks: validated while training, predicted at the end
        assert cfg.trainer.val_every == 10000 and cfg.trainer.test_at_end and cfg.trainer.batch_size == 8
        assert instantiate(cfg.dataset.val).split == "valid_u" and not cfg.dataset.no_target
        return
    assert cfg.trainer.val_every == 0 and not cfg.trainer.test_at_end
    if experiment.endswith("from_a2d"):
        assert cfg.optim.lr == 1e-4 and cfg.trainer.max_steps == 120000
        with pytest.raises(MissingMandatoryValue):
            OmegaConf.to_container(cfg.trainer, resolve=True, throw_on_missing=True)
    else:
        assert "init_from" not in cfg.trainer and cfg.trainer.max_steps == 360000
