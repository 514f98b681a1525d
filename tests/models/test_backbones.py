"""Backbones: level contract, published weight layouts, strict loading, freezing."""
from __future__ import annotations

import logging

import pytest
import torch
import torchvision
from torch import nn

from cmpcv.models import StateDictMismatch
from cmpcv.models.backbones import I3D, I3DR50, R2D, Tiny2D, Tiny3D, base
from tests.models.conftest import published_i3d_state_dict


@pytest.mark.parametrize(
    "make, frames, size, slices, channels",
    [
        (lambda: R2D(depth=50), 3, 48, (3, 3, 3), (512, 1024, 2048)),
        (lambda: I3D(), 16, 48, (8, 4, 2), (480, 832, 1024)),
        (lambda: I3DR50(), 6, 48, (3, 3, 3), (512, 1024, 2048)),
        (lambda: Tiny2D(channels=(8, 16, 24)), 3, 48, (3, 3, 3), (8, 16, 24)),
        (lambda: Tiny3D(channels=(8, 16, 24)), 5, 48, (5, 5, 5), (8, 16, 24)),
        (lambda: Tiny2D(channels=(8, 16, 24), stride=4), 2, 48, (2, 2, 2), (8, 16, 24)),
    ],
)
def test_levels_share_one_grid(make, frames, size, slices, channels):
    bb = make().eval()
    with torch.no_grad():
        levels = bb(torch.rand(2, frames, 3, size, size))
    grid = size // bb.stride
    assert [tuple(x.shape) for x in levels] == [(2, t, c, grid, grid) for t, c in zip(slices, channels)]
    assert tuple(bb.out_channels) == channels
    assert all(g < t for g, t in zip(bb.gt_index(frames), slices))


def test_gt_index_picks_the_slice_covering_the_middle_frame():
    assert R2D.gt_index(R2D.__new__(R2D), 5) == (2, 2, 2)
    assert I3D.gt_index(I3D.__new__(I3D), 16) == (4, 2, 1)  # frame 8 lies in [8,10), [8,12), [8,16)
    assert I3DR50.gt_index(I3DR50.__new__(I3DR50), 8) == (2, 2, 2)


def test_i3d_temporal_slices_follow_the_frames():
    """Changing only the last frames leaves the first c3 slice untouched (its temporal receptive
    field ends before them) and changes the last: slices are in frame order, not just shaped."""
    torch.manual_seed(0)
    bb = I3D().eval()
    clip = torch.rand(1, 16, 3, 32, 32)
    late = clip.clone()
    late[:, 12:] = torch.rand(1, 4, 3, 32, 32)
    with torch.no_grad():
        a, b = bb(clip)[0], bb(late)[0]
    change = (a - b).abs().flatten(2).amax(-1)[0]  # per c3 slice
    assert change[0] == 0
    assert change[-1] > 0


@pytest.mark.parametrize("temporal_from, c3_mixes_time", [(0, True), (2, False)])
def test_tiny3d_temporal_from_keeps_early_stages_framewise(temporal_from, c3_mixes_time):
    torch.manual_seed(0)
    net = Tiny3D(channels=(8, 8, 8), stem_channels=8, stride=4, temporal_from=temporal_from).eval()
    frames = torch.rand(1, 4, 3, 16, 16)
    other = frames.clone()
    other[:, 2] = torch.rand(3, 16, 16)  # change frame 2 only
    with torch.no_grad():
        a, b = net(frames), net(other)
    # c3 of frame 1 sees frame 2 only through a temporal kernel; c5 always does (layer4/5 are 3D).
    assert (not torch.allclose(a[0][:, 1], b[0][:, 1])) == c3_mixes_time
    assert not torch.allclose(a[2][:, 1], b[2][:, 1])


@pytest.mark.parametrize("cls", [Tiny2D, Tiny3D])
def test_pooled_rgb_appends_the_frame_averaged_over_each_grid_cell(cls):
    torch.manual_seed(0)
    plain = cls(channels=(8, 8, 8), stem_channels=8, stride=4).eval()
    net = cls(channels=(8, 8, 8), stem_channels=8, stride=4, pooled_rgb=True).eval()
    net.load_state_dict(plain.state_dict())  # the option adds no parameters
    frames = torch.rand(2, 3, 3, 16, 16)
    with torch.no_grad():
        levels, base_levels = net(frames), plain(frames)
    assert tuple(net.out_channels) == (11, 11, 11)
    normalized = net.normalize(frames)
    # Cell (1, 2) of frame 1 averages pixels 4..7 x 8..11 of that frame, after the pixel normalisation.
    expected = normalized[:, 1, :, 4:8, 8:12].mean((-1, -2))
    for level, base_level in zip(levels, base_levels):
        assert tuple(level.shape) == (2, 3, 11, 4, 4)
        torch.testing.assert_close(level[:, :, :8], base_level)
        torch.testing.assert_close(level[:, 1, 8:, 1, 2], expected)
    # A colour change inside one cell reaches the deepest level's extra channels at that cell only.
    recoloured = frames.clone()
    recoloured[:, :, 0, 4:8, 8:12] = 1 - recoloured[:, :, 0, 4:8, 8:12]
    with torch.no_grad():
        changed = (net(recoloured)[2][:, :, 8:] - levels[2][:, :, 8:]).abs().amax((0, 1, 2))
    assert changed[1, 2] > 0 and int((changed > 0).sum()) == 1


