"""The CMPC-V model: backbones, language encoder, CMPC-I/CMPC-V, TGFE and heads.

Build it with :func:`build_model` from the ``model`` config node (docs/model.md).
"""
from cmpcv.models.build import build_model
from cmpcv.models.model import CMPCVModel
from cmpcv.models.state import StateDictMismatch

__all__ = ["CMPCVModel", "StateDictMismatch", "build_model"]
