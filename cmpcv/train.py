"""``python -m cmpcv.train``: train CMPC-V, checkpoint, validate, test (docs/training.md).

Examples::

    python -m cmpcv.train experiment=shapes                       # the CPU demo
    python -m cmpcv.train experiment=cmpcv_r2d_a2d dataset.root=/data/a2d_sentences
    torchrun --nproc_per_node=4 -m cmpcv.train experiment=cmpcv_i3d_a2d dataset.root=...
    python -m cmpcv.train -m optim.lr=1e-4,2e-4                   # a sweep, one directory per job

Re-running the same command continues the run from ``checkpoints/last.pt`` (``trainer.resume=auto``).
The run directory holds ``train.log`` (the run's log, appended to by each resume) and ``.hydra/``
(the command's config), both written once the run is under way: a command refused at the start
(another dataset or model than the run's checkpoint) leaves the directory as it was. Exit codes:
:mod:`cmpcv.cli` (2 bad input, 3 stopped run).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sys
from pathlib import Path
from typing import Callable

import hydra
from omegaconf import DictConfig, OmegaConf

from cmpcv import cli
from cmpcv.data.errors import DataError
from cmpcv.engine.trainer import NonFiniteLossError, Trainer, TrainResult

log = logging.getLogger("cmpcv.train")

# Characters hydra's override grammar takes unquoted in a value (besides "/", a folder separator).
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+@%-]")


def run_dirname(overrides: str, max_len: int = 120) -> str:
    """A folder name for a run from hydra's ``override_dirname`` (``key-value`` items joined by
    ``+``, conf/train.yaml): readable, one path component (``/`` becomes ``_``), only characters
    that a command line can take back unquoted (any other becomes ``_`` and the name gets a hash
    of the whole, so distinct commands keep distinct folders), at most ``max_len`` characters (a
    long one is cut and suffixed with that hash), ``default`` when there is none."""
    flat = overrides.replace("/", "_")
    name = _UNSAFE.sub("_", flat) or "default"
    if name != flat or len(name) > max_len:
        digest = hashlib.sha1(overrides.encode()).hexdigest()[:10]
        name = f"{name[: max_len - 11]}-{digest}"
    return name


# Used by conf/train.yaml's hydra.run.dir / hydra.sweep.subdir; registered at import, before
# hydra composes, in every process that runs the app (submitit jobs import this module too).
if not OmegaConf.has_resolver("cmpcv_dirname"):
    OmegaConf.register_new_resolver("cmpcv_dirname", run_dirname)


def _shown(path: Path) -> Path:
    """``path`` relative to the current directory when it lies below it (as the docs write it)."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return Path(path)


def summary(result: TrainResult, run_dir: Path) -> str:
    """The one-screen report printed at the end of a run: every path can be pasted into the next
    command as printed."""
    run_dir = _shown(run_dir)
    lines = [
        "",
        "=" * 72,
        f"cmpcv.train: {'stopped by signal' if result.stopped_by_signal else 'done'} "
        f"at step {result.step}",
        f"  run directory  : {run_dir}",
    ]
    for label, path in (
        ("last checkpoint", result.checkpoint),
        ("best checkpoint", result.best),
        ("predictions", result.predictions),
        ("results table", result.table),
    ):
        if path is not None:
            lines.append(f"  {label:<15}: {_shown(path)}")
    if result.metrics:
        m = result.metrics
        lines.append(
            "  test (x100)    : "
            + "  ".join(
                f"{k} {100 * m[k]:.1f}" for k in ("mean_iou", "overall_iou", "P@0.5", "mAP") if k in m
            )
        )
    if result.skipped:
        lines.append(f"  skipped samples: {len(result.skipped)} unreadable (dataset.on_error=skip), "
                     f"{sum(result.skipped.values())} times in all; each is named in train.log")
    if result.stopped_by_signal:
        lines.append("  re-run the same command to continue (trainer.resume=auto)")
    else:
        lines.append(f"  segment a video: python -m cmpcv.predict run={run_dir} video=VIDEO text=\"SENTENCE\" "
                     "output=OUT.mp4")
    lines.append("=" * 72)
    return "\n".join(lines)


def _user_error(exc: BaseException) -> BaseException | None:
    """The bad-input error behind ``exc`` (a config value, a file, a dataset, a checkpoint that is
    not this run's), or None for an internal error. hydra's instantiate wraps what a dataset or
    model raises; a failed import of a ``_target_`` is a bad config too."""
    from hydra.errors import InstantiationException

    from cmpcv.models.state import StateDictMismatch

    while isinstance(exc, InstantiationException):
        if exc.__cause__ is None or isinstance(exc.__cause__, ImportError):
            return exc
        exc = exc.__cause__
    return exc if isinstance(exc, (ValueError, FileNotFoundError, DataError, StateDictMismatch)) else None


