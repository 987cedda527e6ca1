"""Self-checks for the exercises: ``lk.check("ex-03-rf", answer)``.

Introduced in lesson 00. Every exercise of the lessons whose answer is
computable (not a training result, a timing or a figure to look at) has an
entry in a registry, in lesson order, and so has each milestone of the
homework (``hw-13-...``: its judges are in ``lessonkit/_homework_checks.py``,
and :func:`start_writeup` creates its write-up from the template). One call
tells the student at once whether an answer is right:

* it prints a one-line verdict, ``✓ ex-03-rf: correct`` or
  ``✗ ex-03-rf: not yet: <hint>``, and returns ``True`` or ``False``;
* ``answer=None`` (the placeholder in the lesson's answer cell) prints
  ``no answer yet`` with the form of answer expected, and returns ``False``;
* an answer of the wrong form (a list where a number is expected, a tensor of
  the wrong shape, a function that raises) is not an error either: the verdict
  says what form was expected and what was given, and the call returns
  ``False``. A typo in an answer cell never stops the notebook with a
  traceback from inside lessonkit;
* the expected answer is never shown: not in the verdict, not in an exception.

Only a mistake in the *call* raises: an exercise id that is not a string
(``TypeError``) or that no lesson defines (``ValueError``, naming the ids of
that lesson).

Expected answers are computed, when first needed, by lessonkit, torch and
torchvision (``lk.receptive_field``, ``lk.count_parameters``, ``lk.grad_cam``
...), never typed in. Answers that are functions are called on test inputs
of several sizes and compared with the library's result; the homework's
write-up (a Markdown file or its text) is checked for each section of its
template, written in the student's own words.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ._utils import check_type

__all__ = ["check", "start_writeup"]


class _Malformed(Exception):
    """The answer does not have the expected form (caught by :func:`check`)."""


class _Wrong(Exception):
    """The answer has the right form but is not right; the message is a hint."""


@dataclass(frozen=True)
class _Exercise:
    id: str
    form: str                        # the form of answer expected, as the verdict states it
    hint: str                        # what to look at again when the answer is wrong
    judge: Callable[[Any], bool]     # True if right; raises _Malformed or _Wrong with a message


def _describe(value: Any) -> str:
    """How a verdict shows what was given: its form, never a long value."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    if isinstance(value, nn.Module):
        return f"a {type(value).__name__} module"
    if callable(value):
        return "a function"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items"
    # the type only: a value, even the student's own, could be the expected answer
    return f"{'an' if type(value).__name__[0] in 'aeiou' else 'a'} {type(value).__name__}"


# ----------------------------------------------------------------------------
# Reading answers of each form
# ----------------------------------------------------------------------------
def _as_int(answer: Any, what: str = "an int") -> int:
    if isinstance(answer, bool) or not isinstance(answer, Real):
        raise _Malformed(f"expected {what}, got {_describe(answer)}")
    if isinstance(answer, Integral):
        return int(answer)
    if not math.isfinite(float(answer)) or not float(answer).is_integer():
        raise _Malformed(f"expected {what} (a whole number), got a {type(answer).__name__} that is not one")
    return int(answer)


def _as_number(answer: Any) -> float:
    if isinstance(answer, bool) or not isinstance(answer, Real) or not math.isfinite(float(answer)):
        raise _Malformed(f"expected a number, got {_describe(answer)}")
    return float(answer)


def _as_array(answer: Any, shape: tuple[int, ...]) -> np.ndarray:
    try:
        array = answer.detach().cpu().numpy() if isinstance(answer, torch.Tensor) else np.asarray(answer, dtype=float)
        array = array.astype(float)
    except (TypeError, ValueError):
        raise _Malformed(f"expected an array of shape {shape}, got {_describe(answer)}") from None
    if array.shape != shape:
        raise _Malformed(f"expected an array of shape {shape}, got {_describe(array)}")
    if not np.isfinite(array).all():
        raise _Malformed("expected finite numbers, got NaN or infinity")
    return array


def _call(function: Any, *args: Any) -> Any:
    """Call a student's function; its exceptions become a verdict, not a traceback."""
    if not callable(function) or isinstance(function, (nn.Module, type)):
        raise _Malformed(f"expected a function, got {_describe(function)}")
    try:
        return function(*args)
    except Exception as error:  # noqa: BLE001 - any mistake in the student's code is reported, not raised
        raise _Malformed(f"your function raised {type(error).__name__}: {error}") from None


