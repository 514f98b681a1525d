"""``python -m cmpcv.evaluate``: score a predictions file and write the results table.

    python -m cmpcv.evaluate predictions=preds.jsonl.gz published=a2d
    python -m cmpcv.evaluate predictions=preds.jsonl.gz ground_truth=a2d_test_coco.json
    python -m cmpcv.evaluate checkpoint=run/best.pt dataset=a2d     # inference first
    python -m cmpcv.evaluate example=true                           # a small synthetic example
    python -m cmpcv.evaluate protocol=davis davis_root=DAVIS results=DIR          # J&F (DAVIS-2017 toolkit)
    python -m cmpcv.evaluate protocol=refdavis davis_root=DAVIS 'results=[A1,A1F,A2,A2F]'
    python -m cmpcv.evaluate protocol=mevis meta=valid_u/meta_expressions.json masks=valid_u/mask_dict.json results=DIR

Writes ``results.md``, ``results.csv``, ``results.tex`` (published rows + ours, and a per-group
table when samples carry groups) and ``metrics.json`` (every metric, unrounded) into
``output_dir`` (default: ``outputs/evaluate/<date>/<time>``, made only once there is something
to write), atomically, and prints the Markdown table (:func:`cmpcv.results.report.write_report`).
``run=DIR`` (a training run directory) evaluates its ``checkpoints/best.pt``, else ``last.pt``.
The J&F protocols (``davis``, ``refdavis``, ``mevis``) score folders of PNG masks as the DAVIS-2017
toolkit and MeViS's script do (:mod:`cmpcv.results.jf_protocols`) and write the same files.
Bad input ends with one line and exit code 2 (:mod:`cmpcv.cli`).
"""
from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator
from pathlib import Path

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf

from cmpcv import cli
from cmpcv.data.errors import DataError
from cmpcv.predictions import PredictionWriter
from cmpcv.results.report import write_report

EXAMPLE_GROUPS = ("entity", "attribute", "relation", "action")


