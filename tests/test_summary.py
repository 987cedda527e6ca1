"""Tests for lessonkit.summary: counts against hand counts and torchvision's published figures."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from lessonkit.architectures import ConvNeXtBlock
from lessonkit.summary import count_mult_adds, summarize

# torchvision publishes, with each set of weights, its parameter count and its
# "GFLOPS" (weights.meta["_ops"], giga multiply-adds of one image at the
# weights' crop size), rounded to 3 decimals. The counter must reproduce them
# for every kind of layer: plain convolutions (VGG, ResNet), parallel branches
# (GoogLeNet), depthwise and squeeze-excitation layers (MobileNet, EfficientNet),
# and linear layers on channels-last 4-D tensors (ConvNeXt).
PUBLISHED_MODELS = ["resnet18", "vgg16", "googlenet", "convnext_tiny", "mobilenet_v2", "efficientnet_b0", "densenet121", "resnext50_32x4d"]
REL_TOL = 0.02  # "within a few percent"; the method reproduces them to the published rounding


def build_on_meta(name: str) -> tuple[nn.Module, dict, int]:
    weights = torchvision.models.get_model_weights(name).DEFAULT
    kwargs = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
    with torch.device("meta"):  # shapes only: nothing allocated, nothing downloaded
        model = torchvision.models.get_model(name, weights=None, **kwargs)
    return model, weights.meta, weights.transforms().crop_size[0]


def agrees_with_published(mult_adds: int, meta: dict) -> bool:
    return abs(mult_adds / 1e9 - meta["_ops"]) <= REL_TOL * meta["_ops"]


@pytest.mark.parametrize("name", PUBLISHED_MODELS)
def test_counts_match_torchvisions_published_figures(name):
    model, meta, size = build_on_meta(name)
    stats = summarize(model, (1, 3, size, size), device="meta", depth=1)
    assert stats.total_params == meta["num_params"]
    assert agrees_with_published(stats.total_mult_adds, meta), (stats.total_mult_adds / 1e9, meta["_ops"])
    assert count_mult_adds(model, (1, 3, size, size), device="meta") == stats.total_mult_adds


def test_the_published_check_rejects_torchinfos_convnext_count():
    # torchinfo counts a Linear layer as its parameter count, ignoring the H x W
    # positions it is applied to in ConvNeXt's channels-last blocks, so its total
    # is about 14 times too small: the check above must catch that.
    torchinfo = pytest.importorskip("torchinfo")
    model, meta, size = build_on_meta("convnext_tiny")
    theirs = torchinfo.summary(model, input_size=(1, 3, size, size), device="meta", verbose=0).total_mult_adds
    assert not agrees_with_published(theirs, meta)
    assert theirs < meta["_ops"] * 1e9 / 10


def test_hand_counts_for_each_layer_type():
    # one multiply-add per weight per output position; biases and element-wise work are not counted
    conv = nn.Conv2d(3, 8, 3, bias=True)
    assert count_mult_adds(conv, (2, 3, 10, 10)) == 2 * 8 * 3 * 9 * 8 * 8
    grouped = nn.Conv2d(8, 16, 3, padding=1, groups=4, stride=2)
    assert count_mult_adds(grouped, (1, 8, 12, 12)) == 16 * (8 // 4) * 9 * 6 * 6
    assert count_mult_adds(nn.Linear(20, 5), (3, 20)) == 3 * 20 * 5
    # a linear layer on a channels-last map is a 1x1 convolution: once per position
    assert count_mult_adds(nn.Linear(16, 64), (1, 7, 7, 16)) == 7 * 7 * 16 * 64
    block = ConvNeXtBlock(32)
    by_hand = 32 * 49 * 14 * 14 + 2 * (32 * 128) * 14 * 14
    assert count_mult_adds(block, (1, 32, 14, 14)) == by_hand
    pointwise = nn.Conv2d(16, 64, 1)
    assert count_mult_adds(pointwise, (1, 16, 7, 7)) == count_mult_adds(nn.Linear(16, 64), (1, 7, 7, 16))
    free = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2), nn.BatchNorm2d(4), nn.AdaptiveAvgPool2d(1))
    assert count_mult_adds(free, (1, 4, 8, 8)) == 0


def test_table_rows_add_up_to_the_totals():
    model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Sequential(nn.Conv2d(8, 4, 3, bias=False), nn.Flatten()), nn.Linear(4 * 11 * 11, 10))
    stats = summarize(model, (1, 1, 28, 28))
    params = (8 * 9 + 8) + (4 * 8 * 9) + (4 * 11 * 11 * 10 + 10)
    assert stats.total_params == params == sum(p.numel() for p in model.parameters())
    assert stats.total_mult_adds == 8 * 9 * 26 * 26 + 4 * 8 * 9 * 11 * 11 + 4 * 11 * 11 * 10
    assert sum(r.params for r in stats.rows) == stats.total_params
    assert sum(r.mult_adds for r in stats.rows) == stats.total_mult_adds
    shapes = {r.name: r.output_shape for r in stats.rows}
    assert shapes["0"] == (1, 8, 26, 26) and shapes["3.1"] == (1, 484) and shapes["4"] == (1, 10)
    # at depth 1 the nested Sequential is one row holding all it contains
    shallow = {r.name: r for r in summarize(model, (1, 1, 28, 28), depth=1).rows}
    assert "3.0" not in shallow and shallow["3"].params == 4 * 8 * 9 and not shallow["3"].expanded
    # a module's own parameters (ConvNeXt's layer scale) have a row: the root's
    rows = summarize(ConvNeXtBlock(16), (1, 16, 8, 8)).rows
    assert rows[0].params == 16 and sum(r.params for r in rows) == sum(p.numel() for p in ConvNeXtBlock(16).parameters())
    text = str(stats)
    assert f"Total mult-adds: {stats.total_mult_adds:,}" in text and "Units" not in text


def test_counting_leaves_the_model_as_it_was():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5)).train()
    model[2].eval()
    before = model[1].running_mean.clone()
    summarize(model, (2, 3, 8, 8))
    assert torch.equal(model[1].running_mean, before)  # ran in eval mode: statistics untouched
    assert [m.training for m in model.modules()] == [True, True, True, False]
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_trainable_count_respects_frozen_layers():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 2, 1))
    for p in model[0].parameters():
        p.requires_grad_(False)
    stats = summarize(model, (1, 3, 8, 8))
    assert stats.trainable_params == 4 * 2 + 2
    assert stats.total_params == 3 * 4 * 9 + 4 + 10


def test_bad_input():
    with pytest.raises(TypeError, match="model must be a Module, got str"):
        summarize("model", (1, 1, 8, 8))
    with pytest.raises(TypeError, match="model must be a Module, got function"):
        count_mult_adds(lambda x: x, (1, 1, 8, 8))
    with pytest.raises(ValueError, match="input_size"):
        summarize(nn.Conv2d(1, 1, 3), (1, 1, 0, 8))
    with pytest.raises(TypeError, match="input_size"):  # a string is not a shape
        summarize(nn.Conv2d(1, 1, 3), "1,1,8,8")
    with pytest.raises(TypeError, match="input_size"):  # a bool is not a size
        count_mult_adds(nn.Conv2d(1, 1, 3), (1, True, 8, 8))
    with pytest.raises(ValueError, match="input_size"):
        count_mult_adds(nn.Conv2d(1, 1, 3), ())
    with pytest.raises(ValueError, match="depth"):
        summarize(nn.Conv2d(1, 1, 3), (1, 1, 8, 8), depth=-1)
    with pytest.raises(TypeError, match="depth"):
        summarize(nn.Conv2d(1, 1, 3), (1, 1, 8, 8), depth=1.0)
