import pytest
import torch
from torch import nn

from cmpcv.engine.optim import build_optimizer, build_scheduler, param_groups, poly_factor


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.frozen = nn.Conv2d(4, 4, 1)
        self.frozen.requires_grad_(False)
        self.language = nn.Module()
        self.language.embedding = nn.Embedding(10, 4)
        self.language.lstm = nn.LSTM(4, 4)
        self.head = nn.Sequential(nn.Conv2d(4, 4, 3), nn.Linear(4, 2), nn.Conv3d(4, 1, 1, bias=False))


def test_decay_only_on_head_conv_kernels_and_bias_lr_doubled():
    model = Toy()
    groups = {g["name"]: g for g in param_groups(model, lr=1.0, weight_decay=5e-4, bias_lr_mult=2.0)}
    ids = lambda ps: {id(p) for p in ps}  # noqa: E731
    # Linear = the released 1x1 convs (cmpcv.models runs them channels-last): decayed too.
    assert ids(groups["decay"]["params"]) == {
        id(model.head[0].weight), id(model.head[1].weight), id(model.head[2].weight)
    }
    assert groups["decay"]["weight_decay"] == 5e-4
    biases = {
        id(model.backbone[0].bias),
        id(model.backbone[1].bias),
        id(model.head[0].bias),
        id(model.head[1].bias),
        id(model.language.lstm.bias_ih_l0),
        id(model.language.lstm.bias_hh_l0),
    }
    assert ids(groups["bias"]["params"]) == biases
    assert groups["bias"]["lr"] == 2.0 and groups["bias"]["weight_decay"] == 0.0
    assert groups["other"]["weight_decay"] == 0.0
    every = ids(p for g in groups.values() for p in g["params"])
    assert every == ids(p for p in model.parameters() if p.requires_grad)  # frozen left out, none lost
    assert id(model.frozen.weight) not in every


def test_adam_weight_decay_equals_l2_term_in_the_loss():
    # The recipe's "5e-4 * sum 1/2 ||W||^2" added to the loss gives the same Adam step as weight_decay.
    torch.manual_seed(0)
    a, b = nn.Conv2d(2, 2, 1), nn.Conv2d(2, 2, 1)
    b.load_state_dict(a.state_dict())
    x = torch.randn(3, 2, 4, 4)
    opt_a = build_optimizer(a, lr=0.1, weight_decay=5e-4, bias_lr_mult=1.0, no_decay_prefixes=())
    opt_b = build_optimizer(b, lr=0.1, weight_decay=0.0, bias_lr_mult=1.0, no_decay_prefixes=())
    a(x).pow(2).mean().backward()
    (b(x).pow(2).mean() + 5e-4 * 0.5 * b.weight.pow(2).sum()).backward()
    opt_a.step()
    opt_b.step()
    assert torch.allclose(a.weight, b.weight, atol=1e-7)


def test_poly_schedule_values():
    model = nn.Conv2d(1, 1, 1)
    opt = build_optimizer(model, lr=2.5e-4, bias_lr_mult=2.0, no_decay_prefixes=())
    sched = build_scheduler(opt, decay_steps=10, power=0.9, end_lr=1e-5)
    lrs = []
    for _ in range(12):
        lrs.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    for step, (w, bias) in enumerate(lrs):
        expected = (2.5e-4 - 1e-5) * (1 - min(step, 10) / 10) ** 0.9 + 1e-5
        assert w == pytest.approx(expected, rel=1e-9)
        assert bias == pytest.approx(2 * expected, rel=1e-9)
    assert lrs[11][0] == pytest.approx(1e-5)
    assert poly_factor(5, decay_steps=10, power=1.0, end_ratio=0.0) == pytest.approx(0.5)


def test_warmup_ramps_then_follows_the_poly_schedule():
    model = nn.Conv2d(1, 1, 1)
    opt = build_optimizer(model, lr=1e-3, bias_lr_mult=1.0, no_decay_prefixes=())
    sched = build_scheduler(opt, decay_steps=10, power=1.0, end_lr=0.0, warmup_steps=4)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    # step s: (s + 1) / 4 of the poly value while s < 4, the poly value (1 - s/10) after.
    expected = [min(1.0, (s + 1) / 4) * 1e-3 * (1 - s / 10) for s in range(10)]
    assert lrs == pytest.approx(expected, rel=1e-9)
    assert lrs[0] == pytest.approx(0.25e-3) and lrs[5] == pytest.approx(0.5e-3)
    with pytest.raises(ValueError, match="warmup_steps"):
        build_scheduler(opt, decay_steps=10, warmup_steps=-1)
