"""Tests for lessonkit.conv against scipy.ndimage, torch.nn.functional and hand-worked examples."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage, signal

from lessonkit.conv import (
    conv2d_im2col,
    conv_flops,
    conv_output_size,
    conv_parameter_count,
    convolve2d,
    cross_correlate2d,
    fft_conv2d,
    im2col,
    pool2d,
)
from lessonkit.summary import count_mult_adds

RNG = np.random.default_rng(0)


def torch_xcorr(image, kernel, padding=0, stride=1, dilation=1):
    x = torch.from_numpy(image)[None, None]
    w = torch.from_numpy(kernel)[None, None]
    return F.conv2d(x, w, padding=padding, stride=stride, dilation=dilation)[0, 0].numpy()


# ---------------------------------------------------------------- hand-worked


def test_hand_worked_5x5_with_3x3():
    x = np.array([[1, 2, 3, 0, 1], [0, 1, 2, 1, 0], [1, 0, 1, 2, 1], [2, 1, 0, 1, 2], [0, 2, 1, 0, 1]], float)
    k = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], float)
    out = cross_correlate2d(x, k)
    # top-left: corners 1+3+1+1 and centre 1 -> 7; worked by hand
    assert out[0, 0] == 1 + 3 + 1 + 1 + 1
    # bottom-right window rows 2-4, cols 2-4: corners 1+1+1+1, centre 1 -> 5
    assert out[2, 2] == 1 + 1 + 1 + 1 + 1
    assert out.shape == (3, 3)


def test_stride_example_by_hand():
    x = np.arange(16.0).reshape(4, 4)
    out = cross_correlate2d(x, np.ones((2, 2)), stride=2)
    np.testing.assert_array_equal(out, [[0 + 1 + 4 + 5, 2 + 3 + 6 + 7], [8 + 9 + 12 + 13, 10 + 11 + 14 + 15]])


def test_dilation_example_by_hand():
    x = np.arange(25.0).reshape(5, 5)
    out = cross_correlate2d(x, np.ones((2, 2)), dilation=2)
    # taps at (0,0), (0,2), (2,0), (2,2)
    assert out.shape == (3, 3)
    assert out[0, 0] == 0 + 2 + 10 + 12


# ---------------------------------------------------------------- against torch and scipy


SWEEP = list(itertools.product([(3, 3), (2, 4), (5, 5)], [0, 1, 2], [1, 2, 3], [1, 2]))


@pytest.mark.parametrize("ksize, padding, stride, dilation", SWEEP)
def test_cross_correlation_matches_torch_conv2d(ksize, padding, stride, dilation):
    image = RNG.standard_normal((11, 9))
    kernel = RNG.standard_normal(ksize)
    ours = cross_correlate2d(image, kernel, padding=padding, stride=stride, dilation=dilation)
    ref = torch_xcorr(image, kernel, padding, stride, dilation)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-10)


def test_rectangular_padding_and_stride_match_torch():
    image, kernel = RNG.standard_normal((10, 13)), RNG.standard_normal((3, 2))
    ours = cross_correlate2d(image, kernel, padding=(2, 1), stride=(1, 3), dilation=(2, 1))
    ref = torch_xcorr(image, kernel, (2, 1), (1, 3), (2, 1))
    np.testing.assert_allclose(ours, ref, atol=1e-10)


@pytest.mark.parametrize("ksize", [1, 3, 5])
def test_same_padding_matches_scipy_correlate_and_convolve(ksize):
    image, kernel = RNG.standard_normal((12, 10)), RNG.standard_normal((ksize, ksize))
    np.testing.assert_allclose(cross_correlate2d(image, kernel, padding="same"), ndimage.correlate(image, kernel, mode="constant", cval=0.0), atol=1e-10)
    np.testing.assert_allclose(convolve2d(image, kernel, padding="same"), ndimage.convolve(image, kernel, mode="constant", cval=0.0), atol=1e-10)


@pytest.mark.parametrize("ksize, dilation", [((3, 3), 2), ((5, 3), 1), ((3, 5), 3)])
def test_same_padding_matches_torch_same(ksize, dilation):
    image, kernel = RNG.standard_normal((12, 14)), RNG.standard_normal(ksize)
    ref = F.conv2d(torch.from_numpy(image)[None, None], torch.from_numpy(kernel)[None, None], padding="same", dilation=dilation)[0, 0].numpy()
    np.testing.assert_allclose(cross_correlate2d(image, kernel, padding="same", dilation=dilation), ref, atol=1e-10)


@pytest.mark.parametrize("padding", [0, 1, 2])
def test_convolution_matches_scipy_signal(padding):
    image, kernel = RNG.standard_normal((8, 9)), RNG.standard_normal((3, 4))
    padded = np.pad(image, padding)
    np.testing.assert_allclose(convolve2d(image, kernel, padding=padding), signal.convolve2d(padded, kernel, mode="valid"), atol=1e-10)


def test_convolution_and_cross_correlation_differ_for_asymmetric_kernel_only():
    image = RNG.standard_normal((7, 7))
    sym = np.array([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]])
    asym = np.array([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]])
    np.testing.assert_allclose(convolve2d(image, sym), cross_correlate2d(image, sym))
    np.testing.assert_allclose(convolve2d(image, asym), -cross_correlate2d(image, asym))


def test_accepts_integer_images_and_tensors():
    x = np.arange(9).reshape(3, 3)
    np.testing.assert_allclose(cross_correlate2d(torch.from_numpy(x), np.ones((3, 3))), [[36.0]])


# ---------------------------------------------------------------- output size and parameters


def test_conv_output_size_matches_torch_over_a_sweep():
    for size, k, p, s, d in itertools.product([7, 8, 28], [1, 2, 3, 5], [0, 1, 2], [1, 2, 3], [1, 2]):
        if size + 2 * p < d * (k - 1) + 1:
            with pytest.raises(ValueError):
                conv_output_size(size, k, p, s, d)
            continue
        conv = torch.nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d)
        expected = conv(torch.zeros(1, 1, size, size)).shape[-1]
        assert conv_output_size(size, k, p, s, d) == expected


def test_conv_parameter_count_matches_torch():
    for cin, cout, k, groups, bias in itertools.product([1, 4, 6], [2, 6, 12], [1, 3, (1, 3)], [1, 2], [True, False]):
        if cin % groups or cout % groups:
            with pytest.raises(ValueError, match="groups"):
                conv_parameter_count(cin, cout, k, groups=groups, bias=bias)
            continue
        layer = torch.nn.Conv2d(cin, cout, k, groups=groups, bias=bias)
        assert conv_parameter_count(cin, cout, k, groups=groups, bias=bias) == sum(p.numel() for p in layer.parameters())


# ---------------------------------------------------------------- pooling


def test_pool2d_hand_worked():
    x = np.array([[1, 3, 2, 1], [0, 1, 4, 2], [5, 1, 2, 3], [3, 0, 4, 1]], float)
    np.testing.assert_array_equal(pool2d(x, 2, mode="max"), [[3, 4], [5, 4]])
    np.testing.assert_array_equal(pool2d(x, 2, mode="avg"), [[5 / 4, 9 / 4], [9 / 4, 10 / 4]])


@pytest.mark.parametrize("size, stride", [(2, None), (3, 1), (3, 2), ((2, 3), (1, 2))])
def test_pool2d_matches_torch(size, stride):
    x = RNG.standard_normal((9, 10))
    t = torch.from_numpy(x)[None, None]
    kwargs = dict(kernel_size=size, stride=stride if stride is not None else size)
    np.testing.assert_allclose(pool2d(x, size, stride=stride, mode="max"), F.max_pool2d(t, **kwargs)[0, 0].numpy())
    np.testing.assert_allclose(pool2d(x, size, stride=stride, mode="avg"), F.avg_pool2d(t, **kwargs)[0, 0].numpy())


# ---------------------------------------------------------------- im2col


@pytest.mark.parametrize("k, padding, stride, dilation", [(3, 0, 1, 1), (3, 1, 2, 1), (2, 0, 1, 2), (5, 2, 3, 1), ((3, 1), (1, 0), (2, 1), (1, 2))])
def test_im2col_matches_unfold_and_conv_matches_conv2d(k, padding, stride, dilation):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 11, 12, dtype=torch.float64)
    kh, kw = (k, k) if isinstance(k, int) else k
    w = torch.randn(5, 3, kh, kw, dtype=torch.float64)
    b = torch.randn(5, dtype=torch.float64)
    cols = im2col(x, k, padding=padding, stride=stride, dilation=dilation)
    torch.testing.assert_close(cols, F.unfold(x, k, padding=padding, stride=stride, dilation=dilation))
    ours = conv2d_im2col(x, w, b, padding=padding, stride=stride, dilation=dilation)
    torch.testing.assert_close(ours, F.conv2d(x, w, b, padding=padding, stride=stride, dilation=dilation))


def test_conv2d_im2col_float32_close_to_conv2d():
    torch.manual_seed(1)
    x, w = torch.randn(4, 8, 16, 16), torch.randn(16, 8, 3, 3)
    torch.testing.assert_close(conv2d_im2col(x, w, padding=1), F.conv2d(x, w, padding=1), atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "image, kernel, kwargs, exc, match",
    [
        (np.zeros((3, 3, 3)), np.ones((3, 3)), {}, ValueError, "image must be 2-D"),
        (np.zeros(5), np.ones((3, 3)), {}, ValueError, "image must be 2-D"),
        (np.zeros((5, 5)), np.ones(3), {}, ValueError, "kernel must be 2-D"),
        (np.array([["a", "b"], ["c", "d"]]), np.ones((1, 1)), {}, TypeError, "real numbers"),
        (np.zeros((5, 5), complex), np.ones((1, 1)), {}, TypeError, "real numbers"),
        (np.zeros((5, 5)), np.ones((3, 3)), {"stride": 0}, ValueError, "stride must be >= 1"),
        (np.zeros((5, 5)), np.ones((3, 3)), {"dilation": 0}, ValueError, "dilation must be >= 1"),
        (np.zeros((5, 5)), np.ones((3, 3)), {"padding": -1}, ValueError, "padding must be >= 0"),
        (np.zeros((5, 5)), np.ones((3, 3)), {"stride": 1.5}, TypeError, "stride must be an int"),
        (np.zeros((5, 5)), np.ones((4, 4)), {"padding": "same"}, ValueError, "centred kernel of odd"),
        (np.zeros((5, 5)), np.ones((3, 3)), {"padding": "same", "stride": 2}, ValueError, "stride 1"),
        (np.zeros((2, 2)), np.ones((3, 3)), {}, ValueError, "does not fit"),
        (np.zeros((0, 4)), np.ones((1, 1)), {}, ValueError, "empty"),
    ],
)
def test_bad_input_raises(image, kernel, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cross_correlate2d(image, kernel, **kwargs)


def test_im2col_errors():
    with pytest.raises(ValueError, match=r"x must have shape \(N, C, H, W\), got shape \(3, 8, 8\)"):
        im2col(torch.zeros(3, 8, 8), 3)
    with pytest.raises(ValueError, match=r"weight must have shape \(C_out, C_in, kh, kw\)"):
        conv2d_im2col(torch.zeros(1, 3, 8, 8), torch.zeros(3, 3, 3))
    with pytest.raises(TypeError, match="bias must be a torch.Tensor, got list"):
        conv2d_im2col(torch.zeros(1, 3, 8, 8), torch.zeros(4, 3, 3, 3), [0.0] * 4)
    with pytest.raises(TypeError, match="floating-point"):
        im2col(torch.zeros(1, 1, 8, 8, dtype=torch.int64), 3)
    with pytest.raises(TypeError, match="torch.Tensor"):
        im2col(np.zeros((1, 1, 8, 8)), 3)
    with pytest.raises(ValueError, match="input channels"):
        conv2d_im2col(torch.zeros(1, 2, 8, 8), torch.zeros(4, 3, 3, 3))
    with pytest.raises(ValueError, match="bias"):
        conv2d_im2col(torch.zeros(1, 3, 8, 8), torch.zeros(4, 3, 3, 3), torch.zeros(3))


def test_pool2d_errors():
    with pytest.raises(ValueError, match="mode"):
        pool2d(np.zeros((4, 4)), 2, mode="median")
    with pytest.raises(ValueError, match="size must be >= 1"):
        pool2d(np.zeros((4, 4)), 0)
    with pytest.raises(TypeError, match="size must be an int or a pair of ints"):
        pool2d(np.zeros((4, 4)), 2.0)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: conv_output_size(28.0, 3), TypeError, "size must be an int, got float"),
        (lambda: conv_output_size(28, 3, padding=-1), ValueError, "padding must be an int >= 0, got -1"),
        (lambda: conv_parameter_count(3, 8, 3, groups=1.0), TypeError, "groups must be an int"),
        (lambda: conv_parameter_count(3, 8, 3, bias="yes"), TypeError, "bias must be a bool"),
        (lambda: conv_parameter_count(0, 8, 3), ValueError, "in_channels must be an int >= 1, got 0"),
    ],
)
def test_formulas_reject_bad_arguments(call, exc, match):
    # one rule: a wrong type raises TypeError, a wrong value ValueError
    with pytest.raises(exc, match=match):
        call()


# ---------------------------------------------------------------- the convolution theorem


@pytest.mark.parametrize("k, padding", [(3, 0), (3, 1), (5, 2), (4, 0), ((3, 5), (1, 2)), ((2, 7), (0, 3)), (1, 0), (11, 5)])
def test_fft_conv2d_matches_conv2d(k, padding):
    torch.manual_seed(0)
    kh, kw = (k, k) if isinstance(k, int) else k
    x = torch.randn(2, 3, 13, 16, dtype=torch.float64)
    w = torch.randn(4, 3, kh, kw, dtype=torch.float64)
    b = torch.randn(4, dtype=torch.float64)
    ours = fft_conv2d(x, w, b, padding=padding)
    torch.testing.assert_close(ours, F.conv2d(x, w, b, padding=padding), atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("k, padding", [(3, 1), (5, 2), ((3, 5), (1, 2)), (3, 0), (4, 3)])
def test_fft_conv2d_circular_matches_conv2d_circular_padding(k, padding):
    torch.manual_seed(1)
    layer = torch.nn.Conv2d(2, 3, k, padding=padding, padding_mode="circular").double()
    x = torch.randn(2, 2, 9, 12, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(fft_conv2d(x, layer.weight, layer.bias, padding=padding, padding_mode="circular"), layer(x), atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("kshape, padding", [((3, 3), 0), ((5, 4), 2), ((1, 6), (0, 1))])
def test_fft_conv2d_matches_scipy_fftconvolve(kshape, padding):
    # scipy's FFT convolution flips the kernel (true convolution); F.conv2d does not, so flip it back
    image, kernel = RNG.standard_normal((10, 12)), RNG.standard_normal(kshape)
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    expected = signal.fftconvolve(np.pad(image, ((ph, ph), (pw, pw))), kernel[::-1, ::-1], mode="valid")
    ours = fft_conv2d(torch.from_numpy(image)[None, None], torch.from_numpy(kernel.copy())[None, None], padding=padding)[0, 0]
    np.testing.assert_allclose(ours.numpy(), expected, atol=1e-10)


@pytest.mark.parametrize("k", [3, 5, 7])
def test_fft_conv2d_circular_matches_scipy_wrap(k):
    # scipy.ndimage.correlate with mode="wrap" is a periodic cross-correlation of the same size
    image, kernel = RNG.standard_normal((9, 11)), RNG.standard_normal((k, k))
    ours = fft_conv2d(torch.from_numpy(image)[None, None], torch.from_numpy(kernel)[None, None], padding=k // 2, padding_mode="circular")[0, 0]
    np.testing.assert_allclose(ours.numpy(), ndimage.correlate(image, kernel, mode="wrap"), atol=1e-10)


def test_fft_conv2d_float32_keeps_dtype_and_is_close():
    torch.manual_seed(2)
    x, w = torch.randn(2, 8, 20, 20), torch.randn(6, 8, 5, 5)
    out = fft_conv2d(x, w, padding=2)
    assert out.dtype == torch.float32 and out.is_contiguous()
    torch.testing.assert_close(out, F.conv2d(x, w, padding=2), atol=1e-4, rtol=1e-4)


def test_fft_conv2d_stays_on_the_input_device():
    x, w = torch.zeros(1, 2, 8, 8, device="meta"), torch.zeros(3, 2, 3, 3, device="meta")
    out = fft_conv2d(x, w, torch.zeros(3, device="meta"), padding=1)
    assert out.device.type == "meta" and tuple(out.shape) == (1, 3, 8, 8)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: fft_conv2d(np.zeros((1, 1, 4, 4)), torch.zeros(1, 1, 3, 3)), TypeError, "x must be a torch.Tensor"),
        (lambda: fft_conv2d(torch.zeros(1, 1, 4, 4, dtype=torch.int64), torch.zeros(1, 1, 3, 3)), TypeError, "floating-point"),
        (lambda: fft_conv2d(torch.zeros(1, 4, 4), torch.zeros(1, 1, 3, 3)), ValueError, r"x must have shape \(N, C, H, W\)"),
        (lambda: fft_conv2d(torch.zeros(1, 2, 4, 4), torch.zeros(1, 1, 3, 3)), ValueError, "input channels"),
        (lambda: fft_conv2d(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 3, 3), padding=-1), ValueError, "padding must be >= 0"),
        (lambda: fft_conv2d(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 3, 3), padding_mode="reflect"), ValueError, "padding_mode must be one of"),
        (lambda: fft_conv2d(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 3, 3)), ValueError, "does not fit"),
        (lambda: fft_conv2d(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 3, 3), padding=3, padding_mode="circular"), ValueError, "circular padding"),
        (lambda: fft_conv2d(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 3, 3, dtype=torch.float64)), TypeError, "same dtype"),
    ],
)
def test_fft_conv2d_rejects_bad_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ---------------------------------------------------------------- operation counts


@pytest.mark.parametrize("size, k, padding", [(28, 3, 1), (32, 5, 0), (17, 7, 3), (64, 1, 0)])
def test_direct_flops_are_twice_pytorchs_mult_adds(size, k, padding):
    layer = torch.nn.Conv2d(1, 1, k, padding=padding, bias=False)
    assert conv_flops(size, k, padding=padding) == 2 * count_mult_adds(layer, (1, 1, size, size))


def test_fft_flops_by_hand():
    # P = 32: three real FFTs of 1024 points, 2.5 · 1024 · log2(1024) = 25,600 each, and 32 · 17 products of 6
    assert conv_flops(30, 5, padding=1, method="fft") == 3 * 25_600 + 6 * 32 * 17
    # the FFT route's cost depends on the padded size only, not on the kernel
    assert conv_flops(30, 3, padding=1, method="fft") == conv_flops(30, 25, padding=1, method="fft")


def test_fft_wins_for_large_kernels_only():
    direct = lambda k: conv_flops(256, k, padding=k // 2)  # noqa: E731
    fft = lambda k: conv_flops(256, k, padding=k // 2, method="fft")  # noqa: E731
    assert direct(3) < fft(3) and fft(15) < direct(15)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: conv_flops(28, 3, method="winograd"), ValueError, "method must be one of"),
        (lambda: conv_flops(2, 5), ValueError, "does not fit"),
        (lambda: conv_flops(28.0, 3), TypeError, "size must be an int"),
        (lambda: conv_flops(28, 3, padding=-1), ValueError, "padding must be an int >= 0"),
    ],
)
def test_conv_flops_rejects_bad_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