def write_example_predictions(path: str | Path, num_samples: int = 40, seed: int = 0) -> Path:
    """A small self-contained predictions file from deterministic synthetic masks.

    Each sample is an ellipse in a 48x64 frame with three scored guesses (shifted and rescaled
    copies, so IoUs spread over the P@K range), tagged with one of the ``shapes`` demo's groups.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:48, :64]

    def ellipse(cy, cx, ry, rx):
        return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1

    meta = {"dataset": "example", "split": "synthetic", "protocol": "mttr",
            "config": {"generator": "cmpcv.evaluate.write_example_predictions", "seed": seed}}
    with PredictionWriter(path, meta=meta) as writer:
        for i in range(num_samples):
            cy, cx = rng.uniform(12, 36), rng.uniform(16, 48)
            ry, rx = rng.uniform(4, 12), rng.uniform(5, 16)
            gt = ellipse(cy, cx, ry, rx)
            masks, scores = [], []
            for _ in range(3):
                shift = rng.normal(0, 0.35, size=2) * (ry, rx)
                scale = rng.uniform(0.75, 1.25)
                masks.append(ellipse(cy + shift[0], cx + shift[1], ry * scale, rx * scale))
                scores.append(round(float(rng.uniform()), 4))
            writer.add(f"example_{i:04d}", np.stack(masks), scores, gt_mask=gt,
                       group=EXAMPLE_GROUPS[i % len(EXAMPLE_GROUPS)])
    return Path(path)


def _output_dir(cfg: DictConfig) -> Path:
    """``output_dir``, or a new ``<paths.output_dir>/evaluate/<date>/<time>`` (with a ``-2``,
    ``-3``, ... suffix when a call in the same second took that name). Not created here."""
    if cfg.get("output_dir"):
        return Path(str(cfg.output_dir))
    now = datetime.datetime.now()
    root = OmegaConf.select(cfg, "paths.output_dir", default=None) or os.environ.get("CMPCV_OUTPUT_DIR") or "outputs"
    base = Path(str(root)) / "evaluate" / now.strftime("%Y-%m-%d")
    name = now.strftime("%H-%M-%S")
    out, k = base / name, 1
    while out.exists():
        k += 1
        out = base / f"{name}-{k}"
    return out


@contextlib.contextmanager
def _removed_if_left_empty(folder: Path) -> Iterator[None]:
    """On an exception, remove ``folder`` (and parents up to the first existing one) if this call
    created them and left them empty: a failed evaluation leaves no empty output folder."""
    missing = []
    p = folder
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    try:
        yield
    except BaseException:
        for p in missing:  # deepest first
            with contextlib.suppress(OSError):
                p.rmdir()  # only succeeds when empty
        raise


def _checkpoint(cfg: DictConfig) -> str | None:
    """``checkpoint=PATH`` or the checkpoint of ``run=DIR`` (``best.pt``, else ``last.pt``)."""
    if cfg.get("run") and cfg.get("checkpoint"):
        raise cli.UserError("give either run=DIR or checkpoint=PATH, not both")
    if cfg.get("run") or (cfg.get("checkpoint") and Path(str(cfg.checkpoint)).is_dir()):
        from cmpcv.engine.checkpoint import run_checkpoint

        return str(run_checkpoint(cfg.get("run") or cfg.checkpoint))
    return str(cfg.checkpoint) if cfg.get("checkpoint") else None


JF_PROTOCOLS = ("davis", "refdavis", "mevis")


def _existing(cfg: DictConfig, key: str, what: str) -> str:
    value = cfg.get(key)
    if not value:
        raise ValueError(f"protocol={cfg.protocol} needs {key}=PATH ({what})")
    if not Path(str(value)).exists():
        raise FileNotFoundError(f"{key}={value}: no such {'file' if key in ('meta', 'masks') else 'folder'}")
    return str(value)


def run_jf(cfg: DictConfig) -> dict:
    """``protocol=davis | refdavis | mevis``: J&F of results folders, written like :func:`run`."""
    from cmpcv.results import jf_protocols
    from cmpcv.results.report import write_tables

    protocol, name = str(cfg.protocol), str(cfg.name)
    common = {"name": name, "workers": int(cfg.get("workers") or 1), "progress": True}
    if protocol == "mevis":
        meta = _existing(cfg, "meta", "the split's meta_expressions.json")
        masks = _existing(cfg, "masks", "the split's mask_dict.json")
        results = _existing(cfg, "results", "a folder of <video>/<exp_id>/<frame>.png")
        jf = jf_protocols.run_mevis(meta, masks, results, **common)
        inputs = {"meta": meta, "masks": masks, "results": results}
    else:
        davis_root = _existing(cfg, "davis_root", "the DAVIS-2017 root with ImageSets/ and Annotations*/")
        split = str(cfg.get("split") or "val")
        if protocol == "davis":
            results = _existing(cfg, "results", "a folder of <sequence>/<frame>.png indexed PNGs")
            jf = jf_protocols.run_davis(davis_root, results, task=str(cfg.task), split=split, decay=str(cfg.decay),
                                        **common)
        else:
            results = cfg.get("results")
            if isinstance(results, str) or results is None or len(results) != 4:
                raise ValueError("protocol=refdavis needs results=[A1,A1_FULL,A2,A2_FULL]: the four expression sets' "
                                 "folders (annotator 1 first-frame, annotator 1 full-video, annotator 2 ...)")
            for folder in results:
                if not Path(str(folder)).is_dir():
                    raise FileNotFoundError(f"results: {folder}: no such folder")
            results = [str(r) for r in results]
            jf = jf_protocols.run_refdavis(davis_root, results, split=split, decay=str(cfg.decay), **common)
        inputs = {"davis_root": davis_root, "results": results, "split": split}
    missing = jf.metrics.get("missing_videos")
    if missing:
        print(f"warning: {len(missing)} video(s) have no prediction folder and score 0: {', '.join(missing[:10])}"
              + (" ..." if len(missing) > 10 else ""))
    report = {"name": name, "protocol": protocol, **inputs, "metrics": jf.metrics}
    out_dir = _output_dir(cfg)
    with _removed_if_left_empty(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
        write_tables(out_dir, jf.tables, report)
    return report


def _video_split(cfg: DictConfig, checkpoint: str) -> DictConfig | None:
    """The dataset split node to evaluate when it is a video benchmark's (a frame-folder reader:
    Refer-YouTube-VOS, MeViS, Ref-DAVIS17), else None. The dataset is ``dataset=...`` or the one
    the checkpoint was trained on; the split ``split=...``, else ``val`` (the scored split)."""
    from cmpcv.engine.video_benchmarks import is_video_split

    ds_cfg = cfg.get("dataset")
    if not ds_cfg:
        from cmpcv.engine.checkpoint import load_checkpoint

        stored = (load_checkpoint(checkpoint).get("config") or {}).get("dataset")
        ds_cfg = OmegaConf.create(stored) if stored else None
    if not ds_cfg:
        return None
    node = OmegaConf.select(ds_cfg, str(cfg.get("split") or "val"))
    if node is None or not is_video_split(node):
        return None
    return node


def run_video(cfg: DictConfig, checkpoint: str, node: DictConfig, out_dir: Path) -> dict:
    """Whole-video inference on a video benchmark's split (:mod:`cmpcv.engine.video_benchmarks`):
    the J&F table where the ground truth is public, else the checked submission zip."""
    import json

    from hydra.utils import instantiate

    from cmpcv.data.atomic import atomic_write_text
    from cmpcv.engine.video_benchmarks import evaluate_video_benchmark
    from cmpcv.results.report import json_safe, write_tables

    dataset = instantiate(node)
    out_dir.mkdir(parents=True, exist_ok=True)
    report, tables = evaluate_video_benchmark(
        dataset, checkpoint, out_dir, device=str(cfg.get("device") or "auto"),
        precision=str(cfg.get("precision") or "32"), batch_size=int(cfg.get("batch_size") or 8),
        name=str(cfg.name), workers=int(cfg.get("workers") or 1), progress=bool(cfg.get("progress", True)))
    if not report:  # another DDP rank: rank 0 writes
        return report
    if tables:
        write_tables(out_dir, tables, report)
    else:
        atomic_write_text(out_dir / "metrics.json", json.dumps(json_safe(report), indent=2, default=str) + "\n")
        print(f"wrote {out_dir / 'metrics.json'}")
    return report


def run(cfg: DictConfig) -> dict:
    """The app without hydra's wrapper (tests call it with a composed config)."""
    if str(cfg.protocol) in JF_PROTOCOLS:
        return run_jf(cfg)
    checkpoint = _checkpoint(cfg)
    if not (cfg.get("example") or checkpoint or cfg.get("predictions")):
        raise ValueError(
            "nothing to evaluate: set predictions=PATH, run=DIR (a training run), checkpoint=PATH, or example=true"
        )
    for key in ("ground_truth", "groups"):
        if cfg.get(key) and not Path(str(cfg[key])).is_file():
            raise FileNotFoundError(f"{key}={cfg[key]}: no such file")
    out_dir = _output_dir(cfg)
    with _removed_if_left_empty(out_dir):
        if cfg.get("example"):
            path = write_example_predictions(out_dir / "example_predictions.jsonl")
        elif checkpoint:
            from cmpcv.engine.inference import loader_settings

            loader_settings(cfg.get("batch_size"), cfg.get("num_workers"))  # bad values: before any loading
            video = _video_split(cfg, checkpoint)
            if video is not None:
                return run_video(cfg, checkpoint, video, out_dir)
            from cmpcv.engine.inference import predict_to_file  # needs the model stack: import only here

            path = predict_to_file(cfg, checkpoint=checkpoint, output_dir=out_dir)
        else:
            path = Path(str(cfg.predictions))
        return write_report(path, out_dir, protocol=str(cfg.protocol), name=str(cfg.name),
                            ground_truth=cfg.get("ground_truth"), groups=cfg.get("groups"),
                            published=cfg.get("published", "auto"))


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    # Bad input (a missing or malformed file, an RLE that does not cover its mask, a checkpoint
    # that is not one): one line, exit code 2. Anything else is a bug: traceback, exit code 1.
    with cli.user_errors(ValueError, FileNotFoundError, DataError):
        run(cfg)


if __name__ == "__main__":
    cli.run(main)
