"""``python -m cmpcv.predict``: segment what a sentence refers to in every frame of your own video.

    python -m cmpcv.predict video=clip.mp4 text="the man riding a bike" \\
        checkpoint=outputs/train/.../checkpoints/best.pt output=clip_seg.mp4

The checkpoint carries the model config, the vocabulary and the clip setting it was trained with,
so nothing else is needed. Every frame gets the clip centred on it (clamped at the ends). The
video streams through the whole-video engine (:mod:`cmpcv.engine.video_inference`): each frame is
decoded once, the backbone and the sentence-independent stages run once per frame (per clip for a
3D backbone) for all sentences, and each frame is drawn and encoded as soon as it is segmented, so
memory does not grow with the video's length. Outputs: an H.264 mp4 (or a GIF) of the same size,
frame count and frame rate with the masks drawn in, and optionally the binary masks (``masks=``: a
PNG folder or one ``.npz``). docs/predict.md has the details.

Bad input (missing or undecodable video, empty sentence, a checkpoint that is missing or not a
cmpcv checkpoint of this architecture, an output that would replace an input, a mask folder that
holds files this command did not write, a zero batch size or frame rate) raises
:class:`PredictError` before anything is segmented; the command prints it as one line and exits
with status 2 (:mod:`cmpcv.cli`).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from cmpcv import cli
from cmpcv.data.clips import ClipSampler
from cmpcv.data.errors import DataError
from cmpcv.data.text import tokenize
from cmpcv.data.transforms import build_resizer, restore_mask
from cmpcv.data.video import read_video_frames
from cmpcv.predict_output import (  # noqa: F401 (API)
    MaskWriter,
    PredictError,
    VideoWriter,
    check_outputs,
    write_masks,
    write_video,
)

log = logging.getLogger("cmpcv.predict")

#: ``auto``: the whole-video engine; ``none``: the naive loop (every clip decoded and run through
#: the whole model, once per sentence), the baseline of the speed benchmarks.
REUSE_MODES = ("auto", "none")


# --------------------------------------------------------------------------------------- loading
@dataclass
class Predictor:
    """A model ready for inference with the data settings it was trained with."""

    model: nn.Module
    collator: Any  # cmpcv.data.ReferringCollator: sentences -> (tokens, token_mask)
    sampler: ClipSampler
    resizer: Any  # cmpcv.data.transforms resizer: frames -> network input + geometry
    device: torch.device

    @property
    def vocab(self):
        return self.collator.vocab


def resolve_device(name: str | None) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; anything else is passed to ``torch.device``."""
    name = str(name or "auto")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise PredictError(f"device={name} but CUDA is not available here: use device=cpu or device=auto")
    return torch.device(name)