def _same_int(given: int, expected: int) -> bool:
    if given != expected:
        raise _Wrong("")
    return True


# ----------------------------------------------------------------------------
# The exercises, in lesson order
# ----------------------------------------------------------------------------
def _simple_cnn(c1: int, c2: int) -> nn.Module:
    from .models import SimpleCNN

    return SimpleCNN(1, 10, widths=(c1, c2), head="flatten", in_size=28)


def _judge_00_count(answer: Any) -> bool:
    from .summary import count_parameters

    for c1, c2 in ((16, 32), (32, 64), (3, 5)):
        given = _as_int(_call(answer, c1, c2), f"your function to return an int for widths ({c1}, {c2})")
        if given != count_parameters(_simple_cnn(c1, c2))[1]:
            raise _Wrong(f"wrong for widths ({c1}, {c2})")
    return True


@lru_cache(maxsize=None)
def _stride_fraction() -> float:
    from .conv import conv_output_size

    n = 64  # any even side: the fraction is the same
    return conv_output_size(n, 3, 1, 2) ** 2 / conv_output_size(n, 3, 1, 1) ** 2


def _judge_01_stride(answer: Any) -> bool:
    if not math.isclose(_as_number(answer), _stride_fraction(), rel_tol=1e-9):
        raise _Wrong("")
    return True


def _judge_01_design(answer: Any) -> bool:
    from .kernels import make_kernel

    given = _as_array(answer, (3, 3))
    diag = make_kernel("diagonal_edge")
    if not given.any():
        raise _Wrong("an all-zero kernel responds to nothing")

    def cosine(a: np.ndarray, b: np.ndarray) -> float:
        return float((a * b).sum() / (np.linalg.norm(a) * np.linalg.norm(b)))

    if abs(cosine(given, diag)) > 0.999:
        raise _Wrong("that kernel responds to the same diagonal as diagonal_edge")
    if abs(cosine(given, np.fliplr(diag))) < 0.999:
        raise _Wrong("")
    return True


@lru_cache(maxsize=None)
def _bank_features() -> int:
    from .kernels import gabor_bank, gabor_features

    # lesson 02's bank (3 frequencies x 6 orientations) with the exercise's second width
    bank = gabor_bank((0.1, 0.2, 0.3), tuple(np.arange(6) * np.pi / 6), [2.5, 4.0])
    return int(gabor_features(torch.zeros(1, 1, 28, 28), bank, pool=4).shape[1])


def _judge_02_bank(answer: Any) -> bool:
    return _same_int(_as_int(answer), _bank_features())


def _rf_stack() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 1, 5), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3, dilation=2),
                         nn.Conv2d(1, 1, 3, stride=2), nn.Conv2d(1, 1, 3))


@lru_cache(maxsize=None)
def _rf_size() -> int:
    from .receptive import receptive_field

    return receptive_field(_rf_stack())[-1].size


def _judge_03_rf(answer: Any) -> bool:
    return _same_int(_as_int(answer), _rf_size())


def _judge_03_strided(answer: Any) -> bool:
    from .models import SimpleCNN
    from .summary import count_mult_adds, count_parameters

    if not isinstance(answer, nn.Module):
        raise _Malformed(f"expected an nn.Module (your strided feature extractor), got {_describe(answer)}")
    original = SimpleCNN(1, 10, widths=(32, 64), head="gap").features
    x = torch.zeros(1, 1, 28, 28)
    try:
        with torch.no_grad():
            shape = tuple(answer.eval()(x).shape)
    except Exception as error:  # noqa: BLE001
        raise _Malformed(f"your module raised {type(error).__name__} on a (1, 1, 28, 28) input: {error}") from None
    with torch.no_grad():
        wanted = tuple(original.eval()(x).shape)
    if shape != wanted:
        raise _Wrong(f"your module outputs shape {shape} for a (1, 1, 28, 28) input, not the original's")
    if any(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)) for m in answer.modules()):
        raise _Wrong("your module still pools")
    if count_parameters(answer)[1] != count_parameters(original)[1]:
        raise _Wrong("a stride changes no weights: the parameter count should stay the same")
    if count_mult_adds(answer, (1, 1, 28, 28)) >= count_mult_adds(original, (1, 1, 28, 28)):
        raise _Wrong("your module needs no fewer multiply-adds than the original")
    return True


