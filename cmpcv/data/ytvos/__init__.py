"""Refer-YouTube-VOS: ``format`` (torch-free layout, annotation files, writers), ``reader``
(:class:`RefYouTubeVOS`), ``check`` and ``fixture``. The reader is imported on first use, so
``cmpcv.data.ytvos.format`` stays torch-free."""
from __future__ import annotations

import importlib

_EXPORTS = {"RefYouTubeVOS": "cmpcv.data.ytvos.reader", "YTVOSPaths": "cmpcv.data.ytvos.format",
            "ytvos_paths": "cmpcv.data.ytvos.format"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cmpcv.data.ytvos' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
