import matplotlib

matplotlib.use("agg")

import numpy as np
import pytest
import torch

import lessonkit as lk


def test_to_display_layouts():
    assert lk.to_display(torch.rand(1, 5, 7)).shape == (5, 7)
    assert lk.to_display(torch.rand(3, 5, 7)).shape == (5, 7, 3)
    assert lk.to_display(np.random.rand(5, 7, 3)).shape == (5, 7, 3)
    assert lk.to_display(np.random.rand(3, 5, 7)).shape == (5, 7, 3)
    # a 3x3 RGB torch image is channels-first, not ambiguous
    x = torch.arange(27.0).view(3, 3, 3) / 27
    np.testing.assert_allclose(lk.to_display(x)[..., 0], x[0].numpy())


def test_to_display_undoes_normalisation_and_clips():
    x = torch.tensor([[[-1.0, 0.0, 5.0]]])
    np.testing.assert_allclose(lk.to_display(x, mean=(0.5,), std=(0.5,)), [[0.0, 0.5, 1.0]])


def test_to_display_rejects_bad_shapes():
    with pytest.raises(ValueError, match="expected an image of shape"):
        lk.to_display(torch.rand(2, 3, 4, 5))
    with pytest.raises(ValueError, match="mean and std need 1 values"):
        lk.to_display(torch.rand(1, 4, 4), mean=(0.1, 0.2, 0.3), std=(1, 1, 1))


def test_show_images_grid_and_labels():
    fig = lk.show_images(torch.rand(10, 1, 8, 8), [str(i) for i in range(10)], ncols=4)
    axes = fig.axes
    assert len(axes) == 12  # 3 rows x 4 columns, the last two blank
    assert [a.get_title() for a in axes[:10]] == [str(i) for i in range(10)]
    assert not axes[11].images
    with pytest.raises(ValueError, match="10 images but 3 labels"):
        lk.show_images(torch.rand(10, 1, 8, 8), ["a", "b", "c"])


def test_plot_history_draws_train_and_validation():
    h = lk.History(train_loss=[1.0, 0.5], train_acc=[0.5, 0.7], val_loss=[1.1, 0.6], val_acc=[0.4, 0.6])
    fig = lk.plot_history({"cnn": h, "mlp": h})
    loss_ax, acc_ax = fig.axes
    assert len(loss_ax.lines) == 4
    np.testing.assert_allclose(acc_ax.lines[1].get_ydata(), [0.4, 0.6])


# --- the one grid layout (plot._panel_grid) behind show_images, show_kernels, show_feature_maps, frame_grid


def _hand_made_grid(nrows, ncols, figsize):
    """The layout the three grids had before they shared _panel_grid: plt.subplots, then tight_layout."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig


@pytest.mark.parametrize(
    "draw, nrows, ncols, figsize, n",
    [
        (lambda: lk.show_images(torch.rand(10, 1, 8, 8), [str(i) for i in range(10)], ncols=4), 3, 4, (1.4 * 4, 1.4 * 3 * 1.25), 10),
        (lambda: lk.show_images(torch.rand(3, 3, 8, 8), ncols=8), 1, 3, (1.4 * 3, 1.4 * 1), 3),
        (lambda: lk.show_kernels(np.ones((7, 3, 3)), ncols=3), 3, 3, (1.6 * 3, 1.6 * 3), 7),
        (lambda: lk.show_feature_maps(np.ones((5, 6, 6)), list("abcde"), ncols=2), 3, 2, (1.5 * 2, 1.5 * 3 * 1.2), 5),
    ],
)
def test_grids_keep_their_size_and_layout(draw, nrows, ncols, figsize, n):
    import matplotlib.pyplot as plt

    fig = draw()
    assert tuple(fig.get_size_inches()) == pytest.approx(figsize, abs=1e-12)
    assert len(fig.axes) == nrows * ncols
    assert sum(bool(ax.images) for ax in fig.axes) == n and all(ax.images for ax in fig.axes[:n])  # filled row by row
    assert not any(ax.axison for ax in fig.axes)
    ref = _hand_made_grid(nrows, ncols, figsize)
    for ax, ref_ax in zip(fig.axes, ref.axes):  # same panels in the same places, before tight_layout
        assert ax.get_subplotspec().get_geometry() == ref_ax.get_subplotspec().get_geometry()
    plt.close("all")


def test_frame_grid_keeps_its_size():
    from lessonkit.interactive import frame_grid

    fig = frame_grid([np.zeros((60, 80, 3), np.uint8)] * 5, list("abcde"), ncols=2, dpi=40)
    assert tuple(fig.get_size_inches()) == pytest.approx((2 * 80 / 40, 3 * (60 / 40 + 0.3)))
    assert len(fig.axes) == 6 and [ax.get_title() for ax in fig.axes[:5]] == list("abcde")
    assert fig.get_layout_engine() is not None  # constrained layout, not registered with pyplot


def test_panel_grid_rejects_bad_arguments():
    from lessonkit.plot import _panel_grid

    with pytest.raises(TypeError, match="ncols must be an int, got float"):
        _panel_grid(3, None, ncols=2.0, figsize=lambda r, c: (c, r))
    with pytest.raises(ValueError, match="no images to show"):
        _panel_grid(0, None, ncols=2, figsize=lambda r, c: (c, r))
    with pytest.raises(ValueError, match="got 3 maps but 2 titles"):
        _panel_grid(3, ["a", "b"], ncols=2, figsize=lambda r, c: (c, r), what="maps")