def _judge_04_bn_swap(answer: Any) -> bool:
    from .layers import BatchNorm2d
    from .models import SimpleCNN

    torch.manual_seed(0)
    reference = SimpleCNN(1, 10, widths=(8, 16), head="flatten", in_size=28)
    fresh = SimpleCNN(1, 10, widths=(8, 16), head="flatten", in_size=28)
    fresh.load_state_dict(reference.state_dict())
    converted = _call(answer, fresh)
    if not isinstance(converted, nn.Module):
        raise _Malformed(f"expected your function to return the model (an nn.Module), got {_describe(converted)}")
    if any(isinstance(m, nn.BatchNorm2d) for m in converted.modules()):
        raise _Wrong("an nn.BatchNorm2d is left in the model")
    ours = [m for m in converted.modules() if isinstance(m, BatchNorm2d)]
    if len(ours) != sum(isinstance(m, nn.BatchNorm2d) for m in reference.modules()):
        raise _Wrong("the model should have one lk.BatchNorm2d for each nn.BatchNorm2d it had")
    x = torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        if not torch.allclose(converted.train()(x), reference.train()(x), atol=1e-4):
            raise _Wrong("the converted model computes something else than the original (check num_features, eps, momentum)")
    return True


def _judge_04_top2(answer: Any) -> bool:
    g = torch.Generator().manual_seed(4)
    for n, classes in ((50, 10), (200, 5)):
        logits = torch.randn(n, classes, generator=g)
        targets = torch.randint(0, classes, (n,), generator=g)
        expected = (logits.topk(2, dim=1).indices[:, 1] == targets).nonzero().flatten()
        given = _call(answer, logits, targets)
        if isinstance(given, torch.Tensor) and given.dtype == torch.bool:
            if given.shape != (n,):
                raise _Malformed(f"expected a boolean mask of shape ({n},) or indices, got {_describe(given)}")
            given = given.nonzero().flatten()
        try:
            indices = sorted(int(i) for i in torch.as_tensor(given).flatten().tolist())
        except (TypeError, ValueError, RuntimeError):
            raise _Malformed(f"expected the images' indices (a tensor or list of ints), got {_describe(given)}") from None
        if indices != expected.tolist():
            raise _Wrong(f"wrong on {n} random images of {classes} classes")
    return True


def _judge_06_mixup(answer: Any) -> bool:
    from .augment import mixup

    g = torch.Generator().manual_seed(6)
    for lam, classes in ((0.7, 2), (0.25, 5)):
        x = torch.rand(2, 3, 8, 8, generator=g)
        y = torch.tensor([0, classes - 1])
        mx, my = mixup(x, y, lam, torch.tensor([1, 0]), classes)
        given = _call(answer, x[0], x[1], int(y[0]), int(y[1]), lam, classes)
        if not (isinstance(given, (tuple, list)) and len(given) == 2):
            raise _Malformed(f"expected your function to return (image, label), got {_describe(given)}")
        image = _as_array(given[0], tuple(x[0].shape))
        label = _as_array(given[1], (classes,))
        if not np.allclose(image, mx[0].numpy(), atol=1e-6):
            raise _Wrong("the mixed image is wrong")
        if not np.allclose(label, my[0].numpy(), atol=1e-6):
            raise _Wrong("the mixed label is wrong")
    return True


def _judge_06_order(answer: Any) -> bool:
    from torchvision.transforms.v2 import functional as F

    g = torch.Generator().manual_seed(6)
    for size, angle in ((28, 45.0), (17, 30.0), (32, -120.0)):
        image = torch.randint(0, 256, (1, size, size), dtype=torch.uint8, generator=g)
        expected = F.invert(F.rotate(image, angle))  # rotate first (fill 0), invert after
        given = _call(answer, image.clone(), angle)
        if not isinstance(given, torch.Tensor):
            raise _Malformed(f"expected your function to return an image tensor (1, H, W), got {_describe(given)}")
        if given.shape != expected.shape:
            raise _Malformed(f"expected an image of shape {tuple(expected.shape)} for an input of that shape, "
                             f"got {_describe(given)}")
        if not torch.equal(given.detach().cpu().to(torch.float64), expected.to(torch.float64)):
            raise _Wrong(f"wrong for a {size}×{size} image rotated by {angle:g}°")
    return True


