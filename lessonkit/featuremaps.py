"""Figures of kernels, feature maps, small annotated arrays and a convolution step.

Introduced in lesson 01 ("Image convolution"); lessons 02 and 03 reuse them
for Gabor banks, learned filters and pooling examples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ._utils import check_int, check_tensor, check_type
from .conv import conv_output_size, cross_correlate2d
from .plot import _panel_grid

__all__ = ["plot_matrix", "show_kernels", "show_feature_maps", "draw_convolution_step", "filters_as_images"]


def _as_maps(maps, name: str) -> list[np.ndarray]:
    if isinstance(maps, torch.Tensor):
        maps = maps.detach().cpu().float().numpy()
    if isinstance(maps, np.ndarray):
        if maps.ndim == 2:
            maps = maps[None]
        if maps.ndim == 4 and maps.shape[1] == 1:
            maps = maps[:, 0]
        if maps.ndim != 3:
            raise ValueError(f"{name} must be (H, W), (N, H, W) or (N, 1, H, W), got shape {maps.shape}")
        return [np.asarray(m, dtype=float) for m in maps]
    if isinstance(maps, Sequence) and not isinstance(maps, (str, bytes)):
        out = []
        for i, m in enumerate(maps):
            m = m.detach().cpu().float().numpy() if isinstance(m, torch.Tensor) else np.asarray(m)
            while m.ndim > 2 and m.shape[0] == 1:  # drop leading singleton axes, e.g. (1, H, W)
                m = m[0]
            if m.ndim != 2:
                raise ValueError(f"{name}[{i}] must be a 2-D array, got shape {np.shape(m)}")
            if np.iscomplexobj(m) or not np.issubdtype(m.dtype, np.number):
                raise TypeError(f"{name}[{i}] must hold real numbers, got dtype {m.dtype}")
            out.append(m.astype(float))
        if not out:
            raise ValueError(f"{name} is empty")
        return out
    raise TypeError(f"{name} must be an array, a tensor or a sequence of 2-D arrays, got {type(maps).__name__}")


def _write_values(ax: Axes, im, a: np.ndarray, fmt: str, fontsize: float) -> None:
    """Write each finite value into its cell, white on dark colours and black on light ones."""
    for (i, j), v in np.ndenumerate(a):
        if np.isfinite(v):
            r, g, b, _ = im.cmap(im.norm(v))
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=fontsize, color="white" if dark else "black")


def plot_matrix(ax: Axes, array, *, fmt: str = "{:g}", cmap: str = "Blues", title: str | None = None, highlight: tuple[int, int, int, int] | None = None, vmin: float | None = None, vmax: float | None = None) -> Axes:
    """Draw a small 2-D array as a coloured grid with its numbers written in.

    Lesson 01 draws its worked examples of convolution and pooling with it.

    Parameters
    ----------
    ax : matplotlib Axes
    array : 2-D array
    fmt : str
        Format of each number.
    highlight : (row, col, height, width), optional
        A rectangle drawn around these cells.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``, drawn into.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> ax = plot_matrix(ax, [[1, 2], [3, 4]], highlight=(0, 0, 1, 2))
    >>> [t.get_text() for t in ax.texts], len(ax.patches)
    (['1', '2', '3', '4'], 1)
    >>> plt.close(fig)

    Introduced in lesson 01.
    """
    check_type("fmt", fmt, str)
    (a,) = _as_maps([array], "array")
    im = ax.imshow(a, cmap=cmap, vmin=vmin, vmax=vmax)
    _write_values(ax, im, a, fmt, 9)
    ax.set_xticks(np.arange(-0.5, a.shape[1], 1), minor=True)
    ax.set_yticks(np.arange(-0.5, a.shape[0], 1), minor=True)
    ax.grid(which="minor", color="0.6", linewidth=0.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    if highlight is not None:
        r, c, h, w = highlight
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), w, h, fill=False, edgecolor="crimson", linewidth=2.5))
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def show_kernels(kernels, titles: Sequence[str] | None = None, *, ncols: int = 6, size: float = 1.6, annotate: bool | None = None, cmap: str = "RdBu_r", title: str | None = None) -> Figure:
    """Kernels side by side, on a diverging colour scale centred at zero.

    Lesson 02 shows Gabor banks and learned filters with it.

    Parameters
    ----------
    kernels : array ``(N, k, k)`` / ``(N, 1, k, k)`` or sequence of 2-D arrays
    titles : sequence of str, optional
    annotate : bool, optional
        Write the weights in; default for kernels up to 5x5.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> fig = show_kernels([np.eye(3), -np.eye(3), np.ones((7, 7))], ["a", "b", "c"], ncols=2)
    >>> len(fig.axes), [len(ax.texts) for ax in fig.axes]  # 2x2 grid; 3x3 kernels annotated
    (4, [9, 9, 0, 0])
    >>> plt.close(fig)

    Introduced in lesson 01.
    """
    ks = _as_maps(kernels, "kernels")
    fig, axes = _grid(len(ks), titles, "kernels", ncols=ncols, size=size)
    for k, ax in zip(ks, axes):
        lim = float(np.abs(k).max()) or 1.0
        im = ax.imshow(k, cmap=cmap, vmin=-lim, vmax=lim)
        if annotate if annotate is not None else max(k.shape) <= 5:
            _write_values(ax, im, k, "{:.2g}", 7)
    return _finish(fig, title)


def show_feature_maps(
    maps,
    titles: Sequence[str] | None = None,
    *,
    ncols: int = 8,
    size: float = 1.5,
    cmap: str | Sequence[str] = "viridis",
    symmetric: bool | Sequence[bool] = False,
    title: str | None = None,
) -> Figure:
    """Feature maps (the channels of one layer's output) in a grid, each with its own colour scale.

    Lesson 01 shows filtered images with it, lesson 03 a layer's channels.

    Parameters
    ----------
    maps : tensor/array ``(C, H, W)`` or sequence of 2-D arrays
    titles : sequence of str, optional
    cmap : str or sequence of str
        One colour map for all, or one per map.
    symmetric : bool or sequence of bool
        Colour scale centred at zero (for signed responses such as edge
        maps), for all maps or per map.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> fig = show_feature_maps(torch.randn(5, 8, 8), ncols=4, symmetric=True)
    >>> len(fig.axes), sum(bool(ax.images) for ax in fig.axes)
    (8, 5)
    >>> plt.close(fig)

    Introduced in lesson 01.
    """
    ms = _as_maps(maps, "maps")
    cmaps = [cmap] * len(ms) if isinstance(cmap, str) else list(cmap)
    syms = [symmetric] * len(ms) if isinstance(symmetric, bool) else list(symmetric)
    if len(cmaps) != len(ms) or len(syms) != len(ms):
        raise ValueError(f"got {len(ms)} maps but {len(cmaps)} colour maps and {len(syms)} symmetric flags")
    fig, axes = _grid(len(ms), titles, "maps", ncols=ncols, size=size)
    for m, ax, cm, sym in zip(ms, axes, cmaps, syms):
        if sym:
            lim = float(np.abs(m).max()) or 1.0
            ax.imshow(m, cmap=cm, vmin=-lim, vmax=lim)
        else:
            ax.imshow(m, cmap=cm)
    return _finish(fig, title)


def _grid(n: int, titles: Sequence[str] | None, what: str, *, ncols: int, size: float) -> tuple[Figure, list]:
    """A grid of ``size``-inch panels (taller with titles), laid out by :func:`lessonkit.plot._panel_grid`."""
    return _panel_grid(n, titles, ncols=ncols, figsize=lambda nrows, ncols: (size * ncols, size * nrows * (1.2 if titles else 1)), what=what)


def _finish(fig: Figure, title: str | None) -> Figure:
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def draw_convolution_step(fig: Figure, image, kernel, step: int, *, padding: int = 1, stride: int = 1, cmap: str = "gray", annotate: bool | None = None) -> None:
    """Draw one step of a kernel sliding over an image into ``fig``.

    Three panels: the zero-padded input with the current window outlined, the
    kernel, and the output computed so far (positions not yet visited are
    blank, the current one outlined). Used by the interactive demo of
    lesson 01 with :func:`lessonkit.interactive.interactive_demo`.

    Parameters
    ----------
    fig : matplotlib Figure (empty)
    image, kernel : 2-D arrays
    step : int
        Number of output positions already computed, counting the current
        one: 1 .. H_out*W_out (row-major).
    padding, stride : int
    annotate : bool, optional
        Write numbers into the cells; default for inputs up to 8x8.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> fig = Figure()
    >>> draw_convolution_step(fig, np.arange(16.0).reshape(4, 4), np.ones((3, 3)), step=2)
    >>> [ax.get_title() for ax in fig.axes]
    ['input (zero-padded)', 'kernel', 'output, step 2/16']

    Introduced in lesson 01.
    """
    check_type("fig", fig, Figure)
    (img,) = _as_maps([image], "image")
    (ker,) = _as_maps([kernel], "kernel")
    kh, kw = ker.shape
    out_h = conv_output_size(img.shape[0], kh, padding, stride)
    out_w = conv_output_size(img.shape[1], kw, padding, stride)
    n = out_h * out_w
    check_int("step", step)
    if not 1 <= step <= n:
        raise ValueError(f"step must be an int between 1 and {n} (the number of output positions), got {step!r}")
    full = cross_correlate2d(img, ker, padding=padding, stride=stride)
    partial = np.full_like(full, np.nan)
    partial.flat[:step] = full.flat[:step]
    r, c = divmod(step - 1, out_w)
    padded = np.pad(img, padding)
    annotate = max(img.shape) <= 8 if annotate is None else annotate
    ax_in, ax_k, ax_out = fig.subplots(1, 3, gridspec_kw={"width_ratios": [padded.shape[1], max(kw, 3), out_w]})
    if annotate:
        plot_matrix(ax_in, padded, cmap="Greys", title="input (zero-padded)", highlight=(r * stride, c * stride, kh, kw), fmt="{:.3g}")
        plot_matrix(ax_k, ker, cmap="RdBu_r", title="kernel", fmt="{:.3g}", vmin=-np.abs(ker).max(), vmax=np.abs(ker).max())
        plot_matrix(ax_out, partial, cmap="Blues", title=f"output, step {step}/{n}", highlight=(r, c, 1, 1), fmt="{:.3g}", vmin=np.nanmin(full), vmax=np.nanmax(full))
    else:
        ax_in.imshow(padded, cmap=cmap)
        ax_in.add_patch(Rectangle((c * stride - 0.5, r * stride - 0.5), kw, kh, fill=False, edgecolor="crimson", linewidth=2))
        ax_in.set_title("input (zero-padded)", fontsize=10)
        lim = float(np.abs(ker).max()) or 1.0
        ax_k.imshow(ker, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax_k.set_title("kernel", fontsize=10)
        lim = float(np.abs(full).max()) or 1.0
        ax_out.imshow(partial, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax_out.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="crimson", linewidth=1.5))
        ax_out.set_title(f"output, step {step}/{n}", fontsize=10)
        for ax in (ax_in, ax_k, ax_out):
            ax.set_xticks([])
            ax.set_yticks([])


def filters_as_images(weight: torch.Tensor) -> torch.Tensor:
    """Colour filters ``(N, 3, kh, kw)`` as images in [0, 1], each filter scaled on its own.

    A first convolution on RGB input has one ``(3, kh, kw)`` kernel per output
    channel; its weights are signed and tiny, so to look at it as a colour
    picture we map that filter's smallest weight to 0 and its largest to 1
    (the same linear map on all three channels, so the colours keep their
    proportions). A constant filter (all weights equal) has no contrast to
    show and becomes mid-grey, 0.5 everywhere, instead of dividing by zero.
    The result is detached from autograd and has the input's dtype and device.

    Parameters
    ----------
    weight : torch.Tensor
        Floating-point tensor of shape ``(N, 3, kh, kw)``, e.g.
        ``conv.weight`` of a ``Conv2d(3, N, k)``. All values must be finite.

    Returns
    -------
    torch.Tensor
        Shape ``(N, 3, kh, kw)``, values in [0, 1]; ready for
        :func:`lessonkit.show_images`.

    Examples
    --------
    >>> w = torch.tensor([[[[-2.0, 0.0]], [[2.0, 1.0]], [[0.0, 0.0]]],
    ...                   [[[ 3.0, 3.0]], [[3.0, 3.0]], [[3.0, 3.0]]]])   # (2, 3, 1, 2)
    >>> img = filters_as_images(w)
    >>> img[0].flatten().tolist()                                          # min -2 -> 0, max 2 -> 1
    [0.0, 0.5, 1.0, 0.75, 0.5, 0.5]
    >>> img[1].unique().tolist()                                           # constant filter: mid-grey
    [0.5]

    Introduced in lesson 09.
    """
    check_tensor("weight", weight, ndim=4, floating=True, layout="(N, 3, kh, kw)")
    if weight.shape[1] != 3 or weight.numel() == 0:
        raise ValueError(f"weight must have shape (N, 3, kh, kw) with N, kh, kw >= 1 (one RGB kernel per filter), got shape {tuple(weight.shape)}")
    w = weight.detach()
    if not bool(torch.isfinite(w).all()):
        raise ValueError("weight must hold finite values, got NaN or infinity")
    lo = w.amin(dim=(1, 2, 3), keepdim=True)
    span = w.amax(dim=(1, 2, 3), keepdim=True) - lo
    flat = span == 0
    scaled = (w - lo) / torch.where(flat, torch.ones_like(span), span)
    return torch.where(flat, torch.full_like(w, 0.5), scaled).clamp_(0.0, 1.0)
