"""Refer-YouTube-VOS: ``format`` (layout, annotation files, masks, writers), ``reader``
(:class:`RefYouTubeVOS`), ``check`` (``python -m cmpcv.data.check dataset=ytvos``) and ``fixture``
(a format-exact miniature tree). Names resolve on first use, so the format imports without torch.
"""
from __future__ import annotations

from cmpcv.data.lazy import lazy_exports

_EXPORTS = {
    "RefYouTubeVOS": "cmpcv.data.ytvos.reader",
    "YTVOSPaths": "cmpcv.data.ytvos.format",
    "ytvos_paths": "cmpcv.data.ytvos.format",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