def run(cfg: DictConfig, run_dir: str | os.PathLike,
        on_ready: Callable[[Trainer], None] | None = None) -> TrainResult:
    """Train with ``cfg`` in ``run_dir`` (the hydra app's body; tests call it directly).

    Once the run is under way, rank 0 appends the log to ``<run_dir>/train.log`` and calls
    ``on_ready(trainer)``. Bad input found before the first step (a config value, a missing or
    malformed dataset, a checkpoint of another dataset or model) raises :class:`cmpcv.cli.UserError`
    with a one-line message, and the run directory is left as it was; a dataset error later on
    (an unreadable clip) propagates as :class:`~cmpcv.data.errors.DataError`.
    """
    from cmpcv.engine import distributed as D
    from cmpcv.engine.logging import FILE_ONLY, add_log_file, remove_log_file

    run_dir = Path(run_dir)
    handler = None

    def ready(trainer: Trainer) -> None:
        nonlocal handler
        if trainer.dist.is_main:
            handler = add_log_file(run_dir / "train.log")
            log.info("run directory %s (%s)", run_dir,
                     "resuming" if (run_dir / "checkpoints" / "last.pt").is_file() else "new run")
            if on_ready is not None:
                on_ready(trainer)

    trainer = Trainer(cfg, run_dir, on_ready=ready)
    try:
        try:
            result = trainer.fit()
        except Exception as exc:
            # Before the first step any bad input is the user's; later, only unreadable data is.
            cause = (exc if isinstance(exc, DataError) else None) if trainer.training else _user_error(exc)
            line = cli.one_line(cause or exc)
            if isinstance(cause, DataError) and cause.sample is not None:
                line += ("; dataset.on_error=skip skips unreadable samples instead (each one is counted, "
                         "logged and listed at the end)")
            if handler is not None:
                log.error("%s", line, exc_info=cause is None, extra=FILE_ONLY)
            if cause is not None:
                raise cli.UserError(line) from exc
            raise
        finally:
            D.cleanup()
        if trainer.dist.is_main:
            text = summary(result, run_dir)
            print(text, flush=True)
            if result.skipped:
                log.warning("skipped %d unreadable training sample(s) (dataset.on_error=skip), %d times in all: %s",
                            len(result.skipped), sum(result.skipped.values()),
                            ", ".join(f"{k} ({n}x)" for k, n in sorted(result.skipped.items())), extra=FILE_ONLY)
            log.info("%s", text.strip("\n"), extra=FILE_ONLY)
        return result
    finally:
        if handler is not None:
            remove_log_file(handler)


def _save_hydra_config(run_dir: Path, task_yaml: str) -> None:
    """What hydra's ``output_subdir`` would hold: ``.hydra/config.yaml``, ``hydra.yaml``,
    ``overrides.yaml``, written atomically once the run is accepted."""
    from hydra.core.hydra_config import HydraConfig

    from cmpcv.data.atomic import atomic_write_text

    hydra_cfg = HydraConfig.get()
    folder = run_dir / ".hydra"
    atomic_write_text(folder / "config.yaml", task_yaml)
    atomic_write_text(folder / "hydra.yaml", OmegaConf.to_yaml(OmegaConf.create({"hydra": hydra_cfg})))
    atomic_write_text(folder / "overrides.yaml", OmegaConf.to_yaml(hydra_cfg.overrides.task))


def _remove_if_empty(folder: Path) -> None:
    """hydra makes the run directory before the app runs: one left empty by a refused start goes."""
    try:
        folder.rmdir()  # only succeeds when empty
    except OSError:
        pass


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    if OmegaConf.is_missing(cfg.dataset, "root"):
        # The real datasets cannot be located by default; say so in one line, not a config traceback.
        _remove_if_empty(run_dir)
        cli.fail(f"dataset {cfg.dataset.get('name')!r} needs its tree: add dataset.root=PATH "
                 "(docs/datasets.md), or run the embedded demo with experiment=shapes")
    task_yaml = OmegaConf.to_yaml(cfg)  # the config as given, before the trainer adds to it
    try:
        with cli.user_errors(DataError):
            result = run(cfg, run_dir, on_ready=lambda trainer: _save_hydra_config(run_dir, task_yaml))
    except NonFiniteLossError as exc:
        cli.fail(cli.one_line(exc), cli.EXIT_STOPPED)
    except BaseException:
        _remove_if_empty(run_dir)
        raise
    if result.stopped_by_signal:
        sys.exit(cli.EXIT_STOPPED)
    # The return value is what hydra's sweepers optimise (e.g. optuna): test mean IoU when known.
    return None if not result.metrics else float(result.metrics.get("mean_iou", float("nan")))


if __name__ == "__main__":
    cli.run(main)
