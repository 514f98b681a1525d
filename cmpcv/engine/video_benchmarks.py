"""``python -m cmpcv.evaluate checkpoint=... dataset=ytvos|davis17|mevis``: whole-video inference on
a video benchmark's split, its outputs, and its J&F table where the ground truth is public.

Every listed frame of every video of the split is segmented for every expression of the video
(:mod:`cmpcv.engine.video_eval`, videos dealt across DDP ranks), then, on rank 0:

=====================  ==========================================================================
Refer-YouTube-VOS       ``submission_ytvos_<split>.zip``: ``Annotations/<video>/<exp_id>/<frame>.png``
                        for the server (CodaLab), checked complete; no local score
MeViS ``valid_u``       ``results/<video>/<exp_id>/<frame>.png`` scored as MeViS's script does
MeViS ``valid``         ``submission_mevis_valid.zip`` (the video folders at its root), server-scored
Ref-DAVIS17             per expression set, ``results_<set>/<video>/<frame>.png`` label images
                        merging the video's objects; the four sets scored with the DAVIS-2017
                        toolkit's unsupervised protocol and averaged (one set: that set's J&F)
=====================  ==========================================================================

The clip sampler and the resizing are the dataset's (``dataset.clip``, ``dataset.size``,
``dataset.resize``), as for A2D evaluation.
"""
from __future__ import annotations

import contextlib
import logging
import uuid
from pathlib import Path
from typing import Any

import torch

from cmpcv.data.submission import check_zip, expected_entries, zip_results
from cmpcv.engine import distributed as D
from cmpcv.engine.precision import resolve_precision
from cmpcv.engine.video_eval import (
    BinaryMaskWriter,
    MergedLabelWriter,
    results_folder,
    segment_videos,
    shard,
    video_tasks,
)
from cmpcv.engine.video_inference import VideoSegmenter

log = logging.getLogger(__name__)

__all__ = ["YTVOS_SERVER_NOTE", "benchmark_kind", "evaluate_video_benchmark", "is_video_split"]

YTVOS_SERVER_NOTE = ("Refer-YouTube-VOS is scored only by the competition's CodaLab server, which has been "
                     "unreliable since 2026: keep the zip, and check the server's status before relying on a "
                     "score from it")
SET_FOLDERS = ("annot1_first", "annot1_full", "annot2_first", "annot2_full")


def is_video_split(node: Any) -> bool:
    """Whether a dataset split's config node builds a frame-folder reader (videos with expressions)."""
    target = node.get("_target_") if hasattr(node, "get") else None
    if not target:
        return False
    from hydra.utils import get_class

    try:
        cls = get_class(str(target))
    except Exception:  # noqa: BLE001 - not importable: let instantiation report it
        return False
    return hasattr(cls, "video_ids") and hasattr(cls, "frame_folder")


def benchmark_kind(dataset: Any) -> str:
    """``ytvos``, ``mevis`` or ``davis17`` for a reader of that benchmark (or a subclass)."""
    from cmpcv.data.davis17 import RefDAVIS17
    from cmpcv.data.mevis import MeViS
    from cmpcv.data.ytvos import RefYouTubeVOS

    for kind, cls in (("davis17", RefDAVIS17), ("mevis", MeViS), ("ytvos", RefYouTubeVOS)):
        if isinstance(dataset, cls):
            return kind
    raise ValueError(f"{type(dataset).__name__} is not a Refer-YouTube-VOS, MeViS or Ref-DAVIS17 reader")


def _load(checkpoint: str, device: torch.device) -> tuple[Any, Any, dict]:
    from omegaconf import OmegaConf

    from cmpcv.data import ReferringCollator, Vocabulary
    from cmpcv.engine.checkpoint import load_checkpoint
    from cmpcv.models import build_model

    ckpt = load_checkpoint(checkpoint)
    if "vocab" not in ckpt or "config" not in ckpt:
        raise ValueError(f"checkpoint {checkpoint}: no 'vocab'/'config' entries; was it written by cmpcv.train?")
    model = build_model(None, checkpoint=ckpt).to(device).eval()
    max_words = int(OmegaConf.select(OmegaConf.create(ckpt["config"]), "trainer.max_words", default=20) or 20)
    return model, ReferringCollator(Vocabulary.from_dict(ckpt["vocab"]), max_words=max_words), ckpt


