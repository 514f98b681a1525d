"""J-HMDB Sentences: ``format`` (layout, annotation and puppet-mask files, writers), ``reader``
(:class:`JHMDBSentences`), ``check`` (``python -m cmpcv.data.check dataset=jhmdb``) and ``fixture``
(a format-exact miniature tree). Names resolve on first use, so the format imports without torch.
"""
from __future__ import annotations

from cmpcv.data.lazy import lazy_exports

_EXPORTS = {
    "JHMDBSentences": "cmpcv.data.jhmdb.reader",
    "JHMDBPaths": "cmpcv.data.jhmdb.format",
    "jhmdb_paths": "cmpcv.data.jhmdb.format",
    "jhmdb_sample_id": "cmpcv.data.jhmdb.format",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
