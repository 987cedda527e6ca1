"""AlexNet's data augmentation: random 224×224 crops of 256×256 images, flips, and PCA colour lighting.

Introduced in lesson 08 ("From LeNet to ConvNeXt"). Krizhevsky et al. (2012,
section 4.1) trained on random 224×224 patches of the 256×256 images and their
horizontal reflections (:class:`lessonkit.RandomHorizontalFlip`, lesson 04),
and altered the intensities of the RGB channels along the principal components
of the training set's pixel colours ("fancy PCA"): to every pixel of an image
they add

    ``[p1, p2, p3] · [α1 λ1, α2 λ2, α3 λ3]ᵀ``,

where ``p_i`` and ``λ_i`` are the eigenvectors and eigenvalues of the 3×3
covariance of RGB pixel values over the training set, and each ``α_i`` is drawn
once per image from a Gaussian with mean 0 and standard deviation 0.1. The
shift is the same for every pixel of an image: a change of the colour and
intensity of the illumination, to which the label is invariant.

Like :mod:`lessonkit.augment`, the random transforms here take a whole batch
``(N, C, H, W)`` on any device, with one draw per image, and are called as
``t(x)`` or, as batch transforms of :func:`lessonkit.fit`, ``t(x, y)``; each
is paired with a deterministic functional (:class:`RandomCrop` ↔
:func:`crop`, :class:`RandomPCALighting` ↔ :func:`pca_lighting`).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.utils.data import Dataset

from ._utils import check_batch, check_int, check_number, check_tensor, check_type

__all__ = [
    "rgb_covariance",
    "rgb_pca",
    "pca_lighting",
    "RandomPCALighting",
    "crop",
    "RandomCrop",
]


def _images_of(item: object) -> torch.Tensor:
    """The image tensor of a dataset item: the tensor itself, or the first element of an ``(image, label)`` pair."""
    if isinstance(item, (tuple, list)) and item:
        item = item[0]
    if not isinstance(item, torch.Tensor):
        raise TypeError(f"images must be a tensor or an iterable of tensors (or of (image, label) pairs), got an item of type {type(item).__name__}")
    return item


def rgb_covariance(images: torch.Tensor | Iterable) -> torch.Tensor:
    """The 3×3 covariance of the RGB values of all pixels of ``images`` (float64, on the CPU).

    Every pixel of every image is one observation of three variables (R, G,
    B); the result is their sample covariance (normalised by ``n - 1``, as
    :func:`numpy.cov`), accumulated in float64 so that a whole dataset can be
    streamed through it.

    Parameters
    ----------
    images : torch.Tensor, dataset or iterable
        A batch ``(N, 3, H, W)`` or one image ``(3, H, W)``; or a dataset, a
        DataLoader or a list of them, whose items may be ``(image, label)``
        pairs and may differ in size. Values in the scale the augmentation
        will use (e.g. [0, 1]).

    Returns
    -------
    torch.Tensor
        ``(3, 3)``, symmetric, float64.

    Examples
    --------
    >>> x = torch.tensor([[0.0, 1.0], [1.0, 3.0], [0.5, 0.5]]).view(1, 3, 1, 2)  # two pixels
    >>> rgb_covariance(x)
    tensor([[0.5000, 1.0000, 0.0000],
            [1.0000, 2.0000, 0.0000],
            [0.0000, 0.0000, 0.0000]], dtype=torch.float64)

    Introduced in lesson 08.
    """
    if isinstance(images, torch.Tensor):
        batches: Iterable = [images]
    elif isinstance(images, (str, bytes)):
        raise TypeError(f"images must be a tensor, a dataset or an iterable of tensors, got {type(images).__name__}")
    elif isinstance(images, Iterable):
        batches = images  # a list, a DataLoader, an IterableDataset, a generator
    elif isinstance(images, Dataset) and hasattr(images, "__len__"):
        # A map-style dataset defines __getitem__ and __len__ but no __iter__: read its items by index, in order.
        batches = (images[i] for i in range(len(images)))
    else:
        raise TypeError(f"images must be a tensor, a dataset or an iterable of tensors, got {type(images).__name__}")
    n, total, outer = 0, torch.zeros(3, dtype=torch.float64), torch.zeros(3, 3, dtype=torch.float64)
    for item in batches:
        x = _images_of(item)
        check_tensor("images", x, ndim=(3, 4), floating=True, layout="(N, 3, H, W) or (3, H, W)")
        if x.shape[-3] != 3:
            raise ValueError(f"images must have 3 colour channels (RGB), got shape {tuple(x.shape)}")
        pixels = x.detach().to("cpu", torch.float64).movedim(-3, -1).reshape(-1, 3)
        n += pixels.shape[0]
        total += pixels.sum(dim=0)
        outer += pixels.T @ pixels
    if n < 2:
        raise ValueError(f"images must hold at least 2 pixels to estimate a covariance, got {n}")
    mean = total / n
    return (outer - n * torch.outer(mean, mean)) / (n - 1)


def rgb_pca(covariance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Principal components of RGB colour: eigenvalues (largest first) and eigenvectors of a 3×3 covariance.

    Parameters
    ----------
    covariance : torch.Tensor
        ``(3, 3)`` symmetric, e.g. from :func:`rgb_covariance`.

    Returns
    -------
    eigenvalues : torch.Tensor
        ``(3,)``, in decreasing order.
    eigenvectors : torch.Tensor
        ``(3, 3)``; column ``i`` is the unit eigenvector of ``eigenvalues[i]``
        (its sign is arbitrary, which the symmetric draws of α make irrelevant).

    Examples
    --------
    >>> values, vectors = rgb_pca(torch.diag(torch.tensor([1.0, 3.0, 2.0])))
    >>> values
    tensor([3., 2., 1.])
    >>> vectors.abs()
    tensor([[0., 0., 1.],
            [1., 0., 0.],
            [0., 1., 0.]])

    Introduced in lesson 08.
    """
    check_tensor("covariance", covariance, ndim=2, floating=True, layout="(3, 3)")
    if covariance.shape != (3, 3):
        raise ValueError(f"covariance must have shape (3, 3), got shape {tuple(covariance.shape)}")
    if not torch.allclose(covariance, covariance.T, rtol=1e-6, atol=1e-12):
        raise ValueError("covariance must be symmetric")
    values, vectors = torch.linalg.eigh(covariance)  # ascending
    return values.flip(0), vectors.flip(1)


