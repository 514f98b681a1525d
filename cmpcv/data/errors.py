"""The error every reader raises for bad input: it names the file, the sample and what was expected."""
from __future__ import annotations

import os


class DataError(RuntimeError):
    """A dataset file is missing, unreadable or not in the expected format.

    The message always starts with the offending file and, when known, the sample, so a failure hours
    into a run says exactly what to fix.
    """

    def __init__(self, path: str | os.PathLike | None, message: str, *, sample: str | None = None) -> None:
        self.path = None if path is None else str(path)
        self.sample = sample
        self.reason = message
        where = [] if self.path is None else [self.path]
        if sample is not None:
            where.append(f"sample {sample}")
        super().__init__(": ".join([*where, message]))

    def __reduce__(self):
        # Rebuilt from its parts, so that it crosses process boundaries (worker pools) intact.
        return (_rebuild, (self.path, self.reason, self.sample))

    def for_sample(self, sample: str) -> DataError:
        """The same error, with the sample named (readers know the sample, decoders do not)."""
        return self if self.sample is not None else DataError(self.path, self.reason, sample=sample)


def _rebuild(path: str | None, reason: str, sample: str | None) -> DataError:
    return DataError(path, reason, sample=sample)
