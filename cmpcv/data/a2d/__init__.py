"""A2D Sentences: ``format`` (layout, annotation and mask files, writers), ``reader``
(:class:`A2DSentences`), ``check`` (``python -m cmpcv.data.check dataset=a2d``) and ``fixture``
(a format-exact miniature tree). Names resolve on first use, so the format imports without torch.
"""
from __future__ import annotations

from cmpcv.data.lazy import lazy_exports

_EXPORTS = {
    "A2DSentences": "cmpcv.data.a2d.reader",
    "A2DPaths": "cmpcv.data.a2d.format",
    "a2d_paths": "cmpcv.data.a2d.format",
    "a2d_sample_id": "cmpcv.data.a2d.format",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
