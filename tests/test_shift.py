"""Whole-pixel translation and the shift-experiment helpers, against numpy and scipy."""

import numpy as np
import pytest
import torch
from scipy.ndimage import shift as nd_shift
from torch import nn

from lessonkit.shift import accuracy_vs_shift, shift_probabilities, translate


@pytest.mark.parametrize("dx", [-5, -1, 0, 2, 4])
def test_roll_matches_numpy_roll(dx):
    x = torch.rand(2, 3, 7, 9)
    np.testing.assert_array_equal(translate(x, dx=dx, mode="roll").numpy(), np.roll(x.numpy(), dx, axis=3))


@pytest.mark.parametrize("dx,dy", [(3, 0), (-2, 1), (0, -4), (1, 1)])
def test_fill_matches_scipy_shift(dx, dy):
    x = torch.rand(1, 1, 8, 10)
    expected = nd_shift(x.numpy()[0, 0], (dy, dx), order=0, mode="constant", cval=-0.5)
    np.testing.assert_allclose(translate(x, dx=dx, dy=dy, fill=-0.5)[0, 0].numpy(), expected)


def test_per_image_shifts_and_per_channel_fill():
    x = torch.rand(3, 2, 5, 5)
    out = translate(x, dx=torch.tensor([-1, 0, 2]), fill=[10.0, 20.0])
    for i, d in enumerate([-1, 0, 2]):
        torch.testing.assert_close(out[i : i + 1], translate(x[i : i + 1], dx=d, fill=[10.0, 20.0]))
    assert (out[0, 0, :, -1] == 10).all() and (out[0, 1, :, -1] == 20).all()
    assert (out[2, 1, :, :2] == 20).all()


def test_translate_keeps_uint8_and_single_image():
    x = torch.randint(0, 255, (1, 6, 6), dtype=torch.uint8)
    out = translate(x, dx=1)
    assert out.dtype == torch.uint8 and out.shape == (1, 6, 6)
    assert (out[:, :, 0] == 0).all() and torch.equal(out[:, :, 1:], x[:, :, :-1])


def test_translate_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(C, H, W\) or \(N, C, H, W\)"):
        translate(torch.zeros(4, 4), dx=1)
    with pytest.raises(TypeError, match="whole pixels"):
        translate(torch.zeros(1, 1, 4, 4), dx=torch.tensor([0.5]))
    with pytest.raises(ValueError, match="shape \\(2,\\)"):
        translate(torch.zeros(2, 1, 4, 4), dx=[1, 2, 3])
    with pytest.raises(ValueError, match="mode"):
        translate(torch.zeros(1, 1, 4, 4), dx=1, mode="wrap")


class _ColumnModel(nn.Module):
    """Predicts class = column index of the brightest pixel (independent oracle for shifts)."""

    def __init__(self, w):
        super().__init__()
        self.w = w
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        col = x.amax(dim=(1, 2)).argmax(dim=1)
        return nn.functional.one_hot(col, self.w).float() * 20 + self.dummy


def test_shift_probabilities_follow_the_moving_pixel():
    img = torch.zeros(1, 5, 8)
    img[0, 2, 3] = 1.0
    shifts = [-3, -1, 0, 2, 4]
    probs = shift_probabilities(_ColumnModel(8), img, shifts)
    assert probs.shape == (5, 8)
    torch.testing.assert_close(probs.sum(1), torch.ones(5))
    assert probs.argmax(1).tolist() == [3 + s for s in shifts]
    # vertical shifts leave the column unchanged
    assert shift_probabilities(_ColumnModel(8), img, [-2, 2], axis="y").argmax(1).tolist() == [3, 3]


def test_accuracy_vs_shift_counts_correct_predictions():
    x = torch.zeros(6, 1, 4, 6)
    cols = torch.tensor([0, 1, 2, 3, 4, 5])
    x[torch.arange(6), 0, 1, cols] = 1.0
    accs = accuracy_vs_shift(_ColumnModel(6), x, cols, [0, 1, -2], batch_size=4)
    # shift 0: all correct. Shift +1: every dot moves one column (wrong), the dot in
    # column 5 leaves the image (blank -> argmax 0, wrong). Shift -2: the dots in
    # columns 0 and 1 leave; the blank image predicts 0, right for the one of class 0.
    assert accs == [1.0, 0.0, pytest.approx(1 / 6)]
    model = _ColumnModel(6)
    model.train()
    accuracy_vs_shift(model, x, cols, [0])
    assert model.training  # the mode is restored


def test_shift_helpers_reject_bad_input():
    m = _ColumnModel(4)
    with pytest.raises(ValueError, match="image must have shape \\(C, H, W\\)"):
        shift_probabilities(m, torch.zeros(1, 1, 4, 4), [0])
    with pytest.raises(TypeError, match="must be an int"):
        shift_probabilities(m, torch.zeros(1, 4, 4), [0.5])
    with pytest.raises(ValueError, match="at least one shift"):
        shift_probabilities(m, torch.zeros(1, 4, 4), [])
    with pytest.raises(ValueError, match="axis"):
        shift_probabilities(m, torch.zeros(1, 4, 4), [0], axis="z")
    with pytest.raises(TypeError, match="images must be a torch.Tensor"):
        accuracy_vs_shift(m, [[0.0]], torch.zeros(1, dtype=torch.long), [0])
    with pytest.raises(TypeError, match="batch_size"):
        accuracy_vs_shift(m, torch.zeros(3, 1, 4, 4), torch.zeros(3, dtype=torch.long), [0], batch_size=2.0)
    with pytest.raises(ValueError, match="batch_size"):
        accuracy_vs_shift(m, torch.zeros(3, 1, 4, 4), torch.zeros(3, dtype=torch.long), [0], batch_size=0)
    with pytest.raises(ValueError, match="targets must have shape"):
        accuracy_vs_shift(m, torch.zeros(3, 1, 4, 4), torch.zeros(2, dtype=torch.long), [0])


class _ColumnModelWithFrozenNorm(_ColumnModel):
    """The oracle model with a batch norm kept in eval mode while the model trains (lesson 12's frozen layers)."""

    def __init__(self, w):
        super().__init__(w)
        self.norm = nn.BatchNorm1d(w).eval()


@pytest.mark.parametrize("fn", ["accuracy_vs_shift", "shift_probabilities"])
def test_shift_helpers_restore_each_submodules_mode(fn):
    # model.train(was_training) afterwards would also switch the frozen norm to training (issue 16).
    model = _ColumnModelWithFrozenNorm(6)
    model.train()
    model.norm.eval()
    x = torch.zeros(2, 1, 4, 6)
    if fn == "accuracy_vs_shift":
        accuracy_vs_shift(model, x, torch.zeros(2, dtype=torch.long), [0, 1])
    else:
        shift_probabilities(model, x[0], [0, 1])
    assert model.training and not model.norm.training


def test_shift_helpers_work_for_a_model_without_parameters():
    class Brightest(nn.Module):
        def forward(self, x):
            return x.amax(dim=(1, 2))

    x = torch.zeros(2, 1, 3, 4)
    x[0, 0, 1, 2] = 1.0
    x[1, 0, 0, 0] = 1.0
    assert accuracy_vs_shift(Brightest(), x, torch.tensor([2, 0]), [0, 1]) == [1.0, 0.0]
    assert shift_probabilities(Brightest(), x[0], [1]).argmax(1).tolist() == [3]
