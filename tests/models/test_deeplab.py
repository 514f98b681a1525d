"""The released R2D backbone: DeepLab-v2 ResNet-101 (Caffe layout) and its TensorFlow checkpoint."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from cmpcv.models import StateDictMismatch
from cmpcv.models.backbones import DeepLabResNet101
from cmpcv.models.backbones.deeplab import block_names, convert_tf_variables, tf_layer_names
from tests.models.conftest import compose_run, find_tf_python

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def deeplab() -> DeepLabResNet101:
    torch.manual_seed(0)
    return DeepLabResNet101(announce_random=False).eval()


def test_layout_is_the_caffe_deeplab_v2_resnet101(deeplab):
    names = block_names()
    assert len(names) == 33 and names[:4] == ["res2a", "res2b", "res2c", "res3a"] and names[-1] == "res5c"
    assert sum(n.startswith("res4") for n in names) == 23  # res4a, res4b1 ... res4b22
    # The downsampling stride sits in the first 1x1 (and the projection), not in the 3x3.
    assert deeplab.res3a.branch2a.stride == (2, 2) and deeplab.res3a.branch1.stride == (2, 2)
    assert deeplab.res3a.branch2b.stride == (1, 1)
    # Dilation 2 / 4 in every res4 / res5 block, the first one included; padding = dilation.
    for name, block in deeplab.blocks():
        dilation = 2 if name.startswith("res4") else 4 if name.startswith("res5") else 1
        assert block.branch2b.dilation == (dilation, dilation) and block.branch2b.padding == (dilation, dilation), name
        assert all(c.stride == (1, 1) for c in block.convs()) or name == "res3a", name
    # slim.batch_norm's epsilon, on every BatchNorm.
    bns = [m for m in deeplab.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 104 and {m.eps for m in bns} == {1e-3}
    assert sum(p.numel() for p in deeplab.parameters()) == 42_500_160  # ResNet-101 without its classifier


def test_levels_are_res3b3_res4b22_res5c_at_stride_8(deeplab):
    frames = torch.rand(1, 1, 3, 40, 33)
    with torch.no_grad():
        levels = deeplab(frames)
        # The same levels by hand: the output of the last block of each stage.
        x = deeplab.stem(deeplab.normalize(frames).flatten(0, 1))
        stage_ends = {}
        for name, block in deeplab.blocks():
            x = block(x)
            stage_ends[name] = x
    assert [tuple(level.shape) for level in levels] == [(1, 1, 512, 5, 5), (1, 1, 1024, 5, 5), (1, 1, 2048, 5, 5)]
    for level, name in zip(levels, ("res3b3", "res4b22", "res5c")):
        assert torch.equal(level[0], stage_ends[name])


def test_stem_and_dilated_convs_pad_like_tensorflow_same(deeplab):
    """Golden numbers from TensorFlow 2.21 (tensorflow-cpu), written by::

        x = (np.sin(np.arange(40, dtype=np.float32) * 1.7) * 10.0).reshape(1, 8, 5, 1)
        w7 = np.cos(np.arange(49, dtype=np.float32)).reshape(7, 7, 1, 1)
        tf.nn.max_pool2d(tf.nn.relu(tf.nn.conv2d(x, w7, [1, 2, 2, 1], "SAME")), 3, 2, "SAME")
        x2 = np.arange(30, dtype=np.float32).reshape(1, 6, 5, 1) - 10.0
        w3 = np.arange(9, dtype=np.float32).reshape(3, 3, 1, 1) - 4.0
        tf.nn.atrous_conv2d(x2, w3, rate, "SAME")          # rate 2 and 4

    An 8-row input pads conv1 by (2, 3) rows and pool1 by (0, 1): the odd pixel goes at the end.
    """
    net = DeepLabResNet101(announce_random=False).eval()
    with torch.no_grad():
        net.conv1.weight.zero_()
        net.conv1.weight[0, 0] = torch.cos(torch.arange(49, dtype=torch.float32)).reshape(7, 7)
        net.bn_conv1.running_mean.zero_()
        net.bn_conv1.running_var.fill_(1 - 1e-3)  # BatchNorm as the identity
        net.bn_conv1.weight.fill_(1.0)
        net.bn_conv1.bias.zero_()
        x = torch.zeros(1, 3, 8, 5)
        x[0, 0] = (torch.sin(torch.arange(40, dtype=torch.float32) * 1.7) * 10.0).reshape(8, 5)
        stem = net.stem(x)[0, 0]
    torch.testing.assert_close(stem, torch.tensor([[16.92208, 22.82740], [2.35784, 22.82740]]), atol=1e-4, rtol=0)

    golden = {
        2: [[0.0, 8.0, 26.0, 20.0, 24.0], [40.0, 48.0, 71.0, 40.0, 44.0], [126.0, 129.0, 192.0, 117.0, 114.0],
            [141.0, 144.0, 192.0, 102.0, 99.0], [8.0, 4.0, -10.0, -24.0, -32.0], [-12.0, -16.0, -55.0, -64.0, -72.0]],
        4: [[80.0, 33.0, 36.0, 39.0, 72.0], [120.0, 48.0, 51.0, 54.0, 92.0], [4.0, 0.0, 0.0, 0.0, 0.0],
            [9.0, 0.0, 0.0, 0.0, -5.0], [56.0, 27.0, 24.0, 21.0, 48.0], [36.0, 12.0, 9.0, 6.0, 8.0]],
    }
    for rate, block in ((2, net.res4a), (4, net.res5a)):
        conv = block.branch2b
        w = torch.zeros_like(conv.weight)
        w[0, 0] = torch.arange(9, dtype=torch.float32).reshape(3, 3) - 4.0
        x = torch.zeros(1, conv.in_channels, 6, 5)
        x[0, 0] = torch.arange(30, dtype=torch.float32).reshape(6, 5) - 10.0
        with torch.no_grad():
            out = nn.functional.conv2d(x, w, padding=conv.padding, dilation=conv.dilation)[0, 0]
        torch.testing.assert_close(out, torch.tensor(golden[rate]))


def _tf_variables(rng: np.random.Generator) -> dict:
    """Random variables under the released checkpoint's names and TF shapes, plus its classifier."""
    shapes = {k: tuple(v.shape) for k, v in DeepLabResNet101(announce_random=False).state_dict().items()}
    out = {}
    for kind, tf_name, module in tf_layer_names():
        if kind == "conv":
            o, i, kh, kw = shapes[f"{module}.weight"]
            out[f"{tf_name}/weights"] = rng.random((kh, kw, i, o), dtype=np.float32)
        else:
            for name in ("gamma", "beta", "moving_mean", "moving_variance"):
                out[f"{tf_name}/{name}"] = rng.random(shapes[f"{module}.weight"], dtype=np.float32)
    out["fc1_voc12_c0/weights"] = rng.random((3, 3, 2048, 21), dtype=np.float32)
    out["fc1_voc12_c0/biases"] = np.zeros(21, np.float32)
    return out


