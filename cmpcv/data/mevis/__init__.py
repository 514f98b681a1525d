"""MeViS: ``format`` (layout, ``meta_expressions.json`` and ``mask_dict.json``), ``reader``
(:class:`MeViS`), ``check`` (``python -m cmpcv.data.check dataset=mevis``) and ``fixture``. Names
resolve on first use, so the format imports without torch."""
from __future__ import annotations

from cmpcv.data.lazy import lazy_exports

_EXPORTS = {
    "MeViS": "cmpcv.data.mevis.reader",
    "MeViSPaths": "cmpcv.data.mevis.format",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
