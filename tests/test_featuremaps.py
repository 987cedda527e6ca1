"""Tests for lessonkit.featuremaps: what the figures draw, and their input checks."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from lessonkit.featuremaps import draw_convolution_step, filters_as_images, plot_matrix, show_feature_maps, show_kernels


def test_convolution_step_shows_the_partial_output():
    rng = np.random.default_rng(0)
    image, kernel = rng.standard_normal((6, 5)), rng.standard_normal((3, 3))
    fig = Figure()
    draw_convolution_step(fig, image, kernel, step=7, padding=1, annotate=False)
    ax_in, ax_k, ax_out = fig.axes
    shown = ax_out.images[0].get_array()
    # independent oracle: scipy's correlation with zero padding, first 7 positions row-major
    from scipy import ndimage

    full = ndimage.correlate(image, kernel, mode="constant")
    expected = np.full(full.shape, np.nan)
    expected.flat[:7] = full.flat[:7]
    np.testing.assert_allclose(np.ma.filled(shown, np.nan), expected)
    # the window outline sits at output position 7 -> row 1, col 1 of the padded input
    (rect,) = ax_in.patches
    assert rect.get_xy() == (0.5, 0.5) and rect.get_width() == 3


def test_convolution_step_annotated_writes_every_number():
    x, k = np.arange(9.0).reshape(3, 3), np.ones((3, 3))
    fig = Figure()
    draw_convolution_step(fig, x, k, step=1, padding=0)
    ax_in, ax_k, ax_out = fig.axes
    assert len(ax_in.texts) == 9 and len(ax_k.texts) == 9
    assert [t.get_text() for t in ax_out.texts] == ["36"]


def test_convolution_step_range():
    with pytest.raises(ValueError, match="between 1 and 9"):
        draw_convolution_step(Figure(), np.zeros((3, 3)), np.ones((3, 3)), step=10, padding=1)
    with pytest.raises(ValueError, match="between 1 and 9"):
        draw_convolution_step(Figure(), np.zeros((3, 3)), np.ones((3, 3)), step=0, padding=1)


def test_plot_matrix_text_contrast_and_highlight():
    fig, ax = plt.subplots()
    plot_matrix(ax, [[0, 10], [5, 10]], cmap="Greys", highlight=(0, 0, 1, 2))
    colours = {t.get_text(): t.get_color() for t in ax.texts}
    assert colours["0"] == "black" and colours["10"] == "white"
    assert len(ax.patches) == 1
    plt.close(fig)


def test_show_kernels_and_maps_layout_and_errors():
    fig = show_kernels(torch.randn(5, 1, 3, 3), [f"k{i}" for i in range(5)], ncols=3)
    assert len(fig.axes) == 6 and sum(bool(ax.images) for ax in fig.axes) == 5
    assert [ax.get_title() for ax in fig.axes] == ["k0", "k1", "k2", "k3", "k4", ""]
    assert not any(ax.axison for ax in fig.axes)
    lim = max(abs(v) for v in fig.axes[0].images[0].get_clim())
    assert fig.axes[0].images[0].get_clim() == (-lim, lim)  # signed weights: a scale centred at 0
    plt.close(fig)
    with pytest.raises(ValueError, match="2 kernels but 3 titles"):
        show_kernels(torch.randn(2, 3, 3), ["a", "b", "c"])
    fig = show_feature_maps(np.zeros((2, 4, 4)), cmap=["gray", "magma"], symmetric=[False, True])
    assert [ax.images[0].get_cmap().name for ax in fig.axes] == ["gray", "magma"]
    plt.close(fig)
    with pytest.raises(ValueError, match="2 maps but 1 titles"):
        show_feature_maps(np.zeros((2, 4, 4)), ["a"])
    with pytest.raises(ValueError, match="colour maps"):
        show_feature_maps(np.zeros((2, 4, 4)), cmap=["gray"])
    with pytest.raises(ValueError, match=r"\(H, W\), \(N, H, W\)"):
        show_kernels(np.zeros((2, 3, 3, 3, 3)))
    with pytest.raises(TypeError, match="real numbers"):
        show_kernels([np.zeros((3, 3), complex)])


def test_maps_straight_from_a_model_are_drawn_with_their_values():
    """Activations that still carry autograd history, in half precision (as on a GPU with
    autocast), are detached, converted and drawn on the CPU with their own values."""
    conv = torch.nn.Conv2d(1, 3, 3)
    maps = conv(torch.randn(1, 1, 6, 6))[0].half()  # (3, 4, 4), requires grad
    assert maps.requires_grad
    fig = show_feature_maps(maps)
    for ax, m in zip(fig.axes, maps.detach().float()):
        np.testing.assert_allclose(ax.images[0].get_array(), m.numpy())
    plt.close(fig)
    fig = show_kernels(conv.weight)  # a Parameter, as lesson 09 shows first-layer filters
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), conv.weight[0, 0].detach().numpy())
    plt.close(fig)


def _filters_oracle(w: np.ndarray) -> np.ndarray:
    """Independent oracle: a plain numpy loop, one filter at a time, in float64."""
    out = np.empty_like(w, dtype=np.float64)
    for i, f in enumerate(w.astype(np.float64)):
        lo, hi = f.min(), f.max()
        out[i] = 0.5 if hi == lo else (f - lo) / (hi - lo)
    return out


def test_filters_as_images_scales_each_filter_on_its_own():
    conv = torch.nn.Conv2d(3, 6, 5)  # a Parameter with autograd history, as lessons 09 and 10 pass it
    with torch.no_grad():
        conv.weight[1] *= 100.0       # one filter far larger than the others must not dim them
        conv.weight[4] = -0.3         # a constant filter: mid-grey, no division by zero
    img = filters_as_images(conv.weight)
    assert img.shape == conv.weight.shape and img.dtype == conv.weight.dtype and not img.requires_grad
    np.testing.assert_allclose(img.numpy(), _filters_oracle(conv.weight.detach().numpy()), atol=1e-6)
    # every non-constant filter spans the full [0, 1] range, the constant one is 0.5 everywhere
    for i, f in enumerate(img):
        assert (f.min().item(), f.max().item()) == ((0.5, 0.5) if i == 4 else (0.0, 1.0))
    assert torch.isfinite(img).all()
    # float64 in, float64 out, with the same values
    w64 = torch.randn(4, 3, 2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out64 = filters_as_images(w64)
    assert out64.dtype == torch.float64
    np.testing.assert_allclose(out64.numpy(), _filters_oracle(w64.numpy()), rtol=0, atol=1e-12)


def test_filters_as_images_rejects_what_is_not_a_bank_of_rgb_filters():
    with pytest.raises(TypeError, match="torch.Tensor, got ndarray"):
        filters_as_images(np.zeros((2, 3, 3, 3)))
    with pytest.raises(TypeError, match="floating-point.*int64"):
        filters_as_images(torch.zeros(2, 3, 3, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"\(N, 3, kh, kw\), got shape \(3, 3, 3\)"):
        filters_as_images(torch.zeros(3, 3, 3))
    with pytest.raises(ValueError, match=r"\(N, 3, kh, kw\).*got shape \(2, 1, 3, 3\)"):
        filters_as_images(torch.zeros(2, 1, 3, 3))
    with pytest.raises(ValueError, match=r"got shape \(0, 3, 3, 3\)"):
        filters_as_images(torch.zeros(0, 3, 3, 3))
    with pytest.raises(ValueError, match="finite"):
        filters_as_images(torch.tensor([float("nan")]).expand(1, 3, 1, 1))
