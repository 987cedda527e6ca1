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
