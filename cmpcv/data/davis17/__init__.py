"""DAVIS-2017 and Ref-DAVIS17: ``format`` (DAVIS-2017 layout, palette PNG masks, image sets),
``expressions`` (the MPI referring-expression files), ``reader`` (:class:`RefDAVIS17`), ``check``
(``python -m cmpcv.data.check dataset=davis17``) and ``fixture``. Names resolve on first use, so
the format imports without torch."""
from __future__ import annotations

from cmpcv.data.lazy import lazy_exports

_EXPORTS = {
    "RefDAVIS17": "cmpcv.data.davis17.reader",
    "DAVIS17Paths": "cmpcv.data.davis17.format",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
