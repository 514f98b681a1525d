"""Every paper backbone sees the pixels its published weights expect, through the paper configs.

For each weights format: the publisher's network with random weights and random BatchNorm
statistics is saved in the published container, loaded through ``experiment=...`` (the composed
run config, as ``python -m cmpcv.train`` builds it), and its levels must equal the publisher's
network on the same [0, 1] frames normalised the publisher's way. The DeepLab row is compared
with TensorFlow's forward in tests/models/test_deeplab.py (slow); here its preset is checked.
"""
from __future__ import annotations

import logging

import pytest
import torch
import torchvision
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from torch.nn import functional as F

from tests.models.conftest import compose_run, published_i3d_state_dict, randomize_batchnorm

IMAGENET_MEAN, IMAGENET_STD = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])


def paper_backbone(experiment: str, weights, *overrides: str):
    cfg = compose_run(f"experiment={experiment}", "dataset.root=/unused", f"model.backbone.weights={weights}", *overrides)
    return instantiate(cfg.model.backbone).eval()


@pytest.mark.parametrize(
    "depth, overrides", [pytest.param(101, (), marks=pytest.mark.slow), (50, ("backbone=r2d_50",))]
)
def test_torchvision_resnet_gets_imagenet_pixels(tmp_path, depth, overrides):
    torch.manual_seed(depth)
    make = {101: torchvision.models.resnet101, 50: torchvision.models.resnet50}[depth]
    reference = make(replace_stride_with_dilation=[False, True, True]).eval()
    randomize_batchnorm(reference, seed=depth)
    path = tmp_path / f"resnet{depth}.pth"
    torch.save(reference.state_dict(), path)  # torchvision's container: the plain state dict, fc.* included
    backbone = paper_backbone("cmpcv_r2d_imagenet_a2d", path, *overrides)
    frames = torch.rand(1, 2, 3, 32, 40)
    with torch.no_grad():
        levels = backbone(frames)
        r = reference
        x = (frames[0] - IMAGENET_MEAN.view(3, 1, 1)) / IMAGENET_STD.view(3, 1, 1)  # torchvision's transform
        c3 = r.layer2(r.layer1(r.maxpool(r.relu(r.bn1(r.conv1(x))))))
        c4 = r.layer3(c3)
        c5 = r.layer4(c4)
    for level, expected in zip(levels, (c3, c4, c5)):
        torch.testing.assert_close(level[0], expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max()))


def test_inception_i3d_gets_frames_in_minus_one_to_one(tmp_path):
    """DeepMind's Kinetics weights (and their PyTorch conversion) were trained on ``x * 2 - 1``.
    No copy of the conversion's network is available offline, so the reference is cmpcv's own
    Inception-I3D network (whose architecture the published state dict loads into one to one,
    tests/models/test_backbones.py) fed the publisher's normalisation directly."""
    path = tmp_path / "rgb_imagenet.pt"
    torch.save(published_i3d_state_dict(), path)
    backbone = paper_backbone("cmpcv_i3d_a2d", path)
    frames = torch.rand(1, 8, 3, 32, 32)
    with torch.no_grad():
        levels = backbone(frames)
        expected = backbone._features(frames * 2 - 1)  # the conversion's pipeline: img / 255 * 2 - 1
    for level, ref in zip(levels, expected):
        torch.testing.assert_close(level, ref, rtol=0, atol=0)


def test_pytorchvideo_i3d_r50_gets_kinetics_pixels(tmp_path):
    from pytorchvideo.models.hub import i3d_r50

    torch.manual_seed(0)
    reference = i3d_r50(pretrained=False).eval()
    randomize_batchnorm(reference, seed=3)
    path = tmp_path / "I3D_8x8_R50.pyth"
    torch.save({"model_state": reference.state_dict(), "cfg": "pytorchvideo"}, path)
    backbone = paper_backbone("cmpcv_i3d_a2d", path, "backbone=i3d_r50")
    frames = torch.rand(1, 4, 3, 32, 32)
    with torch.no_grad():
        levels = backbone(frames)
        x = ((frames - 0.45) / 0.225).transpose(1, 2)  # pytorchvideo's Kinetics transform, (B, C, T, H, W)
        for block in reference.blocks[:3]:
            x = block(x)
        res3 = reference.blocks[3](x)
        res4 = reference.blocks[4](res3)
        res5 = reference.blocks[5](res4)
    grid = tuple(res3.shape[-2:])
    for level, ref in zip(levels, (res3, res4, res5)):
        b, c, t = ref.shape[:3]
        ref = F.interpolate(ref.transpose(1, 2).flatten(0, 1), size=grid, mode="bilinear", align_corners=False)
        torch.testing.assert_close(level, ref.reshape(b, t, c, *grid), rtol=1e-5, atol=1e-5 * float(ref.abs().max()))


def test_deeplab_row_gets_caffe_bgr_mean_pixels():
    cfg = compose_run("experiment=cmpcv_r2d_a2d", "dataset.root=/unused")
    backbone = instantiate(cfg.model.backbone, announce_random=False)
    frames = torch.rand(2, 3, 5, 4)
    caffe = frames.flip(-3) * 255 - torch.tensor([104.00698793, 116.66876762, 122.67891434]).view(3, 1, 1)
    torch.testing.assert_close(backbone.normalize(frames), caffe, rtol=1e-6, atol=1e-4)


def test_another_preset_with_weights_is_an_error_unless_allowed(tmp_path, caplog):
    torch.manual_seed(0)
    path = tmp_path / "resnet50.pth"
    torch.save(torchvision.models.resnet50().state_dict(), path)
    with pytest.raises((ValueError, InstantiationException)) as err:  # hydra wraps the ValueError
        paper_backbone("cmpcv_r2d_imagenet_a2d", path, "backbone=r2d_50", "model.backbone.normalize=caffe_bgr")
    msg = str(err.value)
    assert "torchvision ResNet weights" in msg and str(path) in msg
    assert "expect pixels normalised as 'imagenet'" in msg and "normalize is 'caffe_bgr'" in msg
    assert "allow_normalize_mismatch=true" in msg
    with caplog.at_level(logging.WARNING):
        backbone = paper_backbone("cmpcv_r2d_imagenet_a2d", path, "backbone=r2d_50", "model.backbone.normalize=caffe_bgr",
                                  "model.backbone.allow_normalize_mismatch=true")
    assert backbone.normalize.preset == "caffe_bgr"
    assert any("Loading anyway (allow_normalize_mismatch=true)" in r.getMessage() for r in caplog.records)
    # Without weights nothing can mismatch: a preset may be chosen freely (e.g. to train from scratch).
    cfg = compose_run("experiment=cmpcv_i3d_a2d", "dataset.root=/unused", "model.backbone.normalize=kinetics")
    assert instantiate(cfg.model.backbone, announce_random=False).normalize.preset == "kinetics"
