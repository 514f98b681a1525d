"""Inference: a model over a loader -> masks at ground-truth size, metrics, a predictions file.

Post-processing follows the protocol (docs/architecture.md): ``sigmoid > 0.5`` on the annotated
frame's logits at input resolution, padding cropped, nearest resize to the original size
(:func:`cmpcv.data.transforms.restore_mask`). Each sample gets one scored mask. Its **score** is
the mean foreground probability, i.e. the mean of ``sigmoid(logits)`` over the predicted mask
(padding excluded), or the highest probability in the frame when nothing passes 0.5: a confident,
sharp mask ranks above a hesitant one, which is what COCO mask AP ranks on.

Used by validation during training, the test pass at its end, and ``python -m cmpcv.evaluate
checkpoint=PATH`` (through :func:`predict_to_file`).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from cmpcv.data.transforms import restore_mask
from cmpcv.engine.precision import autocast, resolve_precision

log = logging.getLogger(__name__)


@dataclass
class EvalResult:
    """What :func:`evaluate` returns (identical on every rank)."""

    metrics: dict[str, float]
    per_group: dict[str, dict[str, float]] = field(default_factory=dict)
    overlays: list[tuple[np.ndarray, str]] = field(default_factory=list)
    num_samples: int = 0
    predictions: Path | None = None
    skipped: list[str] = field(default_factory=list)  # samples left out by the data's on_error=skip


def foreground_score(prob: torch.Tensor, geometry: Mapping[str, Any], threshold: float = 0.5) -> float:
    """Score of one prediction: mean probability over the predicted foreground inside the
    unpadded region of ``prob (H, W)``; the maximum probability when the mask is empty."""
    top, left, bottom, right = geometry["pad"]
    H, W = prob.shape
    p = prob[top : H - bottom, left : W - right]
    fg = p > threshold
    return float(p[fg].mean()) if bool(fg.any()) else float(p.max()) if p.numel() else 0.0


def load_groups(root: str | os.PathLike | None) -> dict[str, str] | None:
    """``<root>/groups.json`` (sample id -> group name, e.g. the shapes set's word types) if any."""
    if root is None:
        return None
    path = Path(root) / "groups.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object mapping sample ids to group names")
    return {str(k): str(v) for k, v in data.items()}


