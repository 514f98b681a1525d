"""The saved-predictions file: model-independent scored masks, one record per sample.

Format (``format = "cmpcv-predictions"``, version 1; docs/evaluation.md has the full description):
JSON Lines, gzip-compressed when the name ends in ``.gz``. Line 1 is a header object::

    {"format": "cmpcv-predictions", "version": 1, "dataset": "a2d", "split": "test",
     "protocol": "mttr", "checkpoint": "...", "config": {...}, "created": "...", ...}

and every further line is one sample::

    {"sample_id": "v_-4KMQsUaSAQ_f_28_i_0", "size": [320, 568],
     "masks": [{"size": [320, 568], "counts": "<COCO RLE, Fortran order, ascii>"}, ...],
     "scores": [0.93, ...], "gt": {"size": ..., "counts": ...}, "group": "action"}

``gt`` (the ground truth at the original resolution) and ``group`` are optional; with ``gt`` in
every record the file is self-contained. :class:`PredictionWriter` writes it batch by batch and
atomically; :func:`read_predictions` validates it; :func:`score_predictions` scores it.
"""
from __future__ import annotations

import contextlib
import datetime
import gzip
import io
import json
import math
import os
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cmpcv.data.atomic import atomic_path
from cmpcv.data.rle import RLEError, check_rle
from cmpcv.metrics import MatchStats, breakdown_stats, compute_metrics, count_rle
from cmpcv.metrics.stats import as_binary_mask

FORMAT = "cmpcv-predictions"
VERSION = 1


def encode_mask(mask) -> dict:
    """``(H, W)`` binary mask -> COCO RLE dict ``{"size": [H, W], "counts": str}`` (Fortran order)."""
    from pycocotools import mask as mask_utils

    m = as_binary_mask(mask, "mask")
    rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def _as_rle(obj, what: str) -> dict:
    """A mask given as an RLE dict (validated: :func:`cmpcv.data.rle.check_rle`) or an array."""
    if isinstance(obj, Mapping):
        if "size" not in obj or "counts" not in obj:
            raise ValueError(f"{what}: an RLE needs 'size' and 'counts'")
        return check_rle(obj, what)
    return encode_mask(obj)


def _uncompressed_to_rle(seg: Mapping, where: str) -> dict:
    """COCO's uncompressed RLE (``counts`` a list of run lengths) as a compressed one, after
    checking what pycocotools does not: runs are non-negative integers that cover ``H * W``."""
    from pycocotools import mask as mask_utils

    try:
        h, w = (int(v) for v in seg["size"])
    except (TypeError, ValueError):
        raise RLEError(f"{where}: 'size' must be [height, width], got {seg['size']!r}") from None
    runs = seg["counts"]
    if not all(isinstance(r, int) and not isinstance(r, bool) and r >= 0 for r in runs):
        raise RLEError(f"{where}: uncompressed 'counts' must be non-negative integers")
    if h < 0 or w < 0 or sum(runs) != h * w:
        raise RLEError(f"{where}: the counts cover {sum(runs)} pixels, but size {[h, w]} has {h * w}")
    rle = mask_utils.frPyObjects({"size": [h, w], "counts": list(runs)}, h, w)
    return check_rle(rle, where)


def _open_text(path: Path, mode: str, gz: bool | None = None):
    """Text handle on ``path``; gzip when ``gz`` (default: the name ends in ``.gz``)."""
    if path.name.endswith(".gz") if gz is None else gz:
        return io.TextIOWrapper(gzip.open(path, mode + "b"), encoding="utf-8", newline="\n")
    return open(path, mode, encoding="utf-8", newline="\n")


