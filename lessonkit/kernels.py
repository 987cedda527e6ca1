"""Hand-made kernels, Haar wavelet filters and Gabor filter banks.

Introduced in lesson 01 ("Image convolution": edges, Sobel, Laplacian, blur,
sharpen, and the 2-D Haar wavelet filters) and lesson 02 ("Gabor filters and filter banks": the Gabor helpers,
built on :func:`skimage.filters.gabor_kernel`).

Every kernel is meant for cross-correlation (:func:`lessonkit.conv.cross_correlate2d`,
``F.conv2d``), the operation CNN layers compute: an edge kernel with positive
weights on top responds positively where the image gets darker going down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ._utils import check_int, check_number, check_odd, check_type

__all__ = [
    "KERNEL_NAMES",
    "make_kernel",
    "box_kernel",
    "gaussian_kernel",
    "haar_kernels",
    "GaborBank",
    "gabor_bank",
    "gabor_responses",
    "gabor_features",
]

_FIXED = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    # Prewitt-style edge kernels: a difference across the edge, an average along it.
    "horizontal_edge": [[1, 1, 1], [0, 0, 0], [-1, -1, -1]],
    "vertical_edge": [[1, 0, -1], [1, 0, -1], [1, 0, -1]],
    "diagonal_edge": [[0, 1, 1], [-1, 0, 1], [-1, -1, 0]],
    # Sobel: the same differences with a [1, 2, 1] smoothing along the edge.
    "sobel_x": [[1, 0, -1], [2, 0, -2], [1, 0, -1]],
    "sobel_y": [[1, 2, 1], [0, 0, 0], [-1, -2, -1]],
    # Laplacian (4-neighbour) and the 8-neighbour "edge detect" kernel: sum to zero.
    "laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
    "edge_detect": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    # Identity plus a (negated) Laplacian: boosts differences to the neighbours.
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
}
KERNEL_NAMES = (*_FIXED, "box_blur", "gaussian_blur")


def box_kernel(size: int = 3) -> np.ndarray:
    """A ``size x size`` averaging (box blur) kernel; its entries sum to 1.

    Introduced in lesson 01.

    Examples
    --------
    >>> box_kernel(3)
    array([[0.11111111, 0.11111111, 0.11111111],
           [0.11111111, 0.11111111, 0.11111111],
           [0.11111111, 0.11111111, 0.11111111]])
    >>> float(box_kernel(5).sum())
    1.0
    """
    size = check_odd("size", size)
    return np.full((size, size), 1.0 / size**2)


def gaussian_kernel(size: int = 5, sigma: float = 1.0) -> np.ndarray:
    """A normalised, centred 2-D Gaussian kernel (sampled, then divided by its sum).

    Introduced in lesson 01.

    Parameters
    ----------
    size : int
        Odd side length.
    sigma : float
        Standard deviation in pixels, > 0.

    Examples
    --------
    >>> k = gaussian_kernel(5, 1.0)
    >>> k.shape, round(float(k.sum()), 6), bool(k[2, 2] == k.max())
    ((5, 5), 1.0, True)
    """
    size = check_odd("size", size)
    check_number("sigma", sigma, minimum=0, strict_minimum=True)
    r = np.arange(size) - size // 2
    g = np.exp(-(r**2) / (2.0 * sigma**2))
    k = np.outer(g, g)
    return k / k.sum()


def make_kernel(name: str, size: int = 3, sigma: float = 1.0) -> np.ndarray:
    """A kernel from the course's library, by name.

    Introduced in lesson 01.

    Parameters
    ----------
    name : str
        One of :data:`KERNEL_NAMES`: ``identity``, ``horizontal_edge``,
        ``vertical_edge``, ``diagonal_edge``, ``sobel_x``, ``sobel_y``,
        ``laplacian``, ``edge_detect``, ``sharpen`` (all 3x3), ``box_blur``,
        ``gaussian_blur`` (of side ``size``; the Gaussian with ``sigma``).

    Returns
    -------
    numpy.ndarray
        float64 ``(k, k)``.

    Examples
    --------
    >>> make_kernel("sobel_x")
    array([[ 1.,  0., -1.],
           [ 2.,  0., -2.],
           [ 1.,  0., -1.]])
    """
    check_type("name", name, str)
    if name in _FIXED:
        return np.array(_FIXED[name], dtype=np.float64)
    if name == "box_blur":
        return box_kernel(size)
    if name == "gaussian_blur":
        return gaussian_kernel(size, sigma)
    raise ValueError(f"unknown kernel {name!r}: name must be one of {', '.join(map(repr, KERNEL_NAMES))}")


def haar_kernels() -> dict[str, np.ndarray]:
    """The four 2×2 filters of the 2-D Haar wavelet transform (Haar, 1910; Mallat, 1989).

    Each is an outer product of the Haar low-pass ``[1, 1]/√2`` (an average)
    and high-pass ``[1, -1]/√2`` (a difference) filters, rows first:

    - ``approximation``: low-pass both ways, a 2×2 average (times 2);
    - ``horizontal``: top row minus bottom row, responds to horizontal edges;
    - ``vertical``: left column minus right column, responds to vertical edges;
    - ``diagonal``: the difference of the two diagonals.

    The signs follow :func:`make_kernel`'s edge kernels (``horizontal_edge``,
    ``vertical_edge``). Together the four are an orthonormal basis of the 2×2
    blocks: cross-correlating an image with them at stride 2 gives one level
    of the wavelet transform (four half-size maps with as many numbers as the
    image), and the transposed convolution with the same filters reconstructs
    the image exactly.

    Returns
    -------
    dict of str to numpy.ndarray
        Name → float64 ``(2, 2)``, in the order above.

    Examples
    --------
    >>> haar = haar_kernels()
    >>> list(haar)
    ['approximation', 'horizontal', 'vertical', 'diagonal']
    >>> haar["horizontal"]
    array([[ 0.5,  0.5],
           [-0.5, -0.5]])
    >>> basis = np.stack([k.ravel() for k in haar.values()])
    >>> bool(np.allclose(basis @ basis.T, np.eye(4)))   # orthonormal
    True

    Introduced in lesson 01.
    """
    low, high = np.array([1.0, 1.0]), np.array([1.0, -1.0])  # times 1/√2 each: 1/2 for the product, exactly
    return {
        "approximation": np.outer(low, low) / 2,
        "horizontal": np.outer(high, low) / 2,
        "vertical": np.outer(low, high) / 2,
        "diagonal": np.outer(high, high) / 2,
    }


# --------------------------------------------------------------------------
# Gabor filters (lesson 02)
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class GaborBank:
    """A bank of complex Gabor kernels and the parameters that made them.

    ``params[i]`` is ``(frequency, theta, sigma)`` of ``kernels[i]``
    (complex ``(k_i, k_i)`` arrays from :func:`skimage.filters.gabor_kernel`;
    sizes differ with ``sigma``). Build one with :func:`gabor_bank`.

    Examples
    --------
    >>> bank = gabor_bank([0.25], [0.0, np.pi / 2], [1.0, 2.0])
    >>> len(bank), bank.params[0], bank.size
    (4, (0.25, 0.0, 1.0), 13)
    >>> bank.weight().shape  # real parts, then imaginary parts, padded to the largest kernel
    torch.Size([8, 1, 13, 13])

    Introduced in lesson 02.
    """

    params: tuple[tuple[float, float, float], ...]
    kernels: tuple[np.ndarray, ...]

    def __len__(self) -> int:
        return len(self.kernels)

    @property
    def size(self) -> int:
        """Side of the largest kernel (all are padded to it by :meth:`weight`)."""
        return max(k.shape[0] for k in self.kernels)

    def weight(self) -> torch.Tensor:
        """The bank as ``F.conv2d`` weights ``(2F, 1, k, k)``: real parts then imaginary parts.

        Each kernel is zero-padded to the largest size, centred.
        """
        s = self.size
        out = np.zeros((2 * len(self), 1, s, s), dtype=np.float32)
        for i, k in enumerate(self.kernels):
            o0, o1 = (s - k.shape[0]) // 2, (s - k.shape[1]) // 2
            out[i, 0, o0 : o0 + k.shape[0], o1 : o1 + k.shape[1]] = k.real
            out[len(self) + i, 0, o0 : o0 + k.shape[0], o1 : o1 + k.shape[1]] = k.imag
        return torch.from_numpy(out)


def gabor_bank(frequencies: Sequence[float], thetas: Sequence[float], sigmas: Sequence[float] | None = None, *, n_stds: float = 3) -> GaborBank:
    """Every combination of frequency, orientation and width as a :class:`GaborBank`.

    Introduced in lesson 02.

    Parameters
    ----------
    frequencies : sequence of float
        Spatial frequency of the wave in cycles per pixel, in (0, 0.5].
    thetas : sequence of float
        Orientation in radians.
    sigmas : sequence of float, optional
        Gaussian envelope width in pixels (``sigma_x = sigma_y``). Default:
        scikit-image's choice for a bandwidth of one octave (it scales as
        ``1/frequency``).
    n_stds : float
        The kernel extends this many standard deviations from its centre.

    Examples
    --------
    >>> bank = gabor_bank([0.25], [0, np.pi / 2], [2.0])
    >>> len(bank), bank.kernels[0].shape
    (2, (13, 13))
    """
    from skimage.filters import gabor_kernel

    for name, values in (("frequencies", frequencies), ("thetas", thetas), ("sigmas", sigmas)):
        if values is None:
            continue
        check_type(name, values, (Sequence, np.ndarray))
        if len(values) == 0:
            raise ValueError(f"{name} must hold at least one number, got it empty")
        for i, v in enumerate(values):
            check_number(f"{name}[{i}]", v)
    check_number("n_stds", n_stds, minimum=0, strict_minimum=True)
    for f in frequencies:
        if not 0 < f <= 0.5:
            raise ValueError(f"frequencies must be in (0, 0.5] cycles per pixel (Nyquist), got {f}")
    if sigmas is not None and any(s <= 0 for s in sigmas):
        raise ValueError(f"sigmas must be positive, got {list(sigmas)}")
    params, kernels = [], []
    for f in frequencies:
        for s in sigmas if sigmas is not None else [None]:
            for t in thetas:
                k = gabor_kernel(f, theta=t, sigma_x=s, sigma_y=s, n_stds=n_stds)
                sigma = float(s) if s is not None else _default_sigma(f)
                params.append((float(f), float(t), sigma))
                kernels.append(np.asarray(k))
    return GaborBank(tuple(params), tuple(kernels))


def _default_sigma(frequency: float, bandwidth: float = 1.0) -> float:
    # scikit-image's _sigma_prefactor(bandwidth) / frequency
    b = bandwidth
    return float(1.0 / np.pi * np.sqrt(np.log(2) / 2.0) * (2.0**b + 1) / (2.0**b - 1) / frequency)


def _images_tensor(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    x = torch.as_tensor(images)
    if not x.is_floating_point():
        if x.dtype in (torch.uint8, torch.int16, torch.int32, torch.int64):
            x = x.float()
        else:
            raise TypeError(f"images must be real numbers, got dtype {x.dtype}")
    if x.ndim == 2:
        x = x[None, None]
    elif x.ndim == 3:
        x = x[:, None]
    elif x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"images must be (H, W), (N, H, W) or (N, 1, H, W) greyscale, got shape {tuple(x.shape)}")
    return x.float()


def gabor_responses(images: torch.Tensor | np.ndarray, bank: GaborBank, *, batch_size: int = 1024) -> torch.Tensor:
    """Magnitude of each Gabor filter's response, ``sqrt(real**2 + imag**2)``.

    The image is cross-correlated with the real and imaginary parts of each
    kernel, with zero padding so the maps keep the image size.

    Introduced in lesson 02.

    Parameters
    ----------
    images : ``(H, W)``, ``(N, H, W)`` or ``(N, 1, H, W)``
    bank : GaborBank

    Returns
    -------
    torch.Tensor
        ``(N, F, H, W)``, ``F = len(bank)``.

    Examples
    --------
    >>> gabor_responses(torch.zeros(2, 28, 28), gabor_bank([0.25], [0.0], [2.0])).shape
    torch.Size([2, 1, 28, 28])
    """
    check_type("bank", bank, GaborBank)
    check_int("batch_size", batch_size, minimum=1)
    x = _images_tensor(images)
    w = bank.weight()
    n = len(bank)
    outs = []
    for start in range(0, x.shape[0], batch_size):
        r = F.conv2d(x[start : start + batch_size], w, padding=bank.size // 2)
        outs.append(torch.sqrt(r[:, :n] ** 2 + r[:, n:] ** 2))
    return torch.cat(outs)


def gabor_features(images: torch.Tensor | np.ndarray, bank: GaborBank, *, pool: int = 4) -> torch.Tensor:
    """Fixed features for a linear classifier: pooled Gabor response magnitudes.

    Each response map is average-pooled in ``pool x pool`` blocks and all maps
    are flattened into one vector per image.

    Returns
    -------
    torch.Tensor
        ``(N, F * (H // pool) * (W // pool))``.

    Examples
    --------
    >>> gabor_features(torch.zeros(3, 28, 28), gabor_bank([0.25], [0.0, 1.0], [2.0])).shape
    torch.Size([3, 98])

    Introduced in lesson 02.
    """
    check_int("pool", pool, minimum=1)
    r = gabor_responses(images, bank)
    if pool > min(r.shape[-2:]):
        raise ValueError(f"pool={pool} is larger than the images ({tuple(r.shape[-2:])})")
    return F.avg_pool2d(r, pool).flatten(1)
