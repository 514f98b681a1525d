"""The generated ``shapes`` tree as a cache: made once per configuration, replaced whole.

:func:`generate` writes the tree into a temporary folder beside ``root`` and renames it into place,
so readers never see half a tree; a tree with a different stamp is replaced, a non-empty folder
without a stamp is never touched (it is not ours). An advisory lock makes DDP ranks generate once.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from cmpcv.data.atomic import atomic_write_text, current_umask
from cmpcv.data.shapes.config import ShapesConfig, stamp
from cmpcv.data.shapes.tree import STAMP_FILE, read_stamp, write_tree


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an advisory lock (so DDP ranks generate once); a no-op where ``fcntl`` is missing, where
    the "first rename wins" rule of :func:`_swap_in` still keeps the tree whole."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(lock_path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def generate(root: str | os.PathLike, config: ShapesConfig | Mapping | None = None, *, verbose: bool = False,
             workers: int | None = None, progress: bool = False, fmt: str = "a2d") -> Path:
    """Make sure the tree at ``root`` holds the set of ``config``; generate it if not. Returns ``root``.

    The tree is written into a temporary folder beside ``root`` and renamed into place, so readers
    never see half a tree; a tree with a different stamp is replaced, a non-empty folder without a
    stamp is never touched (it is not ours). ``workers``: see
    :func:`~cmpcv.data.shapes.tree.write_tree`. ``progress``: a progress bar with an ETA on stderr
    while the set is generated (the demo's first minute or two; A2D format). ``fmt``: ``"a2d"`` (the
    A2D Sentences tree) or a JPEG-folder format of :mod:`cmpcv.data.shapes.formats` (``"mevis"``,
    ``"ytvos"``; the stamp records it).
    """
    config = ShapesConfig.from_mapping(config)
    root = Path(root)
    wanted = json.loads(json.dumps(stamp(config) if fmt == "a2d" else {**stamp(config), "format": fmt}))
    if read_stamp(root) == wanted:
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(root.parent / f".{root.name}.lock"):
        if read_stamp(root) == wanted:  # another process generated it while we waited
            return root
        if root.exists() and read_stamp(root) is None and any(root.iterdir()):
            raise FileExistsError(f"{root}: exists, is not empty and has no {STAMP_FILE}; refusing to "
                                  f"overwrite it with the shapes set (choose another root)")
        tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
        try:
            start = time.perf_counter()
            if fmt == "a2d":
                counts = write_tree(tmp, config, workers=workers,
                                    progress=f"shapes: generating {root}" if progress else None)
            else:
                from cmpcv.data.shapes.formats import write_format_tree

                counts = write_format_tree(tmp, config, fmt)
                # The stamp goes last (write_tree does the same): a tree with a stamp is complete.
                atomic_write_text(tmp / STAMP_FILE, json.dumps(wanted, indent=1, sort_keys=True))
            _swap_in(tmp, root, wanted)
            if verbose:
                print(f"shapes: generated {root} ({fmt}) in {time.perf_counter() - start:.1f} s: "
                      + "; ".join(f"{s} {c if isinstance(c, int) else dict(c)}" for s, c in counts.items()),
                      file=sys.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def _swap_in(tmp: Path, root: Path, wanted: dict) -> None:
    """Rename ``tmp`` onto ``root``; an old tree is moved aside first and deleted after."""
    if read_stamp(root) == wanted:  # someone else's identical copy is already in place
        return
    _as_umask_allows(tmp)
    old = None
    if root.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=root.parent))
        os.replace(root, old / root.name)
    try:
        os.replace(tmp, root)
    except OSError:
        # Another process renamed its own copy in first (no lock available): keep the winner if it
        # is the tree we want.
        if read_stamp(root) != wanted:
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    with contextlib.suppress(OSError):  # make the rename durable where directories can be fsynced
        fd = os.open(root.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _as_umask_allows(tree: Path) -> None:
    """Give the tree the permissions of ordinary files and folders: ``mkdtemp`` / ``mkstemp`` (used
    for atomic writes) create them private (0700 / 0600), but a data folder is meant to be shared."""
    umask = current_umask()
    os.chmod(tree, 0o777 & ~umask)
    for folder, dirs, files in os.walk(tree):
        for d in dirs:
            os.chmod(os.path.join(folder, d), 0o777 & ~umask)
        for f in files:
            os.chmod(os.path.join(folder, f), 0o666 & ~umask)
