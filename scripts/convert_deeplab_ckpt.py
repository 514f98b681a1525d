"""Convert the released DeepLab-v2 ResNet-101 TensorFlow checkpoint to a cmpcv state dict.

    python scripts/convert_deeplab_ckpt.py deeplab_resnet_init.ckpt deeplab101.pth

The input is the checkpoint the released CMPC-V code restores (``deeplab_resnet_init.ckpt``, the
TensorFlow conversion of the Caffe DeepLab-v2 ResNet-101): a V1 file, or a V2 prefix with its
``.index`` / ``.data-*`` files. TensorFlow is not needed. The output loads with
``backbone=r2d_deeplab101 model.backbone.weights=deeplab101.pth`` (the backbone also reads the
checkpoint directly; converting once saves parsing it at every start). The DeepLab classifier
(``fc1_voc12_*``) and any other non-backbone variables are left out and listed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from cmpcv.engine.checkpoint import atomic_torch_save
from cmpcv.models.backbones.deeplab import DeepLabResNet101, convert_tf_variables, is_classifier
from cmpcv.models.state import load_strict
from cmpcv.models.tf_checkpoint import CheckpointFormatError, read_checkpoint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="deeplab_resnet_init.ckpt (V1 file, or V2 prefix / .index file)")
    parser.add_argument("output", help="where to write the state dict (.pth)")
    args = parser.parse_args(argv)
    try:
        variables = read_checkpoint(args.checkpoint)
        state, ignored = convert_tf_variables(variables, source=args.checkpoint)
    except (CheckpointFormatError, FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # The state dict must fit the backbone exactly before it is written.
    load_strict(DeepLabResNet101(announce_random=False), state, source=args.checkpoint)
    classifier = [k for k in ignored if is_classifier(k)]
    other = [k for k in ignored if not is_classifier(k)]
    atomic_torch_save(state, Path(args.output))
    print(f"{args.output}: {len(state)} tensors from {len(variables) - len(ignored)} checkpoint variables")
    if classifier:
        print(f"  left out the DeepLab classifier: {len(classifier)} variables ({classifier[0]}, ...)")
    if other:
        shown = ", ".join(other[:5]) + (", ..." if len(other) > 5 else "")
        print(f"  left out {len(other)} other variables: {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
