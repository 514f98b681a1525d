"""Fixtures shared by every test package.

Area-specific fixtures live in ``tests/<area>/conftest.py``; the ones here are used across areas.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The real published annotation files (``../shared/data``), located by ``CMPCV_SHARED_DATA``.

    ``.ci/run`` sets the variable when the folder exists; without it the tests that need the real
    files are skipped, so nothing in the project depends on that folder.
    """
    root = os.environ.get("CMPCV_SHARED_DATA")
    if not root or not Path(root).is_dir():
        pytest.skip("CMPCV_SHARED_DATA is not set: real annotation files unavailable")
    return Path(root)
