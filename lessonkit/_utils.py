"""Argument checks shared by every lessonkit module: the one home for validation.

One rule, as in torchvision's ``transforms/v2/_utils.py``: a value of the wrong
*type* raises :class:`TypeError`; a value of the right type but outside what the
function accepts raises :class:`ValueError`. Every message names the argument,
what was expected and what was given.

Each checker returns the checked value (converted where that is the point, e.g.
:func:`check_pair`), so a function validates and normalises in one line::

    size = check_int("size", size, minimum=1)

Names used for shapes throughout the package: ``(C, H, W)`` is one image,
``(N, C, H, W)`` a batch of images.

This module is private: it is not re-exported by :mod:`lessonkit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import torch

__all__: list[str] = []  # private: nothing here is part of the public surface


def _given(value: object) -> str:
    """How an error message shows the value it rejects."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_type(name: str, value: Any, expected: type | tuple[type, ...]) -> Any:
    """Raise ``TypeError`` unless ``value`` is an instance of ``expected``.

    Examples
    --------
    >>> check_type("model", 3, torch.nn.Module)
    Traceback (most recent call last):
    ...
    TypeError: model must be a Module, got int
    """
    if not isinstance(value, expected):
        names = " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
        raise TypeError(f"{name} must be a {names}, got {type(value).__name__}")
    return value


