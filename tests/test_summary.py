"""Tests for lessonkit.summary: torchinfo totals against counts made by hand."""

from __future__ import annotations

import pytest
from torch import nn

from lessonkit.summary import summarize


def test_totals_match_hand_counts():
    model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 4, 3, bias=False), nn.Flatten(), nn.Linear(4 * 11 * 11, 10))
    stats = summarize(model, (1, 1, 28, 28))
    params = (8 * 9 + 8) + (4 * 8 * 9) + (4 * 11 * 11 * 10 + 10)
    assert stats.total_params == params == sum(p.numel() for p in model.parameters())
    # torchinfo counts a conv's mult-adds as (weights + biases) x output positions, a linear layer's as its parameters
    mult_adds = (8 * 9 + 8) * 26 * 26 + (4 * 8 * 9) * 11 * 11 + (4 * 11 * 11 * 10 + 10)
    assert stats.total_mult_adds == mult_adds


def test_trainable_count_respects_frozen_layers():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 2, 1))
    for p in model[0].parameters():
        p.requires_grad_(False)
    stats = summarize(model, (1, 3, 8, 8))
    assert stats.trainable_params == 4 * 2 + 2
    assert stats.total_params == 3 * 4 * 9 + 4 + 10


def test_bad_input():
    with pytest.raises(TypeError, match="nn.Module"):
        summarize("model", (1, 1, 8, 8))
    with pytest.raises(ValueError, match="input_size"):
        summarize(nn.Conv2d(1, 1, 3), (1, 1, 0, 8))
    with pytest.raises(ValueError, match="input_size"):
        summarize(nn.Conv2d(1, 1, 3), "1,1,8,8")
