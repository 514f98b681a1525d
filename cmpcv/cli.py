"""What the ``python -m cmpcv.<command>`` apps share: exit codes and the one-line error.

Every command ends with one of these codes (docs/training.md, "Exit codes"):

====  ==========================================================================================
0     done
1     internal error: a bug or an environment failure; Python prints the traceback
2     bad input: a path, a file's content, a key or a value the command cannot use. One line on
      stderr, ``error: ...``, naming the file, key or sample and what was expected; no traceback.
      Also hydra's own rejections of a command line (an unknown key, an unparsable override).
3     stopped run: training stopped before its end (a stop signal, or a non-finite loss); its
      ``checkpoints/last.pt`` is written, and the same command continues it
====  ==========================================================================================

Usage in an app::

    @hydra.main(...)
    def main(cfg):
        with cli.user_errors(PredictError, DataError):
            run(cfg)

    if __name__ == "__main__":
        cli.run(main)
"""
from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import NoReturn

EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_STOPPED = 3

_entered = False  # set once the app's own code runs (hydra accepted the command line)


class UserError(ValueError):
    """Bad input found by cmpcv itself; its message is the one line the command prints."""


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (continuation lines joined with ``; ``)."""
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, KeyError) and text.startswith(("'", '"')):
        text = text[1:-1]
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


@contextlib.contextmanager
def user_errors(*kinds: type[BaseException], report: Callable[[str], None] | None = None) -> Iterator[None]:
    """Inside: an exception of one of ``kinds`` (and :class:`UserError`) ends the command with
    one line and exit code 2. ``report(line)`` is called first (e.g. to put it in a log file)."""
    global _entered
    _entered = True
    try:
        yield
    except (UserError, *kinds) as exc:
        line = one_line(exc)
        if report is not None:
            report(line)
        fail(line)


def run(main: Callable[[], object]) -> None:
    """Call a ``@hydra.main`` function; hydra's own rejections of the command line (it exits with
    1 before the app runs) become exit code 2, like every other bad input."""
    try:
        main()
    except SystemExit as exc:
        if exc.code == EXIT_INTERNAL and not _entered:
            sys.exit(EXIT_BAD_INPUT)
        raise