def test_temporal_from_is_checked():
    with pytest.raises(ValueError, match="temporal_from must be 0..4"):
        Tiny3D(temporal_from=5)
    with pytest.raises(ValueError, match="Tiny3D only"):
        Tiny2D(temporal_from=2)


def test_r2d_matches_torchvision_resnet_with_published_weights(tmp_path):
    torch.manual_seed(0)
    reference = torchvision.models.resnet50(replace_stride_with_dilation=[False, True, True]).eval()
    path = tmp_path / "resnet50.pth"
    torch.save(reference.state_dict(), path)  # the published layout, fc.* included
    bb = R2D(depth=50, weights=path, normalize="imagenet").eval()
    frames = torch.rand(1, 2, 3, 32, 32)
    with torch.no_grad():
        levels = bb(frames)
        x = (frames[0] - torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
        r = reference
        x = r.layer2(r.layer1(r.maxpool(r.relu(r.bn1(r.conv1(x))))))
        torch.testing.assert_close(levels[0][0], x)
        torch.testing.assert_close(levels[2][0], r.layer4(r.layer3(x)))


def test_i3d_loads_the_published_kinetics_conversion(tmp_path):
    state = published_i3d_state_dict()
    path = tmp_path / "rgb_imagenet.pt"
    torch.save(state, path)
    bb = I3D(weights=path)
    own = bb.state_dict()
    for key, value in state.items():
        if not key.startswith("logits."):
            assert torch.equal(own[key], value), key


def test_i3d_r50_loads_pytorchvideo_checkpoint_layout(tmp_path):
    from pytorchvideo.models.hub import i3d_r50

    torch.manual_seed(0)
    published = i3d_r50(pretrained=False).state_dict()  # includes the blocks.6 head
    path = tmp_path / "I3D_8x8_R50.pyth"
    torch.save({"model_state": published}, path)
    bb = I3DR50(weights=path)
    own = bb.state_dict()
    assert set(own) == {k for k in published if not k.startswith("blocks.6.")}
    assert all(torch.equal(own[k], published[k]) for k in own)


def test_strict_loading_lists_missing_unexpected_and_mismatched_keys(tmp_path):
    state = published_i3d_state_dict()
    del state["Mixed_4c.b0.conv3d.weight"]
    state["Mixed_9z.b0.conv3d.weight"] = torch.zeros(1)
    state["Mixed_3b.b0.bn.weight"] = torch.ones(3)
    path = tmp_path / "broken.pt"
    torch.save(state, path)
    with pytest.raises(StateDictMismatch) as err:
        I3D(weights=path)
    msg = str(err.value)
    assert str(path) in msg
    assert "missing keys (1)" in msg and "Mixed_4c.b0.conv3d.weight" in msg
    assert "unexpected keys (1)" in msg and "Mixed_9z.b0.conv3d.weight" in msg
    assert "shape mismatches (1)" in msg and "Mixed_3b.b0.bn.weight: checkpoint (3,) vs model (64,)" in msg
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        Tiny2D(weights=tmp_path / "does-not-exist.pt")


def test_frozen_finetune_and_scratch_policies():
    frozen = R2D(depth=50).train()
    assert not any(p.requires_grad for p in frozen.parameters())
    assert not any(m.training for m in frozen.modules() if isinstance(m, nn.BatchNorm2d))
    tuned = R2D(depth=50, finetune=True).train()
    assert not tuned.net.conv1.weight.requires_grad and tuned.net.layer4[0].conv1.weight.requires_grad
    assert not tuned.net.layer4[0].bn1.training  # BatchNorm statistics stay frozen
    scratch = Tiny2D(channels=(8, 8, 8)).train()
    assert all(p.requires_grad for p in scratch.parameters()) and scratch.stem[0].bn1.training
    # Frozen BatchNorm keeps its running statistics through a training-mode forward.
    before = frozen.net.bn1.running_mean.clone()
    frozen(torch.rand(1, 1, 3, 32, 32))
    assert torch.equal(before, frozen.net.bn1.running_mean)


def test_random_init_is_announced_once(caplog, monkeypatch):
    monkeypatch.setattr(base, "_ANNOUNCED_RANDOM", set())
    with caplog.at_level(logging.WARNING, logger=base.__name__):
        Tiny2D(channels=(8, 8, 8), announce_random=True)
        Tiny2D(channels=(8, 8, 8), announce_random=True)
    assert [r.message for r in caplog.records].count("Tiny2D: no weights path given, starting from random initialisation") == 1
