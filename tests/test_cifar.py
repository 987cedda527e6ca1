"""Tests for lessonkit.cifar: CifarNet's shapes, parameter counts and arguments, against torchvision and formulas."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models.vgg import make_layers
from torchvision.ops import SqueezeExcitation as TVSqueezeExcitation

import lessonkit as lk
from lessonkit.cifar import CifarNet


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def formula(widths, convs=2, k=3, cin=3, classes=10) -> int:
    """Parameters by hand: bias-free k×k convolutions, batch norm (scale + shift), a linear head."""
    total, c = 0, cin
    for w in widths:
        for _ in range(convs):
            total += w * c * k * k + 2 * w
            c = w
    return total + widths[-1] * classes + classes


@pytest.mark.parametrize("widths, convs, k", [((64, 128, 256), 2, 3), ((8, 16, 32), 1, 5), ((4, 6), 3, 1), ((128, 256, 512), 2, 3)])
def test_parameter_count_equals_formula(widths, convs, k):
    net = CifarNet(widths, convs_per_block=convs, kernel_size=k)
    assert lk.count_parameters(net) == (formula(widths, convs, k),) * 2


def test_features_match_torchvision_vgg_layers_without_conv_bias():
    """torchvision's VGG builder with batch norm, minus its convolution biases (ours have none: BN shifts)."""
    widths = (64, 128, 256)
    cfg = [v for w in widths for v in (w, w, "M")]
    theirs = make_layers(cfg, batch_norm=True)
    biases = sum(2 * w for w in widths)  # two convolutions per stage, one bias per output channel each
    ours = CifarNet(widths, dropout=0.0).features
    assert n_params(ours) == n_params(theirs) - biases
    # the same layers in the same order, once the dropout and the stage grouping are ignored
    ours_kinds = [type(m).__name__ for stage in ours for m in stage]
    theirs_kinds = [type(m).__name__ for m in theirs]
    assert ours_kinds == theirs_kinds


def test_forward_equals_the_layers_written_out():
    torch.manual_seed(0)
    net = CifarNet((4, 8), dropout=0.3).eval()
    x = torch.randn(3, 3, 32, 32)
    stages = net.features
    h = x
    for stage in stages:
        convs = [m for m in stage if isinstance(m, nn.Conv2d)]
        bns = [m for m in stage if isinstance(m, nn.BatchNorm2d)]
        for conv, bn in zip(convs, bns):
            h = nn.functional.conv2d(h, conv.weight, None, padding=1)
            h = torch.relu(nn.functional.batch_norm(h, bn.running_mean, bn.running_var, bn.weight, bn.bias, eps=bn.eps))
        h = nn.functional.max_pool2d(h, 2)
    linear = net.head[-1]
    expected = h.mean(dim=(2, 3)) @ linear.weight.T + linear.bias
    torch.testing.assert_close(net(x), expected)


@pytest.mark.parametrize("size", [32, 64])
def test_shapes(size):
    net = CifarNet((8, 16, 32), num_classes=7)
    assert net(torch.zeros(2, 3, size, size)).shape == (2, 7)
    h = torch.zeros(2, 3, size, size)
    for stage, w in zip(net.features, (8, 16, 32)):
        h = stage(h)
        size //= 2
        assert h.shape == (2, w, size, size)
    assert net.first_conv.weight.shape == (8, 3, 3, 3)


def test_stride_has_the_same_parameters_and_the_same_shapes_as_pooling():
    pool, stride = CifarNet((8, 16, 32), downsample="pool"), CifarNet((8, 16, 32), downsample="stride")
    assert n_params(pool) == n_params(stride)
    assert not any(isinstance(m, nn.MaxPool2d) for m in stride.modules())
    assert [m.stride for m in stride.modules() if isinstance(m, nn.Conv2d)] == [(1, 1), (2, 2)] * 3
    x = torch.zeros(1, 3, 32, 32)
    for a, b in zip(pool.features, stride.features):
        x_a, x = a(x), b(x)
        assert x_a.shape == x.shape


def test_squeeze_excitation_adds_torchvision_se_parameters():
    widths = (16, 32, 64)
    se = CifarNet(widths, squeeze_excitation=True)
    extra = sum(n_params(TVSqueezeExcitation(w, max(1, w // 16))) for w in widths)
    assert n_params(se) == formula(widths) + extra
    assert sum(isinstance(m, lk.SqueezeExcitation) for m in se.modules()) == 3


def test_dropout_layers():
    assert sum(isinstance(m, nn.Dropout) for m in CifarNet((4, 8, 16), dropout=0.2).modules()) == 4
    assert not any(isinstance(m, nn.Dropout) for m in CifarNet((4, 8, 16), dropout=0.0).modules())
    net = CifarNet((4, 8), dropout=0.5).eval()
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(net(x), net(x))  # no dropout in eval mode


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"widths": 64}, TypeError),
        ({"widths": ()}, ValueError),
        ({"widths": (64, 0)}, ValueError),
        ({"widths": (64, 2.5)}, TypeError),
        ({"convs_per_block": 0}, ValueError),
        ({"dropout": 1.5}, ValueError),
        ({"dropout": "0.1"}, TypeError),
        ({"num_classes": 0}, ValueError),
        ({"kernel_size": 4}, ValueError),
        ({"downsample": "avg"}, ValueError),
        ({"squeeze_excitation": 1}, TypeError),
        ({"in_channels": 3.0}, TypeError),
    ],
)
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        CifarNet(**kwargs)


def test_error_message_names_the_argument():
    with pytest.raises(ValueError, match="downsample"):
        CifarNet(downsample="avg")


def test_the_baseline_sizes_have_one_home_used_by_the_benchmark():
    """benchmarks/training.py reads CifarNet's widths and batch sizes from lessonkit.cifar, not typed twice."""
    import re
    from pathlib import Path

    assert set(lk.CIFAR_WIDTHS) == set(lk.CIFAR_BATCH_SIZES) == {"fast", "full"}
    assert lk.Profile("fast").choose(**lk.CIFAR_WIDTHS) == lk.CIFAR_WIDTHS["fast"]
    for widths in lk.CIFAR_WIDTHS.values():
        CifarNet(widths)(torch.zeros(2, 3, 32, 32))  # each is a valid network
    root = Path(__file__).resolve().parents[1]
    bench = (root / "benchmarks" / "training.py").read_text()
    assert "lk.CIFAR_WIDTHS" in bench and "lk.CIFAR_BATCH_SIZES" in bench
    # no typed copy of the full widths in the benchmark's code (comments may name them)
    assert not re.search(r"\(\s*128,\s*256,\s*512\s*\)", re.sub(r"#.*", "", bench))