def evaluate_video_benchmark(dataset: Any, checkpoint: str, out_dir: str | Path, *, device: str = "auto",
                             precision: str = "32", batch_size: int = 8, name: str = "cmpcv (this run)",
                             workers: int = 1, progress: bool = True) -> tuple[dict, list]:
    """Segment ``dataset`` (a frame-folder reader's split) with the checkpoint's model, write its
    outputs into ``out_dir`` and score what can be scored here. Returns ``(report, tables)``:
    ``report`` (for ``metrics.json``) names the outputs; ``tables`` are empty for server-scored
    splits. Under DDP (``torchrun``) every rank segments its share of the videos; rank 0 returns
    the result, the other ranks ``({}, [])``."""
    info, dev = D.init_distributed(device)
    out_dir = Path(out_dir)
    model, collator, ckpt = _load(checkpoint, dev)
    kind = benchmark_kind(dataset)
    split = str(getattr(dataset, "split", ""))
    engine = VideoSegmenter(model, dataset.clip, dataset.resizer, device=dev, batch_size=batch_size,
                            precision=resolve_precision(precision, dev))
    tasks = video_tasks(dataset)
    mine = shard(tasks, info.rank, info.world_size)
    token = D.broadcast_object(uuid.uuid4().hex[:12])
    encode = collator.encode
    report: dict[str, Any] = {"name": name, "dataset": kind, "split": split, "checkpoint": str(checkpoint),
                              "step": ckpt.get("step"), "videos": len(tasks),
                              "masks": sum(t.cost for t in tasks)}
    common = {"is_main": info.is_main, "token": token, "barrier": D.barrier}
    if kind == "davis17":
        from cmpcv.data.davis17.expressions import expression_set
        from cmpcv.data.palette import write_label_png

        sets = tuple(dataset.sets)
        finals = {s: out_dir / f"results_{SET_FOLDERS[s]}" for s in sets}
        with contextlib.ExitStack() as stack:
            folders = {s: stack.enter_context(results_folder(f, **common)) for s, f in finals.items()}
            writer = MergedLabelWriter(folders, expression_set, lambda p, labels: write_label_png(p, labels, atomic=False))
            segment_videos(engine, encode, mine, writer, progress=progress and info.is_main, desc=f"{kind} {split}")
        if not info.is_main:
            return {}, []
        from cmpcv.results import jf_protocols

        report["results"] = [str(finals[s]) for s in sets]
        if sets == (0, 1, 2, 3):
            jf = jf_protocols.run_refdavis(dataset.davis.root, [finals[s] for s in sets], split=split, name=name,
                                           workers=workers)
        else:
            if len(sets) > 1:
                log.warning("Ref-DAVIS17 averages all four expression sets; %s scores set %d only", sets, sets[0])
            jf = jf_protocols.run_davis(dataset.davis.root, finals[sets[0]], split=split, name=name,
                                        published="refdavis", workers=workers)
        report["metrics"] = jf.metrics
        return report, jf.tables
    final = out_dir / "results"
    with results_folder(final, **common) as folder:
        segment_videos(engine, encode, mine, BinaryMaskWriter(folder), progress=progress and info.is_main,
                       desc=f"{kind} {split}")
    if not info.is_main:
        return {}, []
    report["results"] = str(final)
    listing = {t.video_id: (t.frames, [e.exp_id for e in t.expressions]) for t in tasks}
    if kind == "mevis" and dataset.has_ground_truth:
        from cmpcv.results import jf_protocols

        groups = dataset.expression_groups() if hasattr(dataset, "expression_groups") else None
        jf = jf_protocols.run_mevis(dataset.meta_path, dataset.paths.mask_dict, final, name=name, workers=workers,
                                    groups=groups)
        report["metrics"] = jf.metrics
        return report, jf.tables
    prefix = dataset.submission_prefix
    expected = expected_entries(listing, prefix)
    path = zip_results(final, out_dir / f"submission_{kind}_{split}.zip", expected, prefix=prefix)
    problems = check_zip(path, expected)
    if problems:
        raise RuntimeError(f"{path}: the zip just written does not check: {'; '.join(problems)}")
    report["submission"] = str(path)
    print(f"wrote {path}: {len(expected)} masks of {len(listing)} videos, checked complete")
    if kind == "ytvos":
        report["note"] = YTVOS_SERVER_NOTE
        print(f"note: {YTVOS_SERVER_NOTE}")
    else:
        print("submit it to the MeViS evaluation server; valid_u is scored here (split=val)")
    return report, []
