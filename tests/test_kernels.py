"""Tests for lessonkit.kernels: the kernel library and the Gabor-bank helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage
from skimage.filters import gabor_kernel

from lessonkit.conv import cross_correlate2d
from lessonkit.kernels import (
    KERNEL_NAMES,
    GaborBank,
    box_kernel,
    gabor_bank,
    gabor_features,
    gabor_responses,
    gaussian_kernel,
    haar_kernels,
    make_kernel,
)

RNG = np.random.default_rng(0)


def test_every_named_kernel_is_centred_and_odd():
    for name in KERNEL_NAMES:
        k = make_kernel(name)
        assert k.ndim == 2 and k.shape[0] % 2 == 1 and k.shape[1] % 2 == 1


def test_sobel_matches_scipy_sobel():
    # scipy.ndimage.sobel(axis=1) correlates with [-1, 0, 1] across columns and [1, 2, 1] down rows,
    # i.e. with -sobel_x; axis=0 with -sobel_y.
    image = RNG.standard_normal((9, 11))
    ours_x = cross_correlate2d(image, make_kernel("sobel_x"), padding="same")
    ours_y = cross_correlate2d(image, make_kernel("sobel_y"), padding="same")
    np.testing.assert_allclose(ours_x, -ndimage.sobel(image, axis=1, mode="constant"), atol=1e-12)
    np.testing.assert_allclose(ours_y, -ndimage.sobel(image, axis=0, mode="constant"), atol=1e-12)


def test_prewitt_edges_match_scipy_prewitt():
    image = RNG.standard_normal((9, 11))
    np.testing.assert_allclose(cross_correlate2d(image, make_kernel("vertical_edge"), padding="same"), -ndimage.prewitt(image, axis=1, mode="constant"), atol=1e-12)
    np.testing.assert_allclose(cross_correlate2d(image, make_kernel("horizontal_edge"), padding="same"), -ndimage.prewitt(image, axis=0, mode="constant"), atol=1e-12)


def test_laplacian_matches_scipy_laplace():
    image = RNG.standard_normal((9, 11))
    np.testing.assert_allclose(cross_correlate2d(image, make_kernel("laplacian"), padding="same"), ndimage.laplace(image, mode="constant"), atol=1e-12)


def test_edge_kernels_ignore_flat_images_and_blurs_keep_them():
    flat = np.full((7, 7), 3.0)
    for name in ("horizontal_edge", "vertical_edge", "diagonal_edge", "sobel_x", "sobel_y", "laplacian", "edge_detect"):
        np.testing.assert_allclose(cross_correlate2d(flat, make_kernel(name)), 0.0, atol=1e-12)
    for name in ("identity", "sharpen", "box_blur", "gaussian_blur"):
        np.testing.assert_allclose(cross_correlate2d(flat, make_kernel(name)), 3.0)


def test_edge_kernel_signs_on_a_step():
    # bright top half, dark bottom half: horizontal edge kernel (positive row on top) responds positively
    step = np.vstack([np.ones((4, 6)), np.zeros((4, 6))])
    out = cross_correlate2d(step, make_kernel("horizontal_edge"))
    assert out.max() == 3.0 and out.min() == 0.0
    assert np.allclose(cross_correlate2d(step, make_kernel("vertical_edge")), 0.0)


def test_box_and_gaussian_against_scipy():
    image = RNG.standard_normal((12, 12))
    np.testing.assert_allclose(cross_correlate2d(image, box_kernel(3), padding="same"), ndimage.uniform_filter(image, 3, mode="constant"), atol=1e-12)
    # scipy's gaussian_filter with truncate = radius / sigma samples and normalises the same kernel
    sigma, size = 1.5, 7
    np.testing.assert_allclose(
        cross_correlate2d(image, gaussian_kernel(size, sigma), padding="same"),
        ndimage.gaussian_filter(image, sigma, mode="constant", truncate=(size // 2) / sigma),
        atol=1e-12,
    )


def test_kernel_errors():
    with pytest.raises(ValueError, match="odd"):
        box_kernel(4)
    with pytest.raises(ValueError, match="odd"):
        gaussian_kernel(6, 1.0)
    with pytest.raises(TypeError, match="int"):
        gaussian_kernel(5.0, 1.0)
    with pytest.raises(ValueError, match="sigma must be > 0, got 0.0"):
        gaussian_kernel(5, 0.0)
    with pytest.raises(TypeError, match="sigma must be a real number"):
        gaussian_kernel(5, "1")
    with pytest.raises(ValueError, match="unknown kernel 'blur'"):
        make_kernel("blur")


# ---------------------------------------------------------------- Gabor


def test_gabor_bank_matches_skimage_kernels():
    bank = gabor_bank([0.1, 0.25], [0, np.pi / 4, np.pi / 2], [2.0, 3.0])
    assert len(bank) == 12
    for (f, t, s), k in zip(bank.params, bank.kernels):
        np.testing.assert_array_equal(k, gabor_kernel(f, theta=t, sigma_x=s, sigma_y=s))


def test_gabor_default_sigma_matches_skimage():
    bank = gabor_bank([0.2], [0.3])
    ref = gabor_kernel(0.2, theta=0.3)
    np.testing.assert_array_equal(bank.kernels[0], ref)
    f, t, s = bank.params[0]
    np.testing.assert_array_equal(gabor_kernel(f, theta=t, sigma_x=s, sigma_y=s), ref)


def test_gabor_responses_match_scipy_per_filter():
    bank = gabor_bank([0.15, 0.3], [0.0, 1.0], [1.5, 3.0])
    images = RNG.standard_normal((3, 20, 18)).astype(np.float32)
    got = gabor_responses(torch.from_numpy(images), bank)
    assert got.shape == (3, len(bank), 20, 18)
    for n in range(3):
        for i, k in enumerate(bank.kernels):
            re = ndimage.correlate(images[n].astype(np.float64), k.real, mode="constant")
            im = ndimage.correlate(images[n].astype(np.float64), k.imag, mode="constant")
            np.testing.assert_allclose(got[n, i].numpy(), np.hypot(re, im), atol=1e-4, rtol=1e-4)


def test_gabor_features_are_pooled_responses():
    bank = gabor_bank([0.25], [0.0, np.pi / 2], [2.0])
    images = torch.from_numpy(RNG.standard_normal((2, 1, 12, 12)).astype(np.float32))
    feats = gabor_features(images, bank, pool=4)
    r = gabor_responses(images, bank).numpy()
    expected = r.reshape(2, 2, 3, 4, 3, 4).mean(axis=(3, 5)).reshape(2, -1)
    np.testing.assert_allclose(feats.numpy(), expected, rtol=1e-5)


def test_gabor_orientation_selectivity():
    # vertical stripes (varying along x) excite the theta=0 filter far more than theta=pi/2
    x = np.arange(32)
    stripes = np.tile(np.cos(2 * np.pi * 0.2 * x), (32, 1)).astype(np.float32)
    r = gabor_responses(stripes, gabor_bank([0.2], [0.0, np.pi / 2], [3.0]))[0, :, 12:20, 12:20].mean((1, 2))
    assert r[0] > 5 * r[1]


def test_gabor_errors():
    with pytest.raises(ValueError, match="0.5"):
        gabor_bank([0.7], [0.0])
    with pytest.raises(ValueError, match="frequencies must hold at least one number"):
        gabor_bank([], [0.0])
    with pytest.raises(ValueError, match="sigmas must be positive"):
        gabor_bank([0.2], [0.0], [0.0])
    with pytest.raises(TypeError, match=r"frequencies\[0\] must be a real number, got str 'a'"):
        gabor_bank(["a"], [0.0])
    with pytest.raises(TypeError, match="thetas must be a Sequence or ndarray, got float"):
        gabor_bank([0.2], 0.0)
    bank = gabor_bank([0.2], [0.0], [2.0])
    with pytest.raises(ValueError, match="greyscale"):
        gabor_responses(torch.zeros(2, 3, 8, 8), bank)
    with pytest.raises(TypeError, match="GaborBank"):
        gabor_responses(torch.zeros(8, 8), [np.ones((3, 3))])
    with pytest.raises(ValueError, match="pool must be an int >= 1, got 0"):
        gabor_features(torch.zeros(1, 8, 8), bank, pool=0)
    with pytest.raises(TypeError, match="pool must be an int, got float"):
        gabor_features(torch.zeros(1, 8, 8), bank, pool=2.0)
    assert isinstance(bank, GaborBank)


# ---------------------------------------------------------------- Haar wavelet filters


def haar_weight() -> torch.Tensor:
    return torch.from_numpy(np.stack(list(haar_kernels().values())))[:, None]  # (4, 1, 2, 2)


def test_haar_kernels_by_hand():
    haar = haar_kernels()
    assert list(haar) == ["approximation", "horizontal", "vertical", "diagonal"]
    np.testing.assert_allclose(haar["approximation"], [[0.5, 0.5], [0.5, 0.5]])
    np.testing.assert_allclose(haar["horizontal"], [[0.5, 0.5], [-0.5, -0.5]])
    np.testing.assert_allclose(haar["vertical"], [[0.5, -0.5], [0.5, -0.5]])
    np.testing.assert_allclose(haar["diagonal"], [[0.5, -0.5], [-0.5, 0.5]])
    # each is an outer product of the 1-D Haar filters, rows first
    low, high = np.array([1, 1]) / np.sqrt(2), np.array([1, -1]) / np.sqrt(2)
    for name, (rows, cols) in {"approximation": (low, low), "horizontal": (high, low), "vertical": (low, high), "diagonal": (high, high)}.items():
        np.testing.assert_allclose(haar[name], np.outer(rows, cols), atol=1e-15)


def test_haar_kernels_are_an_orthonormal_basis_of_2x2_blocks():
    basis = np.stack([k.ravel() for k in haar_kernels().values()])
    np.testing.assert_allclose(basis @ basis.T, np.eye(4), atol=1e-15)
    assert np.linalg.matrix_rank(basis) == 4


def test_haar_sign_convention_follows_the_edge_kernels():
    # horizontal responds like horizontal_edge (top minus bottom), vertical like vertical_edge (left minus right)
    haar = haar_kernels()
    assert np.all(np.sign(haar["horizontal"]) == np.sign(make_kernel("horizontal_edge")[::2, :2]))
    assert np.all(np.sign(haar["vertical"]) == np.sign(make_kernel("vertical_edge")[:2, ::2]))


def test_one_level_of_the_haar_transform_by_hand_and_against_average_pooling():
    a, b, c, d = 4.0, 2.0, 1.0, 5.0
    coeffs = F.conv2d(torch.tensor([[[[a, b], [c, d]]]], dtype=torch.float64), haar_weight(), stride=2).flatten().tolist()
    np.testing.assert_allclose(coeffs, [(a + b + c + d) / 2, (a + b - c - d) / 2, (a - b + c - d) / 2, (a - b - c + d) / 2])
    x = torch.from_numpy(RNG.standard_normal((2, 1, 8, 10)))
    approx = F.conv2d(x, haar_weight(), stride=2)[:, :1]
    torch.testing.assert_close(approx, 2 * F.avg_pool2d(x, 2))


def test_one_level_reconstructs_the_image_and_keeps_its_energy():
    x = torch.from_numpy(RNG.standard_normal((3, 1, 12, 16)))
    w = haar_weight()
    coeffs = F.conv2d(x, w, stride=2)
    assert coeffs.shape == (3, 4, 6, 8)  # four half-size maps: as many numbers as the image
    torch.testing.assert_close(F.conv_transpose2d(coeffs, w, stride=2), x, atol=1e-12, rtol=0)
    torch.testing.assert_close(coeffs.pow(2).sum(), x.pow(2).sum())  # orthonormal: Parseval


def test_haar_details_vanish_on_flat_blocks_and_see_their_own_direction():
    w = haar_weight()
    flat = torch.full((1, 1, 4, 4), 3.0, dtype=torch.float64)
    assert torch.count_nonzero(F.conv2d(flat, w, stride=2)[:, 1:]) == 0
    rows = torch.tensor([1.0, 0.0] * 2, dtype=torch.float64)
    horizontal_stripes = rows[:, None].expand(4, 4)[None, None]  # brightness changes from row to row
    out = F.conv2d(horizontal_stripes, w, stride=2)[0]
    assert out[1].abs().min() > 0 and torch.count_nonzero(out[2:]) == 0
    out = F.conv2d(horizontal_stripes.transpose(-1, -2), w, stride=2)[0]
    assert out[2].abs().min() > 0 and torch.count_nonzero(out[1]) == 0 and torch.count_nonzero(out[3]) == 0
