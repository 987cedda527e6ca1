"""Execution profiles, device selection and seeding.

Introduced in lesson 00 ("Your first CNN"). Every notebook calls :func:`setup`
once at the top and takes all of its sizes (epochs, subset sizes, image size,
batch size) from the returned :class:`Profile`, so that the same experiment
runs at full size on a GPU and as an honest, smaller version on a laptop CPU.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

from ._utils import check_int

__all__ = ["Profile", "current_profile", "device", "seed_everything", "seed_worker", "setup"]

PROFILE_ENV = "LESSONKIT_PROFILE"
PROFILES = ("fast", "full")

T = TypeVar("T")


def device() -> torch.device:
    """Return the best available device: CUDA, then Apple MPS, then the CPU.

    Examples
    --------
    >>> device().type in {"cuda", "mps", "cpu"}
    True

    Introduced in lesson 00.
    """
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@dataclass(frozen=True)
class Profile:
    """An execution profile: ``"fast"`` (CPU-sized) or ``"full"`` (GPU-sized).

    Use :meth:`choose` to pick a size for the current profile, so that each
    notebook states both sizes side by side in one place.

    Examples
    --------
    >>> PROFILE = Profile("fast")
    >>> PROFILE.is_fast, PROFILE.choose(fast=2, full=20), str(PROFILE)
    (True, 2, 'fast')
    >>> Profile("slow")
    Traceback (most recent call last):
    ...
    ValueError: profile must be one of ('fast', 'full'), got 'slow'

    Introduced in lesson 00.
    """

    name: str

    def __post_init__(self) -> None:
        if self.name not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, got {self.name!r}")

    @property
    def is_fast(self) -> bool:
        """True for the fast (CPU) profile."""
        return self.name == "fast"

    def choose(self, *, fast: T, full: T) -> T:
        """Return ``fast`` or ``full`` according to the profile.

        Examples
        --------
        >>> Profile("fast").choose(fast=2, full=20)
        2
        """
        return fast if self.is_fast else full

    def __str__(self) -> str:
        return self.name


def current_profile(dev: torch.device | None = None) -> Profile:
    """Resolve the execution profile.

    ``LESSONKIT_PROFILE`` (``fast`` or ``full``) wins when set; otherwise the
    profile is ``full`` on a CUDA GPU and ``fast`` everywhere else.

    Parameters
    ----------
    dev : torch.device, optional
        The device the notebook will use (default: :func:`device`).

    Examples
    --------
    >>> import os
    >>> os.environ["LESSONKIT_PROFILE"] = "fast"
    >>> current_profile().name
    'fast'
    >>> del os.environ["LESSONKIT_PROFILE"]
    >>> current_profile(torch.device("cuda")).name, current_profile(torch.device("cpu")).name
    ('full', 'fast')
    >>> os.environ["LESSONKIT_PROFILE"] = "fast"

    Introduced in lesson 00 (:func:`setup` calls it).
    """
    value = os.environ.get(PROFILE_ENV, "").strip().lower()
    if value:
        if value not in PROFILES:
            raise ValueError(
                f"{PROFILE_ENV} must be one of {PROFILES}, got {value!r}; "
                f"unset it to choose automatically"
            )
        return Profile(value)
    dev = dev if dev is not None else device()
    return Profile("full" if dev.type == "cuda" else "fast")


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (all devices) and return a torch generator.

    The generator is meant for ``DataLoader(generator=...)`` and
    ``random_split``, so that shuffling is reproducible too.

    Examples
    --------
    >>> g = seed_everything(0)
    >>> a = torch.rand(2)
    >>> _ = seed_everything(0)
    >>> torch.equal(a, torch.rand(2)), torch.equal(torch.rand(2, generator=g), a)
    (True, True)

    Introduced in lesson 00.
    """
    check_int("seed", seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn`` for DataLoader workers: derive NumPy/random seeds.

    PyTorch seeds each worker's torch RNG from the loader's generator; this
    propagates that seed to ``random`` and NumPy, which PyTorch does not.

    Examples
    --------
    >>> _ = torch.manual_seed(3)  # what PyTorch does in a worker
    >>> seed_worker(0)
    >>> a = np.random.rand()
    >>> np.random.seed(3)
    >>> a == np.random.rand()
    True

    Introduced in lesson 00 (:func:`lessonkit.make_loader` passes it).
    """
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def _inline_figures() -> None:
    """In a Jupyter kernel, make sure figures are shown inline.

    A non-interactive backend inherited from the environment (``MPLBACKEND=agg``,
    common on servers and in CI) would otherwise make every figure of a lesson
    silently disappear from the notebook and from the book.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
        return
    import matplotlib

    if "inline" not in matplotlib.get_backend():
        shell.run_line_magic("matplotlib", "inline")


def setup(seed: int = 0, *, verbose: bool = True) -> tuple[Profile, torch.device]:
    """Seed everything, resolve device and profile, and print them once.

    Called in the first cell of every lesson.

    Returns
    -------
    (Profile, torch.device)

    Examples
    --------
    >>> PROFILE, DEVICE = setup(0, verbose=False)
    >>> isinstance(PROFILE, Profile), DEVICE == device()
    (True, True)

    Introduced in lesson 00.
    """
    seed_everything(seed)
    _inline_figures()
    dev = device()
    prof = current_profile(dev)
    if verbose:
        print(f"lessonkit profile: {prof.name} | device: {dev.type} | seed: {seed}")
    return prof, dev
