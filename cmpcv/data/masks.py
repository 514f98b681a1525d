"""Readers of the per-frame ground truth: A2D HDF5 files and J-HMDB ``puppet_mask.mat``.

A2D (spec §1.4): ``reMask`` is stored transposed, ``(W, H)`` for one instance and ``(N, W, H)``
for N; ``instance`` lists the ids of the first masks in order (surplus masks come last and are
ignored); a sentence's mask is the slice at the *position* of its instance id. J-HMDB (§2):
``part_mask`` is ``(H, W, T)`` and not transposed.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cmpcv.data.errors import DataError


def _open_h5(path: Path):
    import h5py

    if not path.is_file():
        raise DataError(path, "A2D mask file (.h5) not found")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DataError(path, f"could not open the A2D mask file as HDF5: {exc}") from exc


def read_a2d_instances(path: str | os.PathLike) -> list[int]:
    """The instance ids stored in an A2D frame file (key ``instance``), in mask order."""
    path = Path(path)
    with _open_h5(path) as f:
        if "instance" not in f:
            raise DataError(path, f"key 'instance' missing (keys: {sorted(f.keys())})")
        try:
            return [int(v) for v in np.asarray(f["instance"]).ravel()]
        except (OSError, ValueError) as exc:
            raise DataError(path, f"could not read key 'instance': {exc}") from exc


def read_a2d_mask(path: str | os.PathLike, instance_id: int) -> np.ndarray:
    """The ``(H, W)`` uint8 {0, 1} mask of ``instance_id`` in an A2D frame file."""
    path = Path(path)
    try:
        return _read_a2d_mask(path, instance_id)
    except (OSError, KeyError, ValueError) as exc:  # h5py reports truncated data lazily, on read
        raise DataError(path, f"could not read the A2D mask: {type(exc).__name__}: {exc}") from exc


def _read_a2d_mask(path: Path, instance_id: int) -> np.ndarray:
    with _open_h5(path) as f:
        for key in ("instance", "reMask"):
            if key not in f:
                raise DataError(path, f"key {key!r} missing (keys: {sorted(f.keys())})")
        instances = [int(v) for v in np.asarray(f["instance"]).ravel()]
        if instance_id not in instances:
            raise DataError(path, f"instance id {instance_id} not in the file's instances {instances}")
        pos = instances.index(instance_id)  # first occurrence, as MTTR (a duplicated id exists)
        dset = f["reMask"]
        if dset.ndim == 2:  # one instance: (W, H)
            if pos != 0:
                raise DataError(path, f"reMask holds one mask but instance {instance_id} is at position {pos}")
            stored = np.asarray(dset)
        elif dset.ndim == 3:
            if dset.shape[0] < len(instances):
                raise DataError(path, f"reMask has {dset.shape[0]} masks for {len(instances)} instance ids")
            stored = np.asarray(dset[pos])
        else:
            raise DataError(path, f"reMask must be (W, H) or (N, W, H), got shape {dset.shape}")
    return (stored.T > 0).astype(np.uint8)


def read_puppet_mask(path: str | os.PathLike) -> np.ndarray:
    """A J-HMDB ``puppet_mask.mat`` as ``(T, H, W)`` uint8 {0, 1}."""
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise DataError(path, "J-HMDB puppet mask (.mat) not found")
    try:
        data = scipy.io.loadmat(path, variable_names=["part_mask"])
    except Exception as exc:  # noqa: BLE001 - scipy raises several types for corrupt files
        raise DataError(path, f"could not read the MATLAB file: {type(exc).__name__}: {exc}") from exc
    if "part_mask" not in data:
        raise DataError(path, "key 'part_mask' missing")
    masks = np.asarray(data["part_mask"])
    if masks.ndim == 2:  # savemat squeezes nothing, but a one-frame MATLAB export can be 2-D
        masks = masks[:, :, None]
    if masks.ndim != 3:
        raise DataError(path, f"part_mask must be (H, W, T), got shape {masks.shape}")
    return (masks.transpose(2, 0, 1) > 0).astype(np.uint8)
