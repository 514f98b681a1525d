"""Caching a dataset's sample index as JSON, invalidated when its annotation files change.

Building the A2D index opens ~15,000 HDF5 files (to read which instances each frame holds); the
cache makes every later start instant. The key hashes the *contents* of the annotation files and
the index parameters, so editing a file (or a copy with a fresh mtime) does the right thing. The
cache lives in ``<root>/.cmpcv_cache`` when the tree is writable, else under
``$XDG_CACHE_HOME/cmpcv`` (``~/.cache/cmpcv``); writes are atomic, and a failed write only logs.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cmpcv.data.atomic import atomic_write_text

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


def _fingerprint(files: Sequence[Path], params: dict) -> str:
    h = hashlib.sha256(json.dumps({"v": FORMAT_VERSION, "params": params}, sort_keys=True).encode())
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes() if f.is_file() else b"<missing>")
    return h.hexdigest()


def default_cache_dir(root: Path) -> Path:
    local = root / ".cmpcv_cache"
    if os.access(root, os.W_OK) or os.access(local, os.W_OK):
        return local
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "cmpcv" / hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:16]


def cached_index(name: str, root: str | os.PathLike, files: Sequence[Path], params: dict,
                 build: Callable[[], tuple[list, bool]], cache_dir: str | os.PathLike | None | bool = None
                 ) -> list[Any]:
    """Load the index ``name`` from the cache or ``build()`` it and store it.

    Args:
        files: annotation files whose contents key the cache.
        params: everything else the index depends on (split, seed, ...), JSON-serialisable.
        build: returns ``(samples, cacheable)``; an index built around problems (e.g. a skipped
            unreadable file) is not cached, so fixing the file takes effect at the next start.
        cache_dir: a folder, None for the default, or False to disable caching.

    Returns:
        The samples, each a list (JSON has no tuples).
    """
    if cache_dir is False:
        return build()[0]
    folder = default_cache_dir(Path(root)) if cache_dir in (None, True) else Path(cache_dir)
    path = folder / f"{name}.json"
    key = _fingerprint(files, params)
    try:
        data = json.loads(path.read_text())
        if data.get("key") == key:
            return data["samples"]
    except (OSError, ValueError, KeyError):
        pass  # no cache yet, or an unreadable one: rebuild
    samples, cacheable = build()
    if cacheable:
        try:
            atomic_write_text(path, json.dumps({"key": key, "params": params, "samples": samples}))
        except OSError as exc:
            log.warning("could not write the index cache %s: %s", path, exc)
    return samples
