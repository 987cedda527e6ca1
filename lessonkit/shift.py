"""Shifting images by whole pixels, and measuring how a model reacts to it.

Introduced in lesson 05 ("Shift robustness"). A classifier should call a
trouser a trouser whether it sits in the middle of the picture or three pixels
to the left. These helpers move images by whole pixels (:func:`translate`),
record a model's class probabilities as one image moves
(:func:`shift_probabilities`) and its accuracy on a whole test set moved by
each amount (:func:`accuracy_vs_shift`). :func:`translate` is the functional
of the batched augmentation :class:`lessonkit.RandomTranslate`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from ._utils import check_batch, check_choice, check_image, check_int, check_tensor
from .train import _model_device, eval_mode

__all__ = ["translate", "shift_probabilities", "accuracy_vs_shift"]

_MODES = ("fill", "roll")


def _as_shift_tensor(value: int | Sequence[int] | torch.Tensor, n: int, name: str, device: torch.device) -> torch.Tensor:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int or a sequence/tensor of ints, got bool")
    if isinstance(value, int):
        return torch.full((n,), value, dtype=torch.long, device=device)
    t = torch.as_tensor(value)
    if t.dtype.is_floating_point or t.dtype == torch.bool:
        raise TypeError(f"{name} must hold integers (whole pixels), got dtype {t.dtype}")
    if t.ndim != 1 or t.shape[0] != n:
        raise ValueError(f"{name} must be an int or have shape ({n},), got shape {tuple(t.shape)}")
    return t.to(device=device, dtype=torch.long)


def translate(
    images: torch.Tensor,
    dx: int | Sequence[int] | torch.Tensor = 0,
    dy: int | Sequence[int] | torch.Tensor = 0,
    *,
    fill: float | Sequence[float] = 0.0,
    mode: str = "fill",
) -> torch.Tensor:
    """Move images by whole pixels: right by ``dx``, down by ``dy``.

    Parameters
    ----------
    images : torch.Tensor
        ``(C, H, W)`` or ``(N, C, H, W)``, any dtype, on any device.
    dx, dy : int, or sequence/tensor of N ints
        One shift for all images or one per image. Negative moves left / up.
    fill : float or sequence of C floats
        Value of the pixels uncovered by the shift (``mode="fill"``). For
        normalised images pass the normalised value of black,
        ``-mean / std``.
    mode : {"fill", "roll"}
        ``"fill"`` pads with ``fill``; ``"roll"`` wraps around like
        :func:`numpy.roll` (the seed lecture's experiment).

    Returns
    -------
    torch.Tensor
        Same shape, dtype and device as ``images``.

    Examples
    --------
    >>> x = torch.arange(4.).view(1, 1, 1, 4)
    >>> translate(x, dx=1)[0, 0, 0].tolist()
    [0.0, 0.0, 1.0, 2.0]
    >>> translate(x, dx=-1, mode="roll")[0, 0, 0].tolist()
    [1.0, 2.0, 3.0, 0.0]

    Introduced in lesson 05.
    """
    check_tensor("images", images, ndim=(3, 4), layout="(C, H, W) or (N, C, H, W)")
    check_choice("mode", mode, _MODES)
    single = images.ndim == 3
    x = images.unsqueeze(0) if single else images
    n, c, h, w = x.shape
    dxs = _as_shift_tensor(dx, n, "dx", x.device)
    dys = _as_shift_tensor(dy, n, "dy", x.device)
    rows = torch.arange(h, device=x.device).view(1, h) - dys.view(n, 1)  # source row of each output row
    cols = torch.arange(w, device=x.device).view(1, w) - dxs.view(n, 1)  # source column of each output column
    if mode == "roll":
        rows, cols = rows % h, cols % w
    # Two gathers with broadcast (expanded, not copied) index tensors: no per-pixel Python work.
    out = x.gather(2, rows.clamp(0, h - 1).view(n, 1, h, 1).expand(n, c, h, w))
    out = out.gather(3, cols.clamp(0, w - 1).view(n, 1, 1, w).expand(n, c, h, w))
    if mode == "fill":
        fill_t = torch.as_tensor(fill, dtype=x.dtype if x.dtype.is_floating_point else torch.float32, device=x.device)
        if fill_t.ndim > 1 or (fill_t.ndim == 1 and fill_t.shape[0] not in (1, c)):
            raise ValueError(f"fill must be a number or {c} values (one per channel), got shape {tuple(fill_t.shape)}")
        valid = ((rows >= 0) & (rows < h)).view(n, 1, h, 1) & ((cols >= 0) & (cols < w)).view(n, 1, 1, w)
        out = torch.where(valid, out, fill_t.view(1, -1, 1, 1).to(out.dtype))
    return out[0] if single else out


def _shift_list(shifts: Sequence[int]) -> list[int]:
    """``shifts`` as a non-empty list of ints (pixels)."""
    if isinstance(shifts, (str, bytes)) or not isinstance(shifts, Iterable):
        raise TypeError(f"shifts must be a sequence of ints (pixels), got {type(shifts).__name__}")
    shifts = list(shifts)
    if not shifts:
        raise ValueError("shifts must name at least one shift, got an empty sequence")
    return [check_int(f"shifts[{i}]", s) for i, s in enumerate(shifts)]


@torch.no_grad()
def shift_probabilities(
    model: nn.Module,
    image: torch.Tensor,
    shifts: Sequence[int],
    *,
    axis: str = "x",
    fill: float | Sequence[float] = 0.0,
    mode: str = "fill",
) -> torch.Tensor:
    """Softmax class probabilities of one image moved by each of ``shifts``.

    Parameters
    ----------
    model : nn.Module
        Put in eval mode for the call (each submodule's mode is restored
        afterwards, see :func:`lessonkit.eval_mode`).
    image : torch.Tensor
        One ``(C, H, W)`` image, prepared as the model expects (normalised),
        on any device: it is moved to the model's.
    shifts : sequence of int
        Pixel shifts; positive moves right (``axis="x"``) or down (``"y"``).
    axis : {"x", "y"}
    fill, mode
        As in :func:`translate`.

    Returns
    -------
    torch.Tensor
        ``(len(shifts), num_classes)`` on the CPU; each row sums to 1.

    Examples
    --------
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    >>> shift_probabilities(model, torch.zeros(1, 2, 2), [-1, 0, 1]).shape
    torch.Size([3, 3])

    Introduced in lesson 05.
    """
    check_image("image", image)
    check_choice("axis", axis, ("x", "y"))
    shifts = _shift_list(shifts)
    dev = _model_device(model)
    batch = image.unsqueeze(0).expand(len(shifts), *image.shape).to(dev)
    s = torch.tensor(shifts)
    moved = translate(batch, dx=s if axis == "x" else 0, dy=s if axis == "y" else 0, fill=fill, mode=mode)
    with eval_mode(model):
        probs = model(moved).softmax(dim=1)
    return probs.cpu()


@torch.no_grad()
def accuracy_vs_shift(
    model: nn.Module,
    images: torch.Tensor,
    targets: torch.Tensor,
    shifts: Sequence[int],
    *,
    axis: str = "x",
    fill: float | Sequence[float] = 0.0,
    mode: str = "fill",
    batch_size: int = 1000,
) -> list[float]:
    """Top-1 accuracy on a whole set of images moved by each of ``shifts``.

    Parameters
    ----------
    model : nn.Module
        Run in eval mode, on its own device (each submodule's mode is
        restored afterwards).
    images : torch.Tensor
        ``(N, C, H, W)`` float images, prepared as the model expects, on any
        device: each batch is moved to the model's.
    targets : torch.Tensor
        ``(N,)`` integer labels, on any device.
    shifts : sequence of int
    axis, fill, mode
        As in :func:`shift_probabilities`.
    batch_size : int

    Returns
    -------
    list of float
        One accuracy in [0, 1] per shift.

    Examples
    --------
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> len(accuracy_vs_shift(model, torch.zeros(5, 1, 2, 2), torch.zeros(5, dtype=torch.long), [0, 1]))
    2

    Introduced in lesson 05.
    """
    check_batch("images", images)
    check_tensor("targets", targets, ndim=1, layout=f"({images.shape[0]},)")
    if targets.shape != (images.shape[0],):
        raise ValueError(f"targets must have shape ({images.shape[0]},), got shape {tuple(targets.shape)}")
    if targets.dtype.is_floating_point:
        raise TypeError(f"targets must be integer class indices, got dtype {targets.dtype}")
    check_choice("axis", axis, ("x", "y"))
    check_int("batch_size", batch_size, minimum=1)
    shifts = _shift_list(shifts)
    dev = _model_device(model)
    targets = targets.to(dev)
    accs = []
    with eval_mode(model):
        for s in shifts:
            correct = 0
            for i in range(0, len(images), batch_size):
                xb = images[i : i + batch_size].to(dev)
                xb = translate(xb, dx=s if axis == "x" else 0, dy=s if axis == "y" else 0, fill=fill, mode=mode)
                correct += (model(xb).argmax(1) == targets[i : i + batch_size]).sum().item()
            accs.append(correct / len(images))
    return accs
