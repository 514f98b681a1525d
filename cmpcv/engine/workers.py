"""DataLoader workers that end with the process that started them.

After a ``kill -9`` of the training process (an OOM kill, a preemption without grace) its
DataLoader workers are orphans. torch's own check (every 5 s, while a worker waits for work) does
not reach a worker whose results the dead parent never read: with a full result pipe its exit
blocks on the pipe's feeder thread, for good, holding its memory. On Linux,
:func:`exit_with_parent` asks the kernel to SIGKILL the worker when its parent dies
(``prctl(PR_SET_PDEATHSIG)``), which no blocked state survives. Elsewhere torch's check is all
there is.

The kernel sends the signal when the *thread* that started the worker ends; cmpcv's loaders
start their workers from the main thread, which lives as long as the process.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from typing import Callable

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _set_death_signal(sig: int) -> bool:
    """``prctl(PR_SET_PDEATHSIG, sig)`` for this process; False where the platform has none."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def exit_with_parent(parent_pid: int) -> bool:
    """Make this process end (SIGKILL) when ``parent_pid``, the process that started it, dies;
    if it already has, end now. Returns whether the platform supports it (Linux)."""
    supported = _set_death_signal(signal.SIGKILL)
    # The parent may have died before the request took effect; the signal then never comes.
    if os.getppid() != parent_pid and not _alive(parent_pid):
        os.kill(os.getpid(), signal.SIGKILL)
    return supported


class WorkerInit:
    """A DataLoader ``worker_init_fn``: :func:`exit_with_parent` for the process that built the
    loader, then ``then(worker_id)`` if given. Picklable (spawn and forkserver start methods)."""

    def __init__(self, then: Callable[[int], None] | None = None) -> None:
        self.parent_pid = os.getpid()
        self.then = then

    def __call__(self, worker_id: int) -> None:
        exit_with_parent(self.parent_pid)
        if self.then is not None:
            self.then(worker_id)

    def __repr__(self) -> str:
        return f"WorkerInit(parent_pid={self.parent_pid}, then={self.then!r})"
