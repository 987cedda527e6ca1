"""Small models the lessons train: an MLP baseline and small CNNs.

Introduced in lesson 00 ("Your first CNN"); lesson 04 ("Training a CNN")
compares them. Larger teaching architectures (LeNet to ConvNeXt) live in
:mod:`lessonkit.architectures`.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ._utils import check_choice, check_int, check_odd, check_probability, check_shape, check_type

__all__ = ["MLP", "SimpleCNN", "conv_block"]


class MLP(nn.Sequential):
    """A multilayer perceptron on flattened images: the baseline a CNN must beat.

    Parameters
    ----------
    in_shape : (C, H, W)
    num_classes : int
    hidden : sequence of int
        Widths of the hidden layers (ReLU after each).
    dropout : float
        Dropout probability after each hidden layer's ReLU (0 = none).

    Examples
    --------
    >>> import torch
    >>> mlp = MLP((1, 28, 28), 10, hidden=(32,))
    >>> mlp(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    >>> from lessonkit import count_parameters
    >>> count_parameters(mlp)  # (trainable, total): 784*32 + 32 + 32*10 + 10
    (25450, 25450)

    Introduced in lesson 00.
    """

    def __init__(self, in_shape: Sequence[int] = (1, 28, 28), num_classes: int = 10, hidden: Sequence[int] = (256, 128), dropout: float = 0.0) -> None:
        in_shape = check_shape("in_shape", in_shape)
        check_int("num_classes", num_classes, minimum=1)
        check_type("hidden", hidden, Sequence)
        for i, h in enumerate(hidden):
            check_int(f"hidden[{i}]", h, minimum=1)
        check_probability("dropout", dropout)
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_shape[0] * in_shape[1] * in_shape[2]
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, num_classes))
        super().__init__(*layers)


def conv_block(
    in_channels: int,
    out_channels: int,
    batch_norm: bool = True,
    *,
    kernel_size: int = 3,
    stride: int = 1,
    groups: int = 1,
    bias: bool | None = None,
    pool: bool = True,
) -> nn.Sequential:
    """Convolution, optional batch norm, ReLU, then (by default) 2×2 max-pooling.

    The course's one conv → (BN) → ReLU builder: :class:`SimpleCNN`, and in
    lesson 08 :func:`lessonkit.vgg_block` and the blocks of
    :mod:`lessonkit.architectures`, are made of it. The convolution is
    ``kernel_size × kernel_size`` with "same" padding ``kernel_size // 2``.
    With the defaults (a 3×3 convolution and pooling) the block halves the
    height and width.

    Parameters
    ----------
    in_channels, out_channels : int
    batch_norm : bool
        Batch norm between the convolution and the ReLU.
    kernel_size : int
        Odd side of the kernel (a kernel with a centre pixel).
    stride : int
        Stride of the convolution.
    groups : int
        Groups of the convolution (``groups=in_channels``: depthwise).
    bias : bool, optional
        Bias of the convolution. Default: only without batch norm, since
        batch norm's shift makes a bias redundant.
    pool : bool
        End with ``nn.MaxPool2d(2)``.

    Returns
    -------
    torch.nn.Sequential
        ``[Conv2d, (BatchNorm2d), ReLU, (MaxPool2d)]``.

    Examples
    --------
    >>> import torch
    >>> block = conv_block(1, 8)
    >>> [type(m).__name__ for m in block]
    ['Conv2d', 'BatchNorm2d', 'ReLU', 'MaxPool2d']
    >>> block(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 8, 14, 14])
    >>> len(conv_block(8, 8, kernel_size=1, pool=False))
    3

    Introduced in lesson 00.
    """
    check_int("in_channels", in_channels, minimum=1)
    check_int("out_channels", out_channels, minimum=1)
    check_type("batch_norm", batch_norm, bool)
    check_odd("kernel_size", kernel_size)
    check_int("stride", stride, minimum=1)
    check_int("groups", groups, minimum=1)
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"groups must divide in_channels and out_channels, got groups={groups} for {in_channels} -> {out_channels} channels")
    if bias is None:
        bias = not batch_norm
    check_type("bias", bias, bool)
    check_type("pool", pool, bool)
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, groups=groups, bias=bias)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.ReLU(inplace=True))
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class SimpleCNN(nn.Module):
    """A small CNN: a stack of :func:`conv_block` s and a classifier head.

    Parameters
    ----------
    in_channels : int
    num_classes : int
    widths : sequence of int
        Output channels of each block; each block halves the resolution.
    head : {"gap", "flatten"}
        ``"gap"``: global average pooling then one linear layer (few
        parameters, any input size). ``"flatten"``: flatten the last feature
        map into a linear layer (needs ``in_size``).
    in_size : int, optional
        Input height (= width); required for ``head="flatten"``.
    dropout : float
        Dropout before the final linear layer (0 = none: no dropout layer).
    batch_norm : bool

    Examples
    --------
    >>> import torch
    >>> SimpleCNN(1, 10)(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])

    Introduced in lesson 00.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        widths: Sequence[int] = (32, 64),
        head: str = "gap",
        in_size: int | None = None,
        dropout: float = 0.0,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        check_int("in_channels", in_channels, minimum=1)
        check_int("num_classes", num_classes, minimum=1)
        check_type("widths", widths, Sequence)
        if not widths:
            raise ValueError("widths must name at least one block, got ()")
        for i, w in enumerate(widths):
            check_int(f"widths[{i}]", w, minimum=1)
        check_choice("head", head, ("gap", "flatten"))
        check_probability("dropout", dropout)
        chans = [in_channels, *widths]
        self.features = nn.Sequential(*(conv_block(a, b, batch_norm) for a, b in zip(chans, chans[1:])))
        if head == "gap":
            pool: list[nn.Module] = [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
            n_in = widths[-1]
        else:
            if in_size is None:
                raise ValueError("head='flatten' needs in_size (the input height and width), got None")
            check_int("in_size", in_size, minimum=1)
            side = in_size
            for _ in widths:
                side //= 2
            if side < 1:
                raise ValueError(f"in_size={in_size} is too small for {len(widths)} pooling blocks")
            pool = [nn.Flatten()]
            n_in = widths[-1] * side * side
        drop = [nn.Dropout(dropout)] if dropout else []
        self.head = nn.Sequential(*pool, *drop, nn.Linear(n_in, num_classes))

    def forward(self, x):
        return self.head(self.features(x))