@lru_cache(maxsize=None)
def _strided_extra() -> int:
    from .conv import conv_parameter_count

    return sum(conv_parameter_count(c, c, 3) for c in (16, 32))


def _judge_08_strided(answer: Any) -> bool:
    return _same_int(_as_int(answer), _strided_extra())


@lru_cache(maxsize=None)
def _three_by_three() -> tuple[int, int]:
    from .receptive import receptive_field
    from .summary import count_parameters

    net = nn.Sequential(*(nn.Conv2d(64, 64, 3, padding=1, bias=False) for _ in range(3)))
    return count_parameters(net)[1], receptive_field(net)[-1].size


def _judge_08_kernels(answer: Any) -> bool:
    if not (isinstance(answer, (tuple, list)) and len(answer) == 2):
        raise _Malformed(f"expected a pair (weights, receptive field), got {_describe(answer)}")
    weights, rf = _as_int(answer[0]), _as_int(answer[1])
    expected_weights, expected_rf = _three_by_three()
    if weights != expected_weights:
        raise _Wrong("the number of weights is wrong")
    if rf != expected_rf:
        raise _Wrong("the receptive field is wrong")
    return True


@lru_cache(maxsize=None)
def _se_extra() -> int:
    from .architectures import SqueezeExcitation
    from .summary import count_parameters

    return sum(count_parameters(SqueezeExcitation(c, 4))[1] for c in (16, 32))


def _judge_08_se(answer: Any) -> bool:
    return _same_int(_as_int(answer), _se_extra())


_VGG_SIDES = (224, 100, 57, 33)


@lru_cache(maxsize=None)
def _vgg16_block_sides(side: int) -> tuple[int, ...]:
    """The side length after each of torchvision VGG-16's five blocks (its max-poolings), measured."""
    import torchvision

    with torch.device("meta"):
        features = torchvision.models.vgg16(weights=None).features
    sides: list[int] = []
    hooks = [m.register_forward_hook(lambda m, i, o: sides.append(o.shape[-1]))
             for m in features if isinstance(m, nn.MaxPool2d)]
    try:
        features(torch.empty(1, 3, side, side, device="meta"))
    finally:
        for hook in hooks:
            hook.remove()
    return tuple(sides)


def _judge_08_vgg_sizes(answer: Any) -> bool:
    for side in _VGG_SIDES:
        given = _call(answer, side)
        if not isinstance(given, (list, tuple)) or len(given) != 5:
            raise _Malformed(f"expected your function to return 5 side lengths (one per block), got {_describe(given)}")
        given = tuple(_as_int(g, "an int for each side length") for g in given)
        if given != _vgg16_block_sides(side):
            raise _Wrong(f"wrong side lengths for a {side}×{side} input")
    return True


def _minmax(maps: torch.Tensor) -> torch.Tensor:
    flat = maps.flatten(1)
    low, high = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    return ((flat - low) / (high - low).clamp_min(1e-12)).view_as(maps)


def _judge_09_gradcam(answer: Any) -> bool:
    from .interpret import grad_cam
    from .models import SimpleCNN

    torch.manual_seed(9)
    model = SimpleCNN(3, 10, widths=(8, 16)).eval()
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(9))
    for layer, target in (("features.1", torch.tensor([0, 3, 7])), ("features.0", torch.tensor([5, 5, 1]))):
        given = _call(answer, model, x, layer, target)
        if not isinstance(given, torch.Tensor):
            raise _Malformed(f"expected a tensor of heatmaps (N, h, w), got {_describe(given)}")
        given = given.detach().cpu().float()
        coarse = grad_cam(model, x, layer, target, upsample=False, normalize=False)
        if given.shape == coarse.shape:
            expected = coarse
        elif given.shape == x.shape[:1] + x.shape[2:]:
            expected = grad_cam(model, x, layer, target, normalize=False)
        else:
            raise _Malformed(f"expected heatmaps of shape (N, h, w) = {tuple(coarse.shape)} for a batch of "
                             f"{tuple(x.shape)} at layer {layer!r} (or upsampled to the input), got {_describe(given)}")
        if not torch.isfinite(given).all():
            raise _Wrong(f"your heatmaps at {layer!r} contain NaN or infinity")
        # min-max scaling is a matter of display: compare the maps' shapes, whatever the scale
        if not torch.allclose(_minmax(given), _minmax(expected), atol=1e-4):
            raise _Wrong(f"your heatmaps at {layer!r} differ from Grad-CAM's")
    return True


