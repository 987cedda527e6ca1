"""Batched data augmentation on the device, MixUp and CutMix.

Introduced in lesson 06 ("The augmentation gallery") and lesson 07 ("What
augmentation costs"). The usual way to augment is per sample, inside a
dataset's ``__getitem__``: one image at a time, in Python, on the CPU. The
helpers here transform a whole batch ``(N, C, H, W)`` at once, with a different
random draw per image, on whatever device the batch lives on, so they can run
inside the training loop: ``lk.fit(..., batch_transform=RandomTranslate(4))``.

Every batch transform is a callable ``(x, y) -> (x, y)``. Geometric ones and
the per-image colour jitter of lesson 11 (:class:`ColorJitter`) keep the labels; :class:`MixUp` and :class:`CutMix` turn integer labels into soft
label vectors (rows summing to 1) that :class:`torch.nn.CrossEntropyLoss`
accepts directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from numbers import Real

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ._utils import check_batch, check_choice, check_int, check_number, check_probability, check_tensor
from .data import _base_and_indices
from .shift import translate

__all__ = [
    "affine",
    "horizontal_flip",
    "RandomTranslate",
    "RandomHorizontalFlip",
    "RandomAffine",
    "adjust_colour",
    "ColorJitter",
    "Compose",
    "MixUp",
    "CutMix",
    "mixup",
    "cutmix",
    "PerSampleShift",
    "PILAugmentedDataset",
]

BatchTransform = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def _uniform(n: int, low: float, high: float, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(n, generator=generator, dtype=torch.float64) * (high - low) + low


# --------------------------------------------------------------------------
# Deterministic functionals, one per random transform, paired by name as in
# torchvision.transforms.v2: RandomTranslate <-> lessonkit.translate (shift.py),
# RandomHorizontalFlip <-> horizontal_flip, RandomAffine <-> affine.
# --------------------------------------------------------------------------


def horizontal_flip(x: torch.Tensor) -> torch.Tensor:
    """Mirror every image of a batch left-right (the functional of :class:`RandomHorizontalFlip`).

    Examples
    --------
    >>> x = torch.arange(3.).view(1, 1, 1, 3)
    >>> horizontal_flip(x)[0, 0, 0].tolist()
    [2.0, 1.0, 0.0]

    Introduced in lesson 04.
    """
    check_batch("x", x)
    return x.flip(-1)


def _per_sample(value: float | Sequence[float] | torch.Tensor, n: int, name: str) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=torch.float64)
    if t.ndim == 0:
        return t.expand(n)
    if t.shape != (n,):
        raise ValueError(f"{name} must be a number or have shape ({n},), got {tuple(t.shape)}")
    return t


def affine(
    x: torch.Tensor,
    angle: float | Sequence[float] | torch.Tensor = 0.0,
    translate: tuple[float, float] | torch.Tensor = (0.0, 0.0),
    scale: float | Sequence[float] | torch.Tensor = 1.0,
    shear: float | Sequence[float] | torch.Tensor = 0.0,
    *,
    fill: float | Sequence[float] = 0.0,
    mode: str = "bilinear",
) -> torch.Tensor:
    """Apply an affine map to each image of a batch (one map per image allowed).

    The functional of :class:`RandomAffine`. The map is
    ``translate ∘ rotate(angle) ∘ shear ∘ scale`` about the image centre.
    ``angle`` in degrees, counter-clockwise as seen on screen (like
    ``torchvision.transforms.v2.functional.rotate``; note that torchvision's
    functional ``affine`` counts its angle clockwise); ``translate`` in pixels
    ``(dx, dy)`` (right, down); ``shear`` in degrees, parallel to the x axis,
    as torchvision's ``shear[0]``.

    Parameters
    ----------
    x : torch.Tensor
        Float batch ``(N, C, H, W)``.
    angle, scale, shear : float or (N,) tensor
    translate : (dx, dy) or (N, 2) tensor, in pixels
    fill : float or sequence of C floats
        Value of the pixels that come from outside the image.
    mode : {"bilinear", "nearest"}

    Examples
    --------
    >>> x = torch.rand(2, 1, 8, 8)
    >>> torch.allclose(affine(x), x, atol=1e-6)
    True

    Introduced in lesson 06.
    """
    check_batch("x", x)
    check_choice("mode", mode, ("bilinear", "nearest"))
    n, c, h, w = x.shape
    ang = torch.deg2rad(_per_sample(angle, n, "angle"))
    sc = _per_sample(scale, n, "scale")
    if (sc <= 0).any():
        raise ValueError("scale must be positive")
    sh = torch.deg2rad(_per_sample(shear, n, "shear"))
    t = torch.as_tensor(translate, dtype=torch.float64)
    if t.shape == (2,):
        t = t.expand(n, 2)
    if t.shape != (n, 2):
        raise ValueError(f"translate must be (dx, dy) or have shape ({n}, 2), got {tuple(t.shape)}")
    # Forward map in pixel coordinates with y pointing down. A counter-clockwise
    # rotation on screen is a rotation by -angle in these coordinates.
    cos, sin = torch.cos(-ang), torch.sin(-ang)
    rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    shm = torch.zeros(n, 2, 2, dtype=torch.float64)
    shm[:, 0, 0] = 1
    shm[:, 1, 1] = 1
    shm[:, 0, 1] = torch.tan(-sh)
    fwd = rot @ shm * sc.view(n, 1, 1)
    inv = torch.linalg.inv(fwd)
    # Normalised coordinates (align_corners=False): p_pix = D p_norm, D = diag(w/2, h/2).
    d = torch.tensor([w / 2.0, h / 2.0], dtype=torch.float64)
    lin = inv * d.view(1, 1, 2) / d.view(1, 2, 1)  # D^-1 inv D
    shift = -(inv @ t.unsqueeze(-1)).squeeze(-1) / d
    theta = torch.cat([lin, shift.unsqueeze(-1)], dim=2).to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, [n, c, h, w], align_corners=False)
    fill_t = torch.as_tensor(fill, dtype=x.dtype, device=x.device)
    if fill_t.ndim > 1 or (fill_t.ndim == 1 and fill_t.shape[0] not in (1, c)):
        raise ValueError(f"fill must be a number or {c} values (one per channel), got shape {tuple(fill_t.shape)}")
    fill_t = fill_t.view(1, -1, 1, 1)
    # grid_sample pads with zeros, so sample (x - fill) and add fill back.
    out = F.grid_sample(x - fill_t, grid, mode=mode, padding_mode="zeros", align_corners=False)
    return out + fill_t


_GREY_WEIGHTS = (0.2989, 0.587, 0.114)  # ITU-R 601-2 luma, as torchvision's rgb_to_grayscale


def _value_range(value_range: tuple[float, float]) -> tuple[float, float]:
    if not isinstance(value_range, (tuple, list)) or len(value_range) != 2:
        raise TypeError(f"value_range must be a (black, white) pair of numbers, got {type(value_range).__name__} {value_range!r}")
    lo, hi = (check_number(f"value_range[{i}]", v) for i, v in enumerate(value_range))
    if not lo < hi:
        raise ValueError(f"value_range must be (black, white) with black < white, got {tuple(value_range)!r}")
    return float(lo), float(hi)


def adjust_colour(
    x: torch.Tensor,
    brightness: float | Sequence[float] | torch.Tensor = 1.0,
    contrast: float | Sequence[float] | torch.Tensor = 1.0,
    saturation: float | Sequence[float] | torch.Tensor = 1.0,
    *,
    value_range: tuple[float, float] = (0.0, 1.0),
) -> torch.Tensor:
    """Change the brightness, contrast and saturation of each image of a batch by its own factors.

    The functional of :class:`ColorJitter`. The three steps are those of
    torchvision's ``adjust_brightness``, ``adjust_contrast`` and
    ``adjust_saturation``, applied in this order to each image with its own
    factor, and clamped to ``value_range`` after each step:

    - brightness ``b``: every pixel times ``b`` (0 gives a black image);
    - contrast ``c``: blend with the image's mean grey level,
      ``c·x + (1 - c)·mean`` (0 gives a uniform grey image);
    - saturation ``s``: blend with each pixel's grey value,
      ``s·x + (1 - s)·grey`` (0 gives a greyscale image; a one-channel
      image is left unchanged).

    Grey is the weighted sum ``0.2989 R + 0.587 G + 0.114 B``, as in
    torchvision. A factor of 1 leaves the image unchanged.

    Parameters
    ----------
    x : torch.Tensor
        Float batch ``(N, C, H, W)`` with ``C`` = 1 or 3, on any device.
    brightness, contrast, saturation : float or (N,) tensor or sequence
        Non-negative factors: one for the whole batch, or one per image.
    value_range : (float, float)
        The pixel values of black and white: ``(0, 1)`` for images scaled
        to ``[0, 1]``, ``(-1, 1)`` for images normalised with mean and
        standard deviation 0.5. The arithmetic is done in ``[0, 1]`` and
        mapped back.

    Returns
    -------
    torch.Tensor
        The adjusted batch, same shape, dtype and device, within ``value_range``.

    Examples
    --------
    >>> x = torch.tensor([0.2, 0.4, 0.6]).view(1, 3, 1, 1)
    >>> adjust_colour(x, brightness=2.0).flatten().tolist()   # 0.6 · 2 is clamped to white
    [0.4000000059604645, 0.800000011920929, 1.0]
    >>> adjust_colour(x, saturation=0.0).flatten().round(decimals=4).tolist()  # grey: 0.2989·0.2 + 0.587·0.4 + 0.114·0.6
    [0.3630000054836273, 0.3630000054836273, 0.3630000054836273]
    >>> adjust_colour(x * 2 - 1, brightness=0.0, value_range=(-1, 1)).flatten().tolist()  # black is -1 here
    [-1.0, -1.0, -1.0]

    Introduced in lesson 11.
    """
    check_batch("x", x)
    n, c = x.shape[:2]
    if c not in (1, 3):
        raise ValueError(f"x must have 1 or 3 channels, got shape {tuple(x.shape)}")
    lo, hi = _value_range(value_range)
    factors = []
    for name, value in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
        if not isinstance(value, torch.Tensor):
            if isinstance(value, (str, bytes)) or not isinstance(value, (Real, Sequence)) or isinstance(value, bool):
                raise TypeError(f"{name} must be a number or one number per image, got {type(value).__name__} {value!r}")
        f = _per_sample(value, n, name)
        if not torch.isfinite(f).all() or (f < 0).any():
            raise ValueError(f"{name} must be non-negative factors, got {f.tolist() if f.numel() <= 8 else 'values below 0'}")
        factors.append(f.to(device=x.device, dtype=x.dtype).view(n, 1, 1, 1))
    b, k, s = factors
    weights = torch.tensor(_GREY_WEIGHTS, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)

    def grey(img: torch.Tensor) -> torch.Tensor:
        return img if c == 1 else (img * weights).sum(dim=1, keepdim=True)

    out = (x - lo) / (hi - lo)                                        # [lo, hi] -> [0, 1]
    out = (out * b).clamp(0, 1)                                       # brightness
    mean = grey(out).mean(dim=(1, 2, 3), keepdim=True)
    out = (k * out + (1 - k) * mean).clamp(0, 1)                      # contrast
    if c == 3:
        out = (s * out + (1 - s) * grey(out)).clamp(0, 1)             # saturation
    return out * (hi - lo) + lo


def _range(value: float | tuple[float, float], name: str, symmetric: bool) -> tuple[float, float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if symmetric:
            if value < 0:
                raise ValueError(f"{name} must be non-negative, got {value}")
            return (-float(value), float(value))
        return (float(value), float(value))
    if isinstance(value, (tuple, list)) and len(value) == 2:
        lo, hi = (check_number(f"{name}[{i}]", v) for i, v in enumerate(value))
        if lo <= hi:
            return (float(lo), float(hi))
        raise ValueError(f"{name} must be a number or a (min, max) pair with min <= max, got {value!r}")
    raise TypeError(f"{name} must be a number or a (min, max) pair, got {type(value).__name__} {value!r}")


# --------------------------------------------------------------------------
# Random batch transforms. Each draws its parameters per image and applies its
# functional; called on a batch ``x`` it returns the new batch, called on
# ``(x, y)`` it returns ``(x, y)`` (the form lk.fit(batch_transform=...) uses).
# --------------------------------------------------------------------------


class _RandomBatchTransform:
    """Shared calling convention: ``t(x) -> x`` and ``t(x, y) -> (x, y)``, labels unchanged."""

    def transform(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - overridden
        raise NotImplementedError

    def __call__(self, x: torch.Tensor, y: torch.Tensor | None = None):
        out = self.transform(x)
        return out if y is None else (out, y)


class RandomTranslate(_RandomBatchTransform):
    """Move each image of a batch by its own random whole-pixel shift (functional: :func:`lessonkit.translate`).

    Each shift is drawn uniformly from the integers ``-max_shift .. max_shift``
    (the same distribution as :class:`PerSampleShift`).

    Parameters
    ----------
    max_shift : int
        Largest shift in pixels (0 = identity).
    axis : {"x", "y", "both"}
        Shift horizontally, vertically, or both (independent draws).
    fill : float or sequence of C floats
        Value of uncovered pixels (``-mean/std`` is black for normalised data).
    generator : torch.Generator, optional
        A CPU generator, for reproducible draws.

    Call it on a float batch ``(N, C, H, W)`` on any device (returns the
    shifted batch, same shape, device and dtype), or on ``(x, y)`` as a batch
    transform of :func:`lessonkit.fit` (returns ``(shifted x, y)``).

    Examples
    --------
    >>> x = torch.arange(4.).view(1, 1, 1, 4).expand(8, 1, 1, 4)
    >>> moved = RandomTranslate(1, generator=torch.Generator().manual_seed(0))(x)
    >>> moved.shape
    torch.Size([8, 1, 1, 4])
    >>> x, y = RandomTranslate(2)(torch.zeros(4, 1, 8, 8), torch.arange(4))
    >>> y.tolist()
    [0, 1, 2, 3]

    Introduced in lesson 04.
    """

    def __init__(self, max_shift: int, axis: str = "x", fill: float | Sequence[float] = 0.0, generator: torch.Generator | None = None) -> None:
        self.max_shift = check_int("max_shift", max_shift, minimum=0)
        self.axis = check_choice("axis", axis, ("x", "y", "both"))
        self.fill, self.generator = fill, generator

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        check_batch("x", x)
        n, k = x.shape[0], self.max_shift
        zeros = torch.zeros(n, dtype=torch.long)
        dx = torch.randint(-k, k + 1, (n,), generator=self.generator) if self.axis in ("x", "both") else zeros
        dy = torch.randint(-k, k + 1, (n,), generator=self.generator) if self.axis in ("y", "both") else zeros
        return translate(x, dx, dy, fill=self.fill, mode="fill")

    def __repr__(self) -> str:
        return f"RandomTranslate(max_shift={self.max_shift}, axis={self.axis!r})"


class RandomHorizontalFlip(_RandomBatchTransform):
    """Mirror each image of a batch left-right with probability ``p``, independently (functional: :func:`horizontal_flip`).

    Called on a batch ``x`` it returns the new batch; on ``(x, y)``, ``(new x, y)``.

    Examples
    --------
    >>> x = torch.arange(3.).view(1, 1, 1, 3)
    >>> RandomHorizontalFlip(p=1.0)(x)[0, 0, 0].tolist()
    [2.0, 1.0, 0.0]
    >>> RandomHorizontalFlip(p=0.0)(x, torch.tensor([7]))[1].tolist()
    [7]

    Introduced in lesson 04.
    """

    def __init__(self, p: float = 0.5, generator: torch.Generator | None = None) -> None:
        self.p = check_probability("p", p)
        self.generator = generator

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        check_batch("x", x)
        flip = (torch.rand(x.shape[0], generator=self.generator) < self.p).to(x.device).view(-1, 1, 1, 1)
        return torch.where(flip, horizontal_flip(x), x)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class RandomAffine(_RandomBatchTransform):
    """Batched counterpart of ``torchvision.transforms.v2.RandomAffine`` (functional: :func:`affine`).

    Each image gets its own draw: angle uniform in ``degrees`` (a number ``d``
    means ``(-d, d)``), translation uniform in ``±translate[0]·W`` and
    ``±translate[1]·H`` pixels, scale uniform in ``scale``, x-shear uniform in
    ``shear`` degrees. Called on a batch ``x`` it returns the new batch; on
    ``(x, y)``, ``(new x, y)``.

    Examples
    --------
    >>> RandomAffine(degrees=15, translate=(0.1, 0.1))(torch.rand(4, 3, 16, 16)).shape
    torch.Size([4, 3, 16, 16])
    >>> x = torch.rand(2, 1, 8, 8)
    >>> torch.allclose(RandomAffine()(x), x, atol=1e-6)  # no range given: the identity
    True

    Introduced in lesson 06.
    """

    def __init__(self, degrees: float | tuple[float, float] = 0.0, translate: tuple[float, float] | None = None,
                 scale: tuple[float, float] | None = None, shear: float | tuple[float, float] | None = None,
                 fill: float | Sequence[float] = 0.0, generator: torch.Generator | None = None) -> None:
        self.degrees = _range(degrees, "degrees", symmetric=True)
        if translate is not None:
            if not isinstance(translate, (tuple, list)):
                raise TypeError(f"translate must be a pair of fractions, got {type(translate).__name__}")
            if len(translate) != 2 or not all(0.0 <= check_number("translate", v) <= 1.0 for v in translate):
                raise ValueError(f"translate must be a pair of fractions in [0, 1], got {translate!r}")
        if scale is not None and _range(scale, "scale", symmetric=False)[0] <= 0:
            raise ValueError(f"scale must be positive, got {scale!r}")
        if shear is not None:
            _range(shear, "shear", symmetric=True)
        self.kwargs = dict(degrees=degrees, translate=translate, scale=scale, shear=shear, fill=fill)
        self.generator = generator

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        check_batch("x", x)
        degrees, translate, scale, shear = (self.kwargs[k] for k in ("degrees", "translate", "scale", "shear"))
        generator = self.generator
        n, _, h, w = x.shape
        lo, hi = _range(degrees, "degrees", symmetric=True)
        ang = _uniform(n, lo, hi, generator)
        t = torch.zeros(n, 2, dtype=torch.float64)
        if translate is not None:
            t[:, 0] = _uniform(n, -translate[0] * w, translate[0] * w, generator)
            t[:, 1] = _uniform(n, -translate[1] * h, translate[1] * h, generator)
        sc = torch.ones(n, dtype=torch.float64)
        if scale is not None:
            slo, shi = _range(scale, "scale", symmetric=False)
            sc = _uniform(n, slo, shi, generator)
        sh = torch.zeros(n, dtype=torch.float64)
        if shear is not None:
            a, b = _range(shear, "shear", symmetric=True)
            sh = _uniform(n, a, b, generator)
        return affine(x, ang, t, sc, sh, fill=self.kwargs["fill"])

    def __repr__(self) -> str:
        return f"RandomAffine({', '.join(f'{k}={v!r}' for k, v in self.kwargs.items() if k != 'fill')})"


class ColorJitter(_RandomBatchTransform):
    """Random brightness, contrast and saturation, drawn per image (functional: :func:`adjust_colour`).

    The batched counterpart of ``torchvision.transforms.v2.ColorJitter``
    without hue: called on a batch tensor, torchvision's transform draws *one*
    set of factors for the whole batch; this one draws a brightness, a
    contrast and a saturation factor for each image, uniformly in its range,
    and applies them in that fixed order (torchvision shuffles the order).

    Parameters
    ----------
    brightness, contrast, saturation : float or (min, max)
        A number ``v`` means factors in ``[max(0, 1 - v), 1 + v]`` (as in
        torchvision); a pair gives the range itself. 0 (or ``(1, 1)``) leaves
        that property alone and draws nothing for it.
    value_range : (float, float)
        The pixel values of black and white: ``(0, 1)``, or ``(-1, 1)`` for
        images normalised with mean and standard deviation 0.5.
    generator : torch.Generator, optional
        A CPU generator, for reproducible draws.

    Call it on a float batch ``(N, C, H, W)`` (C = 1 or 3) on any device
    (returns the jittered batch: same shape, dtype and device, values within
    ``value_range``), or on ``(x, y)`` as a batch transform of
    :func:`lessonkit.fit` (returns ``(jittered x, y)``).

    Examples
    --------
    >>> jitter = ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, generator=torch.Generator().manual_seed(0))
    >>> x = torch.rand(1, 3, 8, 8).expand(4, 3, 8, 8)        # four copies of one image
    >>> out = jitter(x)
    >>> out.shape, bool(out.min() >= 0 and out.max() <= 1)
    (torch.Size([4, 3, 8, 8]), True)
    >>> len(set(out.mean(dim=(1, 2, 3)).tolist()))            # each copy got its own factors
    4
    >>> torch.equal(ColorJitter()(x), x)                      # no range given: the identity
    True

    Introduced in lesson 11.
    """

    def __init__(self, brightness: float | tuple[float, float] = 0.0, contrast: float | tuple[float, float] = 0.0,
                 saturation: float | tuple[float, float] = 0.0, value_range: tuple[float, float] = (0.0, 1.0),
                 generator: torch.Generator | None = None) -> None:
        self.ranges = {}
        for name, value in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = check_number(name, value, minimum=0)
                lo, hi = max(0.0, 1.0 - value), 1.0 + value
            else:
                lo, hi = _range(value, name, symmetric=False)
                if lo < 0:
                    raise ValueError(f"{name} must be a non-negative (min, max) range of factors, got {value!r}")
            self.ranges[name] = (float(lo), float(hi))
        self.value_range = _value_range(value_range)
        self.generator = generator

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        check_batch("x", x)
        if all(r == (1.0, 1.0) for r in self.ranges.values()):
            return x
        n = x.shape[0]
        factors = {name: 1.0 if r == (1.0, 1.0) else _uniform(n, *r, self.generator) for name, r in self.ranges.items()}
        return adjust_colour(x, **factors, value_range=self.value_range)

    def __repr__(self) -> str:
        return (f"ColorJitter({', '.join(f'{k}={v!r}' for k, v in self.ranges.items())}, "
                f"value_range={self.value_range!r})")


class Compose:
    """Chain batch transforms: ``Compose([RandomTranslate(2), RandomHorizontalFlip()])``.

    Like the transforms it chains, it takes a batch ``x`` (returns the new
    batch) or ``(x, y)`` (returns ``(x, y)``, for :func:`lessonkit.fit`'s
    ``batch_transform``); in the second form the chain may hold
    :class:`MixUp` and :class:`CutMix`.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> both = Compose([RandomTranslate(1, generator=g), RandomHorizontalFlip(p=1.0)])
    >>> x, y = both(torch.zeros(4, 1, 8, 8), torch.arange(4))
    >>> x.shape, y.tolist()
    (torch.Size([4, 1, 8, 8]), [0, 1, 2, 3])

    Introduced in lesson 04.
    """

    def __init__(self, transforms: Sequence[BatchTransform]) -> None:
        if isinstance(transforms, (str, bytes)) or not isinstance(transforms, Sequence):
            raise TypeError(f"transforms must be a list of transforms, got {type(transforms).__name__}")
        for t in transforms:
            if not callable(t):
                raise TypeError(f"every transform must be callable (x, y) -> (x, y), got {type(t).__name__}")
        self.transforms = list(transforms)

    def __call__(self, x: torch.Tensor, y: torch.Tensor | None = None):
        if y is None:
            for t in self.transforms:
                x = t(x)
            return x
        for t in self.transforms:
            x, y = t(x, y)
        return x, y

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


# --------------------------------------------------------------------------
# MixUp and CutMix
# --------------------------------------------------------------------------


def _soft_labels(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    if y.ndim == 1:
        if y.dtype.is_floating_point:
            raise TypeError(f"1-D labels must be integer class indices, got {y.dtype}")
        if y.numel() and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(f"labels must lie in [0, {num_classes - 1}], got values from {int(y.min())} to {int(y.max())}")
        return F.one_hot(y, num_classes).float()
    if y.ndim == 2 and y.shape[1] == num_classes and y.dtype.is_floating_point:
        return y
    raise ValueError(f"labels must be (N,) class indices or (N, {num_classes}) soft labels, got {y.dtype} {tuple(y.shape)}")


def _check_mix_args(x: torch.Tensor, y: torch.Tensor, num_classes: int, perm: torch.Tensor) -> torch.Tensor:
    check_batch("x", x)
    check_tensor("y", y, ndim=(1, 2), layout="(N,) or (N, num_classes)")
    check_tensor("perm", perm, ndim=1, layout=f"({x.shape[0]},)")
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"x has {x.shape[0]} images but y has {y.shape[0]} labels")
    if perm.shape != (x.shape[0],) or perm.dtype.is_floating_point:
        raise ValueError(f"perm must be ({x.shape[0]},) integer indices, got {perm.dtype} {tuple(perm.shape)}")
    return _soft_labels(y, num_classes).to(x.device)


def mixup(x: torch.Tensor, y: torch.Tensor, lam: float, perm: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """MixUp with a given ``lam`` and partner order: ``lam·a + (1-lam)·b``.

    Images and labels are mixed with the same weight; labels become soft.

    Examples
    --------
    >>> x = torch.stack([torch.zeros(1, 2, 2), torch.ones(1, 2, 2)])
    >>> xm, ym = mixup(x, torch.tensor([0, 1]), 0.75, torch.tensor([1, 0]), 2)
    >>> xm[0, 0, 0, 0].item(), ym[0].tolist()
    (0.25, [0.75, 0.25])

    Introduced in lesson 06.
    """
    check_probability("lam", lam)
    soft = _check_mix_args(x, y, num_classes, perm)
    perm = perm.to(x.device)
    return lam * x + (1 - lam) * x[perm], lam * soft + (1 - lam) * soft[perm]


def cutmix(x: torch.Tensor, y: torch.Tensor, box: tuple[int, int, int, int], perm: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """CutMix with a given box ``(top, left, height, width)`` and partner order.

    The box of each image is replaced by the same box of its partner; the
    labels are mixed by area: ``lam = 1 - box area / image area``.

    Examples
    --------
    >>> x = torch.stack([torch.zeros(1, 4, 4), torch.ones(1, 4, 4)])
    >>> xm, ym = cutmix(x, torch.tensor([0, 1]), (0, 0, 2, 2), torch.tensor([1, 0]), 2)
    >>> xm[0].mean().item(), ym[0].tolist()
    (0.25, [0.75, 0.25])

    Introduced in lesson 06.
    """
    soft = _check_mix_args(x, y, num_classes, perm)
    h, w = x.shape[-2:]
    top, left, bh, bw = (int(v) for v in box)
    if not (0 <= top and 0 <= left and bh >= 0 and bw >= 0 and top + bh <= h and left + bw <= w):
        raise ValueError(f"box (top, left, height, width) must lie inside the {h}x{w} image, got {box}")
    out = x.clone()
    perm = perm.to(x.device)
    out[:, :, top : top + bh, left : left + bw] = x[perm][:, :, top : top + bh, left : left + bw]
    lam = 1.0 - (bh * bw) / (h * w)
    return out, lam * soft + (1 - lam) * soft[perm]


class MixUp:
    """Batch transform: MixUp (Zhang et al., 2018) with ``lam ~ Beta(alpha, alpha)``.

    One ``lam`` per batch, partners from a random permutation of the batch.

    Examples
    --------
    >>> x, y = MixUp(num_classes=3)(torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 0]))
    >>> y.shape, torch.allclose(y.sum(1), torch.ones(4))
    (torch.Size([4, 3]), True)

    Introduced in lesson 06.
    """

    def __init__(self, alpha: float = 0.2, num_classes: int = 10, generator: torch.Generator | None = None) -> None:
        check_number("alpha", alpha, minimum=0, strict_minimum=True)
        check_int("num_classes", num_classes, minimum=2)
        self.alpha, self.num_classes, self.generator = float(alpha), num_classes, generator
        self.last_lam: float | None = None

    def _lam(self) -> float:
        # Beta(a, a) from two Gamma draws, through the (seedable) torch generator.
        a = torch.full((2,), self.alpha, dtype=torch.float64)
        g = torch._standard_gamma(a) if self.generator is None else _gamma_with(a, self.generator)
        return float(g[0] / g.sum())

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lam = self._lam()
        self.last_lam = lam
        perm = torch.randperm(x.shape[0], generator=self.generator)
        return mixup(x, y, lam, perm, self.num_classes)

    def __repr__(self) -> str:
        return f"MixUp(alpha={self.alpha}, num_classes={self.num_classes})"


def _gamma_with(a: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    # torch._standard_gamma has no generator argument: seed numpy from the generator instead.
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    return torch.from_numpy(np.random.default_rng(seed).gamma(a.numpy()))


class CutMix(MixUp):
    """Batch transform: CutMix (Yun et al., 2019), box area ``1 - lam``, ``lam ~ Beta(alpha, alpha)``.

    The box has the image's aspect ratio, a uniformly random centre, and is
    clipped at the border; the label weight uses the clipped area, so it
    matches the pixels exactly (``last_lam``).

    Examples
    --------
    >>> cut = CutMix(num_classes=3, generator=torch.Generator().manual_seed(0))
    >>> x, y = cut(torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 0]))
    >>> y.shape, torch.allclose(y.sum(1), torch.ones(4))
    (torch.Size([4, 3]), True)
    >>> torch.allclose(y.max(1).values.min(), torch.tensor(max(cut.last_lam, 1 - cut.last_lam)))
    True

    Introduced in lesson 06.
    """

    def __init__(self, alpha: float = 1.0, num_classes: int = 10, generator: torch.Generator | None = None) -> None:
        super().__init__(alpha, num_classes, generator)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_batch("x", x)
        h, w = x.shape[-2:]
        lam = self._lam()
        r = math.sqrt(1.0 - lam)
        bh, bw = int(round(h * r)), int(round(w * r))
        cy, cx = (int(v) for v in torch.randint(0, 10**9, (2,), generator=self.generator) % torch.tensor([h, w]))
        top, bottom = max(cy - bh // 2, 0), min(cy - bh // 2 + bh, h)
        left, right = max(cx - bw // 2, 0), min(cx - bw // 2 + bw, w)
        perm = torch.randperm(x.shape[0], generator=self.generator)
        out, soft = cutmix(x, y, (top, left, bottom - top, right - left), perm, self.num_classes)
        self.last_lam = 1.0 - (bottom - top) * (right - left) / (h * w)
        return out, soft

    def __repr__(self) -> str:
        return f"CutMix(alpha={self.alpha}, num_classes={self.num_classes})"


# --------------------------------------------------------------------------
# The per-sample way (for comparison) and the batched data path
# --------------------------------------------------------------------------


class PerSampleShift:
    """Per-sample random shift of one PIL image or ``(C, H, W)`` tensor.

    The classic way: called in a dataset's ``__getitem__``, once per image.
    Draws ``dx`` (and/or ``dy``) uniformly from ``-max_shift .. max_shift``,
    like :class:`RandomTranslate`, and applies it with
    ``torchvision.transforms.v2.functional.affine``.

    Examples
    --------
    >>> from PIL import Image
    >>> PerSampleShift(2)(Image.new("L", (8, 8))).size
    (8, 8)

    Introduced in lesson 07.
    """

    def __init__(self, max_shift: int, axis: str = "x", fill: float = 0, generator: torch.Generator | None = None) -> None:
        self.max_shift = check_int("max_shift", max_shift, minimum=0)
        self.axis = check_choice("axis", axis, ("x", "y", "both"))
        self.fill, self.generator = fill, generator

    def draw(self) -> tuple[int, int]:
        """One random ``(dx, dy)``."""
        k = self.max_shift
        dx = int(torch.randint(-k, k + 1, (1,), generator=self.generator)) if self.axis in ("x", "both") else 0
        dy = int(torch.randint(-k, k + 1, (1,), generator=self.generator)) if self.axis in ("y", "both") else 0
        return dx, dy

    def __call__(self, img):
        from torchvision.transforms.v2 import functional as TF

        dx, dy = self.draw()
        return TF.affine(img, angle=0.0, translate=[dx, dy], scale=1.0, shear=[0.0, 0.0], fill=self.fill)

    def __repr__(self) -> str:
        return f"PerSampleShift(max_shift={self.max_shift}, axis={self.axis!r})"


class PILAugmentedDataset(Dataset):
    """The textbook augmented dataset: PIL image → transform → tensor, in ``__getitem__``.

    Wraps a :class:`lessonkit.TensorImageDataset` (uint8 ``.images``
    ``(N, C, H, W)``, ``.targets``, ``.mean``, ``.std``), or a ``Subset`` (of a
    ``Subset`` ...) of one, as :func:`lessonkit.as_tensors` does: a subset's
    items are those of its indices, in order. Each item is converted to a PIL
    image, passed through ``transform`` (any PIL transform), then to a
    normalised float tensor.

    Examples
    --------
    >>> from lessonkit import TensorImageDataset
    >>> from torch.utils.data import Subset
    >>> images = torch.randint(0, 256, (6, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    >>> base = TensorImageDataset(images, torch.arange(6), [str(i) for i in range(6)], (0.5,), (0.25,))
    >>> part = PILAugmentedDataset(Subset(Subset(base, [5, 4, 3]), [2, 0]), PerSampleShift(0))
    >>> x, y = part[0]
    >>> len(part), y, x.shape, torch.allclose(x, (images[3] / 255 - 0.5) / 0.25, atol=1e-6)
    (2, 3, torch.Size([1, 8, 8]), True)

    Introduced in lesson 07.
    """

    def __init__(self, base, transform: Callable | None = None) -> None:
        dataset, indices = _base_and_indices(base)
        images = check_tensor("base.images", dataset.images, ndim=4, layout="(N, C, H, W)")
        if images.dtype != torch.uint8:
            raise TypeError(f"base.images must be uint8 (N, C, H, W), got dtype {images.dtype}")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable (a PIL transform) or None, got {type(transform).__name__}")
        self.base, self.transform = base, transform
        self.classes = getattr(dataset, "classes", None)
        targets = torch.as_tensor(dataset.targets)
        self.images = images if indices is None else images[indices]
        self.targets = targets if indices is None else targets[indices]
        self._mean = torch.tensor(dataset.mean).view(-1, 1, 1)
        self._std = torch.tensor(dataset.std).view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        from PIL import Image
        from torchvision.transforms.v2 import functional as TF

        arr = self.images[index].numpy()
        img = Image.fromarray(arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0))
        if self.transform is not None:
            img = self.transform(img)
        x = TF.to_dtype(TF.to_image(img), torch.float32, scale=True)
        return (x - self._mean) / self._std, int(self.targets[index])
