"""Convolution from scratch: sliding windows, im2col, pooling and the shape formulas.

Introduced in lesson 01 ("Image convolution"), with the convolution theorem
(:func:`fft_conv2d`, a convolution layer computed through FFTs) and the
operation counts of the two routes (:func:`conv_flops`); lesson 03 ("The
building blocks of a CNN") adds :func:`im2col`, :func:`conv2d_im2col` and the
parameter-count formula.

The sliding-window functions are written for reading, not speed: a loop over
output positions, each a sum of element-wise products. Deep-learning
libraries compute *cross-correlation* (the kernel is not flipped) and call it
convolution; :func:`convolve2d` is the textbook convolution (flipped kernel).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ._utils import check_batch, check_choice, check_int, check_pair, check_tensor, check_type

__all__ = [
    "conv_output_size",
    "conv_parameter_count",
    "cross_correlate2d",
    "convolve2d",
    "pool2d",
    "im2col",
    "conv2d_im2col",
    "fft_conv2d",
    "conv_flops",
]

IntPair = int | tuple[int, int]


def _as_2d_float(array: np.ndarray, name: str) -> np.ndarray:
    """A 2-D map (array, tensor or nested list of real numbers) as a float64 array."""
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    array = np.asarray(array)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) or np.iscomplexobj(array):
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (height, width), got {array.ndim}-D with shape {array.shape}")
    if 0 in array.shape:
        raise ValueError(f"{name} must not be empty, got shape {array.shape}")
    return array.astype(np.float64)


def _same_padding(kernel_size: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int]:
    if any(k % 2 == 0 for k in kernel_size):
        raise ValueError(f"padding='same' needs a centred kernel of odd height and width, got kernel size {kernel_size}")
    if stride != (1, 1):
        raise ValueError(f"padding='same' needs stride 1, got {stride}")
    return dilation[0] * (kernel_size[0] - 1) // 2, dilation[1] * (kernel_size[1] - 1) // 2


def conv_output_size(size: int, kernel_size: int, padding: int = 0, stride: int = 1, dilation: int = 1) -> int:
    """Length of a convolution's (or pooling's) output along one axis.

    ``floor((size + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1``,
    the formula in PyTorch's ``nn.Conv2d`` documentation, checked against
    PyTorch over a sweep in lesson 03.

    Parameters
    ----------
    size : int
        Input length (height or width).
    kernel_size, padding, stride, dilation : int

    Returns
    -------
    int

    Raises
    ------
    ValueError
        If the (dilated) kernel does not fit in the padded input.

    Examples
    --------
    >>> conv_output_size(28, 3, padding=1)
    28
    >>> conv_output_size(28, 3, stride=2)
    13

    Introduced in lesson 01.
    """
    size = check_int("size", size, minimum=1)
    kernel_size = check_int("kernel_size", kernel_size, minimum=1)
    padding = check_int("padding", padding, minimum=0)
    stride = check_int("stride", stride, minimum=1)
    dilation = check_int("dilation", dilation, minimum=1)
    span = dilation * (kernel_size - 1) + 1
    if size + 2 * padding < span:
        raise ValueError(
            f"a kernel spanning {span} pixels (kernel_size={kernel_size}, dilation={dilation}) does not fit "
            f"in an input of {size} pixels with padding {padding}"
        )
    return (size + 2 * padding - span) // stride + 1


def conv_parameter_count(in_channels: int, out_channels: int, kernel_size: IntPair, *, groups: int = 1, bias: bool = True) -> int:
    """Number of learnable parameters of a ``nn.Conv2d`` layer.

    ``out_channels * (in_channels / groups) * kh * kw`` weights plus
    ``out_channels`` biases. :func:`lessonkit.count_parameters` counts the
    parameters of a whole module; this is the formula for one layer.

    Examples
    --------
    >>> conv_parameter_count(3, 32, 3)
    896
    >>> conv_parameter_count(32, 32, 3, groups=32, bias=False)  # depthwise
    288

    Introduced in lesson 03.
    """
    in_channels = check_int("in_channels", in_channels, minimum=1)
    out_channels = check_int("out_channels", out_channels, minimum=1)
    kh, kw = check_pair("kernel_size", kernel_size, minimum=1)
    groups = check_int("groups", groups, minimum=1)
    check_type("bias", bias, bool)
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"groups must divide in_channels and out_channels, got groups={groups} for in_channels={in_channels} and out_channels={out_channels}")
    return out_channels * (in_channels // groups) * kh * kw + (out_channels if bias else 0)


def cross_correlate2d(image: np.ndarray, kernel: np.ndarray, *, padding: IntPair = 0, stride: IntPair = 1, dilation: IntPair = 1) -> np.ndarray:
    """Slide ``kernel`` over ``image`` and sum the element-wise products (no flip).

    This is what ``torch.nn.functional.conv2d`` computes for one channel.
    Introduced in lesson 01.

    Parameters
    ----------
    image : array ``(H, W)``
    kernel : array ``(kh, kw)``
        Any size (even sizes are fine: the window starts at its top-left).
    padding : int, (int, int) or "same"
        Zeros added on each side (top/bottom, left/right). ``"same"`` pads so
        that the output has the input's size (stride 1 and a centred kernel,
        i.e. odd height and width, as in ``F.conv2d(..., padding="same")``).
    stride : int or (int, int)
        Step between windows, >= 1.
    dilation : int or (int, int)
        Spacing between kernel taps, >= 1.

    Returns
    -------
    numpy.ndarray
        ``(H_out, W_out)`` float64, sizes from :func:`conv_output_size`.

    Examples
    --------
    >>> x = np.arange(16.0).reshape(4, 4)
    >>> cross_correlate2d(x, np.ones((2, 2)), stride=2)
    array([[10., 18.],
           [42., 50.]])
    """
    image = _as_2d_float(image, "image")
    kernel = _as_2d_float(kernel, "kernel")
    (sh, sw), (dh, dw) = check_pair("stride", stride, minimum=1), check_pair("dilation", dilation, minimum=1)
    kh, kw = kernel.shape
    ph, pw = _same_padding((kh, kw), (sh, sw), (dh, dw)) if isinstance(padding, str) and padding == "same" else check_pair("padding", padding, minimum=0)
    out_h = conv_output_size(image.shape[0], kh, ph, sh, dh)
    out_w = conv_output_size(image.shape[1], kw, pw, sw, dw)
    padded = np.pad(image, ((ph, ph), (pw, pw)))
    out = np.empty((out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            top, left = i * sh, j * sw
            window = padded[top : top + dh * (kh - 1) + 1 : dh, left : left + dw * (kw - 1) + 1 : dw]
            out[i, j] = np.sum(window * kernel)
    return out


def convolve2d(image: np.ndarray, kernel: np.ndarray, *, padding: IntPair = 0, stride: IntPair = 1, dilation: IntPair = 1) -> np.ndarray:
    """True convolution: cross-correlation with the kernel flipped in both axes.

    For a symmetric kernel (box, Gaussian, Laplacian) it equals
    :func:`cross_correlate2d`; for an edge kernel the sign of the response
    flips.

    Examples
    --------
    >>> k = np.array([[1.0, 0.0, -1.0]])
    >>> convolve2d(np.array([[0.0, 1.0, 2.0]]), k), cross_correlate2d(np.array([[0.0, 1.0, 2.0]]), k)
    (array([[2.]]), array([[-2.]]))

    Introduced in lesson 01.
    """
    kernel = _as_2d_float(kernel, "kernel")
    return cross_correlate2d(image, kernel[::-1, ::-1], padding=padding, stride=stride, dilation=dilation)


def pool2d(image: np.ndarray, size: IntPair = 2, *, stride: IntPair | None = None, mode: str = "max") -> np.ndarray:
    """Max- or average-pooling of one 2-D map, from scratch (no padding).

    Introduced in lesson 01.

    Parameters
    ----------
    image : array ``(H, W)``
    size : int or (int, int)
        Window size.
    stride : int or (int, int), optional
        Default: the window size (non-overlapping windows).
    mode : {"max", "avg"}

    Examples
    --------
    >>> pool2d(np.arange(16.0).reshape(4, 4))
    array([[ 5.,  7.],
           [13., 15.]])
    """
    check_choice("mode", mode, ("max", "avg"))
    image = _as_2d_float(image, "image")
    kh, kw = check_pair("size", size, minimum=1)
    sh, sw = check_pair("stride", stride if stride is not None else (kh, kw), minimum=1)
    out_h, out_w = conv_output_size(image.shape[0], kh, 0, sh), conv_output_size(image.shape[1], kw, 0, sw)
    reduce = np.max if mode == "max" else np.mean
    out = np.empty((out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            out[i, j] = reduce(image[i * sh : i * sh + kh, j * sw : j * sw + kw])
    return out


def im2col(x: torch.Tensor, kernel_size: IntPair, *, padding: IntPair = 0, stride: IntPair = 1, dilation: IntPair = 1) -> torch.Tensor:
    """Unroll every kernel-sized window of a batch into a column.

    Column ``l`` of sample ``n`` holds the ``C*kh*kw`` input values that the
    kernel sees at output position ``l`` (row-major over the output), in the
    order (channel, kernel row, kernel column): the layout of
    ``torch.nn.functional.unfold``.

    Parameters
    ----------
    x : tensor ``(N, C, H, W)``
    kernel_size, padding, stride, dilation : int or (int, int)

    Returns
    -------
    torch.Tensor
        ``(N, C*kh*kw, H_out*W_out)``.

    Examples
    --------
    >>> im2col(torch.arange(9.0).view(1, 1, 3, 3), 2).shape
    torch.Size([1, 4, 4])

    Introduced in lesson 03.
    """
    check_batch("x", x)
    (kh, kw), (ph, pw) = check_pair("kernel_size", kernel_size, minimum=1), check_pair("padding", padding, minimum=0)
    (sh, sw), (dh, dw) = check_pair("stride", stride, minimum=1), check_pair("dilation", dilation, minimum=1)
    n, c, h, w = x.shape
    out_h, out_w = conv_output_size(h, kh, ph, sh, dh), conv_output_size(w, kw, pw, sw, dw)
    padded = F.pad(x, (pw, pw, ph, ph))
    cols = x.new_empty(n, c, kh, kw, out_h, out_w)
    for a in range(kh):  # one strided slice per kernel tap: kh*kw copies, no Python loop over pixels
        for b in range(kw):
            top, left = a * dh, b * dw
            cols[:, :, a, b] = padded[:, :, top : top + sh * (out_h - 1) + 1 : sh, left : left + sw * (out_w - 1) + 1 : sw]
    return cols.reshape(n, c * kh * kw, out_h * out_w)


def _check_layer_args(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> tuple[int, int, int, int]:
    """Check the tensors of an ``F.conv2d``-like call (groups=1); return the weight's shape."""
    check_batch("x", x)
    check_tensor("weight", weight, ndim=4, floating=True, layout="(C_out, C_in, kh, kw)")
    c_out, c_in, kh, kw = weight.shape
    if x.shape[1] != c_in:
        raise ValueError(f"x must have the weight's {c_in} input channels, shape (N, {c_in}, H, W), got shape {tuple(x.shape)}")
    if bias is not None:
        check_tensor("bias", bias, ndim=1, floating=True, layout=f"({c_out},)")
        if tuple(bias.shape) != (c_out,):
            raise ValueError(f"bias must have shape ({c_out},), got shape {tuple(bias.shape)}")
    return c_out, c_in, kh, kw


def conv2d_im2col(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    padding: IntPair = 0,
    stride: IntPair = 1,
    dilation: IntPair = 1,
) -> torch.Tensor:
    """A 2-D convolution layer as one matrix multiplication (im2col + GEMM).

    Same arguments and result as ``torch.nn.functional.conv2d`` (groups=1).
    Introduced in lesson 03.

    Parameters
    ----------
    x : tensor ``(N, C_in, H, W)``
    weight : tensor ``(C_out, C_in, kh, kw)``
    bias : tensor ``(C_out,)``, optional

    Returns
    -------
    torch.Tensor
        ``(N, C_out, H_out, W_out)``.

    Examples
    --------
    >>> x, w = torch.randn(2, 3, 8, 8), torch.randn(4, 3, 3, 3)
    >>> torch.allclose(conv2d_im2col(x, w, padding=1), F.conv2d(x, w, padding=1), atol=1e-5)
    True
    """
    c_out, _, kh, kw = _check_layer_args(x, weight, bias)
    (ph, pw), (sh, sw), (dh, dw) = check_pair("padding", padding, minimum=0), check_pair("stride", stride, minimum=1), check_pair("dilation", dilation, minimum=1)
    out_h = conv_output_size(x.shape[2], kh, ph, sh, dh)
    out_w = conv_output_size(x.shape[3], kw, pw, sw, dw)
    cols = im2col(x, (kh, kw), padding=(ph, pw), stride=(sh, sw), dilation=(dh, dw))  # (N, C*kh*kw, L)
    out = weight.reshape(c_out, -1) @ cols  # (C_out, C*kh*kw) @ (N, C*kh*kw, L) -> (N, C_out, L)
    if bias is not None:
        out = out + bias.view(1, -1, 1)
    return out.view(x.shape[0], c_out, out_h, out_w)


def fft_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    padding: IntPair = 0,
    padding_mode: str = "zeros",
) -> torch.Tensor:
    """A 2-D convolution layer computed through the convolution theorem.

    Same arguments and result as ``torch.nn.functional.conv2d`` with stride 1
    and groups 1 (a cross-correlation, as in every deep-learning library);
    ``padding_mode="circular"`` pads as ``nn.Conv2d(..., padding_mode="circular")``
    does. The theorem says that the discrete Fourier transform of a *circular*
    convolution of two arrays of the same size is the product of their
    transforms. So the layer

    1. pads ``x`` to ``P_h × P_w`` (with zeros, or circularly);
    2. flips the kernel (a cross-correlation is a convolution with the
       flipped kernel) and zero-pads it to the same size;
    3. multiplies the transforms, summing over the input channels in the
       frequency domain (the transform is linear), and transforms back;
    4. keeps the ``(P_h - kh + 1) × (P_w - kw + 1)`` outputs whose window did
       not wrap around the border: exactly the outputs ``F.conv2d`` returns.

    Real-input FFTs (``torch.fft.rfft2``) halve the work. The result is on
    ``x``'s device, in its dtype.

    Parameters
    ----------
    x : tensor ``(N, C_in, H, W)``
    weight : tensor ``(C_out, C_in, kh, kw)``
    bias : tensor ``(C_out,)``, optional
    padding : int or (int, int)
        Added on each side (top/bottom, left/right).
    padding_mode : {"zeros", "circular"}

    Returns
    -------
    torch.Tensor
        ``(N, C_out, H + 2*ph - kh + 1, W + 2*pw - kw + 1)``.

    Examples
    --------
    >>> x, w = torch.randn(2, 3, 16, 16, dtype=torch.float64), torch.randn(4, 3, 5, 5, dtype=torch.float64)
    >>> torch.allclose(fft_conv2d(x, w, padding=2), F.conv2d(x, w, padding=2))
    True
    >>> ref = torch.nn.Conv2d(3, 4, 5, padding=2, padding_mode="circular", bias=False).double()
    >>> with torch.no_grad():
    ...     _ = ref.weight.copy_(w)
    >>> torch.allclose(fft_conv2d(x, w, padding=2, padding_mode="circular"), ref(x))
    True

    Introduced in lesson 01.
    """
    c_out, _, kh, kw = _check_layer_args(x, weight, bias)
    ph, pw = check_pair("padding", padding, minimum=0)
    check_choice("padding_mode", padding_mode, ("zeros", "circular"))
    if x.dtype != weight.dtype:
        raise TypeError(f"x and weight must have the same dtype, got {x.dtype} and {weight.dtype}")
    h, w = x.shape[-2:]
    if padding_mode == "circular" and (ph > h or pw > w):
        raise ValueError(f"circular padding must not exceed the input size {(h, w)}, got padding {(ph, pw)}")
    size_h, size_w = h + 2 * ph, w + 2 * pw
    if size_h < kh or size_w < kw:
        raise ValueError(f"a {kh}×{kw} kernel does not fit in the padded input of {size_h}×{size_w}")
    padded = F.pad(x, (pw, pw, ph, ph), mode="constant" if padding_mode == "zeros" else "circular")
    size = (size_h, size_w)
    spectrum = torch.fft.rfft2(padded, s=size)  # (N, C_in, P_h, P_w // 2 + 1), complex
    kernel = torch.fft.rfft2(weight.flip(-2, -1), s=size)  # (C_out, C_in, P_h, P_w // 2 + 1)
    product = torch.einsum("nchw,ochw->nohw", spectrum, kernel)  # the channel sum, in the frequency domain
    out = torch.fft.irfft2(product, s=size)[..., kh - 1 :, kw - 1 :]  # drop the outputs that wrapped around
    if bias is not None:
        out = out + bias.view(1, c_out, 1, 1)
    return out.contiguous()


