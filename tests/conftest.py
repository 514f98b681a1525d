"""Fixtures shared by every test package.

Area-specific fixtures live in ``tests/<area>/conftest.py``; the ones here are used across areas.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# The trainer keeps oneDNN off on the CPU by default (trainer.cpu_onednn=false). The heap
# corruption behind that default came with channels-last frame tensors, and cmpcv.data.referring
# hands out contiguous ones; the tests keep the conservative engine default so that what they run
# matches it.
torch.backends.mkldnn.enabled = False


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


@pytest.fixture(scope="session")
def a2d_fixture_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A format-exact mini A2D Sentences tree (:func:`cmpcv.data.a2d.fixture.write_a2d_fixture`), written once.

    Treat it as read-only: copy it first to test a corrupted tree. Use with ``dataset=a2d_fixture``.
    """
    from cmpcv.data.a2d.fixture import write_a2d_fixture

    root = tmp_path_factory.mktemp("fixture_data") / "a2d_sentences"
    write_a2d_fixture(root)
    return root


@pytest.fixture(scope="session")
def jhmdb_fixture_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A format-exact mini J-HMDB Sentences tree with an MTTR-style frozen sample list, written once."""
    from cmpcv.data.jhmdb.fixture import write_jhmdb_fixture

    root = tmp_path_factory.mktemp("fixture_data") / "jhmdb_sentences"
    write_jhmdb_fixture(root)
    return root


@pytest.fixture(scope="session")
def ytvos_fixture_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A format-exact mini Refer-YouTube-VOS tree (:func:`cmpcv.data.ytvos.fixture.write_ytvos_fixture`), written once.

    Treat it as read-only: copy it first to test a corrupted tree. Use with ``dataset=ytvos_fixture``.
    """
    from cmpcv.data.ytvos.fixture import write_ytvos_fixture

    root = tmp_path_factory.mktemp("fixture_data") / "ref-youtube-vos"
    write_ytvos_fixture(root)
    return root


@pytest.fixture(scope="session")
def davis17_fixture_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A format-exact mini Ref-DAVIS17 tree (:func:`cmpcv.data.davis17.fixture.write_refdavis_fixture`), written once.

    Treat it as read-only. Use with ``dataset=davis17_fixture``.
    """
    from cmpcv.data.davis17.fixture import write_refdavis_fixture

    root = tmp_path_factory.mktemp("fixture_data") / "ref-davis"
    write_refdavis_fixture(root)
    return root


@pytest.fixture(scope="session")
def mevis_fixture_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A format-exact mini MeViS tree (:func:`cmpcv.data.mevis.fixture.write_mevis_fixture`), written once.

    Treat it as read-only. Use with ``dataset=mevis_fixture``.
    """
    from cmpcv.data.mevis.fixture import write_mevis_fixture

    root = tmp_path_factory.mktemp("fixture_data") / "mevis"
    write_mevis_fixture(root)
    return root
