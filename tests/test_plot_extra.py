"""The lesson 04-05 figures: what they draw, and their input checks."""

import matplotlib

matplotlib.use("agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from lessonkit.plot import plot_accuracy_vs_shift, plot_confusion_matrix, plot_shift_heatmap


def test_confusion_matrix_plot_normalises_rows():
    cm = torch.tensor([[3, 1], [0, 4]])
    fig = plot_confusion_matrix(cm, ["a", "b"])
    data = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(np.asarray(data), [[0.75, 0.25], [0.0, 1.0]])
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == ["0.00", "0.25", "0.75", "1.00"]
    counts = plot_confusion_matrix(cm, ["a", "b"], normalize=False)
    assert sorted(t.get_text() for t in counts.axes[0].texts) == ["0", "1", "3", "4"]
    plt.close("all")


def test_shift_heatmap_draws_classes_by_shifts_per_model():
    probs = torch.softmax(torch.randn(5, 3), 1)
    fig = plot_shift_heatmap({"MLP": probs, "CNN": probs.flip(0)}, [-2, -1, 0, 1, 2], ["x", "y", "z"],
                             images=torch.rand(5, 1, 4, 4))
    heat = [ax for ax in fig.axes if ax.get_title() in ("MLP", "CNN")]
    assert len(heat) == 2
    np.testing.assert_allclose(np.asarray(heat[0].images[0].get_array()), probs.T.numpy(), rtol=1e-6)
    plt.close("all")


def test_accuracy_vs_shift_plot_in_percent():
    fig = plot_accuracy_vs_shift({"a": [0.5, 0.9, 0.5]}, [-1, 0, 1])
    line = fig.axes[0].lines[0]
    np.testing.assert_allclose(line.get_ydata(), [50, 90, 50])
    plt.close("all")


def test_plot_input_checks():
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix(np.zeros((2, 3)), ["a", "b"])
    with pytest.raises(ValueError, match="class names"):
        plot_confusion_matrix(np.eye(2), ["a"])
    with pytest.raises(ValueError, match="shifts, classes"):
        plot_shift_heatmap(torch.zeros(3, 2), [0, 1], ["a", "b"])
    with pytest.raises(ValueError, match="values for"):
        plot_accuracy_vs_shift({"a": [0.1]}, [0, 1])


def test_plot_augmentations_rows_columns_and_draws():
    from PIL import Image

    from lessonkit.plot import plot_augmentations

    img = Image.fromarray((np.arange(64).reshape(8, 8) * 4).astype(np.uint8))
    flip = lambda im: im.transpose(Image.FLIP_LEFT_RIGHT)  # noqa: E731
    fig = plot_augmentations(img, {"flip": flip, "same": lambda im: im}, n=3)
    axes = np.array(fig.axes).reshape(2, 4)
    np.testing.assert_array_equal(axes[0, 0].images[0].get_array(), np.asarray(img))
    np.testing.assert_array_equal(axes[0, 1].images[0].get_array(), np.asarray(img)[:, ::-1])
    np.testing.assert_array_equal(axes[1, 2].images[0].get_array(), np.asarray(img))
    assert axes[1, 0].get_ylabel() == "same"
    with pytest.raises(ValueError, match="non-empty dict"):
        plot_augmentations(img, {})
    with pytest.raises(TypeError, match="callable"):
        plot_augmentations(img, {"x": 3})
    with pytest.raises(TypeError, match="transforms must be a dict, got list"):
        plot_augmentations(img, [flip])
    with pytest.raises(TypeError, match="n must be an int, got float"):
        plot_augmentations(img, {"flip": flip}, n=2.0)
    with pytest.raises(ValueError, match="n must be an int >= 1, got 0"):
        plot_augmentations(img, {"flip": flip}, n=0)
    plt.close("all")