def test_conversion_maps_every_variable_onto_the_backbone():
    rng = np.random.default_rng(0)
    variables = _tf_variables(rng)
    state, ignored = convert_tf_variables(variables, source="test.ckpt")
    assert ignored == ["fc1_voc12_c0/biases", "fc1_voc12_c0/weights"]
    net = DeepLabResNet101(announce_random=False)
    own = {k for k in net.state_dict() if not k.endswith("num_batches_tracked")}
    assert set(state) == own  # every parameter and statistic, nothing else
    net.load_state_dict(state, strict=False)
    # (kh, kw, in, out) -> (out, in, kh, kw), element by element.
    tf_w, ours = variables["res4b22_branch2b/weights"], net.res4b22.branch2b.weight
    assert ours[17, 5, 2, 0] == tf_w[2, 0, 5, 17] and ours[3, 200, 0, 1] == tf_w[0, 1, 200, 3]
    assert torch.equal(net.res3a.branch1.weight[:, :, 0, 0], torch.from_numpy(variables["res3a_branch1/weights"][0, 0].T))
    bn = net.res5c.bn_branch2c
    for ours_name, tf_name in (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
                               ("running_var", "moving_variance")):
        assert torch.equal(getattr(bn, ours_name), torch.from_numpy(variables[f"bn5c_branch2c/{tf_name}"]))
    # The caffe-tensorflow names of the same statistics (scale, offset, mean, variance) map alike.
    renames = {"/gamma": "/scale", "/beta": "/offset", "/moving_mean": "/mean", "/moving_variance": "/variance"}
    old = {next((k.replace(a, b) for a, b in renames.items() if k.endswith(a)), k): v for k, v in variables.items()}
    assert "bn5c_branch2c/scale" in old and "bn5c_branch2c/gamma" not in old
    old_state, _ = convert_tf_variables(old)
    assert all(torch.equal(old_state[k], state[k]) for k in state)