def _data_node(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """The dataset node whose clip/size settings inference uses: the test split's (else val, else
    train), with the dataset-level keys (``clip``, ``size``, ``resize``, ...) where it lacks them."""
    dataset = config.get("dataset") or {}
    for split in ("test", "val", "train"):
        node = dataset.get(split)
        if isinstance(node, Mapping):
            return {**{k: v for k, v in dataset.items() if not isinstance(v, Mapping) or k == "clip"}, **node}
    return dataset


def data_settings(config: Mapping[str, Any]) -> tuple[ClipSampler, Any]:
    """Clip sampler and resizer of a run config (the checkpoint's), as its test split used them."""
    node = _data_node(config)
    clip = node.get("clip")
    if isinstance(clip, ClipSampler):
        sampler = clip
    else:  # a ClipSampler config node, with or without _target_ (the dataset reader accepts both)
        sampler = ClipSampler(**{k: v for k, v in (clip or {}).items() if not str(k).startswith("_")})
    resizer = build_resizer(str(node.get("resize", "pad")), int(node.get("size", 320)), node.get("max_size"))
    return sampler, resizer


def load_predictor(checkpoint: str | Path | None, device: str | torch.device | None = "auto") -> Predictor:
    """Build the model, vocabulary, clip sampler and resizer from a ``python -m cmpcv.train`` checkpoint."""
    from cmpcv.data.batching import ReferringCollator
    from cmpcv.data.text import Vocabulary
    from cmpcv.engine.checkpoint import load_checkpoint, mismatch_summary
    from cmpcv.models import StateDictMismatch, build_model

    hint = "pass checkpoint=PATH to checkpoints/best.pt or last.pt of a `python -m cmpcv.train` run"
    if not checkpoint:
        raise PredictError(f"no checkpoint given: {hint}")
    path = Path(str(checkpoint))
    if not path.is_file():
        raise PredictError(f"checkpoint {path} not found: {hint}")
    try:
        ckpt = load_checkpoint(path)
    except ValueError as exc:
        raise PredictError(f"{exc}; it is not a cmpcv checkpoint: {hint}") from None
    lacking = [k for k in ("config", "vocab") if not isinstance(ckpt.get(k), Mapping)]
    if lacking or "model" not in ckpt["config"]:
        what = f"no {' / '.join(repr(k) for k in lacking)} entry" if lacking else "no model in its config"
        raise PredictError(f"checkpoint {path} has {what}, so it is not a cmpcv training checkpoint: {hint}")
    try:
        model = build_model(None, checkpoint=ckpt)
    except StateDictMismatch as exc:
        raise PredictError(
            f"checkpoint {path}: its weights do not fit the model its config describes, so it was written for "
            f"another architecture or version ({mismatch_summary(str(exc))}): {hint}") from None
    except Exception as exc:  # noqa: BLE001 - any failure to build means a config this version cannot read
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PredictError(f"checkpoint {path}: its model config cannot be built by this cmpcv ({first}): {hint}") from None
    sampler, resizer = data_settings(ckpt["config"])
    max_words = int(OmegaConf.select(OmegaConf.create(ckpt["config"]), "trainer.max_words", default=20) or 20)
    collator = ReferringCollator(Vocabulary.from_dict(ckpt["vocab"]), max_words=max_words)
    dev = resolve_device(device) if not isinstance(device, torch.device) else device
    return Predictor(model=model.to(dev).eval(), collator=collator, sampler=sampler, resizer=resizer, device=dev)


# --------------------------------------------------------------------------------------- input
def as_sentences(text: str | Sequence[str] | None) -> list[str]:
    """``text=`` (one sentence or a list) -> list of sentences; an empty one is a :class:`PredictError`."""
    if text is None or (isinstance(text, str) and not text.strip()):
        raise PredictError('no sentence given: pass text="the man riding a bike" (or text=[first,second])')
    sentences = [text] if isinstance(text, str) else [str(t) for t in text]
    if not sentences:
        raise PredictError('text=[] holds no sentence: pass text="the man riding a bike"')
    for k, s in enumerate(sentences, start=1):
        if not tokenize(s):
            raise PredictError(f"sentence {k} ({s!r}) has no words: give each sentence at least one word")
    return sentences


def unknown_words(sentences: Sequence[str], vocab, max_words: int) -> list[str]:
    """Words the model reads (the first ``max_words``) that its vocabulary lacks, once each, in order."""
    seen: dict[str, None] = {}
    for s in sentences:
        for w in tokenize(s, max_words):
            if w not in vocab:
                seen.setdefault(w)
    return list(seen)


def video_fps(path: str | Path) -> float:
    """Average frame rate from the container header; 25 with a warning when it has none (a
    folder of frames has none: pass fps=...)."""
    if Path(path).is_dir():
        log.warning("%s: a folder of frames states no frame rate; writing at 25 frames/s (set fps=...)", path)
        return 25.0
    try:
        import av

        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            if rate:
                return float(rate)
    except Exception as exc:  # noqa: BLE001 - the frames decoded; only the header is odd
        log.debug("%s: no frame rate from PyAV: %s", path, exc)
    log.warning("%s: the container states no frame rate; writing at 25 frames/s (set fps=...)", path)
    return 25.0


def video_path(path: str | Path | None, folder: bool = False) -> Path:
    """``video=`` as an existing file (or, with ``folder``, a folder of frames), or a
    :class:`PredictError` saying what to pass."""
    if not path:
        raise PredictError("no video given: pass video=PATH (any format FFmpeg reads, e.g. .mp4)")
    path = Path(str(path))
    if not (path.is_file() or (folder and path.is_dir())):
        raise PredictError(f"video {path} not found: pass video=PATH to an existing video file"
                           + (" or folder of frames" if folder else ""))
    return path


def read_video(path: str | Path | None) -> tuple[np.ndarray, float]:
    """Decode every frame once: ``(frames (N, H, W, 3) uint8 RGB, frames per second)``."""
    path = video_path(path)
    try:
        frames, _ = read_video_frames(path, lambda n: range(n))
    except DataError as exc:
        raise PredictError(str(exc)) from None  # "PATH: could not decode the video (decord: ...; PyAV: ...)"
    return frames, video_fps(path)


def open_video(path: str | Path | None) -> Any:
    """``video=`` as a frame source read chunk by chunk: a video file
    (:class:`cmpcv.data.frame_sources.VideoFile`) or a folder of JPEG / PNG frames."""
    from cmpcv.data.frame_sources import open_frames

    path = video_path(path, folder=True)
    try:
        return open_frames(path)
    except DataError as exc:
        raise PredictError(str(exc)) from None  # "PATH: could not decode the video (decord: ...; PyAV: ...)"


# --------------------------------------------------------------------------------------- model
def iter_segments(predictor: Predictor, video: Any, sentences: Sequence[str], *, batch_size: int = 8,
                  threshold: float = 0.5, reuse: str = "auto", keep_images: bool = False,
                  ) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
    """``(index, masks (S, H, W) uint8 {0, 1}, frame (H, W, 3) uint8 or None)`` for every frame of
    ``video`` (a path, an ``(N, H, W, 3)`` uint8 array or a frame source), in order.

    ``reuse="auto"``: :class:`~cmpcv.engine.video_inference.VideoSegmenter` (each frame decoded
    once, shared work computed once); ``"none"``: the naive loop, every clip decoded, resized and
    run through ``model(...)`` once per sentence. Both give the same masks (``sigmoid(logits) >
    threshold``, padding cropped, nearest resize: the evaluation protocol). ``keep_images``: hand
    out each decoded frame too.
    """
    from cmpcv.data.frame_sources import open_frames
    from cmpcv.engine.video_inference import VideoSegmenter

    if reuse not in REUSE_MODES:
        raise ValueError(f"reuse must be one of {REUSE_MODES}, got {reuse!r}")
    model, device = predictor.model.eval(), predictor.device
    source = open_frames(video)
    tokens, token_mask = predictor.collator.encode(list(sentences))
    if reuse == "auto":
        engine = VideoSegmenter(model, predictor.sampler, predictor.resizer, device=device, batch_size=batch_size)
        for pred in engine.segment(source, tokens, token_mask, keep_images=keep_images):
            yield pred.index, pred.masks(threshold), pred.image
        return
    n = len(source)
    tokens, token_mask = tokens.to(device), token_mask.to(device)
    for start in range(0, n, batch_size):
        centres = range(start, min(n, start + batch_size))
        clips, geometry = [], None
        for c in centres:
            raw, _ = source.read(predictor.sampler.indices(c, n))
            x = torch.from_numpy(np.ascontiguousarray(raw)).permute(0, 3, 1, 2).float().div_(255.0)
            x, _, geometry = predictor.resizer(x)
            clips.append((x.contiguous(), raw[len(raw) // 2]))
        batch = torch.stack([x for x, _ in clips]).to(device)
        masks = np.zeros((len(sentences), len(clips), *geometry["orig_size"]), np.uint8)
        with torch.no_grad():
            for s in range(len(sentences)):
                rows = len(clips)
                logits = model(batch, tokens[s:s + 1].expand(rows, -1), token_mask[s:s + 1].expand(rows, -1))["logits"]
                probs = torch.sigmoid(logits.float()).cpu()
                for b in range(rows):
                    masks[s, b] = restore_mask(probs[b], geometry, threshold=threshold)
        for b, c in enumerate(centres):
            yield c, masks[:, b], (clips[b][1] if keep_images else None)


def segment_video(predictor: Predictor, frames: Any, sentences: Sequence[str], *, batch_size: int = 8,
                  threshold: float = 0.5, reuse: str = "auto", progress: bool = True) -> np.ndarray:
    """Segment every frame of ``frames`` (``(N, H, W, 3)`` uint8 RGB, a video path or a frame
    source) for each sentence: ``masks (S, N, H, W)`` uint8 in {0, 1} at the video's resolution
    (:func:`iter_segments`)."""
    out: list[np.ndarray] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(frames) if hasattr(frames, "__len__") else None, desc="segment", unit="frame",
                   dynamic_ncols=True)
    for _, masks, _ in iter_segments(predictor, frames, sentences, batch_size=batch_size, threshold=threshold,
                                     reuse=reuse):
        out.append(masks)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return np.stack(out, axis=1)


# --------------------------------------------------------------------------------------- command
def _positive(value: Any, key: str, kind: type, default: Any) -> Any:
    """``value`` as a positive ``kind`` (``default`` when None); anything else is a PredictError,
    never a silent default."""
    if value is None:
        return default
    try:
        number = kind(value)
        ok = number > 0 and (kind is not int or float(value) == number)
    except (TypeError, ValueError):
        ok = False
    if not ok or isinstance(value, bool):
        what = "an integer >= 1" if kind is int else "a positive number"
        raise PredictError(f"{key}={value} must be {what}" + (" (or null for the input's rate)" if key == "fps" else ""))
    return number


def checkpoint_of(checkpoint: str | Path | None, run_dir: str | Path | None) -> str | None:
    """``checkpoint=PATH``, or the checkpoint of ``run=DIR`` (or ``checkpoint=DIR``): ``best.pt``
    when the run validated, else ``last.pt``."""
    from cmpcv.engine.checkpoint import run_checkpoint

    if run_dir and checkpoint:
        raise PredictError("give either run=DIR or checkpoint=PATH, not both")
    folder = run_dir or (checkpoint if checkpoint and Path(str(checkpoint)).is_dir() else None)
    if folder:
        try:
            return str(run_checkpoint(str(folder)))
        except FileNotFoundError as exc:
            raise PredictError(str(exc)) from None
    return str(checkpoint) if checkpoint else None


def run(cfg: DictConfig | Mapping[str, Any]) -> dict[str, Any]:
    """The command's body (tests call it directly); returns what it did and how fast."""
    from cmpcv.viz import draw_video_frame, palette_colors

    get = (lambda k, d=None: OmegaConf.select(cfg, k, default=d)) if OmegaConf.is_config(cfg) else cfg.get
    # The cheap checks first: nothing is loaded or segmented for a mistyped path or value.
    checkpoint = checkpoint_of(get("checkpoint"), get("run"))
    check_outputs(get("output"), get("masks"), {"video": get("video"), "checkpoint": checkpoint})
    text = get("text")
    sentences = as_sentences(OmegaConf.to_container(text) if OmegaConf.is_config(text) else text)
    batch_size = _positive(get("batch_size", 8), "batch_size", int, 8)
    fps_wanted = _positive(get("fps"), "fps", float, None)
    threshold = float(get("threshold", 0.5))
    if not 0.0 < threshold < 1.0:
        raise PredictError(f"threshold={threshold} must be strictly between 0 and 1")
    reuse = str(get("reuse", "auto") or "auto")
    if reuse not in REUSE_MODES:
        raise PredictError(f"reuse={reuse} must be one of {', '.join(REUSE_MODES)}")
    video_path(get("video"), folder=True)
    predictor = load_predictor(checkpoint, get("device", "auto"))
    for k, sentence in enumerate(sentences, start=1):
        words = tokenize(sentence, None)
        if len(words) > predictor.collator.max_words:
            log.warning("sentence %d has %d words; the checkpoint's model reads the first %d (trainer.max_words), "
                        "so it ignores: %s", k, len(words), predictor.collator.max_words,
                        " ".join(words[predictor.collator.max_words:]))
    oov = unknown_words(sentences, predictor.vocab, predictor.collator.max_words)
    if oov:
        log.warning("%d word(s) not in the checkpoint's vocabulary, read as <unk>: %s", len(oov), ", ".join(oov))

    t0 = time.perf_counter()
    source = open_video(get("video"))
    fps = fps_wanted or video_fps(get("video"))
    colors = palette_colors(len(sentences))
    masks_writer = MaskWriter(get("masks"), sentences, fps) if get("masks") else None
    segmenting, n, size = 0.0, 0, None
    bar = None
    if get("progress", True):
        from tqdm.auto import tqdm

        bar = tqdm(total=len(source), desc="segment", unit="frame", dynamic_ncols=True)
    with VideoWriter(get("output"), fps) as video_out:
        segments = iter_segments(predictor, source, sentences, batch_size=batch_size, threshold=threshold,
                                 reuse=reuse, keep_images=True)
        while True:
            t = time.perf_counter()
            try:
                index, masks, frame = next(segments)
            except StopIteration:
                break
            except DataError as exc:
                raise PredictError(str(exc)) from None
            segmenting += time.perf_counter() - t
            video_out.add(draw_video_frame(frame, masks, sentences, colors))
            if masks_writer is not None:
                masks_writer.add(index, masks)
            n, size = n + 1, frame.shape[:2]
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    out = Path(get("output"))
    masks_path = masks_writer.close() if masks_writer is not None else None
    total = time.perf_counter() - t0

    report = {"output": out, "masks": masks_path, "checkpoint": Path(checkpoint), "frames": n, "size": size,
              "fps": fps, "sentences": sentences, "unknown_words": oov, "model_fps": n / max(segmenting, 1e-9),
              "total_fps": n / max(total, 1e-9), "device": str(predictor.device)}
    print(f"wrote {out} ({n} frames, {size[1]}x{size[0]}, {fps:.3g} fps)"
          + (f" and masks to {masks_path}" if masks_path else ""))
    print(f"speed: {report['model_fps']:.1f} frames/s decoding and segmenting, {report['total_fps']:.1f} frames/s "
          f"overall (+ drawing and writing) on {predictor.device}")
    return report


@hydra.main(version_base="1.3", config_path="../conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    with cli.user_errors(PredictError):
        run(cfg)


if __name__ == "__main__":
    cli.run(main)
