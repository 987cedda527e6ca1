"""Figures used across the course: image grids and learning curves.

Introduced in lesson 00 ("Your first CNN").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._utils import check_int, check_type
from .train import History

__all__ = ["to_display", "show_images", "plot_history", "plot_confusion_matrix", "plot_shift_heatmap", "plot_accuracy_vs_shift", "plot_augmentations"]


def _panel_grid(
    n: int,
    titles: Sequence | None,
    *,
    ncols: int,
    figsize: Callable[[int, int], tuple[float, float]],
    what: str = "images",
    titles_name: str = "titles",
    fontsize: float = 8,
    new_figure: Callable[[tuple[float, float]], Figure] | None = None,
) -> tuple[Figure, list[Axes]]:
    """The one layout of a grid of panels: ``n`` panels in rows of at most ``ncols``.

    Every axes is switched off and panel ``i`` gets ``titles[i]``. Used by
    :func:`show_images`, :func:`lessonkit.show_kernels`,
    :func:`lessonkit.show_feature_maps` and :func:`lessonkit.interactive.frame_grid`.

    Parameters
    ----------
    n : int
        Number of panels (>= 1).
    titles : sequence, optional
        One title per panel.
    ncols : int
        Panels per row (fewer when ``n`` is smaller).
    figsize : callable
        ``figsize(nrows, ncols)`` -> ``(width, height)`` in inches.
    what, titles_name : str
        How error messages name the panels and the titles.
    fontsize : float
        Of the titles.
    new_figure : callable, optional
        ``new_figure(figsize)`` -> an empty figure; default ``plt.figure``.

    Returns
    -------
    (Figure, list of Axes)
        The figure and its first ``n`` axes, row by row.

    Examples
    --------
    >>> fig, axes = _panel_grid(5, None, ncols=3, figsize=lambda rows, cols: (cols, rows))
    >>> len(axes), len(fig.axes), fig.get_size_inches().tolist()
    (5, 6, [3.0, 2.0])
    >>> plt.close(fig)
    """
    check_int("ncols", ncols, minimum=1)
    if n == 0:
        raise ValueError(f"no {what} to show: need at least one")
    if titles is not None and len(titles) != n:
        raise ValueError(f"got {n} {what} but {len(titles)} {titles_name}")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    size = figsize(nrows, ncols)
    fig = plt.figure(figsize=size) if new_figure is None else new_figure(size)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    used = list(axes.flat)[:n]
    for ax, t in zip(used, titles if titles is not None else ()):
        ax.set_title(str(t), fontsize=fontsize)
    return fig, used


def to_display(image: torch.Tensor | np.ndarray, mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> np.ndarray:
    """Turn one image into an array that ``imshow`` understands.

    Accepts ``(H, W)``, ``(1, H, W)``, ``(3, H, W)`` (channels first, torch
    style) or ``(H, W, 3)``. Undoes a normalisation when ``mean``/``std`` are
    given and clips to [0, 1] for float images.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` or ``(H, W, 3)``.

    Examples
    --------
    >>> to_display(torch.zeros(3, 4, 5)).shape  # channels last for imshow
    (4, 5, 3)
    >>> to_display(torch.tensor([[[-1.0, 1.0]]]), mean=(0.5,), std=(0.5,))  # normalisation undone
    array([[0., 1.]], dtype=float32)

    Introduced in lesson 00.
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

    Examples
    --------
    >>> fig = show_images(torch.rand(5, 1, 8, 8), ["a", "b", "c", "d", "e"], ncols=3)
    >>> len(fig.axes), fig.axes[4].get_title()  # two rows of three, the last panel blank
    (6, 'e')
    >>> plt.close(fig)

    Introduced in lesson 00.
    """
    n = len(images)
    fig, axes = _panel_grid(
        n, labels, ncols=ncols, figsize=lambda nrows, ncols: (size * ncols, size * nrows * (1.25 if labels is not None else 1)), titles_name="labels"
    )
    for i, ax in enumerate(axes):
        img = to_display(images[i], mean, std)
        ax.imshow(img, cmap=cmap if img.ndim == 2 else None)
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

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> h = History(train_loss=[1.0, 0.5], train_acc=[0.6, 0.8], val_loss=[1.1, 0.7], val_acc=[0.5, 0.7])
    >>> fig = plot_history({"cnn": h})
    >>> [ax.get_title() for ax in fig.axes], len(fig.axes[0].lines)  # train and validation curves
    (['Loss', 'Accuracy'], 2)
    >>> plt.close(fig)

    Introduced in lesson 00.
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


# --------------------------------------------------------------------------
# Lessons 04-05: confusion matrix, probabilities over shifts, accuracy vs shift
# --------------------------------------------------------------------------


def plot_confusion_matrix(cm: torch.Tensor | np.ndarray, classes: Sequence[str], *, normalize: bool = True, title: str | None = None) -> plt.Figure:
    """A confusion matrix as a heatmap, rows = true class, columns = predicted.

    Parameters
    ----------
    cm : (C, C) tensor or array of counts (from :func:`lessonkit.confusion_matrix`)
    classes : sequence of C class names
    normalize : bool
        Show each row as fractions of that true class (the diagonal is then
        the per-class accuracy); otherwise show the counts.

    Examples
    --------
    >>> fig = plot_confusion_matrix(np.array([[3, 1], [0, 4]]), ["cat", "dog"])
    >>> [t.get_text() for t in fig.axes[0].texts]  # row fractions: the diagonal is per-class accuracy
    ['0.75', '0.25', '0.00', '1.00']
    >>> plt.close(fig)

    Introduced in lesson 04.
    """
    m = cm.detach().cpu().numpy() if isinstance(cm, torch.Tensor) else np.asarray(cm)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"cm must be a square (C, C) matrix, got shape {m.shape}")
    if len(classes) != m.shape[0]:
        raise ValueError(f"cm has {m.shape[0]} classes but {len(classes)} class names were given")
    if normalize:
        rows = m.sum(axis=1, keepdims=True)
        shown = np.divide(m, rows, out=np.zeros(m.shape, dtype=float), where=rows > 0)
    else:
        shown = m
    c = m.shape[0]
    fig, ax = plt.subplots(figsize=(0.55 * c + 2.5, 0.55 * c + 1.8))
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class" if normalize else "count")
    top = shown.max() if shown.size else 0
    for i in range(c):
        for j in range(c):
            text = f"{shown[i, j]:.2f}" if normalize else f"{int(shown[i, j])}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if shown[i, j] > 0.6 * top else "black")
    ax.set_xticks(range(c), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(c), classes, fontsize=8)
    ax.set(xlabel="predicted class", ylabel="true class")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_shift_heatmap(
    probs: torch.Tensor | np.ndarray | dict,
    shifts: Sequence[int],
    classes: Sequence[str],
    *,
    images: torch.Tensor | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> plt.Figure:
    """Class probabilities of one image at each shift, as heatmaps side by side.

    Parameters
    ----------
    probs : (S, C) tensor/array, or dict name -> (S, C)
        From :func:`lessonkit.shift_probabilities`, one panel per model.
    shifts : sequence of S ints
        Row labels (pixels; negative = left).
    classes : sequence of C class names
    images : (S, C, H, W) tensor, optional
        The shifted images, drawn as a strip above the heatmaps.
    mean, std : optional
        Normalisation to undo when drawing ``images``.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> probs = {"MLP": np.full((3, 2), 0.5), "CNN": np.eye(3, 2)}
    >>> fig = plot_shift_heatmap(probs, [-1, 0, 1], ["zero", "one"], images=torch.rand(3, 1, 8, 8))
    >>> [ax.get_title() for ax in fig.axes]  # the strip of shifted images, then one panel per model
    ['shifted images (pixels)', 'MLP', 'CNN']
    >>> plt.close(fig)

    Introduced in lesson 05.
    """
    panels = probs if isinstance(probs, dict) else {"": probs}
    if not panels:
        raise ValueError("probs must hold at least one (S, C) matrix")
    mats = {}
    for name, p in panels.items():
        a = p.detach().cpu().numpy() if isinstance(p, torch.Tensor) else np.asarray(p)
        if a.ndim != 2 or a.shape != (len(shifts), len(classes)):
            raise ValueError(f"probs[{name!r}] must have shape ({len(shifts)}, {len(classes)}) = (shifts, classes), got {a.shape}")
        mats[name] = a
    k = len(mats)
    s = len(shifts)
    has_strip = images is not None
    if has_strip and len(images) != s:
        raise ValueError(f"got {s} shifts but {len(images)} images")
    fig = plt.figure(figsize=(max(4.2 * k, 0.6 * s + 1), 4.4 + (1.0 if has_strip else 0)))
    grid = fig.add_gridspec(2 if has_strip else 1, k, height_ratios=[1, 4.4] if has_strip else [1])
    if has_strip:
        strip = np.concatenate([to_display(images[i], mean, std) for i in range(s)], axis=1)
        ax = fig.add_subplot(grid[0, :])
        ax.imshow(strip, cmap="gray")
        w = strip.shape[1] / s
        ax.set_xticks([(i + 0.5) * w for i in range(s)], [f"{v:+d}" for v in shifts], fontsize=7)
        ax.set_yticks([])
        ax.set_title("shifted images (pixels)", fontsize=9)
    for j, (name, a) in enumerate(mats.items()):
        ax = fig.add_subplot(grid[-1, j])
        ax.imshow(a.T, cmap="viridis", vmin=0, vmax=1, aspect="auto")
        for si in range(s):
            for ci in range(len(classes)):
                if a[si, ci] >= 0.05:
                    ax.text(si, ci, f"{a[si, ci]:.2f}", ha="center", va="center", fontsize=6, color="black" if a[si, ci] > 0.6 else "white")
        ax.set_xticks(range(s), [f"{v:+d}" for v in shifts], fontsize=7)
        ax.set_yticks(range(len(classes)), classes if j == 0 else [""] * len(classes), fontsize=8)
        ax.set_xlabel("shift (pixels, + = right)")
        if name:
            ax.set_title(name)
    fig.tight_layout()
    return fig


def plot_accuracy_vs_shift(results: dict[str, Sequence[float]], shifts: Sequence[int], *, title: str | None = None) -> plt.Figure:
    """Test accuracy against shift size, one line per model.

    Parameters
    ----------
    results : dict name -> sequence of accuracies (one per shift, in [0, 1])
    shifts : sequence of int

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_accuracy_vs_shift({"MLP": [0.5, 0.9, 0.5], "CNN": [0.8, 0.9, 0.8]}, [-2, 0, 2])
    >>> [line.get_label() for line in fig.axes[0].lines], np.asarray(fig.axes[0].lines[0].get_ydata()).tolist()
    (['MLP', 'CNN'], [50.0, 90.0, 50.0])
    >>> plt.close(fig)

    Introduced in lesson 05.
    """
    if not results:
        raise ValueError("results must hold at least one model")
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for i, (name, accs) in enumerate(results.items()):
        if len(accs) != len(shifts):
            raise ValueError(f"results[{name!r}] has {len(accs)} values for {len(shifts)} shifts")
        ax.plot(list(shifts), [100 * a for a in accs], "-o", ms=4, color=f"C{i}", label=name)
    ax.set(xlabel="shift (pixels, + = right)", ylabel="test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_augmentations(
    image,
    transforms: dict,
    *,
    n: int = 5,
    seed: int = 0,
    size: float = 1.5,
    cmap: str = "gray",
) -> plt.Figure:
    """One row per transform: the original image, then ``n`` random draws of the transform.

    Parameters
    ----------
    image : PIL image, tensor ``(C, H, W)`` or array
        The input each transform receives (whatever the transforms accept).
    transforms : dict name -> callable
        Each is called ``n`` times on ``image``; outputs are shown with
        :func:`to_display` (PIL images, tensors and arrays are accepted).
    n : int
        Random draws per transform.
    seed : int
        ``torch.manual_seed(seed)`` before each row, so the figure is reproducible.

    Examples
    --------
    >>> img = torch.rand(1, 8, 8)
    >>> fig = plot_augmentations(img, {"flip": lambda x: x.flip(-1), "invert": lambda x: 1 - x}, n=3)
    >>> len(fig.axes), fig.axes[0].get_title(), fig.axes[3].get_title()  # 2 rows: original + 3 draws
    (8, 'original', 'draw 3')
    >>> plt.close(fig)

    Introduced in lesson 06.
    """
    check_type("transforms", transforms, dict)
    if not transforms:
        raise ValueError("transforms must be a non-empty dict of name -> callable, got {}")
    for name, t in transforms.items():
        if not callable(t):
            raise TypeError(f"transforms[{name!r}] must be callable, got {type(t).__name__}")
    check_int("n", n, minimum=1)
    check_int("seed", seed)

    def as_array(img) -> np.ndarray:
        if isinstance(img, torch.Tensor):
            if img.dtype == torch.uint8:
                img = img.float() / 255
            return to_display(img)
        return to_display(np.asarray(img))

    rows = len(transforms)
    fig, axes = plt.subplots(rows, n + 1, figsize=(size * (n + 1) + 1.6, size * rows), squeeze=False)
    original = as_array(image)
    for r, (name, t) in enumerate(transforms.items()):
        torch.manual_seed(seed)
        for c in range(n + 1):
            ax = axes[r, c]
            img = original if c == 0 else as_array(t(image))
            ax.imshow(img, cmap=cmap if img.ndim == 2 else None, vmin=0 if img.dtype != np.uint8 else None,
                      vmax=1 if img.dtype != np.uint8 else None)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title("original" if c == 0 else f"draw {c}", fontsize=8)
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    fig.tight_layout()
    return fig