def _to_uint8_image(frame: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` floats in [0, 1] -> ``(H, W, 3)`` uint8."""
    return (frame.float().clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)


def _gather_lists(items: list) -> list:
    """Concatenation of ``items`` over all ranks (rank order)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return items
    parts: list = [None] * dist.get_world_size()
    dist.all_gather_object(parts, items)
    return [x for part in parts for x in part]


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable[Mapping[str, Any]],
    *,
    device: torch.device,
    precision: str = "32",
    protocol: str = "mttr",
    groups: Mapping[str, str] | None = None,
    predictions_path: str | os.PathLike | None = None,
    predictions_meta: Mapping[str, Any] | None = None,
    overlay_ids: Iterable[str] = (),
    order: Mapping[str, int] | None = None,
    progress: bool = False,
    share_clips: bool = True,
) -> EvalResult:
    """Run ``model`` over ``loader`` (this rank's shard), score with the streaming evaluator
    (gathered across ranks) and, on rank 0, write the predictions file.

    Args:
        groups: sample id -> group, for the per-group breakdown.
        predictions_path: where rank 0 writes the predictions file (None: no file).
        overlay_ids: sample ids to draw (frame at input resolution, ground truth and prediction,
            the sentence as caption); gathered onto every rank in the order given.
        order: sample id -> global position, so results do not depend on the number of ranks.
        share_clips: the rows of a batch that hold the same clip (one annotated frame, several
            sentences; :func:`cmpcv.engine.data.eval_loader` batches them together) run the
            backbone and the sentence-independent stages once (:func:`shared_clip_logits`).
    """
    from cmpcv.engine.data import raise_load_failure
    from cmpcv.metrics import StreamingEvaluator
    from cmpcv.predictions import PredictionWriter, encode_mask
    from cmpcv.viz import overlay

    was_training = model.training
    model.eval()
    evaluator = StreamingEvaluator(protocol=protocol)
    wanted = list(overlay_ids)
    wanted_set = set(wanted)
    records: list[tuple[int, dict]] = []
    drawn: list[tuple[str, np.ndarray, str]] = []
    result_skipped: list[str] = []  # samples the dataset's on_error=skip dropped
    rank0 = not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0
    bar = None
    if progress and rank0:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(loader) if hasattr(loader, "__len__") else None, desc="eval", dynamic_ncols=True)
    for batch in loader:
        if bar is not None:
            bar.update(1)
        raise_load_failure(batch)
        result_skipped.extend(batch.get("skipped") or ())
        if not batch.get("batch_size", len(batch["sample_id"])):
            continue
        frames = batch["frames"].to(device, non_blocking=True)
        with autocast(precision, device):
            logits = shared_clip_logits(model, frames, batch["tokens"].to(device), batch["token_mask"].to(device),
                                        batch, share_clips)
        probs = torch.sigmoid(logits.float()).cpu()
        gts, preds, ids, grps, idx = [], [], [], [], []
        for b, sid in enumerate(batch["sample_id"]):
            geometry = batch["geometry"][b]
            mask = restore_mask(probs[b], geometry, threshold=0.5)
            score = foreground_score(probs[b], geometry)
            gt = np.asarray(batch["mask"][b])
            group = groups.get(sid) if groups is not None else None
            gts.append(gt)
            preds.append([(mask, score)])
            ids.append(sid)
            grps.append(group)
            if order is not None:
                idx.append(order[sid])
            if predictions_path is not None:
                rec = {
                    "sample_id": sid,
                    "masks": [encode_mask(mask)],
                    "scores": [score],
                    "gt_mask": encode_mask(gt),
                    "group": group,
                }
                records.append((order[sid] if order is not None else len(records), rec))
            if sid in wanted_set:
                T = frames.shape[1]
                image = overlay(
                    _to_uint8_image(batch["frames"][b, T // 2]),
                    [batch["target"][b].numpy() > 0.5, probs[b].numpy() > 0.5],
                    caption=f"{batch['query'][b]}  (green: truth, orange: prediction, score {score:.2f})",
                )
                drawn.append((sid, image, f"{sid}: {batch['query'][b]}"))
        evaluator.update(
            gts,
            preds,
            sample_ids=ids,
            groups=grps if groups is not None else None,
            indices=idx if order is not None else None,
        )
    if bar is not None:
        bar.close()
    metrics = evaluator.compute()
    per_group = evaluator.compute_breakdown() if groups is not None else {}
    result = EvalResult(metrics=metrics, per_group=per_group, num_samples=len(evaluator),
                        skipped=sorted(set(_gather_lists(result_skipped))))
    if result.skipped and rank0:
        log.warning("evaluation left out %d unreadable sample(s) (dataset.on_error=skip): %s",
                    len(result.skipped), ", ".join(result.skipped))
    by_id = {sid: (img, cap) for sid, img, cap in _gather_lists(drawn)}
    result.overlays = [by_id[s] for s in wanted if s in by_id]
    if predictions_path is not None:
        all_records = sorted(_gather_lists(records), key=lambda kv: kv[0])
        if rank0:
            with PredictionWriter(
                predictions_path, meta=dict(predictions_meta or {}, protocol=protocol)
            ) as w:
                for _, rec in all_records:
                    w.add(
                        rec["sample_id"],
                        rec["masks"],
                        rec["scores"],
                        gt_mask=rec["gt_mask"],
                        group=rec["group"],
                    )
            result.predictions = Path(predictions_path)
    model.train(was_training)
    return result


def shared_clip_logits(model: nn.Module, frames: torch.Tensor, tokens: torch.Tensor, token_mask: torch.Tensor,
                       batch: Mapping[str, Any], share: bool = True) -> torch.Tensor:
    """The annotated frames' ``logits (B, H, W)`` of a batch, each distinct clip through the
    backbone and the sentence-independent stages once (:func:`cmpcv.engine.video_inference.clip_logits`).

    Rows share a clip when they name the same ``(video_id, frame_idx)`` and hold equal frames
    (a flipped copy does not). Without staged stages (another model) or ``share=False``: the
    model's forward on every row.
    """
    from cmpcv.engine.video_inference import clip_logits

    net = getattr(model, "module", model)  # DDP
    keys = list(zip(batch.get("video_id", []), batch.get("frame_idx", [])))
    if not share or len(keys) != frames.shape[0] or not hasattr(net, "cmpc") or not hasattr(net.cmpc, "visual"):
        return model(frames, tokens, token_mask)["logits"]
    uniq: list[int] = []
    clip_of: list[int] = []
    for b, key in enumerate(keys):
        same = next((u for u, j in enumerate(uniq) if keys[j] == key and torch.equal(frames[j], frames[b])), None)
        if same is None:
            uniq.append(b)
            same = len(uniq) - 1
        clip_of.append(same)
    if len(uniq) == len(keys):
        return model(frames, tokens, token_mask)["logits"]
    return clip_logits(net, frames[uniq], net.language(tokens, token_mask), clip_of)


def sample_order(dataset: Any, indices: Iterable[int] | None = None) -> dict[str, int] | None:
    """Sample id -> position in ``dataset`` (or in its ``indices`` subset), when the dataset can
    name its samples without loading them (``sample_id(i)``)."""
    if not hasattr(dataset, "sample_id"):
        return None
    positions = list(indices) if indices is not None else range(len(dataset))
    return {dataset.sample_id(i): k for k, i in enumerate(positions)}


def loader_settings(batch_size: Any, num_workers: Any) -> tuple[int, int]:
    """``batch_size`` (None: 8) and ``num_workers`` (None: 0) checked: a ValueError naming the key
    for anything but integers >= 1 and >= 0 (never a silent default)."""
    batch_size, num_workers = 8 if batch_size is None else batch_size, 0 if num_workers is None else num_workers
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be an integer >= 1")
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers={num_workers} must be an integer >= 0")
    return batch_size, num_workers


def predict_to_file(cfg: Any, *, checkpoint: str | os.PathLike | None = None,
                    output_dir: str | os.PathLike | None = None) -> Path:
    """Inference for ``python -m cmpcv.evaluate run=DIR`` / ``checkpoint=PATH [dataset=NAME]``.

    Reads from ``cfg``: ``checkpoint`` (a training checkpoint: model, config and vocabulary; the
    ``checkpoint`` argument wins), ``dataset`` (a dataset config node with ``train``/``val``/``test``
    entries; null: the dataset the checkpoint was trained on, from its stored config), ``split``
    (default ``test``), ``batch_size``, ``num_workers``, ``device`` (``auto``/``cpu``/``cuda``),
    ``output_dir`` (the argument wins; None: hydra's run directory, else the current directory).
    Writes ``predictions_<dataset>_<split>.jsonl.gz`` there, each record with the ground-truth RLE
    and the group from ``<dataset root>/groups.json`` when that exists, and returns its path.
    """
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from cmpcv.data import ReferringCollator, Vocabulary
    from cmpcv.engine.checkpoint import load_checkpoint
    from cmpcv.engine.data import eval_loader, warn_long_sentences
    from cmpcv.models import build_model

    get = (
        (lambda key, default=None: OmegaConf.select(cfg, key, default=default))
        if OmegaConf.is_config(cfg)
        else (lambda key, default=None: cfg.get(key, default))
    )
    batch_size, num_workers = loader_settings(get("batch_size", 8), get("num_workers", 0))
    ckpt_path = checkpoint or get("checkpoint")
    if not ckpt_path:
        raise ValueError("predict_to_file: cfg.checkpoint is not set")
    ckpt = load_checkpoint(ckpt_path)
    if "vocab" not in ckpt or "config" not in ckpt:
        raise ValueError(
            f"checkpoint {ckpt_path}: no 'vocab'/'config' entries; was it written by cmpcv.train?"
        )
    split = get("split", "test") or "test"
    ds_cfg = get("dataset")
    if ds_cfg is None:
        ds_cfg = OmegaConf.create((ckpt["config"] or {}).get("dataset") or {})
        if not ds_cfg:
            raise ValueError(f"checkpoint {ckpt_path} names no dataset: choose one, e.g. "
                             "`dataset=a2d dataset.root=PATH`")
        log.info("evaluating on the dataset the checkpoint was trained on: %s at %s",
                 ds_cfg.get("name"), ds_cfg.get("root"))
    node = OmegaConf.select(ds_cfg, split) if OmegaConf.is_config(ds_cfg) else ds_cfg.get(split)
    name = str(ds_cfg.get("name", "dataset"))
    if node is None:
        raise ValueError(f"dataset {name!r} has no {split!r} split")
    dataset = instantiate(node)

    device_name = str(get("device", "auto") or "auto")
    device = torch.device(
        "cuda"
        if device_name == "auto" and torch.cuda.is_available()
        else ("cpu" if device_name == "auto" else device_name)
    )
    model = build_model(None, checkpoint=ckpt).to(device)
    vocab = Vocabulary.from_dict(ckpt["vocab"])
    max_words = int(OmegaConf.select(OmegaConf.create(ckpt["config"]), "trainer.max_words", default=20))
    warn_long_sentences(dataset, max_words, f"{name} {split} split")
    loader = eval_loader(
        dataset,
        collate_fn=ReferringCollator(vocab, max_words=max_words),
        batch_size=batch_size,
        num_workers=num_workers,
    )

    out_dir = output_dir or get("output_dir")
    if not out_dir:
        try:
            from hydra.core.hydra_config import HydraConfig

            out_dir = HydraConfig.get().runtime.output_dir
        except Exception:  # noqa: BLE001 - not inside a hydra app
            out_dir = os.getcwd()
    path = Path(out_dir) / f"predictions_{name}_{split}.jsonl.gz"
    precision = resolve_precision(get("precision", "32") or "32", device)
    result = evaluate(
        model,
        loader,
        device=device,
        precision=precision,
        protocol=str(get("protocol", "mttr") or "mttr"),
        groups=load_groups(getattr(dataset, "root", None)),
        predictions_path=path,
        predictions_meta={
            "dataset": name,
            "split": split,
            "checkpoint": str(ckpt_path),
            "step": ckpt.get("step"),
            "config": ckpt["config"],
        },
        order=sample_order(dataset),
        progress=True,
    )
    log.info("wrote %d predictions to %s", result.num_samples, path)
    return path
