import pytest
import torch
from torch import nn

import lessonkit as lk


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_simple_cnn_shapes_and_parameter_count():
    m = lk.SimpleCNN(1, 10, widths=(8, 16))
    assert m(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert m(torch.zeros(3, 1, 40, 40)).shape == (3, 10)  # GAP: any input size
    # by hand: conv 1->8 (72 weights, no bias) + BN 16; conv 8->16 (1152) + BN 32; linear 16*10+10
    assert n_params(m) == 72 + 16 + 1152 + 32 + 170


def test_flatten_head_needs_size_and_counts_spatial_positions():
    m = lk.SimpleCNN(3, 5, widths=(4,), head="flatten", in_size=8, batch_norm=False)
    assert m(torch.zeros(2, 3, 8, 8)).shape == (2, 5)
    # conv 3->4 with bias: 3*4*9+4; after one pool 4x4x4=64 features -> 64*5+5
    assert n_params(m) == 112 + 325
    with pytest.raises(ValueError, match="needs in_size"):
        lk.SimpleCNN(head="flatten")
    with pytest.raises(ValueError, match="too small"):
        lk.SimpleCNN(widths=(8, 8, 8), head="flatten", in_size=4)


def test_dropout_layer_only_when_asked_for():
    def kinds(m):
        return [type(layer) for layer in m.head]

    assert kinds(lk.SimpleCNN(widths=(4,))) == [nn.AdaptiveAvgPool2d, nn.Flatten, nn.Linear]
    m = lk.SimpleCNN(widths=(4,), dropout=0.3)
    assert kinds(m) == [nn.AdaptiveAvgPool2d, nn.Flatten, nn.Dropout, nn.Linear] and m.head[2].p == 0.3
    # in training mode the layer zeroes about 30 % of the (all non-zero) features it receives
    torch.manual_seed(0)
    x = torch.randn(64, 1, 8, 8)
    m.train()
    feats = m.head[:2](m.features(x))
    zeroed = (m.head[2](feats) == 0).float().mean().item()
    assert 0.2 < zeroed < 0.4 and (feats != 0).all()


def test_mlp_matches_a_hand_built_network():
    m = lk.MLP((1, 4, 4), 3, hidden=(5,))
    assert n_params(m) == 16 * 5 + 5 + 5 * 3 + 3
    assert isinstance(m[1], nn.Linear) and m(torch.zeros(2, 1, 4, 4)).shape == (2, 3)


@pytest.mark.parametrize("kwargs, match", [({"in_channels": 0}, "in_channels"), ({"head": "avg"}, "head must be"), ({"widths": ()}, "at least one")])
def test_simple_cnn_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lk.SimpleCNN(**kwargs)


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: lk.SimpleCNN(in_channels=1.0), "in_channels"),
        (lambda: lk.SimpleCNN(widths=(8, "16")), r"widths\[1\]"),
        (lambda: lk.SimpleCNN(head="flatten", in_size=28.0), "in_size"),
        (lambda: lk.MLP(num_classes="10"), "num_classes"),
        (lambda: lk.MLP(in_shape=(1, 28.0, 28)), r"in_shape\[1\]"),
        (lambda: lk.conv_block(3, 8, batch_norm="yes"), "batch_norm"),
        (lambda: lk.conv_block(3, 8, kernel_size=(3, 3)), "kernel_size"),
    ],
)
def test_a_wrong_type_is_a_type_error(make, name):
    with pytest.raises(TypeError, match=name):
        make()


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: lk.MLP(in_shape=(28, 28)), r"in_shape must be a \(C, H, W\)"),
        (lambda: lk.MLP(hidden=(0,)), r"hidden\[0\] must be an int >= 1, got 0"),
        (lambda: lk.MLP(dropout=1.5), "dropout must be a probability"),
        (lambda: lk.conv_block(3, 8, kernel_size=4), "kernel_size must be a positive odd int"),
        (lambda: lk.conv_block(3, 8, groups=2), "groups must divide"),
    ],
)
def test_a_wrong_value_is_a_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_conv_block_layers_against_hand_built_ones():
    torch.manual_seed(0)
    ours = lk.conv_block(4, 8, kernel_size=5, stride=2, groups=2, pool=False)
    torch.manual_seed(0)
    ref = nn.Sequential(nn.Conv2d(4, 8, 5, stride=2, padding=2, groups=2, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
    assert str(ours) == str(ref) and torch.equal(ours[0].weight, ref[0].weight)
    x = torch.randn(2, 4, 9, 9)
    assert torch.equal(ours(x), ref(x))
    # the default: 3x3 same-padded conv, bias only without batch norm, then 2x2 max-pooling
    assert [type(m) for m in lk.conv_block(1, 2)] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d]
    no_bn = lk.conv_block(1, 2, batch_norm=False)
    assert [type(m) for m in no_bn] == [nn.Conv2d, nn.ReLU, nn.MaxPool2d] and no_bn[0].bias is not None
    assert lk.conv_block(1, 2)[0].bias is None and lk.conv_block(1, 2, bias=True)[0].bias is not None
    assert lk.conv_block(1, 2)(torch.zeros(1, 1, 8, 8)).shape == (1, 2, 4, 4)
