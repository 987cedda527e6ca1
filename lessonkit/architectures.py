"""Small teaching versions of the landmark CNN architectures, LeNet to ConvNeXt.

Introduced in lesson 08 ("From LeNet to ConvNeXt"). Each class shows one
design idea in a few lines; the full-size networks come from
``torchvision.models``. :class:`DeepNet` builds the plain and residual
networks of the same depth used in the degradation experiment.

All blocks keep PyTorch's ``(N, C, H, W)`` layout and default
initialisation unless their docstring says otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._utils import check_batch, check_choice, check_int, check_number, check_odd, check_type
from .models import conv_block

__all__ = [
    "LeNet5",
    "AlexNetSmall",
    "vgg_block",
    "InceptionModule",
    "InceptionReduction",
    "InceptionResNetBlock",
    "BasicBlock",
    "Bottleneck",
    "depthwise_separable_conv",
    "xresnet_stem",
    "XResBlock",
    "SqueezeExcitation",
    "DenseBlock",
    "ResNeXtBlock",
    "ConvNeXtBlock",
    "DeepNet",
]


class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al., 1998) in modern PyTorch.

    Two 5×5 convolutions (6 and 16 channels), each followed by 2×2 average
    pooling ("subsampling"), then fully connected layers of 120 and 84 units
    with tanh. As in most re-implementations, C3 connects to all six input
    maps (the paper used a sparse connection table) and the output is a
    plain linear layer instead of RBF units.

    Parameters
    ----------
    in_channels : int
    num_classes : int
    in_size : {28, 32}
        32 is the paper's input; 28×28 inputs (MNIST, Fashion-MNIST) are
        padded by 2 in the first convolution so the shapes stay the same.

    Examples
    --------
    >>> LeNet5()(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])

    Introduced in lesson 08.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, in_size: int = 28) -> None:
        super().__init__()
        check_int("in_channels", in_channels, minimum=1)
        check_int("num_classes", num_classes, minimum=1)
        check_choice("in_size", check_int("in_size", in_size), (28, 32))
        self.in_channels, self.in_size = in_channels, in_size
        pad = 2 if in_size == 28 else 0
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=pad), nn.Tanh(), nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_batch("x", x, channels=self.in_channels)
        if x.shape[-2:] != (self.in_size, self.in_size):
            raise ValueError(f"LeNet5 was built for {self.in_size}x{self.in_size} inputs, got {tuple(x.shape[-2:])}")
        return self.classifier(self.features(x))


class AlexNetSmall(nn.Module):
    """An AlexNet-style network (Krizhevsky et al., 2012) sized for 32×32 images.

    Keeps AlexNet's ideas: five convolutions with ReLU, overlapping 3×3
    max-pooling with stride 2, and a classifier of two wide fully connected
    layers with dropout. Widths are a quarter of the original's.

    Examples
    --------
    >>> AlexNetSmall()(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])

    Introduced in lesson 08.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, dropout: float = 0.5) -> None:
        super().__init__()
        check_int("in_channels", in_channels, minimum=1)
        check_int("num_classes", num_classes, minimum=1)
        check_number("dropout", dropout, minimum=0.0)
        if dropout >= 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.in_channels = in_channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 16, 5, stride=1, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),                                   # 32 -> 15
            nn.Conv2d(16, 48, 5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),                                   # 15 -> 7
            nn.Conv2d(48, 96, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(96, 64, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),                                   # 7 -> 3
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout), nn.Linear(64 * 3 * 3, 512), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(512, 512), nn.ReLU(inplace=True),
            nn.Linear(512, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_batch("x", x, channels=self.in_channels)
        if x.shape[-2:] != (32, 32):
            raise ValueError(f"AlexNetSmall expects 32x32 inputs, got {tuple(x.shape[-2:])}")
        return self.classifier(self.features(x))


def vgg_block(in_channels: int, out_channels: int, num_convs: int, batch_norm: bool = False) -> nn.Sequential:
    """A VGG block: ``num_convs`` 3×3 convolutions (padding 1) with ReLU, then 2×2 max-pooling.

    Each convolution is a :func:`lessonkit.conv_block` without pooling (and,
    as in VGG, with a bias even when ``batch_norm=True``). VGG-16's convolutional part is five such blocks with (2, 2, 3, 3, 3)
    convolutions and widths (64, 128, 256, 512, 512).

    Examples
    --------
    >>> block = vgg_block(3, 64, 2)
    >>> block(torch.zeros(1, 3, 32, 32)).shape
    torch.Size([1, 64, 16, 16])
    >>> [type(m).__name__ for m in block]
    ['Conv2d', 'ReLU', 'Conv2d', 'ReLU', 'MaxPool2d']

    Introduced in lesson 08.
    """
    check_int("in_channels", in_channels, minimum=1)
    check_int("out_channels", out_channels, minimum=1)
    check_int("num_convs", num_convs, minimum=1)
    check_type("batch_norm", batch_norm, bool)
    layers: list[nn.Module] = []
    for i in range(num_convs):  # VGG's convolutions keep their bias, with or without batch norm
        layers += conv_block(in_channels if i == 0 else out_channels, out_channels, batch_norm, bias=True, pool=False)
    layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class InceptionModule(nn.Module):
    """A GoogLeNet Inception module: four parallel branches, concatenated.

    Branches: 1×1; 1×1 reduction then 3×3; 1×1 reduction then 5×5; 3×3
    max-pooling then 1×1 projection. The 1×1 reductions shrink the channels
    before the expensive convolutions. With ``factorised=True`` the 5×5 is
    replaced by two 3×3 convolutions with the same receptive field, as in
    Inception v3: the first keeps the ``c5_reduce`` channels, the second maps
    them to ``c5``. That costs ``9·c5_reduce·(c5_reduce + c5)`` weights
    instead of ``25·c5_reduce·c5``: fewer whenever ``c5_reduce <= c5``, as
    in every GoogLeNet module (with equal channels, 18 instead of 25 per
    input-output pair).

    Parameters
    ----------
    in_channels, c1, c3_reduce, c3, c5_reduce, c5, pool_proj : int
        Channel counts, named as in GoogLeNet's Table 1.
    factorised : bool

    Examples
    --------
    >>> m = InceptionModule(192, 64, 96, 128, 16, 32, 32)  # GoogLeNet's 3a
    >>> m(torch.zeros(1, 192, 28, 28)).shape
    torch.Size([1, 256, 28, 28])

    Introduced in lesson 08.
    """

    def __init__(self, in_channels: int, c1: int, c3_reduce: int, c3: int, c5_reduce: int, c5: int, pool_proj: int, factorised: bool = False) -> None:
        super().__init__()
        for name, v in dict(in_channels=in_channels, c1=c1, c3_reduce=c3_reduce, c3=c3, c5_reduce=c5_reduce, c5=c5, pool_proj=pool_proj).items():
            check_int(name, v, minimum=1)
        check_type("factorised", factorised, bool)
        self.in_channels = in_channels
        self.out_channels = c1 + c3 + c5 + pool_proj
        self.branch1 = conv_block(in_channels, c1, kernel_size=1, pool=False)
        self.branch3 = nn.Sequential(conv_block(in_channels, c3_reduce, kernel_size=1, pool=False), conv_block(c3_reduce, c3, kernel_size=3, pool=False))
        if factorised:
            self.branch5 = nn.Sequential(conv_block(in_channels, c5_reduce, kernel_size=1, pool=False), conv_block(c5_reduce, c5_reduce, kernel_size=3, pool=False), conv_block(c5_reduce, c5, kernel_size=3, pool=False))
        else:
            self.branch5 = nn.Sequential(conv_block(in_channels, c5_reduce, kernel_size=1, pool=False), conv_block(c5_reduce, c5, kernel_size=5, pool=False))
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), conv_block(in_channels, pool_proj, kernel_size=1, pool=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_batch("x", x, channels=self.in_channels)
        return torch.cat([self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)], dim=1)


