"""Tests for lessonkit.architectures: shapes, parameter counts and behaviour against torchvision."""

from __future__ import annotations

import copy
import functools

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.convnext import CNBlock
from torchvision.ops import SqueezeExcitation as TVSqueezeExcitation

import lessonkit as lk
from lessonkit.architectures import (
    AlexNetSmall,
    BasicBlock,
    Bottleneck,
    ConvNeXtBlock,
    DeepNet,
    DenseBlock,
    InceptionModule,
    InceptionReduction,
    InceptionResNetBlock,
    LeNet5,
    ResNeXtBlock,
    SqueezeExcitation,
    XResBlock,
    depthwise_separable_conv,
    vgg_block,
    xresnet_stem,
)


@functools.lru_cache(maxsize=None)
def tv(name: str) -> nn.Module:
    """A torchvision reference model with random weights, built once per test session."""
    torch.manual_seed(0)
    return torchvision.models.get_model(name, weights=None).eval()


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


# Published parameter counts (torchvision's model documentation tables; the
# AlexNet, VGG-16 and ResNet figures also match the papers' architectures).
PUBLISHED = {
    "alexnet": 61_100_840,
    "vgg16": 138_357_544,
    "googlenet": 6_624_904,
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    "densenet121": 7_978_856,
    "resnext50_32x4d": 25_028_904,
    "efficientnet_b0": 5_288_548,
    "regnet_y_400mf": 4_344_144,
    "convnext_tiny": 28_589_128,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_torchvision_parameter_counts_equal_published(name):
    # Build on the meta device: shapes only, no memory, no download.
    # GoogLeNet's published count excludes the two auxiliary classifiers used only in training.
    kwargs = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
    try:
        with torch.device("meta"):
            model = torchvision.models.get_model(name, weights=None, **kwargs)
    except NotImplementedError:  # RegNet's initialiser copies data, which meta tensors lack
        model = torchvision.models.get_model(name, weights=None, **kwargs)
    count = n_params(model)
    assert count == PUBLISHED[name]
    assert count == torchvision.models.get_model_weights(name).DEFAULT.meta["num_params"]


def copy_by_order(src: nn.Module, dst: nn.Module) -> None:
    """Copy every parameter and buffer of src into dst, matched by registration order."""
    s, d = list(src.state_dict().values()), dst.state_dict()
    assert len(s) == len(d), (len(s), len(d))
    new = {k: v.reshape(d[k].shape).clone() for k, v in zip(d, s)}
    dst.load_state_dict(new)


def randomise_bn(m: nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.copy_(torch.randn(mod.num_features, generator=g) * 0.1)
            mod.running_var.copy_(torch.rand(mod.num_features, generator=g) + 0.5)
            with torch.no_grad():
                mod.weight.copy_(torch.rand(mod.num_features, generator=g) + 0.5)
                mod.bias.copy_(torch.randn(mod.num_features, generator=g) * 0.1)


@pytest.mark.parametrize(
    "ours, theirs, in_ch",
    [
        (lambda: BasicBlock(64, 64), lambda: tv("resnet18").layer1[0], 64),
        (lambda: BasicBlock(64, 128, stride=2), lambda: tv("resnet18").layer2[0], 64),
        (lambda: Bottleneck(64, 64), lambda: tv("resnet50").layer1[0], 64),
        (lambda: Bottleneck(256, 64), lambda: tv("resnet50").layer1[1], 256),
        (lambda: Bottleneck(256, 128, stride=2), lambda: tv("resnet50").layer2[0], 256),
        (lambda: ResNeXtBlock(256, 256, cardinality=32, group_width=4), lambda: tv("resnext50_32x4d").layer1[1], 256),
        (lambda: DenseBlock(64, num_layers=6, growth_rate=32), lambda: tv("densenet121").features.denseblock1, 64),
    ],
)
def test_blocks_match_torchvision_reference(ours, theirs, in_ch):
    torch.manual_seed(0)
    a, b = ours().eval(), copy.deepcopy(theirs()).eval()
    assert n_params(a) == n_params(b)
    randomise_bn(b)
    copy_by_order(b, a)
    x = torch.randn(2, in_ch, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x), rtol=1e-5, atol=1e-5)


def test_convnext_block_matches_torchvision():
    torch.manual_seed(0)
    theirs = CNBlock(96, layer_scale=0.5, stochastic_depth_prob=0.0).eval()
    ours = ConvNeXtBlock(96).eval()
    assert n_params(ours) == n_params(theirs)
    copy_by_order(theirs, ours)
    x = torch.randn(2, 96, 14, 14)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


def test_squeeze_excitation_matches_torchvision():
    torch.manual_seed(0)
    ours = SqueezeExcitation(64, reduction=16)
    theirs = TVSqueezeExcitation(64, 4)
    copy_by_order(theirs, ours)
    x = torch.randn(3, 64, 5, 5)
    torch.testing.assert_close(ours(x), theirs(x))
    gates = ours.gates(x)
    assert gates.shape == (3, 64, 1, 1) and bool(((gates > 0) & (gates < 1)).all())


def test_lenet5_parameter_count_by_hand():
    # conv(k*k*cin + 1 bias) * cout, then fully connected layers.
    expected = (5 * 5 * 1 + 1) * 6 + (5 * 5 * 6 + 1) * 16 + (400 + 1) * 120 + (120 + 1) * 84 + (84 + 1) * 10
    assert n_params(LeNet5()) == expected == 61_706
    assert n_params(LeNet5(in_size=32)) == expected
    assert LeNet5(in_size=32)(torch.zeros(1, 1, 32, 32)).shape == (1, 10)
    with pytest.raises(ValueError, match="28x28"):
        LeNet5()(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="in_size"):
        LeNet5(in_size=64)


def test_alexnet_small_shapes_and_errors():
    net = AlexNetSmall()
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert net.features(torch.zeros(1, 3, 32, 32)).shape == (1, 64, 3, 3)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        net(torch.zeros(2, 1, 32, 32))


def test_vgg_blocks_rebuild_vgg16_features():
    cfg = [(3, 64, 2), (64, 128, 2), (128, 256, 3), (256, 512, 3), (512, 512, 3)]
    ours = nn.Sequential(*(vgg_block(*c) for c in cfg))
    with torch.device("meta"):
        theirs = torchvision.models.vgg16().features
    assert n_params(ours) == n_params(theirs)
    ours_convs = [tuple(m.weight.shape) for m in ours.modules() if isinstance(m, nn.Conv2d)]
    theirs_convs = [tuple(m.weight.shape) for m in theirs.modules() if isinstance(m, nn.Conv2d)]
    assert ours_convs == theirs_convs
    assert ours(torch.zeros(1, 3, 32, 32)).shape == (1, 512, 1, 1)


def conv_bn(cin, cout, k):
    return cin * cout * k * k + 2 * cout


def test_inception_module_counts_and_factorisation():
    m = InceptionModule(192, 64, 96, 128, 16, 32, 32)
    assert m(torch.zeros(1, 192, 28, 28)).shape == (1, 256, 28, 28)
    expected = conv_bn(192, 64, 1) + conv_bn(192, 96, 1) + conv_bn(96, 128, 3) + conv_bn(192, 16, 1) + conv_bn(16, 32, 5) + conv_bn(192, 32, 1)
    assert n_params(m) == expected
    f = InceptionModule(192, 64, 96, 128, 16, 32, 32, factorised=True)
    assert n_params(f) == expected - conv_bn(16, 32, 5) + conv_bn(16, 16, 3) + conv_bn(16, 32, 3)
    # factorising saves weights in every one of GoogLeNet's nine modules (Table 1 of the paper)
    googlenet = [(192, 64, 96, 128, 16, 32, 32), (256, 128, 128, 192, 32, 96, 64), (480, 192, 96, 208, 16, 48, 64),
                 (512, 160, 112, 224, 24, 64, 64), (512, 128, 128, 256, 24, 64, 64), (512, 112, 144, 288, 32, 64, 64),
                 (528, 256, 160, 320, 32, 128, 128), (832, 256, 160, 320, 32, 128, 128), (832, 384, 192, 384, 48, 128, 128)]
    for cfg in googlenet:
        assert n_params(InceptionModule(*cfg, factorised=True)) < n_params(InceptionModule(*cfg))
    # The two stacked 3x3 convolutions see a 5x5 window: the output at the centre
    # depends on exactly the 5x5 input pixels around it.
    branch = f.branch5.eval()
    x = torch.randn(1, 192, 11, 11, requires_grad=True)
    branch(x)[0, :, 5, 5].sum().backward()
    touched = x.grad.abs().sum(dim=(0, 1)) > 0
    assert touched.nonzero().min(0).values.tolist() == [3, 3]
    assert touched.nonzero().max(0).values.tolist() == [7, 7]


def test_depthwise_separable_counts_and_groups():
    m = depthwise_separable_conv(32, 64, 3)
    assert n_params(m) == 32 * 9 + 2 * 32 + 32 * 64 + 2 * 64
    assert m[0].groups == 32
    assert m(torch.zeros(1, 32, 8, 8)).shape == (1, 64, 8, 8)
    # channel i of the depthwise output depends only on input channel i
    x = torch.zeros(1, 32, 5, 5, requires_grad=True)
    m[0](x)[0, 7].sum().backward()
    assert (x.grad.abs().sum(dim=(2, 3))[0] > 0).nonzero().flatten().tolist() == [7]
    with pytest.raises(ValueError, match="odd"):
        depthwise_separable_conv(32, 64, 4)


def test_xresnet_block_starts_as_identity_and_stem_shape():
    torch.manual_seed(0)
    block = XResBlock(16, 16).eval()
    x = torch.rand(2, 16, 8, 8)  # non-negative, so the final ReLU keeps it
    torch.testing.assert_close(block(x), x)
    down = XResBlock(16, 32, stride=2, separable=False)
    assert isinstance(down.shortcut[0], nn.AvgPool2d)  # ResNet-D: pool, then 1x1
    assert down(torch.zeros(1, 16, 8, 8)).shape == (1, 32, 4, 4)
    sep, full = XResBlock(64, 64, separable=True), XResBlock(64, 64, separable=False)
    assert n_params(sep) < n_params(full) / 4
    assert xresnet_stem()(torch.zeros(1, 3, 64, 64)).shape == (1, 64, 16, 16)


@pytest.mark.parametrize(
    "tv_block, ours, side",
    [
        # Inception v3's two grid reductions (Mixed_6a: 35 -> 17, Mixed_7a: 17 -> 8)
        (lambda: torchvision.models.inception.InceptionB(288), lambda: InceptionReduction(288, 384, 64, 96), 35),
        (lambda: torchvision.models.inception.InceptionD(768), lambda: InceptionReduction(768, 320, 192, 192, c3_reduce=192, n=7), 17),
    ],
)
def test_inception_reduction_is_torchvisions_inception_b_and_d(tv_block, ours, side):
    # counted on the meta device: shapes and parameter counts without allocating anything
    with torch.device("meta"):
        ref, mine = tv_block(), ours()
        x = torch.empty(1, mine.in_channels, side, side)
        assert mine(x).shape == ref(x).shape == (1, mine.out_channels, (side - 3) // 2 + 1, (side - 3) // 2 + 1)
    assert n_params(mine) == n_params(ref)
    kernels = lambda m: [(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding) for c in m.modules() if isinstance(c, nn.Conv2d)]
    assert kernels(mine) == kernels(ref)
    # the same numbers: our weights in torchvision's block (whose batch norm uses eps=1e-3, ours 1e-5)
    torch.manual_seed(0)
    ref, mine = tv_block().eval(), ours().eval()
    for m in mine.modules():
        if isinstance(m, nn.BatchNorm2d):  # non-trivial running statistics and affine parameters
            m.running_mean.uniform_(-0.5, 0.5), m.running_var.uniform_(0.5, 2.0), m.weight.data.uniform_(0.5, 1.5), m.bias.data.uniform_(-0.5, 0.5)
    ref.load_state_dict(dict(zip(ref.state_dict(), mine.state_dict().values())))
    for m in ref.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps = 1e-5
    x = torch.randn(2, mine.in_channels, side, side)
    with torch.no_grad():
        torch.testing.assert_close(mine(x), ref(x), rtol=1e-4, atol=1e-5)


def test_inception_reduction_without_deep_branch_is_a_strided_conv_beside_a_pool():
    block = InceptionReduction(8, 16).eval()
    assert block.deep is None and block.out_channels == 24
    x = torch.randn(2, 8, 9, 9)
    with torch.no_grad():
        out = block(x)
    assert out.shape == (2, 24, 4, 4)
    torch.testing.assert_close(out[:, 16:], torch.nn.functional.max_pool2d(x, 3, 2), rtol=0, atol=0)  # the pool keeps the input's channels
    torch.testing.assert_close(out[:, :16], block.branch3(x), rtol=0, atol=0)


def test_inception_reduction_rejects_bad_arguments():
    with pytest.raises(ValueError, match="cd_reduce and cd must both be 0"):
        InceptionReduction(8, 8, cd_reduce=4)
    with pytest.raises(ValueError, match="n must be a positive odd int"):
        InceptionReduction(8, 8, 4, 4, n=4)
    with pytest.raises(ValueError, match="n must be an odd int >= 3, got 1"):
        InceptionReduction(8, 8, 4, 4, n=1)
    with pytest.raises(TypeError, match="c3_reduce"):
        InceptionReduction(8, 8, c3_reduce=2.0)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 8, H, W\)"):
        InceptionReduction(8, 8)(torch.zeros(1, 4, 9, 9))
    with pytest.raises(ValueError, match="at least 3x3"):
        InceptionReduction(8, 8)(torch.zeros(1, 8, 2, 9))


def test_inception_resnet_block_counts_and_scaled_residual():
    c, c1, c3r, c3, c5r, c5 = 64, 8, 8, 12, 8, 16
    with torch.device("meta"):
        meta_block = InceptionResNetBlock(c, c1, c3r, c3, c5r, c5, scale=0.1)
        assert meta_block(torch.empty(1, c, 35, 35)).shape == (1, c, 35, 35)
    conv_bn = lambda cin, cout, k: k * k * cin * cout + 2 * cout   # no conv bias; BN's weight and bias
    by_hand = (conv_bn(c, c1, 1) + conv_bn(c, c3r, 1) + conv_bn(c3r, c3, 3) + conv_bn(c, c5r, 1) + conv_bn(c5r, c5r, 3) + conv_bn(c5r, c5, 3)
               + (c1 + c3 + c5) * c + c)                                 # the linear 1x1 projection, with a bias
    assert n_params(meta_block) == by_hand
    assert not any(isinstance(m, nn.BatchNorm2d) for m in meta_block.project.modules()) and meta_block.project.bias is not None
    torch.manual_seed(0)
    block = InceptionResNetBlock(c, c1, c3r, c3, c5r, c5, scale=0.2).eval()
    x = torch.randn(2, c, 9, 9)
    with torch.no_grad():
        r = block.residual(x)
        torch.testing.assert_close(block(x), torch.relu(x + 0.2 * r))
        block.scale = 0.0
        torch.testing.assert_close(block(x), torch.relu(x), rtol=0, atol=0)
    with pytest.raises(ValueError, match="scale must be <= 1"):
        InceptionResNetBlock(c, c1, c3r, c3, c5r, c5, scale=1.5)


def test_deepnet_depth_and_twins():
    for n in (1, 3):
        plain, res = DeepNet(False, n, 8), DeepNet(True, n, 8)
        layers = [m for m in plain.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        assert len(layers) == plain.depth == 6 * n + 2
        # the residual twin adds exactly two 1x1 projection shortcuts (+BN)
        extra = (8 * 16 + 2 * 16) + (16 * 32 + 2 * 32)
        assert lk.count_parameters(res)[1] - lk.count_parameters(plain)[1] == extra
        assert res(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(TypeError, match="bool"):
        DeepNet(1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "make, bad",
    [
        (lambda: BasicBlock(8, 8), torch.zeros(1, 4, 8, 8)),
        (lambda: SqueezeExcitation(8), torch.zeros(8, 8)),
        (lambda: ConvNeXtBlock(8), torch.zeros(1, 3, 8, 8)),
        (lambda: DenseBlock(8, 2, 4), torch.zeros(1, 16, 8, 8)),
    ],
)
def test_wrong_input_shape_is_rejected(make, bad):
    with pytest.raises(ValueError, match=r"x must have shape \(N, \d+, H, W\), got shape"):
        make()(bad)


def test_wrong_input_type_is_rejected():
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got list"):
        BasicBlock(1, 1)([[[[0.0]]]])
    with pytest.raises(TypeError, match="floating-point"):
        LeNet5()(torch.zeros(1, 1, 28, 28, dtype=torch.uint8))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="kernel_size must be a positive odd int"):
        ConvNeXtBlock(8, kernel_size=6)
    with pytest.raises(ValueError, match="channels must be an int >= 1, got 0"):
        SqueezeExcitation(0)
    with pytest.raises(ValueError, match="stride"):
        BasicBlock(8, 8, stride=0)
    with pytest.raises(ValueError, match="in_size must be one of 28, 32, got 30"):
        LeNet5(in_size=30)


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: BasicBlock(8.0, 8), "in_channels"),
        (lambda: vgg_block(3, 64, 2.0), "num_convs"),
        (lambda: InceptionModule(8, 4, 4, 4, 4, 4, "4"), "pool_proj"),
        (lambda: DeepNet(True, blocks_per_stage=True), "blocks_per_stage"),
        (lambda: xresnet_stem(3, (32, 32.5)), r"widths\[1\]"),
        (lambda: LeNet5(in_size=28.0), "in_size"),
        (lambda: vgg_block(3, 64, 2, batch_norm=1), "batch_norm"),
    ],
)
def test_a_non_int_is_a_type_error(make, name):
    # one rule for all of lessonkit: a wrong type raises TypeError (a wrong value ValueError)
    with pytest.raises(TypeError, match=name):
        make()