def _judge_10_counts(answer: Any) -> bool:
    from .cifar import CifarNet
    from .summary import count_mult_adds, count_parameters

    for widths, kernel_size, downsample in (((8, 16, 32), 3, "pool"), ((8, 16, 32), 1, "pool"),
                                            ((8, 16, 32), 5, "pool"), ((8, 16, 32), 3, "stride"),
                                            ((4, 6), 5, "stride"), ((12,), 1, "pool")):
        net = CifarNet(widths, kernel_size=kernel_size, downsample=downsample)
        expected = count_parameters(net)[0], count_mult_adds(net, (1, 3, 32, 32))
        given = _call(answer, widths, kernel_size, downsample)
        if not (isinstance(given, (tuple, list)) and len(given) == 2):
            raise _Malformed(f"expected your function to return a pair (parameters, multiply-adds), got {_describe(given)}")
        parameters, mult_adds = _as_int(given[0]), _as_int(given[1])
        where = f"widths {widths}, kernel {kernel_size}, downsample={downsample!r}"
        if parameters != expected[0]:
            raise _Wrong(f"the parameters are wrong for {where}")
        if mult_adds != expected[1]:
            raise _Wrong(f"the multiply-adds are wrong for {where}")
    return True


def _cats_dogs_flatten_params(side: int) -> int:
    """Lesson 11's network with Flatten instead of global average pooling, for side×side colour images."""
    from .summary import count_parameters

    layers, c_in = [], 3
    for c_out in (32, 64, 128, 128):
        layers += [nn.Conv2d(c_in, c_out, 3), nn.ReLU(), nn.MaxPool2d(2)]
        c_in = c_out
    features = nn.Sequential(*layers)
    with torch.no_grad():
        last = features(torch.zeros(1, 3, side, side)).shape[-1]
    with torch.device("meta"):  # the dense layer only needs counting, not memory
        head = nn.Sequential(nn.Flatten(), nn.Linear(c_in * last * last, 512), nn.ReLU(), nn.Linear(512, 1))
    return count_parameters(features)[1] + count_parameters(head)[1]


def _judge_11_flatten(answer: Any) -> bool:
    for side in (150, 224, 64, 101):
        given = _as_int(_call(answer, side), "your function to return an int (the number of parameters)")
        if given != _cats_dogs_flatten_params(side):
            raise _Wrong(f"wrong for {side}-pixel images")
    return True


@lru_cache(maxsize=None)
def _resnet18_from_stage4() -> int:
    from .pretrained import pretrained_model, transfer_model, unfreeze_from

    return unfreeze_from(transfer_model(pretrained_model("resnet18-standin"), 2), "stage4")


def _judge_12_unfreeze(answer: Any) -> bool:
    return _same_int(_as_int(answer), _resnet18_from_stage4())