def conv_flops(size: int, kernel_size: int, *, padding: int = 0, method: str = "direct") -> int:
    """Floating-point operations of one ``size × size`` map cross-correlated with one ``k × k`` kernel.

    ``"direct"``: one multiply-add (two operations, as PyTorch's FLOP counter
    counts them) per kernel weight per output position,
    ``2·k²·n_out²``, with ``n_out`` from :func:`conv_output_size`.

    ``"fft"``: the route of :func:`fft_conv2d` on a ``P × P`` padded map,
    ``P = size + 2·padding``: three real-input 2-D FFTs (the image, the kernel,
    the inverse), each counted as ``2.5·P²·log2(P²)`` operations (half the
    ``5·L·log2(L)`` of a complex radix-2 FFT of ``L`` points, the usual
    estimate since Cooley and Tukey), plus one complex product (6 operations)
    per frequency, ``P·(P//2 + 1)`` of them. It is a model, not a measurement:
    real FFT libraries cost more per point for sizes that are not products of
    small primes; ``benchmarks/fft_conv.py`` times both routes.

    The direct cost grows like ``k²``, the FFT cost hardly depends on ``k``: for
    large enough kernels the FFT wins.

    Parameters
    ----------
    size : int
        Side of the input map.
    kernel_size : int
        Side of the kernel.
    padding : int
        Zeros added on each side.
    method : {"direct", "fft"}

    Returns
    -------
    int
        Rounded to the nearest integer.

    Examples
    --------
    >>> conv_flops(28, 3, padding=1)                  # 2 · 9 · 28²
    14112
    >>> conv_flops(28, 3, padding=1, method="fft")    # P = 30: 7.5·900·log2(900) + 6·30·16
    69123

    Introduced in lesson 01.
    """
    size = check_int("size", size, minimum=1)
    kernel_size = check_int("kernel_size", kernel_size, minimum=1)
    padding = check_int("padding", padding, minimum=0)
    check_choice("method", method, ("direct", "fft"))
    n_out = conv_output_size(size, kernel_size, padding)
    if method == "direct":
        return 2 * kernel_size**2 * n_out**2
    p = size + 2 * padding
    points = p * p
    transforms = 3 * 2.5 * points * math.log2(points) if points > 1 else 0.0
    return round(transforms + 6 * p * (p // 2 + 1))