def _basis(eigenvalues: torch.Tensor, eigenvectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    check_tensor("eigenvalues", eigenvalues, ndim=1, floating=True, layout="(3,)")
    check_tensor("eigenvectors", eigenvectors, ndim=2, floating=True, layout="(3, 3)")
    if eigenvalues.shape != (3,) or eigenvectors.shape != (3, 3):
        raise ValueError(f"eigenvalues must have shape (3,) and eigenvectors (3, 3), got {tuple(eigenvalues.shape)} and {tuple(eigenvectors.shape)}")
    if not eigenvalues.is_meta and (eigenvalues < 0).any():
        raise ValueError(f"eigenvalues of a covariance cannot be negative, got {eigenvalues.tolist()}")
    return eigenvalues, eigenvectors


def pca_lighting(x: torch.Tensor, alpha: torch.Tensor, eigenvalues: torch.Tensor, eigenvectors: torch.Tensor) -> torch.Tensor:
    """Add ``eigenvectors @ (alpha * eigenvalues)`` to every pixel of each image (AlexNet's colour shift).

    Parameters
    ----------
    x : torch.Tensor
        A float batch ``(N, 3, H, W)``, on any device.
    alpha : torch.Tensor
        ``(N, 3)`` (one draw per image) or ``(3,)`` (the same for all).
    eigenvalues, eigenvectors : torch.Tensor
        From :func:`rgb_pca`, in the pixel scale of ``x``.

    Returns
    -------
    torch.Tensor
        ``x`` plus one RGB shift per image; same shape, dtype and device. Not
        clipped: clip or not as the rest of the pipeline needs.

    Examples
    --------
    >>> x = torch.zeros(2, 3, 1, 1)
    >>> vectors = torch.eye(3)
    >>> pca_lighting(x, torch.tensor([[1.0, 0, 0], [0, 0, -1.0]]), torch.tensor([0.5, 0.2, 0.1]), vectors).flatten(1)
    tensor([[ 0.5000,  0.0000,  0.0000],
            [ 0.0000,  0.0000, -0.1000]])

    Introduced in lesson 08.
    """
    check_batch("x", x, channels=3)
    eigenvalues, eigenvectors = _basis(eigenvalues, eigenvectors)
    check_tensor("alpha", alpha, ndim=(1, 2), floating=True, layout="(N, 3) or (3,)")
    if alpha.shape[-1] != 3 or (alpha.ndim == 2 and alpha.shape[0] != x.shape[0]):
        raise ValueError(f"alpha must have shape ({x.shape[0]}, 3) or (3,), got shape {tuple(alpha.shape)}")
    weights = alpha.to(x.device, torch.float64) * eigenvalues.to(x.device, torch.float64)   # α_i λ_i
    shift = weights @ eigenvectors.to(x.device, torch.float64).T                             # Σ_i α_i λ_i p_i
    return x + shift.to(x.dtype).reshape(-1, 3, 1, 1)


class RandomPCALighting:
    """AlexNet's "fancy PCA" colour augmentation, one draw per image (functional: :func:`pca_lighting`).

    For each image, draws ``α ~ N(0, std²)`` (three numbers) and adds
    ``eigenvectors @ (α * eigenvalues)`` to all its pixels. The draws come
    from a CPU generator, so a seeded generator gives the same shifts on any
    device.

    Parameters
    ----------
    eigenvalues, eigenvectors : torch.Tensor
        The principal components of the training set's pixel colours, from
        :func:`rgb_pca` (in the pixel scale of the batches to augment).
    std : float
        Standard deviation of the α's; 0.1 in the paper.
    generator : torch.Generator, optional
        A CPU generator, for reproducible draws.

    Call it on a float batch ``(N, 3, H, W)`` (returns the shifted batch) or
    on ``(x, y)`` (returns ``(shifted x, y)``).

    Examples
    --------
    >>> lighting = RandomPCALighting(torch.tensor([0.5, 0.2, 0.1]), torch.eye(3), generator=torch.Generator().manual_seed(0))
    >>> out = lighting(torch.zeros(4, 3, 2, 2))
    >>> out.shape, bool((out == out[:, :, :1, :1]).all())        # one shift per image, the same at every pixel
    (torch.Size([4, 3, 2, 2]), True)
    >>> x, y = lighting(torch.zeros(4, 3, 2, 2), torch.arange(4))
    >>> y.tolist()
    [0, 1, 2, 3]

    Introduced in lesson 08.
    """

    def __init__(self, eigenvalues: torch.Tensor, eigenvectors: torch.Tensor, std: float = 0.1, generator: torch.Generator | None = None) -> None:
        self.eigenvalues, self.eigenvectors = _basis(eigenvalues, eigenvectors)
        self.std = check_number("std", std, minimum=0.0)
        if generator is not None:
            check_type("generator", generator, torch.Generator)
        self.generator = generator

    def draw(self, n: int) -> torch.Tensor:
        """The next ``n`` draws of α, shape ``(n, 3)``, on the CPU."""
        n = check_int("n", n, minimum=0)
        return torch.randn(n, 3, generator=self.generator, dtype=torch.float64) * self.std

    def __call__(self, x: torch.Tensor, y: torch.Tensor | None = None):
        check_batch("x", x, channels=3)
        out = pca_lighting(x, self.draw(x.shape[0]), self.eigenvalues, self.eigenvectors)
        return out if y is None else (out, y)

    def __repr__(self) -> str:
        return f"RandomPCALighting(eigenvalues={[round(v, 6) for v in self.eigenvalues.tolist()]}, std={self.std})"


def crop(x: torch.Tensor, top: torch.Tensor | int, left: torch.Tensor | int, size: int) -> torch.Tensor:
    """Cut a ``size × size`` patch out of each image, at its own ``(top, left)`` corner.

    Parameters
    ----------
    x : torch.Tensor
        A batch ``(N, C, H, W)`` on any device.
    top, left : int or torch.Tensor
        The patch's upper-left corner: one int for all images, or ``(N,)``
        integer tensors; ``0 <= top <= H - size``, ``0 <= left <= W - size``.
    size : int

    Returns
    -------
    torch.Tensor
        ``(N, C, size, size)``, on the device of ``x``.

    Examples
    --------
    >>> x = torch.arange(16.).view(1, 1, 4, 4)
    >>> crop(x, 1, 2, 2)[0, 0]
    tensor([[ 6.,  7.],
            [10., 11.]])

    Introduced in lesson 08.
    """
    check_batch("x", x, floating=False)
    n, _, h, w = x.shape
    size = check_int("size", size, minimum=1)
    if size > min(h, w):
        raise ValueError(f"size must be at most the image's height and width {(h, w)}, got {size}")
    corners = []
    for name, v, limit in (("top", top, h - size), ("left", left, w - size)):
        t = torch.as_tensor(v)
        if t.is_floating_point() or t.dtype == torch.bool:
            raise TypeError(f"{name} must be an int or an integer tensor, got dtype {t.dtype}")
        t = t.reshape(-1).to("cpu", torch.long).expand(n) if t.numel() == 1 else t.reshape(-1).to("cpu", torch.long)
        if t.numel() != n:
            raise ValueError(f"{name} must be one int or {n} (one per image), got {t.numel()}")
        if (t < 0).any() or (t > limit).any():
            raise ValueError(f"{name} must be in [0, {limit}] for a {size}-pixel patch of a {h}x{w} image, got {t.tolist()}")
        corners.append(t)
    rows = (corners[0][:, None] + torch.arange(size)).to(x.device)      # (N, size)
    cols = (corners[1][:, None] + torch.arange(size)).to(x.device)
    idx = torch.arange(n, device=x.device)[:, None, None]
    return x.permute(0, 2, 3, 1)[idx, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


class RandomCrop:
    """A random ``size × size`` patch of each image, at its own uniformly drawn position (functional: :func:`crop`).

    AlexNet's training crops are 224×224 patches of 256×256 images: 33
    positions along each axis, each patch also seen mirrored.

    Parameters
    ----------
    size : int
    generator : torch.Generator, optional
        A CPU generator, for reproducible positions.

    Call it on a batch ``(N, C, H, W)`` (returns ``(N, C, size, size)``) or on
    ``(x, y)`` (returns ``(cropped x, y)``).

    Examples
    --------
    >>> out = RandomCrop(224, generator=torch.Generator().manual_seed(0))(torch.rand(2, 3, 256, 256))
    >>> out.shape
    torch.Size([2, 3, 224, 224])

    Introduced in lesson 08.
    """

    def __init__(self, size: int, generator: torch.Generator | None = None) -> None:
        self.size = check_int("size", size, minimum=1)
        if generator is not None:
            check_type("generator", generator, torch.Generator)
        self.generator = generator

    def positions(self, n: int, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The next ``n`` draws of ``(top, left)``, each uniform over the valid corners."""
        if self.size > min(height, width):
            raise ValueError(f"RandomCrop({self.size}) needs images of at least {self.size}x{self.size}, got {height}x{width}")
        top = torch.randint(0, height - self.size + 1, (n,), generator=self.generator)
        left = torch.randint(0, width - self.size + 1, (n,), generator=self.generator)
        return top, left

    def __call__(self, x: torch.Tensor, y: torch.Tensor | None = None):
        check_batch("x", x, floating=False)
        out = crop(x, *self.positions(x.shape[0], x.shape[2], x.shape[3]), self.size)
        return out if y is None else (out, y)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size})"
