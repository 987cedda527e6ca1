"""Receptive fields: computed layer by layer, and measured from input gradients.

Introduced in lesson 03 ("The building blocks of a CNN").

The *receptive field* of a unit is the region of the input that can change
its value. For a stack of convolutions and poolings it follows from three
numbers per layer (kernel size ``k``, stride ``s``, dilation ``d``) and the
running *jump* ``j`` (the input distance between two neighbouring units)::

    r_out = r_in + d * (k - 1) * j_in        j_out = j_in * s

:func:`receptive_field` applies this recursion; :func:`empirical_receptive_field`
measures the same region independently, as the set of input pixels with a
non-zero gradient of one output unit.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral

import torch
import torch.nn.functional as F
from torch import nn

from ._utils import check_int, check_pair, check_shape, check_type
from .train import _device_of

__all__ = ["RFLayer", "receptive_field", "empirical_receptive_field", "input_gradient"]

_PASS_THROUGH = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.GELU,
    nn.SiLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Identity,
    nn.BatchNorm2d,
    nn.Dropout,
    nn.Dropout2d,
)


@dataclass(frozen=True)
class RFLayer:
    """Receptive-field bookkeeping after one layer.

    Attributes
    ----------
    name : str
        The layer: its name in the model and its type (``"0.3 MaxPool2d"``),
        or its index in a list of layers.
    size : int
        Receptive-field side length in input pixels (ignoring the image border).
    jump : int
        Input distance between two neighbouring output units.
    start : float
        Input coordinate of the centre of output unit 0's receptive field
        (negative when padding puts it outside the image).

    Examples
    --------
    >>> layer = receptive_field([(3, 1), (2, 2)])[-1]
    >>> layer.size, layer.jump, layer.start
    (4, 2, 1.5)

    Introduced in lesson 03.
    """

    name: str
    size: int
    jump: int
    start: float


def _int(value, name: str) -> int:
    if isinstance(value, tuple):
        if len(set(value)) != 1:
            raise ValueError(f"only square {name} is supported, got {value}")
        value = value[0]
    if not isinstance(value, Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {value!r}")
    return int(value)


def _geometry(layer) -> tuple[int, int, int, int] | None:
    """(kernel, stride, dilation, padding) of a layer, or None for a pass-through layer."""
    if isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        if isinstance(layer, nn.Conv2d) and isinstance(layer.padding, str):
            if layer.padding == "same":
                k, d = _int(layer.kernel_size, "kernel_size"), _int(layer.dilation, "dilation")
                return k, 1, d, d * (k - 1) // 2
            return _int(layer.kernel_size, "kernel_size"), _int(layer.stride, "stride"), _int(layer.dilation, "dilation"), 0
        k = _int(layer.kernel_size, "kernel_size")
        s = _int(layer.stride, "stride") if layer.stride is not None else k
        d = _int(getattr(layer, "dilation", 1), "dilation")
        return k, s, d, _int(layer.padding, "padding")
    if isinstance(layer, _PASS_THROUGH):
        return None
    if isinstance(layer, (tuple, list)) and len(layer) in (2, 3, 4):
        vals = [_int(v, "layer spec") for v in layer]
        return vals[0], vals[1], vals[2] if len(vals) > 2 else 1, vals[3] if len(vals) > 3 else 0
    if isinstance(layer, nn.Sequential):
        raise TypeError("nested nn.Sequential: pass list(model.modules()) filtered to leaves, or flatten the model first")
    raise TypeError(
        f"cannot compute a receptive field through {type(layer).__name__}; expected Conv2d, MaxPool2d, AvgPool2d, "
        f"an element-wise layer (ReLU, BatchNorm2d, Dropout, ...) or a tuple (kernel, stride[, dilation[, padding]])"
    )


def _leaves(layers) -> list[tuple[str, object]]:
    if isinstance(layers, nn.Module):
        named = [(f"{n} {type(m).__name__}", m) for n, m in layers.named_modules() if len(list(m.children())) == 0]
        if not named:
            raise ValueError(f"{type(layers).__name__} has no layers")
        return named
    if isinstance(layers, Sequence) and not isinstance(layers, (str, bytes)):
        return [(f"{i}:{type(l).__name__ if isinstance(l, nn.Module) else 'layer'}", l) for i, l in enumerate(layers)]
    raise TypeError(f"layers must be an nn.Module or a sequence of layers, got {type(layers).__name__}")


def receptive_field(layers: nn.Module | Sequence) -> list[RFLayer]:
    """Receptive field size, jump and start after each layer of a stack.

    Introduced in lesson 03.

    Parameters
    ----------
    layers : nn.Module or sequence
        A model whose leaf modules, in registration order, form a chain
        (e.g. ``nn.Sequential``), or a list of layers. A layer is a
        ``Conv2d``, ``MaxPool2d`` or ``AvgPool2d``, an element-wise layer
        (ReLU, BatchNorm2d, Dropout, ... which leave the field unchanged) or a
        tuple ``(kernel, stride)``, ``(kernel, stride, dilation)`` or
        ``(kernel, stride, dilation, padding)``.

    Returns
    -------
    list of RFLayer
        One entry per layer that changes the geometry.

    Examples
    --------
    >>> [r.size for r in receptive_field([nn.Conv2d(1, 1, 3)] * 3)]
    [3, 5, 7]
    >>> receptive_field([(3, 1), (2, 2), (3, 1)])[-1]
    RFLayer(name='2:layer', size=8, jump=2, start=3.5)
    """
    size, jump, start = 1, 1, 0.0
    out = []
    for name, layer in _leaves(layers):
        geo = _geometry(layer)
        if geo is None:
            continue
        k, s, d, p = geo
        if k < 1 or s < 1 or d < 1 or p < 0:
            raise ValueError(f"layer {name}: kernel, stride, dilation must be >= 1 and padding >= 0, got {geo}")
        span = d * (k - 1) + 1
        start = start + ((span - 1) / 2 - p) * jump
        size = size + (span - 1) * jump
        jump = jump * s
        out.append(RFLayer(name, size, jump, start))
    if not out:
        raise ValueError("no layer changes the receptive field (no Conv2d or pooling found)")
    return out


class _WindowSum(nn.Module):
    """Stand-in for a pooling layer in the gradient probe: a sum over the same window."""

    def __init__(self, k: int, s: int, d: int, p: int) -> None:
        super().__init__()
        self.k, self.s, self.d, self.p = k, s, d, p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        w = x.new_ones(c, 1, self.k, self.k)
        return F.conv2d(x, w, stride=self.s, padding=self.p, dilation=self.d, groups=c)


def _probe_model(model: nn.Module) -> nn.Module:
    """A float64 copy in which every path carries signal: averaging conv weights, no biases,
    identity activations and batch norm, and pooling replaced by a sum over the same window."""
    probe = copy.deepcopy(model).to("cpu", torch.float64).eval()  # on the CPU: float64 works there on every machine
    for module in list(probe.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, (nn.MaxPool2d, nn.AvgPool2d)):
                setattr(module, child_name, _WindowSum(*_geometry(child)))
            elif isinstance(child, _PASS_THROUGH):
                setattr(module, child_name, nn.Identity())
    with torch.no_grad():
        for m in probe.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.fill_(1.0 / m.weight[0].numel())
                if m.bias is not None:
                    m.bias.zero_()
    return probe


def input_gradient(model: nn.Module, in_shape: Sequence[int], *, position: tuple[int, int] | None = None, channel: int = 0, probe: bool = True, n_samples: int = 1, seed: int = 0) -> torch.Tensor:
    """Gradient of one output unit with respect to the input, summed over channels.

    Introduced in lesson 03.

    Parameters
    ----------
    model : nn.Module
        Maps ``(N, C, H, W)`` to ``(N, C', H', W')``.
    in_shape : (C, H, W)
    position : (row, col), optional
        Output unit; default the centre of the output map.
    channel : int
        Output channel.
    probe : bool
        True: measure the *structural* field on a float64 copy with positive
        (averaging) conv weights, zero biases, activations and batch norm
        replaced by identities and pooling by a sum over the same window, on
        an all-ones input: every path carries a positive signal, so no max,
        ReLU or saturated tanh hides a pixel.
        False: the model as it is, with ``n_samples`` standard-normal inputs,
        returning the mean absolute gradient (the *effective* field).

    Returns
    -------
    torch.Tensor
        ``(H, W)`` map of gradient magnitudes, float64, on the CPU.

    Examples
    --------
    >>> g = input_gradient(nn.Conv2d(1, 1, 3), (1, 7, 7))  # the centre unit sees the 3 x 3 centre
    >>> (g > 0).sum().item(), (g[2:5, 2:5] > 0).all().item()
    (9, True)
    """
    check_type("model", model, nn.Module)
    in_shape = check_shape("in_shape", in_shape)
    check_int("channel", channel, minimum=0)
    check_int("n_samples", n_samples, minimum=1)
    check_int("seed", seed)
    if position is not None:
        position = check_pair("position", position, minimum=0)
    net = _probe_model(model) if probe else model
    device = torch.device("cpu") if probe else _device_of(model)
    gen = torch.Generator().manual_seed(seed)
    total = torch.zeros(tuple(in_shape[1:]), dtype=torch.float64)
    dtype = torch.float64 if probe else next((p.dtype for p in model.parameters()), torch.float32)
    for _ in range(1 if probe else n_samples):
        x = torch.ones(1, *in_shape, dtype=dtype) if probe else torch.randn(1, *in_shape, generator=gen).to(device, dtype)
        x.requires_grad_(True)
        y = net(x)
        if y.ndim != 4:
            raise ValueError(f"the model must output feature maps (N, C, H, W), got shape {tuple(y.shape)}")
        if not 0 <= channel < y.shape[1]:
            raise ValueError(f"channel must be in [0, {y.shape[1]}), got {channel}")
        r, c = position if position is not None else (y.shape[2] // 2, y.shape[3] // 2)
        if not (0 <= r < y.shape[2] and 0 <= c < y.shape[3]):
            raise ValueError(f"position must lie in the output map of size {tuple(y.shape[2:])}, got {(r, c)}")
        (grad,) = torch.autograd.grad(y[0, channel, r, c], x)
        total += grad[0].abs().sum(0).double().cpu()
    return total / (1 if probe else n_samples)


def empirical_receptive_field(model: nn.Module, in_shape: Sequence[int], *, position: tuple[int, int] | None = None, channel: int = 0) -> tuple[tuple[int, int], tuple[int, int]]:
    """The receptive field measured from input gradients.

    The bounding box of the input pixels on which the output unit's gradient
    is non-zero, computed with :func:`input_gradient` (``probe=True``). Use
    an input large enough that the field does not touch the border.
    Introduced in lesson 03.

    Returns
    -------
    ((height, width), (top, left))
        Size of the field and the input coordinates of its top-left pixel.

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3))
    >>> empirical_receptive_field(net, (1, 32, 32))[0]
    (8, 8)
    """
    g = input_gradient(model, in_shape, position=position, channel=channel, probe=True)
    rows = torch.nonzero(g.sum(1) > 0).flatten()
    cols = torch.nonzero(g.sum(0) > 0).flatten()
    if len(rows) == 0:
        raise ValueError("the output unit does not depend on the input (all gradients are zero)")
    top, left = int(rows[0]), int(cols[0])
    return (int(rows[-1]) - top + 1, int(cols[-1]) - left + 1), (top, left)
