"""The CIFAR-10 network trained from scratch.

Introduced in lesson 10 ("Colour photographs: CIFAR-10 from scratch").

A VGG-style network (Simonyan & Zisserman, 2015) with batch norm (Ioffe &
Szegedy, 2015) and dropout (Srivastava et al., 2014): stages of "same" 3×3
convolutions, each stage halving the resolution and widening the channels,
then global average pooling and one linear layer. The full-profile recipe of
lesson 10 (widths 128-256-512, random crop + flip, AdamW with a cosine
schedule) follows the batch-normed VGG-style backbone of Page's "How to train
your ResNet" (DAWNBench), without its residual branches.

Lesson 10's network widths and batch size in each profile live here, once:
:data:`CIFAR_WIDTHS` and :data:`CIFAR_BATCH_SIZES`, dicts keyed by profile
name. The lesson reads them with ``PROFILE.choose(**lk.CIFAR_WIDTHS)``, and
``benchmarks/training.py`` measures the same network at the same batch size.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ._utils import check_choice, check_int, check_odd, check_probability, check_type
from .architectures import SqueezeExcitation
from .models import conv_block

__all__ = ["CifarNet", "CIFAR_WIDTHS", "CIFAR_BATCH_SIZES"]

#: Lesson 10's ``CifarNet`` widths per profile: ``fast`` trains on a CPU within
#: the lesson's budget; ``full`` is the 90 % design (Page's DAWNBench widths).
#: ``PROFILE.choose(**CIFAR_WIDTHS)`` picks the current profile's.
CIFAR_WIDTHS: dict[str, tuple[int, ...]] = {"fast": (16, 32, 64), "full": (128, 256, 512)}
#: Lesson 10's training batch size per profile (``PROFILE.choose(**CIFAR_BATCH_SIZES)``).
CIFAR_BATCH_SIZES: dict[str, int] = {"fast": 64, "full": 128}


class CifarNet(nn.Module):
    """Lesson 10's CIFAR-10 network: VGG-style stages of conv-BN-ReLU, pooling and dropout.

    Each stage is ``convs_per_block`` :func:`lessonkit.conv_block` s
    (convolution, batch norm, ReLU; no bias, since batch norm's shift makes
    it redundant), optionally a :class:`lessonkit.SqueezeExcitation`, then a
    downsampling by 2 and dropout. The head is global average pooling,
    dropout and one linear layer. A 32×32 input leaves the last of three
    stages at 4×4.

    Parameters
    ----------
    widths : sequence of int
        Output channels of each stage (at least one stage).
    convs_per_block : int
        Convolutions per stage (VGG uses 2 or 3).
    dropout : float
        Dropout probability after each stage and before the linear layer
        (0 = no dropout layers).
    num_classes : int
    in_channels : int
        3 for colour images.
    kernel_size : int
        Odd side of every convolution's kernel (1, 3, 5, ...).
    downsample : {"pool", "stride"}
        ``"pool"``: 2×2 max-pooling ends each stage. ``"stride"``: the
        stage's last convolution has stride 2 instead (same parameters, a
        quarter of that convolution's multiply-adds, no pooling layer).
    squeeze_excitation : bool
        Add a squeeze-and-excitation gate (reduction 16) after each stage's
        convolutions.

    Attributes
    ----------
    features : nn.Sequential
        The stages, one ``nn.Sequential`` each.
    head : nn.Sequential
        Pooling, dropout, linear.
    first_conv : nn.Conv2d
        The first convolution (whose filters look at the colour pixels).

    Examples
    --------
    >>> import torch
    >>> net = CifarNet(widths=(8, 16, 32))
    >>> net(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    >>> [type(m).__name__ for m in net.features[0]]
    ['Conv2d', 'BatchNorm2d', 'ReLU', 'Conv2d', 'BatchNorm2d', 'ReLU', 'MaxPool2d', 'Dropout']
    >>> tuple(net.first_conv.weight.shape)
    (8, 3, 3, 3)
    >>> from lessonkit import count_parameters
    >>> count_parameters(CifarNet(widths=(4,), convs_per_block=1, dropout=0.0, num_classes=2))
    (126, 126)

    (a 3×3 convolution from 3 to 4 channels without bias, ``4·3·9 = 108``;
    batch norm's scale and shift, ``2·4 = 8``; the linear layer, ``4·2 + 2 = 10``.)

    Introduced in lesson 10.
    """

    def __init__(
        self,
        widths: Sequence[int] = (64, 128, 256),
        convs_per_block: int = 2,
        dropout: float = 0.1,
        num_classes: int = 10,
        in_channels: int = 3,
        *,
        kernel_size: int = 3,
        downsample: str = "pool",
        squeeze_excitation: bool = False,
    ) -> None:
        super().__init__()
        check_type("widths", widths, Sequence)
        if isinstance(widths, str) or not widths:
            raise ValueError(f"widths must be a non-empty sequence of channel counts, got {widths!r}")
        widths = tuple(check_int(f"widths[{i}]", w, minimum=1) for i, w in enumerate(widths))
        check_int("convs_per_block", convs_per_block, minimum=1)
        check_probability("dropout", dropout)
        check_int("num_classes", num_classes, minimum=1)
        check_int("in_channels", in_channels, minimum=1)
        check_odd("kernel_size", kernel_size)
        check_choice("downsample", downsample, ("pool", "stride"))
        check_type("squeeze_excitation", squeeze_excitation, bool)
        self.widths = widths
        stages: list[nn.Module] = []
        cin = in_channels
        for width in widths:
            layers: list[nn.Module] = []
            for i in range(convs_per_block):
                last = i == convs_per_block - 1
                stride = 2 if (last and downsample == "stride") else 1
                layers += conv_block(cin, width, kernel_size=kernel_size, stride=stride, pool=False)
                cin = width
            if squeeze_excitation:
                layers.append(SqueezeExcitation(width))
            if downsample == "pool":
                layers.append(nn.MaxPool2d(2))
            if dropout:
                layers.append(nn.Dropout(dropout))
            stages.append(nn.Sequential(*layers))
        self.features = nn.Sequential(*stages)
        drop = [nn.Dropout(dropout)] if dropout else []
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), *drop, nn.Linear(widths[-1], num_classes))

    @property
    def first_conv(self) -> nn.Conv2d:
        """The network's first convolution."""
        return self.features[0][0]

    def forward(self, x):
        return self.head(self.features(x))