def _conv_bn_relu(cin: int, cout: int, kernel_size: int | tuple[int, int], stride: int = 1, padding: int | tuple[int, int] = 0) -> nn.Sequential:
    """Conv (no bias) → BN → ReLU with any kernel shape and padding.

    :func:`lessonkit.conv_block` pads every square kernel to keep the side
    ("same"); Inception v3's grid reductions need unpadded stride-2
    convolutions (so that they land on the same grid as an unpadded 3×3
    max-pooling) and 1×n / n×1 kernels, which it does not build.
    """
    return nn.Sequential(nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=padding, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class InceptionReduction(nn.Module):
    """Inception v3's grid-size reduction: parallel stride-2 branches, concatenated.

    Halving the grid while growing the channels can be done two naive ways,
    both bad (Szegedy et al. 2016, section 5): pool first, then convolve
    (cheap, but the pooled map is a *representational bottleneck*: fewer
    numbers than the block's output, from which the output must be
    computed), or convolve at full resolution, then pool (no bottleneck, but
    four times the multiply-adds of the same convolution on the halved grid).
    This block does both in parallel instead, each at stride 2, and
    concatenates them:

    - ``branch3``: an optional 1×1 reduction to ``c3_reduce`` channels, then
      a 3×3 convolution with stride 2 to ``c3`` channels;
    - ``deep`` (optional, ``cd > 0``): a 1×1 reduction to ``cd_reduce``
      channels, a 3×3 convolution to ``cd`` channels (for ``n = 3``) or a
      factorised n×n (1×n to ``cd``, then n×1), then a 3×3 convolution with
      stride 2;
    - ``branch_pool``: 3×3 max-pooling with stride 2, which keeps the
      ``in_channels`` channels.

    The stride-2 layers are unpadded, so an ``s × s`` input becomes
    ``⌊(s - 3) / 2⌋ + 1`` (35 → 17, 17 → 8) with
    ``c3 + cd + in_channels`` channels. torchvision's ``InceptionB`` is
    ``InceptionReduction(288, 384, 64, 96)`` and its ``InceptionD`` is
    ``InceptionReduction(768, 320, 192, 192, c3_reduce=192, n=7)``, with the
    same layers and parameter counts.

    Parameters
    ----------
    in_channels, c3 : int
    cd_reduce, cd : int
        Widths of the deep branch; both 0 (the default) leave it out.
    c3_reduce : int
        Width of the 1×1 before ``branch3``'s stride-2 convolution (0: none).
    n : int
        Odd kernel side of the deep branch's middle convolution; above 3 it is
        factorised into 1×n and n×1.

    Examples
    --------
    >>> block = InceptionReduction(288, 384, 64, 96)           # torchvision's InceptionB
    >>> block(torch.zeros(1, 288, 35, 35)).shape
    torch.Size([1, 768, 17, 17])
    >>> InceptionReduction(64, 64)(torch.zeros(1, 64, 28, 28)).shape  # one conv, one pool
    torch.Size([1, 128, 13, 13])

    Introduced in lesson 08.
    """

    def __init__(self, in_channels: int, c3: int, cd_reduce: int = 0, cd: int = 0, *, c3_reduce: int = 0, n: int = 3) -> None:
        super().__init__()
        check_int("in_channels", in_channels, minimum=1)
        check_int("c3", c3, minimum=1)
        for name, v in dict(cd_reduce=cd_reduce, cd=cd, c3_reduce=c3_reduce).items():
            check_int(name, v, minimum=0)
        if (cd_reduce == 0) != (cd == 0):
            raise ValueError(f"cd_reduce and cd must both be 0 (no deep branch) or both positive, got {cd_reduce} and {cd}")
        check_odd("n", n)
        if n < 3:
            raise ValueError(f"n must be an odd int >= 3, got {n}")
        self.in_channels = in_channels
        self.out_channels = c3 + cd + in_channels
        reduce3 = [_conv_bn_relu(in_channels, c3_reduce, 1)] if c3_reduce else []
        self.branch3 = nn.Sequential(*reduce3, _conv_bn_relu(c3_reduce or in_channels, c3, 3, stride=2))
        if cd:
            middle = [_conv_bn_relu(cd_reduce, cd, 3, padding=1)] if n == 3 else [
                _conv_bn_relu(cd_reduce, cd, (1, n), padding=(0, n // 2)), _conv_bn_relu(cd, cd, (n, 1), padding=(n // 2, 0))]
            self.deep: nn.Module | None = nn.Sequential(_conv_bn_relu(in_channels, cd_reduce, 1), *middle, _conv_bn_relu(cd, cd, 3, stride=2))
        else:
            self.deep = None
        self.branch_pool = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_batch("x", x, channels=self.in_channels)
        if min(x.shape[-2:]) < 3:
            raise ValueError(f"InceptionReduction needs inputs of at least 3x3, got {tuple(x.shape[-2:])}")
        branches = [self.branch3(x)] + ([self.deep(x)] if self.deep is not None else []) + [self.branch_pool(x)]
        return torch.cat(branches, dim=1)


class InceptionResNetBlock(nn.Module):
    """An Inception-ResNet block (Szegedy et al. 2017): Inception branches as the residual of a shortcut.

    ``relu(x + scale · P(concat(branches(x))))``. The branches are those of
    an Inception module without the pooling branch: 1×1 (``c1``); 1×1
    reduction then 3×3 (``c3``); 1×1 reduction then two 3×3 (the factorised
    5×5, ``c5``). ``P`` is a 1×1 convolution with a bias and no batch norm or
    activation (a *linear* projection), which brings the concatenation back
    to ``channels`` so that it can be added to the input. ``scale`` is the
    paper's residual scaling: with more than about 1,000 filters the
    residual networks "died" early in training unless the residual was
    scaled down, by a factor between 0.1 and 0.3, before the addition.

    Parameters
    ----------
    channels : int
        Input and output channels.
    c1, c3_reduce, c3, c5_reduce, c5 : int
        Branch widths, named as in :class:`InceptionModule`.
    scale : float
        Residual scaling, in [0, 1] (0: the block is ``relu(x)``).

    Examples
    --------
    >>> block = InceptionResNetBlock(256, 32, 32, 32, 32, 32, scale=0.2)
    >>> block(torch.zeros(1, 256, 35, 35)).shape
    torch.Size([1, 256, 35, 35])
    >>> x = torch.rand(2, 256, 8, 8)                   # non-negative: relu(x) == x
    >>> torch.equal(InceptionResNetBlock(256, 32, 32, 32, 32, 32, scale=0.0).eval()(x), x)
    True

    Introduced in lesson 08.
    """

    def __init__(self, channels: int, c1: int, c3_reduce: int, c3: int, c5_reduce: int, c5: int, scale: float = 0.2) -> None:
        super().__init__()
        for name, v in dict(channels=channels, c1=c1, c3_reduce=c3_reduce, c3=c3, c5_reduce=c5_reduce, c5=c5).items():
            check_int(name, v, minimum=1)
        self.scale = check_number("scale", scale, minimum=0.0, maximum=1.0)
        self.channels = channels
        self.branch1 = conv_block(channels, c1, kernel_size=1, pool=False)
        self.branch3 = nn.Sequential(conv_block(channels, c3_reduce, kernel_size=1, pool=False), conv_block(c3_reduce, c3, kernel_size=3, pool=False))
        self.branch5 = nn.Sequential(conv_block(channels, c5_reduce, kernel_size=1, pool=False), conv_block(c5_reduce, c5_reduce, kernel_size=3, pool=False),
                                     conv_block(c5_reduce, c5, kernel_size=3, pool=False))
        self.project = nn.Conv2d(c1 + c3 + c5, channels, 1)  # linear: no batch norm, no activation
        self.relu = nn.ReLU(inplace=True)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """The unscaled residual ``P(concat(branches(x)))``, shape of ``x``."""
        check_batch("x", x, channels=self.channels)
        return self.project(torch.cat([self.branch1(x), self.branch3(x), self.branch5(x)], dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(x + self.scale * self.residual(x))


def _shortcut(cin: int, cout: int, stride: int, avg_down: bool = False) -> nn.Module:
    """Identity when shapes match, else a (strided) 1×1 convolution + BN; ResNet-D pools first."""
    if stride == 1 and cin == cout:
        return nn.Identity()
    if avg_down:
        pool: list[nn.Module] = [nn.AvgPool2d(stride, ceil_mode=True, count_include_pad=False)] if stride > 1 else []
        return nn.Sequential(*pool, nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    """ResNet's basic block: ``relu(F(x) + shortcut(x))`` with F = conv3×3-BN-ReLU-conv3×3-BN.

    The shortcut is the identity when the shape is unchanged, otherwise a
    strided 1×1 convolution with batch norm (ResNet's "option B").

    Examples
    --------
    >>> BasicBlock(64, 128, stride=2)(torch.zeros(1, 64, 8, 8)).shape
    torch.Size([1, 128, 4, 4])

    Introduced in lesson 08.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        check_int("in_channels", in_channels, minimum=1)
        check_int("out_channels", out_channels, minimum=1)
        check_int("stride", stride, minimum=1)
        self.in_channels = in_channels
        self.residual = nn.Sequential(
            *conv_block(in_channels, out_channels, kernel_size=3, stride=stride, pool=False),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
        )
        self.shortcut = _shortcut(in_channels, out_channels, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_batch("x", x, channels=self.in_channels)
        return self.relu(self.residual(x) + self.shortcut(x))


class Bottleneck(nn.Module):
    """ResNet's bottleneck block: 1×1 reduce, 3×3, 1×1 expand (×4), plus the shortcut.

    Parameters
    ----------
    in_channels : int
    width : int
        Channels of the 3×3 convolution; the block outputs ``4 * width``.
    stride : int
        Applied in the 3×3 convolution (torchvision's "ResNet v1.5").

    Examples
    --------
    >>> Bottleneck(256, 64)(torch.zeros(1, 256, 8, 8)).shape
    torch.Size([1, 256, 8, 8])

    Introduced in lesson 08.
    """

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1) -> None:
        super().__init__()
        check_int("in_channels", in_channels, minimum=1)
        check_int("width", width, minimum=1)
        check_int("stride", stride, minimum=1)
        self.in_channels = in_channels
        out = width * self.expansion
        self.residual = nn.Sequential(
            *conv_block(in_channels, width, kernel_size=1, pool=False),
            *conv_block(width, width, kernel_size=3, stride=stride, pool=False),
            nn.Conv2d(width, out, 1, bias=False), nn.BatchNorm2d(out),
        )
        self.shortcut = _shortcut(in_channels, out, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_batch("x", x, channels=self.in_channels)
        return self.relu(self.residual(x) + self.shortcut(x))


def depthwise_separable_conv(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> nn.Sequential:
    """A depthwise ``k×k`` convolution (one filter per channel) followed by a pointwise 1×1 convolution.

    Weights: ``C_in·k² + C_in·C_out`` instead of ``C_in·C_out·k²`` for a full
    convolution (biases omitted; batch norm follows each convolution).

    Examples
    --------
    >>> depthwise_separable_conv(32, 64)(torch.zeros(1, 32, 8, 8)).shape
    torch.Size([1, 64, 8, 8])

    Introduced in lesson 08.
    """
    check_int("in_channels", in_channels, minimum=1)
    check_int("out_channels", out_channels, minimum=1)
    check_odd("kernel_size", kernel_size)
    check_int("stride", stride, minimum=1)
    return nn.Sequential(
        *conv_block(in_channels, in_channels, kernel_size=kernel_size, stride=stride, groups=in_channels, pool=False),  # depthwise
        nn.Conv2d(in_channels, out_channels, 1, bias=False),
        nn.BatchNorm2d(out_channels),
    )


def xresnet_stem(in_channels: int = 3, widths: Sequence[int] = (32, 32, 64)) -> nn.Sequential:
    """xResNet's stem (ResNet-C, He et al. 2019): three 3×3 convolutions instead of one 7×7, then max-pooling.

    The first convolution has stride 2, so the stem divides height and width by 4.

    Examples
    --------
    >>> xresnet_stem()(torch.zeros(1, 3, 64, 64)).shape
    torch.Size([1, 64, 16, 16])

    Introduced in lesson 08.
    """
    check_int("in_channels", in_channels, minimum=1)
    if len(widths) == 0:
        raise ValueError("widths must name at least one convolution")
    layers: list[nn.Module] = []
    cin = in_channels
    for i, w in enumerate(widths):
        check_int(f"widths[{i}]", w, minimum=1)
        layers.append(conv_block(cin, w, kernel_size=3, stride=2 if i == 0 else 1, pool=False))
        cin = w
    layers.append(nn.MaxPool2d(3, stride=2, padding=1))
    return nn.Sequential(*layers)


class XResBlock(nn.Module):
    """A residual block with xResNet's tweaks (He et al. 2019, as in fastai's xResNet).

    - Two full 3×3 convolutions with batch norm, as in ResNet's basic block.
    - ResNet-D shortcut: when downsampling, average-pool *then* apply the 1×1
      convolution, so no activations are skipped by a strided 1×1.
    - The last batch norm of the residual branch starts at zero (``γ = 0``),
      so the block starts as the identity.

    ``separable=True`` is not part of xResNet: it replaces each 3×3
    convolution by a depthwise-separable one (MobileNet/Xception style),
    an xResNet-*style* block that trades some capacity for far fewer
    weights and mult-adds.

    Examples
    --------
    >>> XResBlock(32, 64, stride=2)(torch.zeros(1, 32, 16, 16)).shape
    torch.Size([1, 64, 8, 8])
    >>> [m.groups for m in XResBlock(32, 32, separable=True).modules() if isinstance(m, nn.Conv2d)]
    [32, 1, 32, 1]

    Introduced in lesson 08.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, separable: bool = False) -> None:
        super().__init__()
        check_int("in_channels", in_channels, minimum=1)
        check_int("out_channels", out_channels, minimum=1)
        check_int("stride", stride, minimum=1)
        check_type("separable", separable, bool)
        self.in_channels = in_channels
        if separable:
            first = depthwise_separable_conv(in_channels, out_channels, 3, stride)
            second = depthwise_separable_conv(out_channels, out_channels, 3)
            self.residual = nn.Sequential(*first, nn.ReLU(inplace=True), *second)
        else:
            self.residual = nn.Sequential(
                *conv_block(in_channels, out_channels, kernel_size=3, stride=stride, pool=False),
                nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
            )
        nn.init.zeros_(self.residual[-1].weight)
        self.shortcut = _shortcut(in_channels, out_channels, stride, avg_down=True)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_batch("x", x, channels=self.in_channels)
        return self.relu(self.residual(x) + self.shortcut(x))


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation (Hu et al., 2018): rescale each channel by a learned gate.

    Squeeze: global average pooling gives one number per channel. Excite: a
    two-layer bottleneck (``C -> C/r -> C``, ReLU then sigmoid) turns them
    into gates in (0, 1) that multiply the channels.

    Parameters
    ----------
    channels : int
    reduction : int
        The bottleneck ratio ``r`` (16 in the paper); the hidden width is
        ``max(1, channels // reduction)``.

    Examples
    --------
    >>> SqueezeExcitation(64)(torch.ones(1, 64, 4, 4)).shape
    torch.Size([1, 64, 4, 4])

    Introduced in lesson 08.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        check_int("channels", channels, minimum=1)
        check_int("reduction", reduction, minimum=1)
        self.channels = channels
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def gates(self, x: torch.Tensor) -> torch.Tensor:
        """The per-channel gates, shape ``(N, C, 1, 1)``."""
        check_batch("x", x, channels=self.channels)
        s = x.mean(dim=(2, 3), keepdim=True)
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(s))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gates(x)


class _DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int, bn_size: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.Conv2d(cin, bn_size * growth, 1, bias=False),
            nn.BatchNorm2d(bn_size * growth), nn.ReLU(inplace=True), nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class DenseBlock(nn.Module):
    """A DenseNet block (Huang et al., 2017): every layer sees all earlier feature maps.

    Layer ``i`` takes the concatenation of the block input and the outputs of
    layers ``0..i-1`` and adds ``growth_rate`` new channels (BN-ReLU-1×1
    conv to ``bn_size * growth_rate`` channels, BN-ReLU-3×3 conv). The block
    outputs ``in_channels + num_layers * growth_rate`` channels.

    Examples
    --------
    >>> DenseBlock(64, num_layers=6, growth_rate=32)(torch.zeros(1, 64, 8, 8)).shape
    torch.Size([1, 256, 8, 8])

    Introduced in lesson 08.
    """

    def __init__(self, in_channels: int, num_layers: int, growth_rate: int = 32, bn_size: int = 4) -> None:
        super().__init__()
        check_int("in_channels", in_channels, minimum=1)
        check_int("num_layers", num_layers, minimum=1)
        check_int("growth_rate", growth_rate, minimum=1)
        check_int("bn_size", bn_size, minimum=1)
        self.in_channels = in_channels
        self.out_channels = in_channels + num_layers * growth_rate
        self.layers = nn.ModuleList(_DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size) for i in range(num_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_batch("x", x, channels=self.in_channels)
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, dim=1)))
        return torch.cat(features, dim=1)


class ResNeXtBlock(nn.Module):
    """A ResNeXt block (Xie et al., 2017): a bottleneck whose 3×3 is a grouped convolution.

    ``cardinality`` parallel paths of ``group_width`` channels each are one
    grouped convolution with ``groups=cardinality``. ResNeXt-50 (32×4d)
    uses cardinality 32 and group width 4 in its first stage.

    Parameters
    ----------
    in_channels, out_channels : int
    cardinality : int
    group_width : int
        Channels per group; the 3×3 convolution has ``cardinality * group_width`` channels.
    stride : int

    Examples
    --------
    >>> ResNeXtBlock(256, 256, cardinality=32, group_width=4)(torch.zeros(1, 256, 8, 8)).shape
    torch.Size([1, 256, 8, 8])

    Introduced in lesson 08.
    """

    def __init__(self, in_channels: int, out_channels: int, cardinality: int = 32, group_width: int = 4, stride: int = 1) -> None:
        super().__init__()
        for name, v in dict(in_channels=in_channels, out_channels=out_channels, cardinality=cardinality, group_width=group_width, stride=stride).items():
            check_int(name, v, minimum=1)
        self.in_channels = in_channels
        width = cardinality * group_width
        self.residual = nn.Sequential(
            *conv_block(in_channels, width, kernel_size=1, pool=False),
            *conv_block(width, width, kernel_size=3, stride=stride, groups=cardinality, pool=False),
            nn.Conv2d(width, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels),
        )
        self.shortcut = _shortcut(in_channels, out_channels, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_batch("x", x, channels=self.in_channels)
        return self.relu(self.residual(x) + self.shortcut(x))


class ConvNeXtBlock(nn.Module):
    """A ConvNeXt block (Liu et al., 2022): a convolutional network modernised with transformer habits.

    Depthwise 7×7 convolution, LayerNorm over channels, an inverted
    bottleneck (1×1 to ``4·dim``, GELU, 1×1 back to ``dim``), a learnable
    per-channel "layer scale" (initialised at ``layer_scale``), and the
    residual connection. No batch norm, one activation per block.

    Examples
    --------
    >>> ConvNeXtBlock(96)(torch.zeros(1, 96, 14, 14)).shape
    torch.Size([1, 96, 14, 14])

    Introduced in lesson 08.
    """

    def __init__(self, dim: int, kernel_size: int = 7, expansion: int = 4, layer_scale: float = 1e-6) -> None:
        super().__init__()
        check_int("dim", dim, minimum=1)
        check_odd("kernel_size", kernel_size)
        check_int("expansion", expansion, minimum=1)
        self.dim = dim
        self.dwconv = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, expansion * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(expansion * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), float(layer_scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_batch("x", x, channels=self.dim)
        y = self.dwconv(x).permute(0, 2, 3, 1)  # channels last for LayerNorm / Linear
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + (self.gamma * y).permute(0, 3, 1, 2)


class _PlainBlock(nn.Module):
    """Two conv-BN layers without the shortcut: the 'plain' twin of :class:`BasicBlock`."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            *conv_block(cin, cout, kernel_size=3, stride=stride, pool=False),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.residual(x))


class DeepNet(nn.Module):
    """A CIFAR-style ResNet (He et al., 2016, section 4.2) or its plain twin of the same depth.

    A 3×3 stem convolution, three stages of ``blocks_per_stage`` two-layer
    blocks (widths ``w, 2w, 4w``; the first block of stages 2 and 3 halves
    the resolution), global average pooling and a linear layer: ``6n + 2``
    weight layers. ``residual=True`` uses :class:`BasicBlock`; ``False`` the
    same block without the shortcut. When shapes change, the residual
    version's shortcut is a 1×1 convolution, so it has slightly more
    parameters (count them with :func:`lessonkit.count_parameters`).

    Parameters
    ----------
    residual : bool
    blocks_per_stage : int
        ``n``; depth is ``6n + 2`` (n=3: 20 layers, n=9: 56 layers).
    width : int
    in_channels, num_classes : int

    Examples
    --------
    >>> net = DeepNet(residual=True, blocks_per_stage=1, width=8)
    >>> net(torch.zeros(2, 1, 28, 28)).shape, net.depth
    (torch.Size([2, 10]), 8)

    Introduced in lesson 08.
    """

    def __init__(self, residual: bool, blocks_per_stage: int = 3, width: int = 16, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        check_type("residual", residual, bool)
        check_int("blocks_per_stage", blocks_per_stage, minimum=1)
        check_int("width", width, minimum=1)
        check_int("in_channels", in_channels, minimum=1)
        check_int("num_classes", num_classes, minimum=1)
        self.in_channels = in_channels
        self.depth = 6 * blocks_per_stage + 2
        block = BasicBlock if residual else _PlainBlock
        layers: list[nn.Module] = [*conv_block(in_channels, width, kernel_size=3, pool=False)]
        cin = width
        for stage, w in enumerate((width, 2 * width, 4 * width)):
            for i in range(blocks_per_stage):
                stride = 2 if stage > 0 and i == 0 else 1
                layers.append(block(cin, w, stride))
                cin = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_batch("x", x, channels=self.in_channels)
        return self.head(self.features(x))