def test_conversion_lists_missing_and_misshapen_variables():
    variables = _tf_variables(np.random.default_rng(1))
    del variables["res4b7_branch2a/weights"], variables["bn2a_branch1/moving_variance"]
    variables["res5c_branch2c/weights"] = np.zeros((1, 1, 512, 1000), np.float32)
    with pytest.raises(StateDictMismatch) as err:
        convert_tf_variables(variables, source="/w/other.ckpt")
    msg = str(err.value)
    assert "/w/other.ckpt is not the DeepLab-v2 ResNet-101 checkpoint" in msg
    assert "missing variables (2)" in msg and "res4b7_branch2a/weights" in msg and "bn2a_branch1/moving_variance" in msg
    assert "res5c_branch2c/weights: checkpoint (1, 1, 512, 1000) vs expected (1, 1, 512, 2048)" in msg


def _converter():
    spec = importlib.util.spec_from_file_location("convert_deeplab_ckpt", ROOT / "scripts/convert_deeplab_ckpt.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_converter_script_rejects_a_checkpoint_of_another_network(tmp_path, capsys):
    """The TF-written fixture is a real checkpoint, just not DeepLab's: a clear error, no output."""
    out = tmp_path / "deeplab101.pth"
    assert _converter().main([str(FIXTURES / "tf_checkpoints/v1.ckpt"), str(out)]) == 2
    err = capsys.readouterr().err
    assert "v1.ckpt is not the DeepLab-v2 ResNet-101 checkpoint" in err and "missing variables" in err
    assert _converter().main([str(tmp_path / "absent.ckpt"), str(out)]) == 2
    assert "no TensorFlow checkpoint at" in capsys.readouterr().err
    assert not out.exists()


def test_finetune_trains_the_res3_to_res5_kernels_only():
    net = DeepLabResNet101(finetune=True, announce_random=False).train()
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert "res4b22.branch2b.weight" in trainable and "res3a.branch1.weight" in trainable
    assert not any(n.startswith(("conv1", "bn_conv1", "res2")) for n in trainable)
    assert not any(".bn_" in n for n in trainable)  # the released filter picks res3*/res4*/res5*, not bn*
    assert not any(m.training for m in net.modules() if isinstance(m, nn.BatchNorm2d))


@pytest.mark.slow
def test_backbone_from_a_tensorflow_checkpoint_matches_tensorflow(tmp_path):
    """TensorFlow writes a DeepLab-shaped checkpoint (random weights, V1 as released and V2) and
    its own res3b3/res4b22/res5c features (tests/models/fixtures/tf_deeplab_reference.py); the
    backbone of ``experiment=cmpcv_r2d_a2d`` loads the checkpoint, directly and through
    ``scripts/convert_deeplab_ckpt.py``, and must give the same features on the same [0, 1] frames.
    Needs a Python with TensorFlow: this one, or ``CMPCV_TF_PYTHON``."""
    tf_python = find_tf_python()
    if tf_python is None:
        pytest.skip("TensorFlow is not importable and CMPCV_TF_PYTHON is not set")
    subprocess.run([tf_python, str(FIXTURES / "tf_deeplab_reference.py"), str(tmp_path), "--height", "64",
                    "--width", "57", "--frames", "2"], check=True, capture_output=True)
    ref = np.load(tmp_path / "reference.npz")
    frames = torch.from_numpy(ref["frames"]).permute(0, 3, 1, 2).unsqueeze(0)  # (1, T, 3, H, W) in [0, 1]
    converted = tmp_path / "deeplab101.pth"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts/convert_deeplab_ckpt.py"),
                           str(tmp_path / "deeplab_v1.ckpt"), str(converted)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "left out the DeepLab classifier: 8 variables" in proc.stdout
    for weights in (tmp_path / "deeplab_v1.ckpt", tmp_path / "deeplab_v2.ckpt", converted):
        cfg = compose_run("experiment=cmpcv_r2d_a2d", "dataset.root=/unused", f"model.backbone.weights={weights}")
        backbone = instantiate(cfg.model.backbone).eval()
        assert backbone.normalize.preset == "caffe_bgr"
        with torch.no_grad():
            levels = backbone(frames)
        for level, name in zip(levels, ("res3b3_relu", "res4b22_relu", "res5c_relu")):
            expected = torch.from_numpy(ref[name]).permute(0, 3, 1, 2)
            scale = float(expected.abs().max())
            assert scale > 1.0  # the random network does not collapse to zeros
            torch.testing.assert_close(level[0], expected, rtol=0, atol=2e-5 * scale, msg=f"{weights.name} {name}")
