"""Visual backbones: frames ``(B, T, 3, H, W)`` -> levels c3, c4, c5 on one grid (see :mod:`.base`)."""
from cmpcv.models.backbones.base import Backbone
from cmpcv.models.backbones.deeplab import DeepLabResNet101
from cmpcv.models.backbones.i3d import I3D
from cmpcv.models.backbones.i3d_r50 import I3DR50
from cmpcv.models.backbones.r2d import R2D
from cmpcv.models.backbones.tiny import Tiny2D, Tiny3D

__all__ = ["Backbone", "DeepLabResNet101", "I3D", "I3DR50", "R2D", "Tiny2D", "Tiny3D"]
