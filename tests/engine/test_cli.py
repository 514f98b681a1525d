"""``python -m cmpcv.train`` as users run it: stop signals, re-running a command, sweeps.

Subprocesses are few on purpose (each pays torch's import): one pair for the signal + re-run,
one basic-launcher sweep, one submitit_local sweep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import pytest

from cmpcv.engine.checkpoint import load_checkpoint
from tests.engine.conftest import tiny_overrides

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    return dict(
        os.environ, OMP_NUM_THREADS="1", WANDB_MODE="disabled", PYTHONUNBUFFERED="1", HYDRA_FULL_ERROR="1"
    )


def _train(*args: str) -> list[str]:
    return [sys.executable, "-m", "cmpcv.train", *args]


def _checkpoint_at(last: Path, min_step: int) -> Callable[[], bool]:
    """Ready once ``last`` holds step ``min_step`` or later (a half-written file reads as not ready)."""

    def ready() -> bool:
        try:
            return last.is_file() and load_checkpoint(last)["step"] >= min_step
        except ValueError:
            return False

    return ready


def _run_then_signal(cmd: list[str], ready: Callable[[], bool], sig: int) -> tuple[int, str]:
    """Start ``cmd``, wait (at most 120 s) until ``ready()``, send ``sig``; the exit code and output."""
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None and not ready():
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, out


def test_stop_signal_saves_and_the_same_command_continues(a2d_fixture_root, tmp_path):
    cmd = _train(
        *tiny_overrides(a2d_fixture_root),
        "trainer.max_steps=100000",
        "trainer.checkpoint_every=2",
        "trainer.log_every=1",
        f"paths.output_dir={tmp_path}",
    )
    runs = tmp_path / "train"
    # The run directory is a function of the command line: find it after the first launch.
    rc, out = _run_then_signal(cmd, lambda: any(runs.glob("*/checkpoints/last.pt")), signal.SIGTERM)
    assert rc == 3, out[-3000:]  # a stopped run: checkpoint saved, not finished
    assert "stopped by signal" in out
    assert "step 2/100000" in out and "samples/s  ETA" in out  # progress as log lines without the bar
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    last = run_dir / "checkpoints" / "last.pt"
    first_step = load_checkpoint(last)["step"]
    assert first_step >= 2
    # Same command again (a SLURM requeue): continues from last.pt, then stopped by SIGUSR1.
    rc, out = _run_then_signal(cmd, _checkpoint_at(last, first_step + 2), signal.SIGUSR1)
    assert rc == 3, out[-3000:]
    assert f"resumed from {last} at step {first_step}" in out
    assert load_checkpoint(last)["step"] >= first_step + 2
    assert [p for p in runs.iterdir() if p.is_dir()] == [run_dir]
    # The run's log holds both runs: the progress lines, the resume and each summary.
    text = (run_dir / "train.log").read_text()
    assert text.count("(new run)") == 1 and text.count("(resuming)") == 1
    assert f"resumed from {last} at step {first_step}" in text and text.count("cmpcv.train: stopped by signal") == 2
    assert "step 2/100000" in text


@pytest.mark.parametrize("launcher", ["basic", "submitit_local"])
def test_sweep_gives_each_job_its_own_directory_and_checkpoint(a2d_fixture_root, tmp_path, launcher):
    lrs = ["1e-3", "2e-3"] if launcher == "basic" else ["3e-3"]
    extra = [] if launcher == "basic" else ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5"]
    cmd = _train(
        "-m",
        *tiny_overrides(a2d_fixture_root),
        "trainer.max_steps=2",
        f"optim.lr={','.join(lrs)}",
        f"paths.output_dir={tmp_path}",
        *extra,
    )
    proc = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    sweep = tmp_path / "multirun" / "train"
    found = {}
    for last in sweep.glob("*/checkpoints/last.pt"):
        ck = load_checkpoint(last)
        found[ck["config"]["optim"]["lr"]] = (last.parent.parent, ck["step"])
    assert sorted(found) == sorted(float(x) for x in lrs)
    assert all(step == 2 for _, step in found.values())
    assert len({d for d, _ in found.values()}) == len(lrs)
    assert all(len(d.name) <= 120 for d, _ in found.values())  # long override lists are shortened


def test_missing_dataset_root_is_a_one_line_error(tmp_path):
    proc = subprocess.run(_train(f"paths.output_dir={tmp_path}"), cwd=REPO, env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "dataset.root=PATH" in proc.stderr and "Traceback" not in proc.stderr + proc.stdout
    # A root that is not a dataset tree: one line naming it, and no empty run directory left behind.
    proc = subprocess.run(_train("dataset=a2d_fixture", f"dataset.root={tmp_path / 'nowhere'}",
                                 f"paths.output_dir={tmp_path}"), cwd=REPO, env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith("error: ") and str(tmp_path / "nowhere") in line
    assert not list((tmp_path / "train").iterdir())


def test_printed_run_dirs_paste_into_the_next_command(monkeypatch):
    """hydra's override grammar rejects '=' and ',' unquoted ("mismatched input '='"): the run
    directory of the README's demo command, and of any command, must not contain them."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from cmpcv.train import run_dirname

    monkeypatch.delenv("CMPCV_OUTPUT_DIR", raising=False)
    parser = OverridesParser.create()
    expected = {
        ("experiment=shapes",): "outputs/train/experiment-shapes",
        ("experiment=shapes", "seed=1", "trainer.progress=false"): "outputs/train/experiment-shapes+seed-1",
        ("experiment=cmpcv_r2d_a2d", "dataset.root=/data/a2d_sentences"):
            "outputs/train/dataset.root-_data_a2d_sentences+experiment-cmpcv_r2d_a2d",
    }
    for overrides, run_dir in expected.items():
        with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
            cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
        assert cfg.hydra.run.dir == run_dir
        checkpoint = f"{run_dir}/checkpoints/last.pt"
        assert parser.parse_override(f"checkpoint={checkpoint}").value() == checkpoint
    # The README's commands after the demo use its run directory as printed, and compose.
    import shlex

    readme = (REPO / "README.md").read_text()
    commands = []
    for block in readme.split("```bash")[1:]:
        text = block.split("```")[0].replace("\\\n", " ")
        commands += [line.split("  #")[0] for line in text.splitlines() if "run=outputs/train/experiment-shapes" in line]
    assert len(commands) == 2, commands
    for command in commands:
        words = shlex.split(command)
        assert words[:2] == ["python", "-m"] and words[2] in ("cmpcv.predict", "cmpcv.evaluate")
        with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
            cfg = compose(words[2].split(".")[1], overrides=words[3:])
        assert cfg.run == expected[("experiment=shapes",)]
    # Values with characters the grammar would reject are replaced, and the name keeps a hash of
    # the original so that distinct commands keep distinct folders.
    names = {run_dirname(o) for o in ("text-[a,b]", "text-[a_b]", "text-a=b", "x-" + "y" * 300)}
    assert len(names) == 4
    for name in names:
        assert len(name) <= 120
        assert parser.parse_override(f"run=outputs/train/{name}").value() == f"outputs/train/{name}"


