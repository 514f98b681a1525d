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
    ``word_vectors`` (np.ndarray ``(V, D)``) initialises the word embedding.
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
