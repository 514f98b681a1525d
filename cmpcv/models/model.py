"""The assembled CMPC-V model: backbone -> language -> CMPC -> TGFE -> head (see docs/model.md)."""
from __future__ import annotations

import torch
from torch import nn

from cmpcv.models.backbones.base import Backbone
from cmpcv.models.cmpc_v import CMPC
from cmpcv.models.head import SegmentationHead
from cmpcv.models.language import LanguageEncoder
from cmpcv.models.tgfe import TGFE


class CMPCVModel(nn.Module):
    """``model(frames (B, T, 3, H, W), tokens (B, L), token_mask (B, L))`` -> dict with
    ``logits (B, H, W)`` for the annotated frame ``T // 2``, ``aux_logits (B, 3, H, W)`` and
    ``word_probs (B, L, K)`` (zero on padding). Build it with :func:`cmpcv.models.build_model`.
    """

    def __init__(self, backbone: Backbone, language: LanguageEncoder, cmpc: CMPC, tgfe: TGFE, head: SegmentationHead) -> None:
        super().__init__()
        self.backbone, self.language, self.cmpc, self.tgfe, self.head = backbone, language, cmpc, tgfe, head

    def forward(self, frames: torch.Tensor, tokens: torch.Tensor, token_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        if tokens.shape != token_mask.shape or tokens.shape[0] != frames.shape[0]:
            raise ValueError(
                f"CMPCVModel: frames {tuple(frames.shape)}, tokens {tuple(tokens.shape)} and token_mask "
                f"{tuple(token_mask.shape)} must share the batch size, tokens and mask one shape"
            )
        levels = self.backbone(frames)
        lang = self.language(tokens, token_mask)
        ys = self.cmpc(levels, lang, self.backbone.gt_index(frames.shape[1]))
        grid, size = tuple(levels[0].shape[-2:]), tuple(frames.shape[-2:])
        # The annotated frame, normalised as the backbone sees it, for a refining head only.
        frame = self.backbone.normalize(frames[:, frames.shape[1] // 2]) if self.head.refine is not None else None
        logits, aux = self.head(self.tgfe(ys, lang.q_all), ys, grid, size, frame=frame)
        return {"logits": logits, "aux_logits": aux, "word_probs": lang.probs}