def _conv_bn_relu_by_hand(cin, cout, k, stride=1, groups=1):
    return [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


@pytest.mark.parametrize(
    "make, by_hand",
    [
        # VGG keeps the convolution's bias, with or without batch norm
        (lambda: vgg_block(3, 8, 2), lambda: nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2))),
        (lambda: vgg_block(3, 8, 1, batch_norm=True), lambda: nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True), nn.MaxPool2d(2))),
        (lambda: depthwise_separable_conv(4, 8, 5, 2), lambda: nn.Sequential(*_conv_bn_relu_by_hand(4, 4, 5, 2, groups=4), nn.Conv2d(4, 8, 1, bias=False), nn.BatchNorm2d(8))),
        (lambda: xresnet_stem(3, (4, 6)), lambda: nn.Sequential(nn.Sequential(*_conv_bn_relu_by_hand(3, 4, 3, 2)), nn.Sequential(*_conv_bn_relu_by_hand(4, 6, 3)), nn.MaxPool2d(3, stride=2, padding=1))),
        # branches 1 and 3 are built (and draw their initial weights) before branch 5
        (lambda: InceptionModule(4, 2, 2, 2, 2, 2, 2).branch5, lambda: [*_conv_bn_relu_by_hand(4, 2, 1), *_conv_bn_relu_by_hand(4, 2, 1), *_conv_bn_relu_by_hand(2, 2, 3)] and nn.Sequential(nn.Sequential(*_conv_bn_relu_by_hand(4, 2, 1)), nn.Sequential(*_conv_bn_relu_by_hand(2, 2, 5)))),
        (lambda: BasicBlock(4, 8, 2).residual, lambda: nn.Sequential(*_conv_bn_relu_by_hand(4, 8, 3, 2), nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8))),
    ],
)
def test_blocks_built_with_conv_block_match_the_layers_written_out(make, by_hand):
    # conv_block is the one conv -> (BN) -> ReLU builder; the blocks built with it must keep the
    # layers, the state_dict keys (lessons load and count them) and the initialisation order
    torch.manual_seed(0)
    ours = make()
    torch.manual_seed(0)
    ref = by_hand()
    assert str(ours) == str(ref)
    assert list(ours.state_dict()) == list(ref.state_dict())
    for a, b in zip(ours.state_dict().values(), ref.state_dict().values()):
        assert torch.equal(a, b)


def test_summary_table_reports_lenet_mult_adds():
    stats = lk.summarize(LeNet5(), (1, 1, 28, 28))
    assert stats.total_params == 61_706
    # mult-adds by hand: each output value of a conv costs k*k*cin, each linear
    # output cin (bias additions, tanh and pooling are not counted).
    convs = 28 * 28 * 6 * 25 + 10 * 10 * 16 * 150
    linears = 400 * 120 + 120 * 84 + 84 * 10
    by_hand = convs + linears
    assert stats.total_mult_adds == by_hand