_LESSONS: tuple[_Exercise, ...] = (
    _Exercise("ex-00-count", "a function (c1, c2) -> the model's number of parameters (int)",
              "count each layer separately: the convolutions (no biases here), the batch norms "
              "(2 numbers per channel) and the linear layer (how many inputs after two poolings, "
              "plus one bias per class?)", _judge_00_count),
    _Exercise("ex-01-stride", "a number: the fraction of the stride-1 outputs that the stride-2 convolution computes",
              "a stride of 2 keeps every second row and every second column", _judge_01_stride),
    _Exercise("ex-01-design", "a 3×3 kernel (array, list of lists or tensor)",
              "mirror diagonal_edge so that its positive and negative weights lie on either side of "
              "the other diagonal", _judge_01_design),
    _Exercise("ex-02-bank", "an int: the number of features of the 36-filter bank",
              "each filter gives one response map, pooled in 4×4 blocks of the 28×28 image", _judge_02_bank),
    _Exercise("ex-03-rf", "an int: the receptive field's side in pixels",
              "each layer adds d·(k-1)·jump, and the jump is the product of the strides before it",
              _judge_03_rf),
    _Exercise("ex-03-strided", "an nn.Module: the strided feature extractor",
              "keep the convolutions and their channels, give each one stride 2 (and padding 1), "
              "and remove the pooling", _judge_03_strided),
    _Exercise("ex-04-bn-swap", "a function model -> the same model with lk.BatchNorm2d layers",
              "walk the model's children recursively and replace each nn.BatchNorm2d, copying its "
              "num_features, eps and momentum", _judge_04_bn_swap),
    _Exercise("ex-04-top2", "a function (logits, targets) -> indices (or a boolean mask) of the images",
              "the second choice is the second of the two largest logits (logits.topk(2, dim=1))",
              _judge_04_top2),
    _Exercise("ex-06-mixup", "a function (x_a, x_b, y_a, y_b, lam, num_classes) -> (mixed image, soft label)",
              "the image is lam·x_a + (1-lam)·x_b, and the label mixes the two one-hot vectors with "
              "the same weights", _judge_06_mixup),
    _Exercise("ex-06-order", "a function (uint8 image (1, H, W), angle) -> invert(rotate(image, angle)), "
              "computed by inverting first",
              "on the image itself the two orders agree; look at the pixels the rotation brings in "
              "from outside the image, and at what the inversion would have made of them (rotate's fill=)",
              _judge_06_order),
    _Exercise("ex-08-strided", "an int: the extra parameters of the strided network",
              "each stride-2 convolution maps C channels to C with a 3×3 kernel and a bias", _judge_08_strided),
    _Exercise("ex-08-kernels", "a pair (weights, receptive field) of the three stacked 3×3 convolutions",
              "each 3×3 convolution from 64 to 64 channels (no bias) has 9·64·64 weights, and each "
              "stride-1 layer adds k-1 pixels to the field", _judge_08_kernels),
    _Exercise("ex-08-se", "an int: the parameters of the two squeeze-and-excitation layers",
              "each SE layer is two 1×1 convolutions with biases, C -> C/4 -> C", _judge_08_se),
    _Exercise("ex-08-vgg-sizes", "a function (side) -> the side lengths after VGG-16's five blocks (5 ints)",
              "a 3×3 convolution with padding 1 keeps the side; each block ends with a 2×2 max-pooling "
              "of stride 2, which halves the side and rounds an odd side down", _judge_08_vgg_sizes),
    _Exercise("ex-09-gradcam", "a function (model, x, layer, target) -> heatmaps (N, h, w)",
              "weight each feature map of the layer by the mean of the target logit's gradient over "
              "its positions, sum over channels, keep the positive part", _judge_09_gradcam),
    _Exercise("ex-10-architectures", "a function (widths, kernel_size, downsample) -> (parameters, multiply-adds) "
              "of lk.CifarNet on one 32×32 colour image",
              "each k×k convolution has k·k·C_in·C_out weights (no bias) and its batch norm 2·C_out; it computes "
              "k·k·C_in·C_out multiply-adds per output pixel, and a stride-2 convolution has a quarter of the "
              "output pixels of a stride-1 one; the linear layer has C·10 weights and 10 biases", _judge_10_counts),
    _Exercise("ex-11-flatten", "a function (side) -> the number of parameters of the Flatten network for side×side "
              "colour images",
              "only the first dense layer depends on the size: it has (128·s·s + 1)·512 parameters, where s is the "
              "side of the last feature map (each 3×3 convolution without padding takes 2 pixels off, each 2×2 "
              "pooling halves the side and rounds down); the convolutions and the last dense layer stay as they are",
              _judge_11_flatten),
    _Exercise("ex-12-unfreeze", "an int: the parameters that train after lk.unfreeze_from(net, \"stage4\") on ResNet-18 "
              "with a two-class head",
              "count stage4's two basic blocks (3×3 convolutions without bias, 2 per channel for each batch norm, "
              "and the first block's 1×1 shortcut with its batch norm), then add the new head's weights and biases",
              _judge_12_unfreeze),
)

# The homework's judges live in their own module and use the readers of answers above.
from ._homework_checks import HOMEWORK, WRITEUP_TEMPLATE  # noqa: E402

_EXERCISES = _LESSONS + HOMEWORK
_REGISTRY: dict[str, _Exercise] = {e.id: e for e in _EXERCISES}
_ID = re.compile(r"ex-(\d{2})-[\w-]+")


