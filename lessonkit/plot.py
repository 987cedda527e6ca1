"""Figures used across the course: image grids and learning curves.

Introduced in lesson 00 ("Your first CNN").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .train import History

__all__ = ["to_display", "show_images", "plot_history"]


def to_display(image: torch.Tensor | np.ndarray, mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> np.ndarray:
    """Turn one image into an array that ``imshow`` understands.

    Accepts ``(H, W)``, ``(1, H, W)``, ``(3, H, W)`` (channels first, torch
    style) or ``(H, W, 3)``. Undoes a normalisation when ``mean``/``std`` are
    given and clips to [0, 1] for float images.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` or ``(H, W, 3)``.
    """
    if isinstance(image, torch.Tensor):
        x = image.detach().cpu().float().numpy()
        channels_first = x.ndim == 3  # torch images are always (C, H, W)
    else:
        x = np.asarray(image)
        channels_first = x.ndim == 3 and x.shape[0] in (1, 3) and x.shape[-1] not in (1, 3)
    if channels_first:
        x = np.moveaxis(x, 0, -1)
    if x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[-1] not in (1, 3)):
        raise ValueError(f"expected an image of shape (H, W), (C, H, W) or (H, W, C) with C in (1, 3), got {tuple(np.shape(image))}")
    if mean is not None and std is not None:
        c = x.shape[-1] if x.ndim == 3 else 1
        if len(mean) != c or len(std) != c:
            raise ValueError(f"mean and std need {c} values, got {len(mean)} and {len(std)}")
        x = x * np.asarray(std, dtype=np.float32) + np.asarray(mean, dtype=np.float32)
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    if np.issubdtype(x.dtype, np.floating):
        x = np.clip(x, 0.0, 1.0)
    return x


def show_images(
    images: Sequence | torch.Tensor,
    labels: Sequence[str] | None = None,
    *,
    ncols: int = 8,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    cmap: str = "gray",
    size: float = 1.4,
    title: str | None = None,
) -> plt.Figure:
    """A grid of images with optional labels underneath.

    Parameters
    ----------
    images : tensor ``(N, C, H, W)`` or sequence of images
        Each image as accepted by :func:`to_display`.
    labels : sequence of str, optional
        One label per image.
    mean, std : sequence of float, optional
        The normalisation to undo before display.

    Returns
    -------
    matplotlib.figure.Figure
    """
    n = len(images)
    if n == 0:
        raise ValueError("no images to show")
    if labels is not None and len(labels) != n:
        raise ValueError(f"got {n} images but {len(labels)} labels")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * (1.25 if labels is not None else 1)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = to_display(images[i], mean, std)
        ax.imshow(img, cmap=cmap if img.ndim == 2 else None)
        if labels is not None:
            ax.set_title(str(labels[i]), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_history(histories: History | dict[str, History], *, title: str | None = None) -> plt.Figure:
    """Learning curves: loss and accuracy per epoch, train (solid) vs validation (dashed).

    Parameters
    ----------
    histories : History or dict of name -> History
        Several runs are drawn in one figure, one colour each.
    """
    if isinstance(histories, History):
        histories = {"": histories}
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, (name, h) in enumerate(histories.items()):
        color = f"C{i}"
        epochs = np.arange(1, h.epochs + 1)
        prefix = f"{name} " if name else ""
        ax_loss.plot(epochs, h.train_loss, "-o", color=color, ms=3, label=f"{prefix}train")
        ax_acc.plot(epochs, h.train_acc, "-o", color=color, ms=3, label=f"{prefix}train")
        if h.val_loss:
            ax_loss.plot(epochs, h.val_loss, "--s", color=color, ms=3, label=f"{prefix}validation")
            ax_acc.plot(epochs, h.val_acc, "--s", color=color, ms=3, label=f"{prefix}validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
