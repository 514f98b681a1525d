"""2-process DDP (gloo, CPU) under torchrun equals 1 process with the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cmpcv.engine.checkpoint import load_checkpoint
from cmpcv.train import run
from tests.engine.conftest import tiny_overrides

REPO = Path(__file__).resolve().parents[2]
# Gradients agree to float rounding (~1e-7 relative: the all-reduce sums two half-batch
# gradients in another order). Adam would turn the rounding noise of gradients that are exactly
# zero in theory (biases of attention keys, which a softmax ignores) into +-lr steps, so the test
# uses eps=1e-4, far below the real gradients (summed BCE: ~1-1e3) and far above that noise
# (~1e-9). Then 3 steps agree to ~1e-5 at worst (small LSTM gradients, still normalised by Adam),
# ~1e-7 typically; a wrong batch split or missing gradient averaging moves weights by ~lr = 1e-3.
TOLERANCE = 1e-4


def test_two_process_ddp_matches_one_process(a2d_fixture_root, compose_train, tmp_path):
    # Frozen backbone: its BatchNorm then uses running statistics, which do not depend on how the
    # global batch is split (trainable BatchNorm would need trainer.sync_batchnorm=true).
    common = ["model.backbone.frozen=true", "trainer.max_steps=3", "+optim.optimizer.eps=1e-4"]
    ddp_dir = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "cmpcv.train",
        *tiny_overrides(a2d_fixture_root),
        *common,
        "trainer.batch_size=2",
        f"hydra.run.dir={ddp_dir}",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", WANDB_MODE="disabled", HYDRA_FULL_ERROR="1")
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    single = run(compose_train(*common, "trainer.batch_size=4"), tmp_path / "single")
    a = load_checkpoint(ddp_dir / "checkpoints" / "last.pt")
    b = load_checkpoint(single.checkpoint)
    assert a["world_size"] == 2 and b["world_size"] == 1 and a["step"] == b["step"] == 3
    worst = max(
        (a["model"][k].double() - b["model"][k].double()).abs().max().item()
        for k in a["model"]
        if a["model"][k].is_floating_point()
    )
    assert worst <= TOLERANCE, worst
    assert proc.stdout.count("cmpcv.train: done at step 3") == 1  # the summary is printed by rank 0 only