def check(exercise: str, answer: Any) -> bool:
    """Tell at once whether ``answer`` solves ``exercise``, without revealing the solution.

    Prints one line, ``✓ <id>: correct``, ``✗ <id>: not yet: <hint>`` or
    ``… <id>: no answer yet`` and returns whether the answer is right. A
    malformed answer (wrong type or shape, a function that raises) is
    reported in the verdict, with the form expected and the form given, and
    gives ``False``; it never raises. The expected answer appears nowhere.

    Parameters
    ----------
    exercise : str
        The exercise's label, e.g. ``"ex-03-rf"``.
    answer : object
        The student's answer, in the form the exercise asks for (a number, a
        kernel, a module or a function that the check calls on test inputs);
        ``None`` means no answer yet.

    Returns
    -------
    bool
        ``True`` if the answer is right.

    Raises
    ------
    TypeError
        If ``exercise`` is not a string.
    ValueError
        If no lesson has an exercise ``exercise`` with a self-check; the
        message names the checked exercises of that lesson.

    Examples
    --------
    >>> check("ex-01-stride", None)
    … ex-01-stride: no answer yet (expected: a number: the fraction of the stride-1 outputs that the stride-2 convolution computes)
    False
    >>> check("ex-01-stride", "a quarter")
    ✗ ex-01-stride: not yet: expected a number, got a str
    False
    >>> check("ex-01-stride", 1 / 4)
    ✓ ex-01-stride: correct
    True

    Introduced in lesson 00.
    """
    check_type("exercise", exercise, str)
    entry = _REGISTRY.get(exercise)
    if entry is None:
        match = _ID.fullmatch(exercise)
        lesson = match.group(1) if match else None
        same = [e.id for e in _EXERCISES if lesson and e.id.startswith(f"ex-{lesson}-")]
        known = ", ".join(same) if same else "none" if lesson else ", ".join(e.id for e in _EXERCISES)
        where = f"lesson {lesson}'s self-checked exercises: {known}" if lesson else f"ids look like 'ex-03-rf'; known: {known}"
        raise ValueError(f"no self-check for exercise {exercise!r} ({where})")
    if answer is None:
        print(f"… {exercise}: no answer yet (expected: {entry.form})")
        return False
    try:
        entry.judge(answer)
    except _Malformed as error:
        print(f"✗ {exercise}: not yet: {error}")
        return False
    except _Wrong as error:
        detail = f"{error}; " if str(error) else ""
        print(f"✗ {exercise}: not yet: {detail}hint: {entry.hint}")
        return False
    print(f"✓ {exercise}: correct")
    return True


def start_writeup(path: str | os.PathLike = "writeup.md") -> Path:
    """Create the homework's write-up from its template, unless the file exists; return its path.

    Introduced in lesson 13 (the homework's write-up). The template has four
    sections, *Design choices*, *Backbone comparison*, *Failure cases* and
    *Limitations*, each holding a ``TODO`` prompt to replace with your own
    text; ``lk.check("hw-13-writeup", path)`` says which section still needs
    work. An existing file is never overwritten, so the call can stay in a
    notebook that runs again; and the file appears whole or not at all (it is
    written under a temporary name, then renamed).

    Parameters
    ----------
    path : str or path-like
        The Markdown file of the write-up; its folder is created if needed.

    Returns
    -------
    pathlib.Path
        ``path``, which now exists.

    Raises
    ------
    TypeError
        If ``path`` is not a string or a path.
    ValueError
        If ``path`` is a folder.

    Examples
    --------
    >>> import tempfile
    >>> path = start_writeup(Path(tempfile.mkdtemp()) / "writeup.md")
    >>> [line for line in path.read_text().splitlines() if line.startswith("## ")]
    ['## Design choices', '## Backbone comparison', '## Failure cases', '## Limitations']
    >>> check("hw-13-writeup", path)
    ✗ hw-13-writeup: not yet: the section 'Design choices' still holds the template's TODO text: ...
    False
    """
    check_type("path", path, (str, os.PathLike))
    path = Path(path).expanduser()
    if path.is_dir():
        raise ValueError(f"path must name the write-up's Markdown file, got the folder {str(path)!r}")
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(WRITEUP_TEMPLATE)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path
