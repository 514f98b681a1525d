"""In-process training runs on the fixture A2D tree (tiny model, CPU, seconds each)."""

from __future__ import annotations

import itertools

import pytest
import torch

from cmpcv.cli import UserError
from cmpcv.engine.checkpoint import load_checkpoint
from cmpcv.engine.trainer import NonFiniteLossError, Trainer
from cmpcv.train import run


def _weights(path):
    return load_checkpoint(path)["model"]


def test_a_few_steps_lower_the_loss_on_a_fixed_batch(compose_train, tmp_path):
    cfg = compose_train("trainer.batch_size=2", "optim.lr=3e-3", "loss.reduction=mean")
    trainer = Trainer(cfg, tmp_path)
    trainer._build_data(None)
    trainer._build_model(fresh=True)
    trainer.step, trainer.epoch = 0, 0
    batch = next(iter(trainer.loader))
    losses = [trainer._train_step(itertools.repeat(batch))[0] for _ in range(8)]
    assert trainer.step == 8
    assert losses[-1] < 0.7 * losses[0], losses


def test_resume_equals_straight_run(compose_train, tmp_path):
    # 18 training samples, batch 2: 9 micro-batches per epoch; 6 steps x accumulate 2 = 12 cross the
    # epoch boundary, and the first run stops mid-epoch.
    common = ("trainer.accumulate=2", "trainer.max_steps=6")
    straight = run(compose_train(*common), tmp_path / "straight")
    assert straight.step == 6
    first = run(compose_train("trainer.accumulate=2", "trainer.max_steps=3"), tmp_path / "resumed")
    assert first.step == 3
    ck3 = load_checkpoint(first.checkpoint)
    assert ck3["step"] == 3 and ck3["data"] == {"epoch": 0, "index": 6}
    resumed = run(compose_train(*common), tmp_path / "resumed")  # trainer.resume=auto
    assert resumed.step == 6
    a, b = load_checkpoint(straight.checkpoint), load_checkpoint(resumed.checkpoint)
    assert a["data"] == b["data"] == {"epoch": 1, "index": 3}
    assert a["model"].keys() == b["model"].keys()
    worst = max((a["model"][k].double() - b["model"][k].double()).abs().max().item() for k in a["model"])
    assert worst <= 1e-6, worst
    # and the run really moved: the weights differ from the 3-step ones
    assert any(
        not torch.equal(a["model"][k], ck3["model"][k])
        for k in a["model"]
        if a["model"][k].is_floating_point()
    )
    # the checkpoint is self-sufficient: config + vocabulary
    assert b["vocab"]["itos"][:2] == ["<pad>", "<unk>"] and b["config"]["model"]["language"][
        "vocab_size"
    ] == len(b["vocab"]["itos"])


def _snapshot(folder):
    """Every file under ``folder`` with its bytes."""
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_resuming_with_another_model_config_names_the_checkpoint_and_the_way_out(compose_train, tmp_path):
    first = run(compose_train("trainer.max_steps=1"), tmp_path / "run")
    assert first.step == 1
    before = _snapshot(tmp_path / "run")
    assert "train.log" in {str(p) for p in before}
    # Same run directory, a backbone with 3 more channels per level: trainer.resume=auto picks up
    # the old last.pt, whose lateral projections no longer fit.
    with pytest.raises(UserError) as err:
        run(compose_train("trainer.max_steps=2", "model.backbone.pooled_rgb=true"), tmp_path / "run")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"cannot resume from {first.checkpoint}: its weights do not fit this command's model (")
    assert "shape mismatches" in message and "cmpc.lateral.0.weight" in message
    assert "model.backbone.pooled_rgb: False in the checkpoint, True here" in message
    assert f"pass trainer.resume=never to start over in {tmp_path / 'run'}" in message
    assert _snapshot(tmp_path / "run") == before  # the refused resume changed nothing, its log included
    # A checkpoint of another width named explicitly: the advice is about that file, not about
    # trainer.resume=never (which would not touch it).
    with pytest.raises(UserError) as err:
        run(compose_train("trainer.max_steps=2", "model.backbone.pooled_rgb=true",
                          f"trainer.resume={first.checkpoint}"), tmp_path / "other")
    message = str(err.value)
    assert f"trainer.resume={first.checkpoint} names a checkpoint of another run" in message
    assert "never" not in message
    assert not (tmp_path / "other").exists()


def test_resuming_on_another_dataset_is_refused(compose_train, a2d_fixture_root, tmp_path):
    import shutil

    other = shutil.copytree(a2d_fixture_root, tmp_path / "elsewhere" / "a2d_sentences")
    first = run(compose_train("trainer.max_steps=1"), tmp_path / "run")
    assert load_checkpoint(first.checkpoint)["dataset"] == {"name": "a2d_fixture", "root": str(a2d_fixture_root)}
    before = _snapshot(tmp_path / "run")
    with pytest.raises(UserError, match=rf"cannot resume from {first.checkpoint}: it was trained on dataset "
                                        rf"a2d_fixture at {a2d_fixture_root}, this command reads dataset a2d_fixture "
                                        rf"at {other}; train this command in a new run directory"):
        run(compose_train("trainer.max_steps=2", f"dataset.root={other}"), tmp_path / "run")
    assert _snapshot(tmp_path / "run") == before
    # Naming the checkpoint on purpose (fine-tuning from it) is allowed, with a warning.
    tuned = run(compose_train("trainer.max_steps=2", f"dataset.root={other}", f"trainer.resume={first.checkpoint}"),
                tmp_path / "tuned")
    assert tuned.step == 2


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(compose_train, tmp_path):
    cfg = compose_train(
        "+loss.good_calls=2",
        "loss._target_=tests.engine.helpers.NaNAfterLoss",
        "trainer.checkpoint_every=1",
        "trainer.max_steps=5",
    )
    with pytest.raises(NonFiniteLossError, match="step 3"):
        run(cfg, tmp_path)
    ck = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert ck["step"] == 2
    assert all(torch.isfinite(v).all() for v in ck["model"].values() if v.is_floating_point())


