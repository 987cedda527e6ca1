"""Tests for lessonkit.receptive: the calculator against gradient measurements and hand counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lessonkit.receptive import RFLayer, empirical_receptive_field, input_gradient, receptive_field

STACKS = {
    "three 3x3 convs": lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 3)),
    "conv-pool-conv": lambda: nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1)),
    "strided and dilated": lambda: nn.Sequential(nn.Conv2d(1, 3, 5, stride=2, padding=2), nn.BatchNorm2d(3), nn.ReLU(), nn.Conv2d(3, 3, 3, dilation=2, padding=2), nn.ReLU(), nn.Conv2d(3, 2, 3, dilation=4)),
    "pools with overlap": lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(3, stride=2), nn.Conv2d(2, 2, 3), nn.AvgPool2d(2), nn.Conv2d(2, 1, 1)),
    "lenet-like": lambda: nn.Sequential(nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2), nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2)),
    "vgg block x2": lambda: nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    ),
    "same padding": lambda: nn.Sequential(nn.Conv2d(1, 2, 5, padding="same"), nn.Conv2d(2, 2, 3, padding="same", dilation=3)),
}


@pytest.mark.parametrize("name", list(STACKS))
def test_calculator_matches_gradient_measurement(name):
    torch.manual_seed(0)
    model = STACKS[name]()
    last = receptive_field(model)[-1]
    (h, w), (top, left) = empirical_receptive_field(model, (1, 96, 96))
    assert (h, w) == (last.size, last.size)
    # the calculator's centre of the measured unit agrees with the measured box
    out_h = model(torch.zeros(1, 1, 96, 96)).shape[2]
    centre = last.start + (out_h // 2) * last.jump
    assert top + (h - 1) / 2 == pytest.approx(centre)
    assert left + (w - 1) / 2 == pytest.approx(centre)


def test_hand_worked_values():
    # 3x3 convs: 3, 5, 7; a 2x2/2 pool then adds 1; a 3x3 conv after it adds 2*2
    sizes = [r.size for r in receptive_field([(3, 1), (3, 1), (3, 1), (2, 2), (3, 1)])]
    assert sizes == [3, 5, 7, 8, 12]
    # dilation d turns a 3x3 kernel into a 2d+1 span: 1 + 2*1 + 2*2 + 2*4 = 15 for d = 1, 2, 4
    assert receptive_field([(3, 1, 1), (3, 1, 2), (3, 1, 4)])[-1].size == 15
    assert receptive_field([(3, 2), (3, 2), (3, 2)])[-1] == RFLayer("2:layer", 15, 8, 7.0)


def test_element_wise_layers_are_skipped_and_names_kept():
    rf = receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU(), nn.Dropout(), nn.MaxPool2d(2)))
    assert [r.name for r in rf] == ["0 Conv2d", "3 MaxPool2d"]


def test_effective_gradient_is_inside_the_structural_field():
    torch.manual_seed(0)
    model = STACKS["three 3x3 convs"]()
    structural = input_gradient(model, (1, 64, 64), probe=True)
    effective = input_gradient(model, (1, 64, 64), probe=False, n_samples=4)
    assert structural.sum() > 0 and (structural > 0).sum() == 7 * 7
    assert effective.sum() > 0
    assert torch.all(effective[structural == 0] == 0)
    # the original model is untouched by the probe
    assert not torch.all(model[0].weight == 1)


def test_errors():
    with pytest.raises(TypeError, match="cannot compute a receptive field through Linear"):
        receptive_field([nn.Conv2d(1, 1, 3), nn.Linear(3, 3)])
    with pytest.raises(ValueError, match="no layer changes"):
        receptive_field([nn.ReLU()])
    with pytest.raises(ValueError, match="stride must be >= 1|kernel, stride"):
        receptive_field([(3, 0)])
    with pytest.raises(TypeError, match="sequence of layers"):
        receptive_field(3)
    model = nn.Sequential(nn.Conv2d(1, 2, 3))
    with pytest.raises(ValueError, match="channel must be in"):
        empirical_receptive_field(model, (1, 16, 16), channel=2)
    with pytest.raises(ValueError, match="position must lie"):
        empirical_receptive_field(model, (1, 16, 16), position=(20, 0))
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        empirical_receptive_field(model, (16, 16))
    with pytest.raises(ValueError, match="feature maps"):
        empirical_receptive_field(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten()), (1, 16, 16))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(in_shape=(1, 16, 16.0)), TypeError, r"in_shape\[2\] must be an int"),
        (dict(in_shape=(0, 16, 16)), ValueError, r"in_shape\[0\] must be an int >= 1"),
        (dict(in_shape=(1, 16, 16), channel=1.0), TypeError, "channel must be an int"),
        (dict(in_shape=(1, 16, 16), channel=-1), ValueError, "channel must be an int >= 0"),
        (dict(in_shape=(1, 16, 16), probe=False, n_samples=0), ValueError, "n_samples must be an int >= 1"),
        (dict(in_shape=(1, 16, 16), position=(1, 2, 3)), ValueError, "position must be an int or a pair"),
    ],
)
def test_input_gradient_rule_type_error_for_the_type_value_error_for_the_value(kwargs, error, match):
    with pytest.raises(error, match=match):
        input_gradient(nn.Conv2d(1, 1, 3), **kwargs)
    with pytest.raises(TypeError, match="model must be a Module"):
        input_gradient("model", (1, 16, 16))