def test_refused_resume_leaves_the_run_directory_as_it_was(a2d_fixture_root, tmp_path):
    """The same run directory with another dataset: exit 2, one line, and neither the run's
    config (.hydra/config.yaml) nor its files change."""
    import shutil

    other = shutil.copytree(a2d_fixture_root, tmp_path / "other" / "a2d_sentences")
    run_dir = tmp_path / "run"
    common = [*tiny_overrides(a2d_fixture_root), "trainer.max_steps=1", f"hydra.run.dir={run_dir}"]
    proc = subprocess.run(_train(*common), cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = {p.relative_to(run_dir): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    assert {".hydra/config.yaml", "train.log", "checkpoints/last.pt"} <= {str(p) for p in files}
    proc = subprocess.run(_train(*common, f"dataset.root={other}"), cwd=REPO, env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"error: cannot resume from {run_dir / 'checkpoints' / 'last.pt'}: it was trained on "
                           f"dataset a2d_fixture at {a2d_fixture_root}, this command reads dataset a2d_fixture at {other}")
    assert {p.relative_to(run_dir): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == files


def _children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (from /proc)."""
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry.name))
    return kids


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_kill_9_leaves_no_worker_behind(a2d_fixture_root, tmp_path):
    """SIGKILL the training process mid-run: its DataLoader workers end within seconds. Masks of
    A2D's real size fill the workers' result pipes, where torch's own 5 s check never gets to run."""
    cmd = _train(
        *tiny_overrides(a2d_fixture_root),
        "dataset.train._target_=tests.engine.helpers.FullSizeMasks",
        "trainer.num_workers=2",
        "trainer.max_steps=100000",
        "trainer.log_every=1",
        f"paths.output_dir={tmp_path}",
    )
    proc = subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watchdog = threading.Timer(180, proc.kill)  # a run that never reaches step 3 ends the read below
    watchdog.start()
    workers: list[int] = []
    try:
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "step 3/100000" in line:
                break
        assert proc.poll() is None, "".join(seen)[-3000:]
        workers = _children(proc.pid)
        assert len(workers) >= 2, workers
        proc.kill()
        proc.wait(timeout=30)
        deadline = time.time() + 4
        while time.time() < deadline and any(_running(w) for w in workers):
            time.sleep(0.1)
        assert not [w for w in workers if _running(w)], "DataLoader workers outlived the killed training process"
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
        for w in workers:  # never leave an orphan behind, whatever the outcome
            if _running(w):
                os.kill(w, signal.SIGKILL)