def test_bf16_autocast_grad_clip_and_accumulation_on_cpu(compose_train, tmp_path):
    cfg = compose_train(
        "trainer.precision=bf16", "trainer.grad_clip=0.5", "trainer.accumulate=2", "trainer.max_steps=2"
    )
    result = run(cfg, tmp_path)
    ck = load_checkpoint(result.checkpoint)
    assert ck["step"] == 2 and ck["data"] == {"epoch": 0, "index": 4}
    assert all(torch.isfinite(v).all() for v in ck["model"].values() if v.is_floating_point())


def test_precision_choices(monkeypatch):
    from cmpcv.engine import precision as P

    cpu = torch.device("cpu")
    assert P.resolve_precision("bf16", cpu) == "bf16" and P.resolve_precision("32", cpu) == "32"
    # auto on a CPU: bf16 only with native bf16 *and* oneDNN enabled, fp32 in the other three cases.
    for native in (True, False):
        for onednn in (True, False):
            monkeypatch.setattr(P, "cpu_has_native_bf16", lambda native=native: native)
            monkeypatch.setattr(torch.backends.mkldnn, "enabled", onednn)
            expected = "bf16" if native and onednn and torch.backends.mkldnn.is_available() else "32"
            assert P.resolve_precision("auto", cpu) == expected, (native, onednn)
    with pytest.raises(ValueError, match="CUDA"):
        P.resolve_precision("16", cpu)
    with pytest.raises(ValueError, match="precision"):
        P.resolve_precision("fp8", cpu)
    native_bf16_in = P.native_bf16_in
    # Only the flags line counts, and only a native bf16 flag in it.
    assert native_bf16_in("processor\t: 0\nflags\t\t: fpu sse avx512f amx_bf16 amx_tile\n")
    assert native_bf16_in("flags\t: avx2 avx512_bf16\n")
    assert not native_bf16_in("flags\t: fpu avx2 avx512f\nbugs\t: amx_bf16\n")


def test_trainer_tells_the_loss_its_step_for_the_dice_decay(compose_train, tmp_path):
    from tests.engine.helpers import StepRecordingLoss

    StepRecordingLoss.weights = []
    cfg = compose_train("loss._target_=tests.engine.helpers.StepRecordingLoss", "loss.dice_weight=1.0",
                        "loss.dice_decay_steps=4", "trainer.accumulate=2", "trainer.max_steps=5")
    run(cfg, tmp_path)
    # Two micro-batches per step, each with the step's weight: 1 - step / 4, then 0 from step 4 on.
    assert StepRecordingLoss.weights == [(s, max(0.0, 1 - s / 4)) for s in range(5) for _ in range(2)]


def test_unreadable_training_video_is_one_line_or_skipped_and_reported(compose_train, a2d_fixture_root,
                                                                      tmp_path, caplog):
    """A corrupt video in the training set, loaded by a DataLoader worker: with dataset.on_error=raise
    (the default) one line naming the file and the sample, not the worker's traceback; with skip
    the run goes on, and every skipped sample is counted, logged and listed at the end."""
    import logging
    import shutil

    root = shutil.copytree(a2d_fixture_root, tmp_path / "a2d")
    video = root / "Release" / "clips320H" / "trB_single.mp4"
    video.write_bytes(b"not a video any more " * 40)
    # A sentence longer than the 20 words the model reads is cut: the run says so.
    annotation = root / "text_annotations" / "a2d_annotation.txt"
    long = "the small red ball that rolls slowly to the left of the picture past the tall man in a blue coat and hat"
    annotation.write_text(annotation.read_text().replace("red ball rolling to the left", long))
    with pytest.raises(UserError) as info:
        run(compose_train(f"dataset.root={root}", "trainer.max_steps=10", "trainer.num_workers=1"), tmp_path / "raise")
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith(f"{video}: sample v_trB_single_f_") and "could not decode the video" in message
    assert message.endswith("dataset.on_error=skip skips unreadable samples instead (each one is counted, logged "
                            "and listed at the end)")
    with caplog.at_level(logging.WARNING):
        result = run(compose_train(f"dataset.root={root}", "trainer.max_steps=10", "trainer.num_workers=1",
                                   "dataset.on_error=skip"), tmp_path / "skip")
    assert result.step == 10
    assert sorted(result.skipped) == ["v_trB_single_f_10_i_0", "v_trB_single_f_20_i_0", "v_trB_single_f_5_i_0"]
    log_text = (tmp_path / "skip" / "train.log").read_text()
    assert "skipped 3 unreadable training sample(s) (dataset.on_error=skip)" in log_text
    assert all(sid in log_text for sid in result.skipped)
    assert "skipping bad sample" in log_text  # each one as it happens, from the worker
    assert load_checkpoint(result.checkpoint)["skipped"] == result.skipped
    assert any("3 of 18 sentences have more than 20 words (the longest, sample v_trB_single_f_" in r.getMessage()
               and "has 23)" in r.getMessage() for r in caplog.records)  # one sentence, 3 frames