class PredictionWriter:
    """Stream records into a predictions file; the file appears (atomically) only on ``close``.

    Use as a context manager::

        with PredictionWriter("preds.jsonl.gz", meta={"dataset": "a2d", "split": "test"}) as w:
            for batch in loader:
                ...
                w.add(sample_id, masks, scores, gt_mask=gt, group=None)

    On an exception inside the block the temporary file is removed and nothing is written.
    ``meta`` may hold ``dataset``, ``split``, ``protocol``, ``checkpoint``, ``config`` (any JSON
    value) and further free-form keys.
    """

    def __init__(self, path: str | os.PathLike, meta: Mapping | None = None) -> None:
        self.path = Path(path)
        self._stack = contextlib.ExitStack()
        tmp = self._stack.enter_context(atomic_path(self.path))
        self._fh = _open_text(tmp, "w", gz=self.path.name.endswith(".gz"))
        self._ids: set[str] = set()
        self.count = 0
        header = {"format": FORMAT, "version": VERSION, "dataset": None, "split": None,
                  "protocol": None, "checkpoint": None, "config": None,
                  "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        header.update(dict(meta or {}))
        header["format"], header["version"] = FORMAT, VERSION
        self._fh.write(json.dumps(header, default=str) + "\n")

    def add(self, sample_id: str, masks, scores, gt_mask=None, group: str | None = None,
            size: Sequence[int] | None = None) -> None:
        """Add one sample.

        Args:
            sample_id: unique id (MTTR's image id for A2D / J-HMDB).
            masks: the scored masks at ground-truth size: a ``(K, H, W)`` or ``(H, W)`` array,
                or a list of ``(H, W)`` arrays or RLE dicts.
            scores: ``K`` scores (a scalar when there is one mask).
            gt_mask: optional ground truth ``(H, W)`` array or RLE; makes the file self-contained.
            group: optional group name (for per-group tables).
            size: ``(H, W)``; taken from ``gt_mask`` or the masks when omitted.
        """
        where = f"{self.path}: sample {sample_id!r}"
        if not isinstance(sample_id, str) or not sample_id:
            raise ValueError(f"{self.path}: sample_id must be a non-empty string, got {sample_id!r}")
        if sample_id in self._ids:
            raise ValueError(f"{where}: duplicated sample id")
        if isinstance(masks, np.ndarray) or hasattr(masks, "numpy"):
            arr = np.asarray(masks)
            masks = [arr] if arr.ndim == 2 else list(arr)
        rles = [_as_rle(m, f"{where}, mask {k}") for k, m in enumerate(masks)]
        score_list = [float(s) for s in np.atleast_1d(np.asarray(scores, dtype=np.float64))]
        if not rles:
            raise ValueError(f"{where}: no masks")
        if len(score_list) != len(rles):
            raise ValueError(f"{where}: {len(rles)} masks but {len(score_list)} scores")
        if not all(math.isfinite(s) for s in score_list):
            raise ValueError(f"{where}: scores must be finite, got {score_list}")
        gt = _as_rle(gt_mask, f"{where}, ground truth") if gt_mask is not None else None
        hw = [int(v) for v in size] if size is not None else (gt["size"] if gt else rles[0]["size"])
        for k, rle in enumerate(rles + ([gt] if gt else [])):
            if rle["size"] != hw:
                what = "ground truth" if k == len(rles) else f"mask {k}"
                raise ValueError(f"{where}: {what} has size {rle['size']}, "
                                 f"expected {hw} (the ground-truth size)")
        record = {"sample_id": sample_id, "size": hw, "masks": rles, "scores": score_list}
        if gt is not None:
            record["gt"] = gt
        if group is not None:
            record["group"] = str(group)
        self._fh.write(json.dumps(record) + "\n")
        self._ids.add(sample_id)
        self.count += 1

    def close(self) -> Path:
        """Finish the file: flush, fsync, rename onto ``path``. Returns ``path``."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            self._stack.close()
        return self.path

    def abort(self) -> None:
        """Drop everything written so far; ``path`` is left untouched."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            with contextlib.suppress(RuntimeError):
                self._stack.__exit__(RuntimeError, RuntimeError("aborted"), None)

    def __enter__(self) -> "PredictionWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


@dataclass
class PredictionRecord:
    sample_id: str
    size: tuple[int, int]
    masks: list[dict]
    scores: np.ndarray
    gt: dict | None = None
    group: str | None = None
    number: int = 0  # 1-based record number in its file (the header is not a record)


@dataclass
class Predictions:
    path: Path
    meta: dict
    records: list[PredictionRecord] = field(default_factory=list)


def _check_rle(obj, size, where: str) -> dict:
    """A record's RLE, checked before pycocotools ever sees it (a ``counts`` string that does not
    cover ``size`` makes its ``merge`` loop forever). Errors start with ``where``."""
    if not isinstance(obj, Mapping) or not isinstance(obj.get("counts"), str) or "size" not in obj:
        raise ValueError(f"{where}: expected an RLE object with 'size' and an ascii 'counts' string")
    try:
        own = [int(v) for v in obj["size"]]
    except (TypeError, ValueError):
        own = None
    if own != list(size):
        raise ValueError(f"{where}: size {obj['size']!r} differs from the ground-truth size {list(size)}")
    return check_rle(obj, where, size)


def _records(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of a predictions file; a file that is missing, a folder, not gzip
    although named ``.gz``, truncated, or not UTF-8 text is one clear :class:`ValueError`."""
    if not path.exists():
        raise FileNotFoundError(f"predictions file {path} does not exist")
    if not path.is_file():
        raise ValueError(f"predictions file {path} is not a file")
    gz = path.name.endswith(".gz")
    line_no = 0
    try:
        with _open_text(path, "r") as fh:
            for line_no, line in enumerate(fh, start=1):
                yield line_no, line
    except (gzip.BadGzipFile, zlib.error) as err:
        raise ValueError(f"{path}: not a readable gzip file ({err}); a name ending in .gz must be "
                         "gzip-compressed JSON Lines, a plain file must not end in .gz") from None
    except EOFError:
        raise ValueError(f"{path}: the gzip data ends early, after line {line_no} (a truncated or partly "
                         "copied file); write or copy it again") from None
    except UnicodeDecodeError:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        hint = " (it is gzip-compressed: name it .jsonl.gz)" if gzipped and not gz else ""
        raise ValueError(f"{path}: line {line_no + 1} is not UTF-8 text{hint}") from None


def read_predictions(path: str | os.PathLike) -> Predictions:
    """Read and validate a predictions file. Errors name the file, record number and sample id
    (and the mask index for an RLE); every RLE is checked before pycocotools may see it."""
    path = Path(path)
    out: Predictions | None = None
    first_seen: dict[str, int] = {}
    for line_no, line in _records(path):
        number = line_no - 1
        sid = None

        def where(_n=number, _line=line_no) -> str:
            who = "header" if _n == 0 else f"record {_n} (line {_line}, sample id {sid!r})"
            return f"{path}: {who}"

        def problem(msg: str) -> None:
            raise ValueError(f"{where()}: {msg}")

        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            problem(f"invalid JSON ({err.msg} at column {err.colno})")
        if not isinstance(obj, dict):
            problem("expected a JSON object")
        if out is None:
            if obj.get("format") != FORMAT:
                problem(f"not a cmpcv predictions file "
                        f"(format {obj.get('format')!r}, expected {FORMAT!r})")
            if not isinstance(obj.get("version"), int) or obj["version"] > VERSION:
                problem(f"unsupported version {obj.get('version')!r} (this reader knows up to {VERSION})")
            out = Predictions(path=path, meta=obj)
            continue
        sid = obj.get("sample_id")
        for key in ("sample_id", "size", "masks", "scores"):
            if key not in obj:
                problem(f"missing key {key!r}")
        if not isinstance(sid, str) or not sid:
            problem("'sample_id' must be a non-empty string")
        if sid in first_seen:
            problem(f"duplicated sample id (first in record {first_seen[sid]})")
        size = obj["size"]
        if (not isinstance(size, list) or len(size) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
            problem(f"'size' must be [H, W] with positive integers, got {size!r}")
        masks, scores = obj["masks"], obj["scores"]
        if not isinstance(masks, list) or not masks:
            problem("'masks' must be a non-empty list (every sample needs a prediction)")
        if (not isinstance(scores, list) or len(scores) != len(masks)
                or not all(isinstance(s, (int, float)) and not isinstance(s, bool) and math.isfinite(s)
                           for s in scores)):
            problem(f"'scores' must be {len(masks)} finite numbers, one per mask")
        rles = [_check_rle(m, size, f"{where()}: mask {k}") for k, m in enumerate(masks)]
        gt = None
        if obj.get("gt") is not None:
            gt = _check_rle(obj["gt"], size, f"{where()}: ground truth")
        group = obj.get("group")
        first_seen[sid] = number
        out.records.append(PredictionRecord(
            sample_id=sid, size=(size[0], size[1]), masks=rles, scores=np.asarray(scores, np.float64),
            gt=gt, group=None if group is None else str(group), number=number))
    if out is None:
        raise ValueError(f"{path}: empty file (no header)")
    return out


def load_coco_ground_truth(path: str | os.PathLike) -> dict[str, dict]:
    """``{image_id: RLE}`` from a COCO-format ground truth with one annotation per image, as
    MTTR publishes it (``images`` / ``annotations`` with RLE ``segmentation``). Every RLE is
    checked (:func:`cmpcv.data.rle.check_rle`) before pycocotools sees it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ground-truth file {path} does not exist" if not path.exists()
                                else f"ground truth {path} is not a file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: invalid JSON ({err.msg} at line {err.lineno})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text (expected a COCO-format JSON file)") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object with 'images' and 'annotations'")
    for key in ("images", "annotations"):
        if not isinstance(data.get(key), list):
            raise ValueError(f"{path}: missing key {key!r} (expected a COCO-format ground truth)")
    sizes = {}
    for n, img in enumerate(data["images"]):
        try:
            iid, hw = img["id"], [int(img["height"]), int(img["width"])]
        except (TypeError, KeyError, ValueError):
            raise ValueError(f"{path}: images[{n}]: expected an object with 'id', 'height' and 'width'") from None
        if iid in sizes:
            raise ValueError(f"{path}: images[{n}]: duplicated image id {iid!r}")
        sizes[iid] = hw
    out: dict[str, dict] = {}
    for n, ann in enumerate(data["annotations"]):
        iid = ann.get("image_id") if isinstance(ann, dict) else None
        where = f"{path}: annotations[{n}] (image id {iid!r})"
        if iid not in sizes:
            raise ValueError(f"{where}: no such image")
        if iid in out:
            raise ValueError(f"{where}: a second annotation for this image (expected exactly one)")
        seg = ann.get("segmentation")
        if not isinstance(seg, dict) or "counts" not in seg or "size" not in seg:
            raise ValueError(f"{where}: 'segmentation' must be an RLE with 'size' and 'counts'")
        if isinstance(seg["counts"], list):  # uncompressed RLE
            rle = _uncompressed_to_rle(seg, f"{where}: segmentation")
        else:
            rle = check_rle(seg, f"{where}: segmentation")
        if rle["size"] != sizes[iid]:
            raise ValueError(f"{where}: RLE size {rle['size']} differs from the image size {sizes[iid]}")
        out[str(iid)] = rle
    missing = [iid for iid in sizes if str(iid) not in out]
    if missing:
        raise ValueError(f"{path}: image {missing[0]!r} has no annotation (and {len(missing) - 1} more)")
    return out


def _where(preds: Predictions, record: PredictionRecord) -> str:
    return f"{preds.path}: record {record.number} (sample id {record.sample_id!r})"


def predictions_to_stats(
    preds: Predictions, ground_truth: Mapping[str, dict] | None = None
) -> tuple[MatchStats, list[str], list[str | None]]:
    """Count a predictions file against its ground truth: ``(stats, sample_ids, groups)``.

    Samples are ordered by sample id, the order pycocotools gives string image ids, so mAP
    equals MTTR's evaluation of the same predictions. Without ``ground_truth`` every record must
    carry its ``gt``; with it, the two sample sets must be identical.
    """
    by_id = {r.sample_id: r for r in preds.records}
    if ground_truth is None:
        for r in preds.records:
            if r.gt is None:
                raise ValueError(f"{_where(preds, r)}: no 'gt' in the record and no ground-truth file given")
        gts = {r.sample_id: r.gt for r in preds.records}
    else:
        gts = dict(ground_truth)
        for r in preds.records:
            if r.sample_id not in gts:
                raise ValueError(f"{_where(preds, r)}: unknown sample id (not in the ground truth)")
            gt_size = gts[r.sample_id].get("size") if isinstance(gts[r.sample_id], Mapping) else None
            if gt_size is None or [int(v) for v in gt_size] != list(r.size):
                raise ValueError(f"{_where(preds, r)}: size {list(r.size)} differs from the ground-truth "
                                 f"size {gt_size}")
            # A mapping handed in by code (not load_coco_ground_truth) is checked here as well.
            gts[r.sample_id] = check_rle(gts[r.sample_id], f"ground truth of sample {r.sample_id!r}", r.size)
        missing = sorted(set(gts) - set(by_id))
        if missing:
            raise ValueError(f"{preds.path}: sample id {missing[0]!r} of the ground truth has no prediction "
                             f"({len(missing)} such samples)")
    ids = sorted(by_id)
    parts = []
    for sid in ids:
        r = by_id[sid]
        try:
            parts.append(count_rle(gts[sid], r.masks, r.scores, checked=True))
        except (ValueError, TypeError) as err:
            raise ValueError(f"{_where(preds, r)}: bad RLE ({err})") from None
    return MatchStats.concatenate(parts), ids, [by_id[s].group for s in ids]


def score_predictions(
    preds: Predictions,
    ground_truth: Mapping[str, dict] | None = None,
    protocol: str = "mttr",
    groups: Mapping[str, str] | None = None,
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """``(metrics, {group: metrics})`` of a predictions file. ``groups`` (sample id -> name)
    overrides the records' own ``group`` fields."""
    stats, ids, record_groups = predictions_to_stats(preds, ground_truth)
    names = [groups.get(s) for s in ids] if groups is not None else record_groups
    metrics = compute_metrics(stats, protocol)
    per_group = breakdown_stats(stats, names, protocol) if any(g is not None for g in names) else {}
    return metrics, per_group
