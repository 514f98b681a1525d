"""Annotation text files: read with errors naming the file (text, lines, JSON); unquoted-CSV fields that round-trip.

The released A2D Sentences and J-HMDB Sentences text files are comma-separated without quoting,
so a field that holds a comma or a newline cannot be written back; :func:`check_field` refuses it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cmpcv.data.errors import DataError


def read_text(path: str | os.PathLike, what: str) -> str:
    """A UTF-8 text file; a missing or unreadable one is a :class:`DataError` naming ``what``."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(path, f"{what} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"could not read {what}: {exc}") from exc


def read_lines(path: str | os.PathLike, what: str) -> list[str]:
    """The lines of a UTF-8 text file; a missing or unreadable one is a :class:`DataError` naming ``what``."""
    return read_text(path, what).splitlines()


def read_json(path: str | os.PathLike, what: str) -> Any:
    """A JSON file, or a :class:`DataError` naming it (missing, unreadable, not JSON)."""
    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(path, f"{what} is not valid JSON: {exc}") from None


def strip_header(path: str | os.PathLike, lines: list[str], expected: str) -> list[str]:
    """``lines`` without their first line, which must be the header ``expected``."""
    if not lines or lines[0].strip() != expected:
        got = lines[0].strip() if lines else "an empty file"
        raise DataError(path, f"expected the header {expected!r}, got {got!r}")
    return lines[1:]


def check_field(value: str, path: Path, what: str) -> str:
    """``str(value)``, which must hold no comma or newline (the unquoted format could not hold it)."""
    value = str(value)
    if any(c in value for c in ",\n\r"):
        raise ValueError(f"{path}: {what} {value!r} contains a comma or newline, "
                         "which the unquoted format cannot hold")
    return value
