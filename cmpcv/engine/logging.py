"""Experiment loggers (``logger=wandb`` / ``logger=none``) and the rank-0 progress bar.

Every logger has the same small interface, so the trainer never asks which one it has:
``start(run_dir, config, run_id)`` -> run id or None, ``log_metrics(metrics, step)``,
``log_images(key, images, step)`` with ``images`` a list of ``(array (H, W, 3) uint8, caption)``,
``log_table(key, columns, rows, step)`` and ``finish()``. Only rank 0 builds one; other ranks get
:class:`NoneLogger`.

The run's log file: :func:`add_log_file` adds ``<run dir>/train.log`` to the root logger once a
run is under way. Records logged with ``extra=FILE_ONLY`` go there but not to the terminal
(:class:`TerminalFilter`, set on the terminal handler by ``conf/hydra/job_logging/train.yaml``):
the progress lines that the tqdm bar already shows, and the end-of-run summary that is printed.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any, Sequence

log = logging.getLogger(__name__)

#: ``log.info(..., extra=FILE_ONLY)``: for the run's log file, not the terminal.
FILE_ONLY = {"terminal": False}
LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"


class TerminalFilter(logging.Filter):
    """Drops the records marked :data:`FILE_ONLY` (on the terminal handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "terminal", True)


def add_log_file(path: str | os.PathLike, level: int = logging.INFO) -> logging.Handler:
    """Append the root logger's records to ``path`` (a resumed run continues its file); returns
    the handler, for :func:`remove_log_file`."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.setLevel(level)
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > level or root.level == logging.NOTSET:
        root.setLevel(level)
    return handler


def remove_log_file(handler: logging.Handler) -> None:
    logging.getLogger().removeHandler(handler)
    handler.close()


class NoneLogger:
    """Logs nothing and writes nothing."""

    run_id: str | None = None

    def start(
        self, run_dir: str | os.PathLike, config: dict[str, Any], run_id: str | None = None
    ) -> str | None:
        return None

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        pass

    def log_images(self, key: str, images: Sequence[tuple[Any, str]], step: int) -> None:
        pass

    def log_table(self, key: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], step: int) -> None:
        pass

    def finish(self) -> None:
        pass


class WandbLogger(NoneLogger):
    """Weights & Biases. ``mode``: ``online``, ``offline`` (clusters without internet: the run is
    written under ``<run_dir>/wandb/offline-run-*``; upload later with ``wandb sync``) or
    ``disabled``; None defers to ``WANDB_MODE``. ``start`` resumes the run whose id it is given
    (``resume="allow"``), so a resumed training run continues its dashboard.
    """

    def __init__(
        self,
        project: str = "cmpcv",
        entity: str | None = None,
        name: str | None = None,
        group: str | None = None,
        tags: Sequence[str] = (),
        mode: str | None = None,
        dir: str | None = None,  # noqa: A002 - wandb's own argument name
    ) -> None:
        self.project, self.entity, self.name, self.group = project, entity, name, group
        self.tags = list(tags or [])
        self.mode = mode
        self.dir = dir
        self._run = None
        self.run_id = None

    def start(
        self, run_dir: str | os.PathLike, config: dict[str, Any], run_id: str | None = None
    ) -> str | None:
        import wandb

        out = Path(self.dir) if self.dir else Path(run_dir)
        out.mkdir(parents=True, exist_ok=True)
        # Our own id (not wandb's helper, which moved between versions; `secrets` leaves the
        # `random` stream alone): lower-case alphanumerics, as wandb expects.
        self.run_id = run_id or secrets.token_hex(4)
        self._run = wandb.init(
            project=self.project,
            entity=self.entity,
            name=self.name,
            group=self.group,
            tags=self.tags,
            mode=self.mode or os.environ.get("WANDB_MODE"),
            dir=str(out),
            id=self.run_id,
            resume="allow",
            config=config,
        )
        return self.run_id

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        if self._run is not None:
            self._run.log(dict(metrics), step=step)

    def log_images(self, key: str, images: Sequence[tuple[Any, str]], step: int) -> None:
        if self._run is not None and images:
            import wandb

            self._run.log({key: [wandb.Image(img, caption=cap) for img, cap in images]}, step=step)

    def log_table(self, key: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], step: int) -> None:
        if self._run is not None:
            import wandb

            self._run.log({key: wandb.Table(columns=list(columns), data=[list(r) for r in rows])}, step=step)

    def finish(self) -> None:
        if self._run is not None:
            self._run.finish()
            self._run = None


class Progress:
    """Rank-0 progress over optimiser steps: a tqdm bar (ETA, samples/s, loss, lr) or, with
    ``bar=False`` (batch jobs whose logs are files), one log line every ``log_every`` steps with
    the same figures. With the bar, the same lines still go to the log file (:data:`FILE_ONLY`).
    ``enabled=False`` (other ranks) shows nothing."""

    def __init__(
        self,
        total: int,
        initial: int = 0,
        enabled: bool = True,
        bar: bool = True,
        log_every: int = 50,
        desc: str = "train",
    ) -> None:
        self.enabled = enabled
        self.total, self.step = int(total), int(initial)
        self.log_every = max(1, int(log_every))
        self._bar = None
        self._t0 = time.perf_counter()
        self._start = self.step
        self._samples = 0
        if enabled and bar:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, initial=initial, desc=desc, dynamic_ncols=True, smoothing=0.1)

    def update(self, samples: int, loss: float, lr: float) -> float:
        """One optimiser step of ``samples`` samples (global). Returns samples/s since start."""
        self.step += 1
        self._samples += samples
        elapsed = max(1e-9, time.perf_counter() - self._t0)
        rate = self._samples / elapsed
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{loss:.4g}", lr=f"{lr:.3g}", sps=f"{rate:.1f}", refresh=False)
            self._bar.update(1)
        if self.enabled and (self.step % self.log_every == 0 or self.step == self.total):
            eta = elapsed / max(1, self.step - self._start) * (self.total - self.step)
            log.info(
                "step %d/%d  loss %.4g  lr %.3g  %.1f samples/s  ETA %s",
                self.step,
                self.total,
                loss,
                lr,
                rate,
                time.strftime("%H:%M:%S", time.gmtime(eta)) if eta < 86400 else f"{eta / 3600:.0f} h",
                # With the bar on the terminal, the line is for the log file only.
                extra=FILE_ONLY if self._bar is not None else None,
            )
        return rate

    def write(self, message: str) -> None:
        if self._bar is not None:
            self._bar.write(message)
        elif self.enabled:
            log.info(message)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
