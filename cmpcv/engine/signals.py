"""Stop signals (preemption, ``scancel``, SLURM's warning before the time limit).

The handler only records the signal; the training loop checks :attr:`StopSignals.received` after
each step, agrees with the other ranks, writes ``checkpoints/last.pt`` and returns, so a signal
never interrupts a checkpoint write or a collective.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from typing import Any, Iterable

log = logging.getLogger(__name__)


class StopSignals:
    """Context manager installing a recording handler for ``names`` (e.g. ``["SIGTERM", "SIGUSR1"]``)
    and restoring the previous handlers on exit."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = list(names)
        self.received: int | None = None
        self._old: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:  # noqa: ARG002
        self.received = signum

    def __enter__(self) -> "StopSignals":
        for name in self.names:
            sig = getattr(signal, name)
            try:
                self._old[sig] = signal.signal(sig, self._handler)
            except ValueError:  # not the main thread (some launchers): their own handling applies
                pass
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        self._old.clear()


def slurm_requeue() -> bool:
    """``scontrol requeue $SLURM_JOB_ID`` (plain ``sbatch --requeue`` jobs); False outside SLURM or
    when it fails. The requeued job runs the same command, and ``trainer.resume=auto`` continues."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return False
    try:
        subprocess.run(["scontrol", "requeue", job], check=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("could not requeue SLURM job %s: %s", job, exc)
        return False
    log.info("requeued SLURM job %s", job)
    return True
