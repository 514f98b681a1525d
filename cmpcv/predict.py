"""``python -m cmpcv.predict``: segment what a sentence refers to in every frame of your own video.

    python -m cmpcv.predict video=clip.mp4 text="the man riding a bike" \\
        checkpoint=outputs/train/.../checkpoints/best.pt output=clip_seg.mp4

The checkpoint carries the model config, the vocabulary and the clip setting it was trained with,
so nothing else is needed. The video is decoded once; every frame gets the clip centred on it
(clamped at the ends) and is segmented in batches. With a per-frame (2D) backbone, each frame's
backbone features are computed once and shared by the up to ``T`` clips that contain it, instead
of once per clip (``benchmarks/bench_predict.py`` measures the gain). Outputs: an H.264 mp4 (or a
GIF) of the same size, frame count and frame rate with the masks drawn in, and optionally the
binary masks (``masks=``: a PNG folder or one ``.npz``). docs/predict.md has the details.

Bad input (missing or undecodable video, empty sentence, a checkpoint that is missing or not a
cmpcv checkpoint of this architecture, an output that would replace an input, a mask folder that
holds files this command did not write, a zero batch size or frame rate) raises
:class:`PredictError` before anything is segmented; the command prints it as one line and exits
with status 2 (:mod:`cmpcv.cli`).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
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
from cmpcv.predict_output import PredictError, check_outputs, write_masks, write_video  # noqa: F401 (API)

log = logging.getLogger("cmpcv.predict")

#: Backbones that treat every frame independently (eval mode), so per-frame features can be shared.
PER_FRAME_BACKBONES = ("Tiny2D", "R2D")
REUSE_MODES = ("auto", "features", "frames", "none")


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
    """Average frame rate from the container header; 25 with a warning when it has none."""
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


def video_path(path: str | Path | None) -> Path:
    """``video=`` as an existing file, or a :class:`PredictError` saying what to pass."""
    if not path:
        raise PredictError("no video given: pass video=PATH (any format FFmpeg reads, e.g. .mp4)")
    path = Path(str(path))
    if not path.is_file():
        raise PredictError(f"video {path} not found: pass video=PATH to an existing video file")
    return path


def read_video(path: str | Path | None) -> tuple[np.ndarray, float]:
    """Decode every frame once: ``(frames (N, H, W, 3) uint8 RGB, frames per second)``."""
    path = video_path(path)
    try:
        frames, _ = read_video_frames(path, lambda n: range(n))
    except DataError as exc:
        raise PredictError(str(exc)) from None  # "PATH: could not decode the video (decord: ...; PyAV: ...)"
    return frames, video_fps(path)


# --------------------------------------------------------------------------------------- model
def decode_levels(model: nn.Module, levels: list[torch.Tensor], num_frames: int, size: tuple[int, int],
                  tokens: torch.Tensor, token_mask: torch.Tensor, frame: torch.Tensor | None = None) -> torch.Tensor:
    """:class:`~cmpcv.models.CMPCVModel` after its backbone: levels -> ``logits (B, H, W)``.

    ``levels``: three ``(B, T_l, C_l, h, w)`` as ``model.backbone`` returns them for ``(B, T, 3, H, W)``
    clips with ``T = num_frames`` and ``(H, W) = size``. Mirrors ``CMPCVModel.forward`` so that
    backbone features computed once per frame can be reused (tests check both agree).
    ``frame (B, 3, H, W)``: each clip's frame ``num_frames // 2`` in ``[0, 1]``; needed (only) by a
    head that refines its masks from the frame (``model.head.refine_channels > 0``).
    """
    lang = model.language(tokens, token_mask)
    ys = model.cmpc(levels, lang, model.backbone.gt_index(num_frames))
    if model.head.refine is not None:
        if frame is None:
            raise ValueError("decode_levels: this model's head refines its masks from the annotated frame; "
                             "pass frame (B, 3, H, W), each clip's frame num_frames // 2")
        frame = model.backbone.normalize(frame)
    logits, _ = model.head(model.tgfe(ys, lang.q_all), ys, tuple(levels[0].shape[-2:]), tuple(size), frame=frame)
    return logits


def resolve_reuse(model: nn.Module, reuse: str = "auto") -> str:
    """``auto`` -> ``features`` for per-frame backbones (:data:`PER_FRAME_BACKBONES`), else ``frames``.

    ``features``: backbone once per frame, shared by every clip; ``frames``: resized frames shared,
    backbone once per clip (3D backbones); ``none``: each clip prepared and run from scratch (the
    naive loop, kept as the benchmark's baseline).
    """
    if reuse not in REUSE_MODES:
        raise ValueError(f"reuse must be one of {REUSE_MODES}, got {reuse!r}")
    per_frame = type(model.backbone).__name__ in PER_FRAME_BACKBONES
    if reuse == "features" and not per_frame:
        raise ValueError(f"reuse='features' needs a per-frame backbone {PER_FRAME_BACKBONES}, "
                         f"this model has {type(model.backbone).__name__}")
    return ("features" if per_frame else "frames") if reuse == "auto" else reuse


@torch.no_grad()
def segment_video(predictor: Predictor, frames: np.ndarray, sentences: Sequence[str], *, batch_size: int = 8,
                  threshold: float = 0.5, reuse: str = "auto", progress: bool = True) -> np.ndarray:
    """Segment every frame of ``frames (N, H, W, 3)`` uint8 RGB for each sentence.

    Frame ``i`` is the annotated frame of the clip ``predictor.sampler.indices(i, N)``; ``batch_size``
    clips run together. Returns ``masks (S, N, H, W)`` uint8 in {0, 1} at the video's resolution
    (``sigmoid(logits) > threshold``, padding cropped, nearest resize: the evaluation protocol).
    """
    model, sampler, resizer, device = predictor.model.eval(), predictor.sampler, predictor.resizer, predictor.device
    mode = resolve_reuse(model, reuse)
    n, num_t = len(frames), sampler.num_frames
    geometry = resizer.geometry(tuple(frames.shape[1:3]))
    size = tuple(geometry["input_size"])
    tokens, token_mask = predictor.collator.encode(list(sentences))
    tokens, token_mask = tokens.to(device), token_mask.to(device)
    masks = np.zeros((len(sentences), n, *frames.shape[1:3]), dtype=np.uint8)

    def prepare(idx: Sequence[int]) -> torch.Tensor:
        """Frames ``idx`` as network input ``(k, 3, H', W')``, exactly as the dataset reader makes it."""
        x = torch.from_numpy(np.ascontiguousarray(frames[list(idx)])).permute(0, 3, 1, 2).float().div_(255.0)
        return resizer(x)[0].contiguous().to(device)  # permute() left it channels-last

    # Frame index -> resized frame or its backbone levels; filled on demand, emptied behind the
    # first clip still to come, so memory holds about one batch of clips, whatever the video length.
    cache: dict[int, Any] = {}

    def fill(needed: set[int]) -> None:
        todo = sorted(f for f in needed if f not in cache)
        for k in range(0, len(todo), batch_size):
            chunk = todo[k:k + batch_size]
            x = prepare(chunk)
            if mode == "features":
                levels = model.backbone(x.unsqueeze(1))  # each frame a 1-frame clip: (k, 1, C, h, w)
                for j, f in enumerate(chunk):
                    cache[f] = [level[j, 0] for level in levels]
            else:
                cache.update(zip(chunk, x))

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc="segment", unit="frame", dynamic_ncols=True)
    for start in range(0, n, batch_size):
        centres = range(start, min(n, start + batch_size))
        clips = [sampler.indices(c, n) for c in centres]
        if mode == "none":
            levels = model.backbone(torch.stack([prepare(clip) for clip in clips]))
        else:
            fill({f for clip in clips for f in clip})
            if mode == "features":
                levels = [torch.stack([torch.stack([cache[f][k] for f in clip]) for clip in clips]) for k in range(3)]
            else:
                levels = model.backbone(torch.stack([torch.stack([cache[f] for f in clip]) for clip in clips]))
        # A refining head also reads each clip's own annotated frame (its middle one).
        middle = prepare([clip[len(clip) // 2] for clip in clips]) if model.head.refine is not None else None
        for s in range(len(sentences)):
            rows = len(clips)
            logits = decode_levels(model, levels, num_t, size, tokens[s:s + 1].expand(rows, -1),
                                   token_mask[s:s + 1].expand(rows, -1), frame=middle)
            probs = torch.sigmoid(logits.float()).cpu()
            for b, c in enumerate(centres):
                masks[s, c] = restore_mask(probs[b], geometry, threshold=threshold)
        if centres[-1] + 1 < n:
            low = sampler.indices(centres[-1] + 1, n)[0]  # first frame any later clip uses
            for f in [f for f in cache if f < low]:
                del cache[f]
        if bar is not None:
            bar.update(len(centres))
    if bar is not None:
        bar.close()
    return masks


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
    video_path(get("video"))
    predictor = load_predictor(checkpoint, get("device", "auto"))
    try:
        resolve_reuse(predictor.model, reuse)
    except ValueError:
        raise PredictError(
            f"reuse={reuse} needs a per-frame (2D) backbone ({', '.join(PER_FRAME_BACKBONES)}), but this checkpoint's "
            f"model has {type(predictor.model.backbone).__name__}: use reuse=auto (it shares the decoded frames "
            "between clips) or reuse=frames") from None
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
    frames, in_fps = read_video(get("video"))
    fps = fps_wanted or in_fps
    t1 = time.perf_counter()
    masks = segment_video(predictor, frames, sentences, batch_size=batch_size, threshold=threshold,
                          reuse=reuse, progress=bool(get("progress", True)))
    t2 = time.perf_counter()
    colors = palette_colors(len(sentences))
    for i in range(len(frames)):  # drawn in place: the decoded frames are not needed any more
        frames[i] = draw_video_frame(frames[i], masks[:, i], sentences, colors)
    out = write_video(get("output"), frames, fps)
    masks_path = write_masks(get("masks"), masks, sentences, fps) if get("masks") else None
    t3 = time.perf_counter()

    n = len(frames)
    report = {"output": out, "masks": masks_path, "checkpoint": Path(checkpoint), "frames": n, "size": tuple(frames.shape[1:3]), "fps": fps,
              "sentences": sentences, "unknown_words": oov, "model_fps": n / max(t2 - t1, 1e-9),
              "total_fps": n / max(t3 - t0, 1e-9), "device": str(predictor.device)}
    print(f"wrote {out} ({n} frames, {frames.shape[2]}x{frames.shape[1]}, {fps:.3g} fps)"
          + (f" and masks to {masks_path}" if masks_path else ""))
    print(f"speed: {report['model_fps']:.1f} frames/s segmenting, {report['total_fps']:.1f} frames/s overall "
          f"(decode + segment + draw + write) on {predictor.device}")
    return report


@hydra.main(version_base="1.3", config_path="../conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    with cli.user_errors(PredictError):
        run(cfg)


if __name__ == "__main__":
    cli.run(main)