def check_int(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer (``bool`` excluded) within ``[minimum, maximum]``.

    Examples
    --------
    >>> check_int("k", 3, minimum=1)
    3
    >>> check_int("k", 2.0)
    Traceback (most recent call last):
    ...
    TypeError: k must be an int, got float 2.0
    >>> check_int("k", 0, minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: k must be an int >= 1, got 0
    """
    if not isinstance(value, Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {_given(value)}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an int <= {maximum}, got {value}")
    return value


def check_odd(name: str, value: Any) -> int:
    """A positive odd integer, e.g. a kernel size with a centre pixel.

    Examples
    --------
    >>> check_odd("size", 5)
    5
    >>> check_odd("size", 4)
    Traceback (most recent call last):
    ...
    ValueError: size must be a positive odd int (a kernel with a centre), got 4
    """
    value = check_int(name, value, minimum=1)
    if value % 2 == 0:
        raise ValueError(f"{name} must be a positive odd int (a kernel with a centre), got {value}")
    return value


def check_number(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    strict_minimum: bool = False,
) -> float:
    """A real number (``bool`` excluded) within ``[minimum, maximum]``.

    ``strict_minimum=True`` excludes the minimum itself (e.g. a positive step size).

    Examples
    --------
    >>> check_number("lr", 0.1, minimum=0, strict_minimum=True)
    0.1
    >>> check_number("lr", "0.1")
    Traceback (most recent call last):
    ...
    TypeError: lr must be a real number, got str '0.1'
    >>> check_number("lr", 0, minimum=0, strict_minimum=True)
    Traceback (most recent call last):
    ...
    ValueError: lr must be > 0, got 0
    """
    if not isinstance(value, Real) or isinstance(value, bool):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {_given(value)}")
    value = float(value) if not isinstance(value, Integral) else value
    if value != value:  # NaN
        raise ValueError(f"{name} must be a number, got NaN")
    if minimum is not None and (value <= minimum if strict_minimum else value < minimum):
        raise ValueError(f"{name} must be {'>' if strict_minimum else '>='} {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_probability(name: str, value: Any) -> float:
    """A probability in ``[0, 1]``.

    Examples
    --------
    >>> check_probability("p", 0.5)
    0.5
    >>> check_probability("p", 1.5)
    Traceback (most recent call last):
    ...
    ValueError: p must be a probability in [0, 1], got 1.5
    """
    value = check_number(name, value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
    return float(value)


def check_pair(name: str, value: Any, *, minimum: int | None = None) -> tuple[int, int]:
    """An int or a pair of ints, returned as a pair (as ``nn.Conv2d`` reads ``kernel_size``).

    Examples
    --------
    >>> check_pair("stride", 2)
    (2, 2)
    >>> check_pair("kernel_size", (3, 5), minimum=1)
    (3, 5)
    >>> check_pair("stride", (1, 2, 3))
    Traceback (most recent call last):
    ...
    ValueError: stride must be an int or a pair of ints, got (1, 2, 3)
    """
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {_given(value)}")
        values = tuple(value)
    else:
        values = (value, value)
    for v in values:
        if not isinstance(v, Integral) or isinstance(v, bool):
            raise TypeError(f"{name} must be an int or a pair of ints, got {_given(value)}")
        if minimum is not None and v < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {_given(value)}")
    return int(values[0]), int(values[1])


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """One of ``choices``.

    Examples
    --------
    >>> check_choice("split", "test", ("train", "test"))
    'test'
    >>> check_choice("split", "val", ("train", "test"))
    Traceback (most recent call last):
    ...
    ValueError: split must be one of 'train', 'test', got 'val'
    """
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {_given(value)}")
    return value


def check_tensor(name: str, value: Any, *, ndim: int | Sequence[int] | None = None, floating: bool = False, layout: str | None = None) -> torch.Tensor:
    """A ``torch.Tensor``, optionally with a given number of dimensions and a float dtype.

    ``layout`` is the shape's name for messages, e.g. ``"(N, C, H, W)"``.

    Examples
    --------
    >>> check_tensor("x", torch.zeros(2, 3), ndim=2).shape
    torch.Size([2, 3])
    >>> check_tensor("x", [1, 2])
    Traceback (most recent call last):
    ...
    TypeError: x must be a torch.Tensor, got list
    >>> check_tensor("x", torch.zeros(3), ndim=2, layout="(H, W)")
    Traceback (most recent call last):
    ...
    ValueError: x must have shape (H, W), got shape (3,)
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.ndim not in allowed:
            what = layout or " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must have shape {what}, got shape {tuple(value.shape)}")
    if floating and not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor (convert uint8 images with .float() / 255), got dtype {value.dtype}")
    return value


def check_batch(name: str, value: Any, *, channels: int | None = None, floating: bool = True) -> torch.Tensor:
    """A batch of images: a float tensor of shape ``(N, C, H, W)``, optionally with ``C == channels``.

    Examples
    --------
    >>> check_batch("x", torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 1, 28, 28])
    >>> check_batch("x", torch.zeros(1, 28, 28))
    Traceback (most recent call last):
    ...
    ValueError: x must have shape (N, C, H, W), got shape (1, 28, 28)
    >>> check_batch("x", torch.zeros(2, 1, 28, 28), channels=3)
    Traceback (most recent call last):
    ...
    ValueError: x must have shape (N, 3, H, W), got shape (2, 1, 28, 28)
    """
    layout = "(N, C, H, W)" if channels is None else f"(N, {channels}, H, W)"
    check_tensor(name, value, ndim=4, floating=floating, layout=layout)
    if channels is not None and value.shape[1] != channels:
        raise ValueError(f"{name} must have shape {layout}, got shape {tuple(value.shape)}")
    return value


def check_image(name: str, value: Any, *, floating: bool = True) -> torch.Tensor:
    """One image: a tensor of shape ``(C, H, W)``.

    Examples
    --------
    >>> check_image("image", torch.zeros(3, 8, 8)).shape
    torch.Size([3, 8, 8])
    >>> check_image("image", torch.zeros(8, 8))
    Traceback (most recent call last):
    ...
    ValueError: image must have shape (C, H, W), got shape (8, 8)
    """
    return check_tensor(name, value, ndim=3, floating=floating, layout="(C, H, W)")


def check_shape(name: str, value: Any) -> tuple[int, int, int]:
    """An input shape ``(C, H, W)`` of positive ints, as models take it (``in_shape``).

    Examples
    --------
    >>> check_shape("in_shape", (1, 28, 28))
    (1, 28, 28)
    >>> check_shape("in_shape", (28, 28))
    Traceback (most recent call last):
    ...
    ValueError: in_shape must be a (C, H, W) triple of positive ints, got (28, 28)
    """
    if not isinstance(value, (tuple, list, torch.Size)):
        raise TypeError(f"{name} must be a (C, H, W) tuple of ints, got {type(value).__name__}")
    if len(value) != 3:
        raise ValueError(f"{name} must be a (C, H, W) triple of positive ints, got {_given(tuple(value))}")
    return tuple(check_int(f"{name}[{i}]", v, minimum=1) for i, v in enumerate(value))  # type: ignore[return-value]


def check_dataset(name: str, value: Any) -> Any:
    """A map-style dataset: anything with ``len()`` and indexing (a torch ``Dataset``, a ``Subset``, ...).

    Examples
    --------
    >>> from torch.utils.data import TensorDataset
    >>> len(check_dataset("dataset", TensorDataset(torch.zeros(3))))
    3
    >>> check_dataset("dataset", iter([1, 2]))
    Traceback (most recent call last):
    ...
    TypeError: dataset must be a dataset with a length and indexing (a torch Dataset), got list_iterator
    """
    if not hasattr(value, "__len__") or not hasattr(value, "__getitem__"):
        raise TypeError(f"{name} must be a dataset with a length and indexing (a torch Dataset), got {type(value).__name__}")
    return value
