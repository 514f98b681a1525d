"""The released R2D backbone: DeepLab-v2 ResNet-101 in its Caffe layout, applied per frame.

The released code restores ``deeplab_resnet_init.ckpt``, the TensorFlow conversion of the Caffe
DeepLab-v2 ResNet-101 (``external/tensorflow-deeplab-resnet``), and reads ``res3b3_relu``,
``res4b22_relu`` and ``res5c_relu`` as c3/c4/c5 (512/1024/2048 channels, all at stride 8). The
network differs from torchvision's ResNet-101 (:mod:`.r2d`) in three places, all reproduced here:

* the downsampling stride of ``res3a`` sits in its first 1×1 convolution (``res3a_branch2a``)
  and in the projection ``res3a_branch1``, not in the 3×3;
* every block of res4 / res5 uses dilation 2 / 4 in its 3×3 convolution, the first one included
  (stride 8 throughout);
* BatchNorm is ``slim.batch_norm`` in inference mode, epsilon 0.001 (slim's default, not
  PyTorch's 1e-5), with gamma and beta.

Padding follows TensorFlow "SAME" (the converted graph's default): ``conv1`` (7×7, stride 2) and
``pool1`` (3×3, stride 2) pad the odd pixel at the end, the dilated 3×3 convolutions pad by their
dilation. Input: the Caffe BGR mean-subtracted pixels (preset ``caffe_bgr``).

Modules carry the released layer names: the TensorFlow variable ``res4b22_branch2b/weights`` is
``res4b22.branch2b.weight`` here, ``bn4b22_branch2b/gamma`` is ``res4b22.bn_branch2b.weight``,
``bn_conv1/moving_mean`` is ``bn_conv1.running_mean``. :func:`convert_tf_variables` maps a
checkpoint's variables onto this layout (``scripts/convert_deeplab_ckpt.py`` writes the result);
the backbone also reads the TensorFlow checkpoint itself when ``weights`` points at one.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from cmpcv.models.backbones.base import Backbone, same_padding, to_levels
from cmpcv.models.state import StateDictMismatch
from cmpcv.models.tf_checkpoint import read_checkpoint

BN_EPS = 1e-3  # slim.batch_norm's default epsilon, used by the released graph

# stage -> (bottleneck width, output channels, block suffixes, stride of the first block, dilation)
_STAGES: dict[int, tuple[int, int, tuple[str, ...], int, int]] = {
    2: (64, 256, ("a", "b", "c"), 1, 1),
    3: (128, 512, ("a", "b1", "b2", "b3"), 2, 1),
    4: (256, 1024, ("a",) + tuple(f"b{i}" for i in range(1, 23)), 1, 2),
    5: (512, 2048, ("a", "b", "c"), 1, 4),
}
# The released graph's levels: the last block of res3, res4, res5.
LEVEL_BLOCKS = ("res3b3", "res4b22", "res5c")


class CaffeBottleneck(nn.Module):
    """``relu(branch1(x) + branch2c(branch2b(branch2a(x))))`` with a BatchNorm after every conv.

    ``stride`` is applied by the first 1×1 (``branch2a``) and by the projection ``branch1``
    (present in a stage's first block), the Caffe placement; ``dilation`` applies to ``branch2b``.
    """

    def __init__(self, cin: int, width: int, cout: int, *, stride: int, dilation: int, project: bool,
                 eps: float = BN_EPS) -> None:
        super().__init__()
        self.branch1 = nn.Conv2d(cin, cout, 1, stride=stride, bias=False) if project else None
        self.bn_branch1 = nn.BatchNorm2d(cout, eps=eps) if project else None
        self.branch2a = nn.Conv2d(cin, width, 1, stride=stride, bias=False)
        self.bn_branch2a = nn.BatchNorm2d(width, eps=eps)
        self.branch2b = nn.Conv2d(width, width, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn_branch2b = nn.BatchNorm2d(width, eps=eps)
        self.branch2c = nn.Conv2d(width, cout, 1, bias=False)
        self.bn_branch2c = nn.BatchNorm2d(cout, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.bn_branch1(self.branch1(x)) if self.branch1 is not None else x
        y = F.relu(self.bn_branch2a(self.branch2a(x)))
        y = F.relu(self.bn_branch2b(self.branch2b(y)))
        return F.relu(shortcut + self.bn_branch2c(self.branch2c(y)))

    def convs(self) -> Iterator[nn.Conv2d]:
        for conv in (self.branch1, self.branch2a, self.branch2b, self.branch2c):
            if conv is not None:
                yield conv


def block_names() -> list[str]:
    """``res2a``, ``res2b``, ..., ``res5c`` in forward order (33 blocks)."""
    return [f"res{stage}{suffix}" for stage, (_, _, suffixes, _, _) in _STAGES.items() for suffix in suffixes]


class DeepLabResNet101(Backbone):
    """Frames ``(B, T, 3, H, W)`` -> c3/c4/c5 ``(B, T, C, ceil(H/8), ceil(W/8))``, C = 512/1024/2048.

    ``weights``: a state dict in this module's layout (``scripts/convert_deeplab_ckpt.py``), or the
    released TensorFlow checkpoint itself (``deeplab_resnet_init.ckpt``, V1 file or V2 prefix).
    ``finetune=True`` trains the convolution kernels of res3-res5 and nothing else, as the
    released ``-finetune`` (its variable filter picks ``res3*``/``res4*``/``res5*``, not ``bn*``).
    """

    stride = 8
    per_frame = True
    out_channels = (512, 1024, 2048)
    weights_preset = "caffe_bgr"
    weights_format = "DeepLab-v2 ResNet-101 weights (Caffe, converted)"

    def __init__(
        self,
        *,
        weights: str | Path | None = None,
        frozen: bool = True,
        finetune: bool = False,
        normalize: str | None = None,
        allow_normalize_mismatch: bool = False,
        bn_eps: float = BN_EPS,
        announce_random: bool = True,
    ) -> None:
        super().__init__(normalize=normalize, frozen=frozen, finetune=finetune,
                         allow_normalize_mismatch=allow_normalize_mismatch)
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, bias=False)
        self.bn_conv1 = nn.BatchNorm2d(64, eps=bn_eps)
        cin = 64
        for stage, (width, cout, suffixes, stride, dilation) in _STAGES.items():
            for i, suffix in enumerate(suffixes):
                block = CaffeBottleneck(cin, width, cout, stride=stride if i == 0 else 1, dilation=dilation,
                                        project=i == 0, eps=bn_eps)
                self.add_module(f"res{stage}{suffix}", block)
                cin = cout
        self._setup(weights, announce_random)

    def blocks(self) -> Iterator[tuple[str, CaffeBottleneck]]:
        for name in block_names():
            yield name, getattr(self, name)

    def _finetune_modules(self) -> Iterable[nn.Module]:
        return [conv for name, block in self.blocks() if not name.startswith("res2") for conv in block.convs()]

    def _read_state(self, path: Path) -> object:
        if _is_tf_checkpoint(path):
            return convert_tf_variables(read_checkpoint(path), source=str(path))[0]
        return super()._read_state(path)

    def load_weights(self, path: str | Path) -> None:
        path = Path(path)
        if not path.is_file() and path.with_name(path.name + ".index").is_file():
            path = path.with_name(path.name + ".index")  # a V2 prefix names no file itself
        super().load_weights(path)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """``conv1`` -> ``bn_conv1`` -> ReLU -> ``pool1`` on normalised images ``(N, 3, H, W)``."""
        x = F.relu(self.bn_conv1(self.conv1(same_padding(x, (7, 7), (2, 2)))))
        return F.max_pool2d(same_padding(x, (3, 3), (2, 2), value=float("-inf")), 3, 2)

    def _features(self, frames: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(frames.flatten(0, 1))
        levels = []
        for name, block in self.blocks():
            x = block(x)
            if name in LEVEL_BLOCKS:
                levels.append(to_levels(x, frames.shape[0]))
        return levels


def _is_tf_checkpoint(path: Path) -> bool:
    """A V2 ``.index`` file, or a V1 table file (it ends with the table magic number)."""
    if path.name.endswith(".index"):
        return True
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        if fh.tell() < 8:
            return False
        fh.seek(-8, 2)
        return fh.read(8) == (0xDB4775248B80FB57).to_bytes(8, "little")


# ------------------------------------------------------------------------- TF -> state dict
# Variable names of a released BatchNorm layer: slim's (the released graph), and the older
# caffe-tensorflow ones (same numbers, other names).
_BN_NAMES = {
    "weight": ("gamma", "scale"),
    "bias": ("beta", "offset"),
    "running_mean": ("moving_mean", "mean"),
    "running_var": ("moving_variance", "variance"),
}
# The DeepLab classifier (ASPP branches) in the checkpoint; not part of the backbone.
_CLASSIFIER_PREFIX = "fc1_voc12"


def tf_layer_names() -> list[tuple[str, str, str]]:
    """``(kind, TF layer name, module path)`` for every layer of the backbone, e.g.
    ``("conv", "res4b22_branch2b", "res4b22.branch2b")``, ``("bn", "bn4b22_branch2b",
    "res4b22.bn_branch2b")``, ``("conv", "conv1", "conv1")``, ``("bn", "bn_conv1", "bn_conv1")``."""
    out = [("conv", "conv1", "conv1"), ("bn", "bn_conv1", "bn_conv1")]
    for stage, (_, _, suffixes, _, _) in _STAGES.items():
        for i, suffix in enumerate(suffixes):
            block = f"res{stage}{suffix}"
            for branch in (("branch1",) if i == 0 else ()) + ("branch2a", "branch2b", "branch2c"):
                out.append(("conv", f"{block}_{branch}", f"{block}.{branch}"))
                out.append(("bn", f"bn{stage}{suffix}_{branch}", f"{block}.bn_{branch}"))
    return out


def convert_tf_variables(
    variables: Mapping[str, np.ndarray], source: str = "checkpoint"
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Map the released checkpoint's variables onto :class:`DeepLabResNet101`'s state dict.

    Convolution kernels go from TensorFlow's ``(kh, kw, in, out)`` to ``(out, in, kh, kw)``;
    BatchNorm gamma / beta / moving mean / moving variance become weight / bias / running_mean /
    running_var. Returns ``(state_dict, ignored)``: ``ignored`` lists the checkpoint's other
    variables (the ``fc1_voc12*`` classifier, optimiser slots, a model's own layers). Raises
    :class:`~cmpcv.models.state.StateDictMismatch` naming ``source`` when a backbone variable is
    missing or has the wrong shape.
    """
    state: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    missing: list[str] = []
    wrong: list[str] = []

    def take(name: str, shape: tuple[int, ...]) -> np.ndarray | None:
        if name not in variables:
            return None
        value = np.asarray(variables[name])
        used.add(name)
        if value.shape != shape:
            wrong.append(f"{name}: checkpoint {value.shape} vs expected {shape}")
            return None
        return value

    shapes = _layer_shapes()
    for kind, tf_name, module in tf_layer_names():
        if kind == "conv":
            out_c, in_c, kh, kw = shapes[module]
            value = take(f"{tf_name}/weights", (kh, kw, in_c, out_c))
            if value is None and f"{tf_name}/weights" not in variables:
                missing.append(f"{tf_name}/weights")
            elif value is not None:
                state[f"{module}.weight"] = torch.from_numpy(np.ascontiguousarray(value.transpose(3, 2, 0, 1))).float()
            continue
        channels = shapes[module][0]
        for ours, candidates in _BN_NAMES.items():
            found = next((f"{tf_name}/{c}" for c in candidates if f"{tf_name}/{c}" in variables), None)
            if found is None:
                missing.append(f"{tf_name}/{candidates[0]}")
                continue
            value = take(found, (channels,))
            if value is not None:
                state[f"{module}.{ours}"] = torch.from_numpy(value.astype(np.float32))
    if missing or wrong:
        parts = [f"{source} is not the DeepLab-v2 ResNet-101 checkpoint the released code restores:"]
        if missing:
            parts.append(f"  missing variables ({len(missing)}): " + ", ".join(missing[:12])
                         + (" ..." if len(missing) > 12 else ""))
        if wrong:
            parts.append(f"  shape mismatches ({len(wrong)}): " + "; ".join(wrong[:12]))
        raise StateDictMismatch("\n".join(parts))
    ignored = sorted(k for k in variables if k not in used)
    return state, ignored


def _layer_shapes() -> dict[str, tuple[int, ...]]:
    """Module path -> weight shape (convs: (out, in, kh, kw); BatchNorm: (channels,)), from the
    stage table alone (no module is built)."""
    shapes: dict[str, tuple[int, ...]] = {"conv1": (64, 3, 7, 7), "bn_conv1": (64,)}
    cin = 64
    for stage, (width, cout, suffixes, _, _) in _STAGES.items():
        for i, suffix in enumerate(suffixes):
            block = f"res{stage}{suffix}"
            layers = {"branch2a": (width, cin, 1, 1), "branch2b": (width, width, 3, 3), "branch2c": (cout, width, 1, 1)}
            if i == 0:
                layers["branch1"] = (cout, cin, 1, 1)
            for branch, shape in layers.items():
                shapes[f"{block}.{branch}"] = shape
                shapes[f"{block}.bn_{branch}"] = (shape[0],)
            cin = cout
    return shapes


def is_classifier(name: str) -> bool:
    """True for the checkpoint's DeepLab classifier variables (``fc1_voc12_c0/weights``, ...)."""
    return name.startswith(_CLASSIFIER_PREFIX)


__all__ = ["BN_EPS", "CaffeBottleneck", "DeepLabResNet101", "block_names", "convert_tf_variables",
           "is_classifier", "tf_layer_names"]
