"""Small models the lessons train: an MLP baseline and small CNNs.

Introduced in lesson 00 ("Your first CNN"); lesson 04 ("Training a CNN")
compares them. Larger teaching architectures (LeNet to ConvNeXt) live in
:mod:`lessonkit.architectures`.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

__all__ = ["MLP", "SimpleCNN", "conv_block"]


def _check_positive(**values: int) -> None:
    for name, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")


class MLP(nn.Sequential):
    """A multilayer perceptron on flattened images: the baseline a CNN must beat.

    Parameters
    ----------
    in_shape : (C, H, W)
    num_classes : int
    hidden : sequence of int
        Widths of the hidden layers (ReLU after each).
    dropout : float
        Dropout probability before each hidden-to-next layer (0 = none).
    """

    def __init__(self, in_shape: Sequence[int] = (1, 28, 28), num_classes: int = 10, hidden: Sequence[int] = (256, 128), dropout: float = 0.0) -> None:
        if len(in_shape) != 3:
            raise ValueError(f"in_shape must be (C, H, W), got {tuple(in_shape)}")
        _check_positive(num_classes=num_classes, **{f"hidden[{i}]": h for i, h in enumerate(hidden)})
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_shape[0] * in_shape[1] * in_shape[2]
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, num_classes))
        super().__init__(*layers)


def conv_block(in_channels: int, out_channels: int, batch_norm: bool = True) -> nn.Sequential:
    """3×3 convolution (padding 1), optional batch norm, ReLU, then 2×2 max-pooling.

    Halves the height and width; ``bias`` is dropped when batch norm follows,
    since batch norm's shift makes it redundant.
    """
    _check_positive(in_channels=in_channels, out_channels=out_channels)
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers += [nn.ReLU(inplace=True), nn.MaxPool2d(2)]
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
        _check_positive(in_channels=in_channels, num_classes=num_classes)
        if not widths:
            raise ValueError("widths must name at least one block")
        if head not in {"gap", "flatten"}:
            raise ValueError(f"head must be 'gap' or 'flatten', got {head!r}")
        chans = [in_channels, *widths]
        self.features = nn.Sequential(*(conv_block(a, b, batch_norm) for a, b in zip(chans, chans[1:])))
        if head == "gap":
            pool: list[nn.Module] = [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
            n_in = widths[-1]
        else:
            if in_size is None:
                raise ValueError("head='flatten' needs in_size (the input height and width)")
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
