"""Datasets for the course, resolved cache → offline mirror → official download.

Introduced in lesson 00 ("Your first CNN").

Every file is checked wherever it comes from: against a pinned checksum (and
size, where one is pinned), or, for the one file that has no published
checksum, by a check of its structure. A cached file that fails is replaced.
A download is written to ``<name>.part`` in the cache and renamed only once it
passes, so an interrupted download never leaves a half-written file under the
real name; a ``.part`` left by a killed process is removed on the next attempt.
Writers of one cache entry take a lock (``<cache>/.locks``, on POSIX systems),
so two processes never write the same file. The mirror (``LESSONKIT_MIRROR``) is only ever read.

Where each dataset comes from
-----------------------------
MNIST, Fashion-MNIST
    The original gzip files, from torchvision's official URLs (MD5-pinned).
CIFAR-10
    The mirror's JPEG copy, else the official ``cifar-10-python.tar.gz``.
Cats vs Dogs (``cats_vs_dogs``), ants vs bees (``hymenoptera``)
    The course's own archives (``RELEASE_URL``, SHA-256-pinned, the same bytes
    as the mirror's). When they cannot be had, the set is *derived* from its
    official source into the same cache layout:

    - Cats vs Dogs from Microsoft's ``kagglecatsanddogs_5340.zip``, pinned by
      size and SHA-256 (the figures tensorflow-datasets pins). Rule, per class
      (``PetImages/Cat``, ``PetImages/Dog``): take the ``<id>.jpg`` files in
      ascending numeric id; skip every file that is empty, is not a JPEG or
      does not decode completely with Pillow (the archive has some of each);
      the first 1000 kept go to ``train``, the next 500 to ``val``, the next
      500 to ``test``, as ``cats_vs_dogs/<split>/{cats,dogs}/{cat,dog}.<id>.jpg``.
    - Ants vs bees from the PyTorch tutorial's ``hymenoptera_data.zip``. It
      has **no published checksum**, so its structure is verified instead:
      ``hymenoptera_data/{train,val}/{ants,bees}/*.jpg``, 244 training and 153
      validation images, every one of which decodes. Written as
      ``hymenoptera/<split>/<class>/<name>.jpg``.

    An image already within the size limit (longest side 192 px for Cats vs
    Dogs, 256 px for ants vs bees) that is an RGB JPEG is kept byte for byte;
    any other is shrunk (Pillow ``thumbnail``, Lanczos) and re-encoded as JPEG
    (quality 88 and 90). The course's release archives are built by the same
    code (``scripts/make_release_data.py``), which prints their SHA-256 for
    the pins below and uploads them with ``gh release upload`` on request.
    A derived set can differ from the release in the images chosen, so its
    results can differ slightly from the book's; the official archive is
    deleted from the cache once the set is derived.

Environment variables
---------------------
LESSONKIT_DATA
    The cache directory (default ``$XDG_CACHE_HOME/lessonkit`` or
    ``~/.cache/lessonkit``).
LESSONKIT_MIRROR
    A read-only folder laid out like the course's offline data mirror, e.g.
    ``MNIST/raw/train-images-idx3-ubyte.gz`` or ``cats_vs_dogs.zip``.
LESSONKIT_DOWNLOAD_BASE
    For tests only: a local server that stands in for the official hosts
    (``scripts/serve_official.py``). ``http(s)://HOST/PATH`` is then fetched
    from ``<BASE>/HOST/PATH``; checksums are verified as usual.
LESSONKIT_STANDIN_CATS_VS_DOGS
    For tests only, and honoured only together with ``LESSONKIT_DOWNLOAD_BASE``:
    ``<size>:<sha256>`` of the stand-in server's small Cats vs Dogs archive
    (the real one is 825 MB). It replaces the pinned size and checksum of
    Microsoft's archive, and is the only pinned figure a test replaces.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import os
import re
import shutil
import sys
import tarfile
import urllib.request
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from .profile import seed_worker
from .progress import progress

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "DataUnavailableError",
    "ChecksumError",
    "Source",
    "TensorImageDataset",
    "ImageFolderDataset",
    "cache_dir",
    "mirror_dir",
    "resolve_url",
    "fetch",
    "file_checksum",
    "load_dataset",
    "DATASETS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "make_loader",
    "subset",
    "train_val_split",
    "DeviceLoader",
    "as_tensors",
]

DATA_ENV = "LESSONKIT_DATA"
MIRROR_ENV = "LESSONKIT_MIRROR"
DOWNLOAD_BASE_ENV = "LESSONKIT_DOWNLOAD_BASE"
STANDIN_CATS_VS_DOGS_ENV = "LESSONKIT_STANDIN_CATS_VS_DOGS"

# ImageNet statistics: the standard normalisation for RGB photographs and for
# every ImageNet-pretrained backbone the course uses.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Where the course publishes the archives of its own image-folder subsets
# (identical bytes to the offline mirror's, so the same checksums apply).
# scripts/make_release_data.py builds and uploads them.
RELEASE_TAG = "data-v1"
RELEASE_REPO = "cnn-course/cnns-for-computer-vision"
RELEASE_URL = f"https://github.com/{RELEASE_REPO}/releases/download/{RELEASE_TAG}/"


class DataUnavailableError(RuntimeError):
    """No source could provide a data file; the message lists what was tried."""


class ChecksumError(ValueError):
    """A file's checksum differs from the pinned one."""


# --------------------------------------------------------------------------
# Files: checksums, sources, fetching
# --------------------------------------------------------------------------


def file_checksum(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Return the hex digest of a file (``algorithm`` is any :mod:`hashlib` name)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Source:
    """One data file and where it can come from.

    Parameters
    ----------
    path : str
        Relative path, the same in the cache and in the mirror
        (e.g. ``"MNIST/raw/train-images-idx3-ubyte.gz"``).
    checksum : str or None
        ``"md5:<hex>"`` or ``"sha256:<hex>"``; ``None`` only for a file that has
        no published checksum, which then needs ``check``.
    urls : sequence of str
        Official download URLs, tried in order.
    size : int, optional
        The file's size in bytes, when pinned (checked before the checksum).
    check : callable, optional
        ``check(path)`` raises (``ValueError``, ``OSError``, ...) when the file's
        content is wrong; it replaces the checksum of an unpinned file.

    Examples
    --------
    >>> Source("MNIST/raw/t10k-labels-idx1-ubyte.gz", "md5:ec29112dd5afa0611ce80d1b7f02629c").checksum
    'md5:ec29112dd5afa0611ce80d1b7f02629c'
    """

    path: str
    checksum: str | None
    urls: tuple[str, ...] = ()
    size: int | None = None
    check: Callable[[Path], None] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.checksum is None:
            if self.check is None:
                raise ValueError(f"{self.path}: a file without a pinned checksum needs a check, got neither")
        else:
            algo, _, digest = self.checksum.partition(":")
            if algo not in {"md5", "sha256"} or not digest:
                raise ValueError(f"checksum must look like 'sha256:<hex>' or 'md5:<hex>', got {self.checksum!r}")
        if self.size is not None and (not isinstance(self.size, int) or self.size < 0):
            raise ValueError(f"size must be a non-negative int of bytes, got {self.size!r}")

    def problem(self, path: str | os.PathLike) -> str | None:
        """Why the file at ``path`` is not this source's file, or ``None`` when it is."""
        if self.size is not None:
            actual = os.path.getsize(path)
            if actual != self.size:
                return f"is {actual:,} bytes, not the pinned {self.size:,}"
        if self.checksum is not None:
            algo, _, digest = self.checksum.partition(":")
            if file_checksum(path, algo) != digest.lower():
                return f"does not have the checksum {self.checksum}"
        if self.check is not None:
            try:
                self.check(Path(path))
            except (ValueError, OSError, zipfile.BadZipFile) as exc:
                return f"failed its check ({exc})"
        return None

    def verify(self, path: str | os.PathLike) -> bool:
        """True when the file at ``path`` has this source's size, checksum and structure."""
        return self.problem(path) is None


def cache_dir() -> Path:
    """The cache directory (``LESSONKIT_DATA``, else a per-user cache)."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lessonkit"


def mirror_dir() -> Path | None:
    """The offline mirror (``LESSONKIT_MIRROR``), or ``None`` when unset."""
    env = os.environ.get(MIRROR_ENV)
    return Path(env).expanduser() if env else None


def resolve_url(url: str) -> str:
    """The address to download an official ``url`` from.

    Unchanged, unless ``LESSONKIT_DOWNLOAD_BASE`` names a local stand-in for
    the official hosts (tests only): then ``https://HOST/PATH`` (or ``http``)
    becomes ``<BASE>/HOST/PATH``.

    Introduced in lesson 00 (through :func:`load_dataset`).

    Examples
    --------
    >>> resolve_url("https://example.org/a/b.zip")  # with LESSONKIT_DOWNLOAD_BASE unset
    'https://example.org/a/b.zip'
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, got {type(url).__name__}")
    base = os.environ.get(DOWNLOAD_BASE_ENV)
    scheme, sep, rest = url.partition("://")
    if not base or not sep or scheme.lower() not in {"http", "https"}:
        return url
    return base.rstrip("/") + "/" + rest


def _in_colab() -> bool:
    return "google.colab" in sys.modules


@contextmanager
def _locked(key: str) -> Iterator[None]:
    """Hold an exclusive lock on one cache entry (``key``) across processes and threads."""
    locks = cache_dir() / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / (re.sub(r"[^A-Za-z0-9._-]", "_", key) + ".lock"), "a+b") as f:
        if fcntl is not None:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        yield  # the lock is released when the file is closed


def _part(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _download(url: str, dest: Path, expected: Source) -> None:
    """Download ``url`` to ``dest`` via ``dest.part``; verify, then rename.

    The caller holds the lock of ``dest``, so an existing ``.part`` is a
    leftover of a killed process: it is overwritten, and removed on failure.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = _part(dest)
    try:
        with open(tmp, "wb") as out, urllib.request.urlopen(resolve_url(url), timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with progress(total=total, unit="B", unit_scale=True, desc=dest.name, leave=False) as bar:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
        problem = expected.problem(tmp)
        if problem is not None:
            raise ChecksumError(f"{url} downloaded, but it {problem}")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _try_fetch(source: Source) -> tuple[Path | None, list[str]]:
    """Resolve ``source`` (cache, mirror, downloads); the path or None, and what was tried."""
    tried: list[str] = []
    cached = cache_dir() / source.path
    with _locked(source.path):
        _part(cached).unlink(missing_ok=True)  # a killed download's leftover (we hold the lock)
        if cached.is_file():
            problem = source.problem(cached)
            if problem is None:
                return cached, tried
            cached.unlink()
            tried.append(f"cache: {cached} {problem} (deleted)")
        else:
            tried.append(f"cache: {cached} does not exist")

        mirror = mirror_dir()
        if mirror is None:
            tried.append(f"mirror: {MIRROR_ENV} is not set")
        else:
            candidate = mirror / source.path
            if not candidate.is_file():
                tried.append(f"mirror: {candidate} does not exist")
            else:
                problem = source.problem(candidate)
                if problem is None:
                    return candidate, tried
                tried.append(f"mirror: {candidate} {problem} (left untouched)")

        for url in source.urls:
            shown = url if resolve_url(url) == url else f"{url} (via {resolve_url(url)})"
            try:
                _download(url, cached, source)
                return cached, tried
            except Exception as exc:  # noqa: BLE001 - every failure is reported below
                tried.append(f"download: {shown} failed ({type(exc).__name__}: {exc})")
        if not source.urls:
            tried.append("download: no official URL is known for this file")
    return None, tried


def _advice(sources: Sequence[Source]) -> str:
    """What the reader can do, worded for where the code runs (Colab, a laptop, a build machine)."""
    urls = [u for s in sources for u in s.urls]
    lines = ["Fix: check the internet connection and run the cell again (an interrupted download starts afresh)."]
    if urls:
        lines.append(
            "If it keeps failing, open " + " or ".join(urls) + " in a browser to see whether the site is reachable, "
            "and try again later if it is down."
        )
    mirror = mirror_dir()
    if mirror is not None and not _in_colab():
        lines.append(f"Or put {' / '.join(s.path for s in sources)} into the offline mirror {mirror} ({MIRROR_ENV}).")
    return "\n".join(lines)


def _unavailable(what: str, attempts: Sequence[tuple[Source, list[str]]]) -> DataUnavailableError:
    parts = [f"Could not get {what}."]
    for source, tried in attempts:
        parts.append(f"Tried, for {source.path!r}:\n  - " + "\n  - ".join(tried))
    parts.append(_advice([s for s, _ in attempts]))
    return DataUnavailableError("\n".join(parts))


def fetch(source: Source) -> Path:
    """Return a verified local path for ``source``.

    Tries, in order: the cache (a corrupt cached file is deleted and replaced),
    the mirror (read in place, never written), each official URL (downloaded
    into the cache). Raises :class:`DataUnavailableError` listing every attempt,
    and what to do about it, when none succeeds.

    Examples
    --------
    >>> path = fetch(Source("MNIST/raw/t10k-labels-idx1-ubyte.gz", "md5:ec29112dd5afa0611ce80d1b7f02629c"))  # doctest: +SKIP
    """
    if not isinstance(source, Source):
        raise TypeError(f"source must be a lessonkit Source, got {type(source).__name__}")
    path, tried = _try_fetch(source)
    if path is None:
        raise _unavailable(repr(source.path), [(source, tried)])
    return path


@contextmanager
def _staging(target: Path) -> Iterator[Path]:
    """A fresh ``<target>.part`` directory that replaces ``target`` when the block succeeds.

    Directories are created with ``os.mkdir`` (mode 0777 minus the umask, like
    any folder the user makes), never ``mkdtemp``'s 0700. The caller holds
    the entry's lock, so an existing ``.part`` is a killed process's leftover.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    if tmp.exists():
        shutil.rmtree(tmp)
    os.mkdir(tmp)
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


_MARKER = ".lessonkit-complete"


def _complete(target: Path, markers: Sequence[str]) -> bool:
    marker = target / _MARKER
    return marker.is_file() and marker.read_text().strip() in markers


def _extract(archive: Path, name: str, checksum: str) -> Path:
    """Extract a zip or tar archive into ``cache_dir()/name`` exactly once.

    The archive's checksum is recorded in a marker written last, so a partial
    or stale extraction is detected and redone. Extraction goes to a staging
    directory that is renamed into place.
    """
    target = cache_dir() / name
    if _complete(target, [checksum]):
        return target
    with _locked("dir-" + name):
        if _complete(target, [checksum]):  # another process finished meanwhile
            return target
        with _staging(target) as tmp:
            if zipfile.is_zipfile(archive):
                with zipfile.ZipFile(archive) as zf:
                    zf.extractall(tmp)
            else:
                with tarfile.open(archive) as tf:
                    if hasattr(tarfile, "data_filter"):  # Python 3.11.4+
                        tf.extractall(tmp, filter="data")
                    else:  # the same safety by hand: plain files and folders inside tmp only
                        for member in tf.getmembers():
                            if not (member.isfile() or member.isdir()) or member.name.startswith("/") or ".." in Path(member.name).parts:
                                raise ValueError(f"{archive.name}: unsafe member {member.name!r}")
                        tf.extractall(tmp)
            (tmp / _MARKER).write_text(checksum)
    return target


def _atomic_save_npz(path: Path, **arrays: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _part(path)
    with _locked(f"npz-{path.parent.name}-{path.name}"):
        try:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------


class TensorImageDataset(Dataset):
    """Images held in memory as one ``uint8`` tensor.

    Items are ``(image, label)`` with ``image`` a float tensor of shape
    ``(C, H, W)``: scaled to [0, 1], normalised with ``mean``/``std`` when
    ``normalize`` is true, then passed through ``transform`` if given.

    Attributes
    ----------
    images : torch.Tensor
        ``uint8``, shape ``(N, C, H, W)``.
    targets : torch.Tensor
        ``int64``, shape ``(N,)``.
    classes : list of str
    mean, std : tuple of float
        Per-channel statistics of the *training* split.
    """

    def __init__(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        classes: Sequence[str],
        mean: Sequence[float],
        std: Sequence[float],
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        normalize: bool = True,
    ) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(
                f"images must be a uint8 tensor of shape (N, C, H, W), got {images.dtype} of shape {tuple(images.shape)}"
            )
        if targets.ndim != 1 or len(targets) != len(images):
            raise ValueError(f"targets must have shape ({len(images)},), got {tuple(targets.shape)}")
        if len(mean) != images.shape[1] or len(std) != images.shape[1]:
            raise ValueError(f"mean and std need {images.shape[1]} values, got {len(mean)} and {len(std)}")
        self.images = images
        self.targets = targets.long()
        self.classes = list(classes)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.transform = transform
        self.normalize = normalize
        self._mean_t = torch.tensor(self.mean).view(-1, 1, 1)
        self._std_t = torch.tensor(self.std).view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x = self.images[index].float().div_(255)
        if self.normalize:
            x = (x - self._mean_t) / self._std_t
        if self.transform is not None:
            x = self.transform(x)
        return x, int(self.targets[index])

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Undo the normalisation (for display); works on ``(C,H,W)`` or ``(N,C,H,W)``."""
        return x * self._std_t.to(x.device) + self._mean_t.to(x.device) if self.normalize else x

    def __repr__(self) -> str:
        n, c, h, w = self.images.shape
        return f"{type(self).__name__}({n} images, {c}x{h}x{w}, {len(self.classes)} classes)"


class ImageFolderDataset(Dataset):
    """Photographs of varying size in ``root/<class>/*.jpg`` (torchvision's layout).

    Items are ``(transform(PIL image), label)``. ``mean``/``std`` are the
    ImageNet statistics, the right normalisation for pretrained backbones.
    """

    def __init__(self, root: str | os.PathLike, transform: Callable | None = None) -> None:
        from torchvision.datasets import ImageFolder

        self._folder = ImageFolder(str(root), transform=transform)
        self.root = Path(root)
        self.classes = list(self._folder.classes)
        self.targets = torch.tensor(self._folder.targets, dtype=torch.long)
        self.samples = self._folder.samples
        self.mean, self.std = IMAGENET_MEAN, IMAGENET_STD

    @property
    def transform(self) -> Callable | None:
        return self._folder.transform

    @transform.setter
    def transform(self, value: Callable | None) -> None:
        self._folder.transform = value

    def __len__(self) -> int:
        return len(self._folder)

    def __getitem__(self, index: int):
        return self._folder[index]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} images, {len(self.classes)} classes: {self.classes})"


def _read_idx_gz(path: Path) -> np.ndarray:
    """Parse a gzipped IDX file (the MNIST format) into a NumPy array."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims))
    if len(data) - offset != expected:
        raise ValueError(f"{path}: header says {dims} ({expected} bytes), file holds {len(data) - offset}")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims)


def _channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    x = images.float().div_(255)
    dims = (0, 2, 3)
    return tuple(x.mean(dims).tolist()), tuple(x.std(dims).tolist())


def _mnist_like(folder: str, tv_class_name: str, classes: Sequence[str]):
    import torchvision.datasets as tvd

    tv_class = getattr(tvd, tv_class_name)
    sources = {
        name: Source(
            f"{folder}/raw/{name}",
            f"md5:{md5}",
            tuple(mirror + name for mirror in tv_class.mirrors),
        )
        for name, md5 in tv_class.resources
    }

    def load(split: str) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        prefix = "train" if split == "train" else "t10k"
        images = _read_idx_gz(fetch(sources[f"{prefix}-images-idx3-ubyte.gz"]))
        labels = _read_idx_gz(fetch(sources[f"{prefix}-labels-idx1-ubyte.gz"]))
        return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64)), list(classes)

    load.sources = list(sources.values())  # type: ignore[attr-defined]
    return load


FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

_CIFAR_JPEG = Source(
    "cifar10-jpeg.zip",
    "sha256:270d9b8bc3428da1d61eced47abe3d3e033e49b921e1f68e1dd9091d7261d123",
)
_CIFAR_PY = Source(
    "cifar-10-python.tar.gz",
    "md5:c58f30108f718f92721af3b95e74349a",
    ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
)


def _load_cifar10(split: str) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """CIFAR-10 from the mirror's JPEG folders, else torchvision's official archive."""
    npz = cache_dir() / "cifar10" / f"{split}.npz"
    if npz.is_file():
        try:
            with np.load(npz) as z:
                return torch.from_numpy(z["images"]), torch.from_numpy(z["labels"]), CIFAR10_CLASSES
        except Exception:  # noqa: BLE001 - a corrupt derived file is rebuilt
            npz.unlink()
    try:
        archive = fetch(_CIFAR_JPEG)
        root = _extract(archive, "cifar10-jpeg", _CIFAR_JPEG.checksum) / "cifar10-jpeg" / split
        from PIL import Image

        images, labels = [], []
        files = [(c, p) for c, cls in enumerate(CIFAR10_CLASSES) for p in sorted((root / cls).glob("*.jpg"))]
        for c, p in progress(files, desc=f"decoding CIFAR-10 {split}", leave=False):
            with Image.open(p) as im:
                images.append(np.asarray(im.convert("RGB")))
            labels.append(c)
        arr = np.stack(images).transpose(0, 3, 1, 2).copy()
        lab = np.asarray(labels, dtype=np.int64)
    except DataUnavailableError as first:
        try:
            archive = fetch(_CIFAR_PY)
        except DataUnavailableError as second:
            raise DataUnavailableError(f"CIFAR-10 is unavailable in either form.\n{first}\n{second}") from None
        import pickle

        root = _extract(archive, "cifar10-python", _CIFAR_PY.checksum) / "cifar-10-batches-py"
        names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
        parts, labs = [], []
        for n in names:
            with open(root / n, "rb") as f:
                d = pickle.load(f, encoding="latin1")
            parts.append(np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labs.append(np.asarray(d["labels"], dtype=np.int64))
        arr, lab = np.concatenate(parts), np.concatenate(labs)
    _atomic_save_npz(npz, images=arr, labels=lab)
    return torch.from_numpy(arr), torch.from_numpy(lab), CIFAR10_CLASSES


# ---------------------------------------------------------------- image folders
# The course's own archives: the same bytes as the offline mirror's.
_CATS_VS_DOGS = Source(
    "cats_vs_dogs.zip",
    "sha256:2b3b31d8954c00c1aed6ace6ddff1a0a82814ff3623423a73dda02bbb3024651",
    (RELEASE_URL + "cats_vs_dogs.zip",),
)
_HYMENOPTERA = Source(
    "hymenoptera.zip",
    "sha256:634e8a76ec4caed2eed6245de68a035d190277a87267777315372c94d19c769f",
    (RELEASE_URL + "hymenoptera.zip",),
)

#: Images per split and class of the course's Cats vs Dogs subset, in the order they are taken.
CATS_VS_DOGS_SPLITS = {"train": 1000, "val": 500, "test": 500}
#: Images per split (both classes together) of the official ants vs bees set.
HYMENOPTERA_SPLITS = {"train": 244, "val": 153}
_CATS_VS_DOGS_IMAGE = {"max_side": 192, "quality": 88}
_HYMENOPTERA_IMAGE = {"max_side": 256, "quality": 90}
# Bumped whenever a derivation rule changes, so that derived caches are redone.
_CATS_VS_DOGS_RULE = "cats_vs_dogs-from-PetImages-v1"
_HYMENOPTERA_RULE = "hymenoptera-from-hymenoptera_data-v1"


def _small_jpeg(data: bytes, max_side: int, quality: int) -> bytes | None:
    """The JPEG ``data`` with its longest side at most ``max_side``; ``None`` if it is not a decodable JPEG.

    An RGB JPEG already small enough is returned unchanged (byte for byte);
    any other is shrunk with Lanczos and re-encoded at ``quality``.
    """
    from PIL import Image

    if not data:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about odd EXIF in some photographs
            with Image.open(io.BytesIO(data)) as im:
                if im.format != "JPEG":
                    return None
                if max(im.size) <= max_side and im.mode == "RGB":
                    im.load()  # decodes every byte: a truncated file raises here
                    return data
                im.load()
                small = im.convert("RGB")
                small.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
                out = io.BytesIO()
                small.save(out, format="JPEG", quality=quality)
                return out.getvalue()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def _decodes_as_jpeg(data: bytes) -> bool:
    """True when ``data`` is a JPEG that Pillow decodes completely."""
    from PIL import Image

    if not data:
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                if im.format != "JPEG":
                    return False
                im.load()
                return True
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False


_PET_IMAGE = re.compile(r"PetImages/(Cat|Dog)/(\d+)\.jpg")


def _derive_cats_vs_dogs(archive: Path, out: Path) -> dict[str, list[int]]:
    """Write the course's Cats vs Dogs subset from Microsoft's archive into ``out/cats_vs_dogs``.

    The rule is in the module docstring. Returns the ids skipped per class
    (empty, not a JPEG, or not decodable).
    """
    need = sum(CATS_VS_DOGS_SPLITS.values())
    skipped: dict[str, list[int]] = {}
    with zipfile.ZipFile(archive) as zf:
        members: dict[str, list[tuple[int, zipfile.ZipInfo]]] = {"Cat": [], "Dog": []}
        for info in zf.infolist():
            m = _PET_IMAGE.fullmatch(info.filename)
            if m:
                members[m.group(1)].append((int(m.group(2)), info))
        for cls, entries in members.items():
            kept: list[tuple[int, bytes]] = []
            skipped[cls] = []
            for image_id, info in progress(sorted(entries, key=lambda e: e[0]), desc=f"checking {cls} images", leave=False):
                if len(kept) == need:
                    break
                jpeg = _small_jpeg(zf.read(info), **_CATS_VS_DOGS_IMAGE)
                if jpeg is None:
                    skipped[cls].append(image_id)
                else:
                    kept.append((image_id, jpeg))
            if len(kept) < need:
                raise ValueError(
                    f"{archive.name}: PetImages/{cls} has {len(kept)} decodable JPEGs, the course's subset needs {need}"
                )
            start = 0
            for split, n in CATS_VS_DOGS_SPLITS.items():
                folder = out / "cats_vs_dogs" / split / (cls.lower() + "s")
                folder.mkdir(parents=True, exist_ok=True)
                for image_id, jpeg in kept[start : start + n]:
                    (folder / f"{cls.lower()}.{image_id}.jpg").write_bytes(jpeg)
                start += n
    return skipped


_HYMENOPTERA_IMAGE_PATH = re.compile(r"hymenoptera_data/(train|val)/(ants|bees)/([^/]+\.jpe?g)", re.IGNORECASE)


def _hymenoptera_members(zf: zipfile.ZipFile) -> dict[tuple[str, str], list[zipfile.ZipInfo]]:
    found: dict[tuple[str, str], list[zipfile.ZipInfo]] = {
        (s, c): [] for s in HYMENOPTERA_SPLITS for c in ("ants", "bees")
    }
    for info in zf.infolist():
        m = _HYMENOPTERA_IMAGE_PATH.fullmatch(info.filename)
        if m and (m.group(1), m.group(2)) in found:
            found[(m.group(1), m.group(2))].append(info)
    return found


def _check_hymenoptera(archive: Path) -> None:
    """Verify the structure of ``hymenoptera_data.zip``, which has no published checksum.

    Raises ``ValueError`` unless it holds ``hymenoptera_data/{train,val}/{ants,bees}/*.jpg``
    with 244 training and 153 validation images, every one of which decodes.
    Other files are ignored, as torchvision's ``ImageFolder`` would ignore them.
    """
    with zipfile.ZipFile(archive) as zf:
        found = _hymenoptera_members(zf)
        for (split, cls), infos in found.items():
            if not infos:
                raise ValueError(f"hymenoptera_data.zip has no hymenoptera_data/{split}/{cls}/*.jpg")
        for split, expected in HYMENOPTERA_SPLITS.items():
            n = len(found[(split, "ants")]) + len(found[(split, "bees")])
            if n != expected:
                raise ValueError(f"hymenoptera_data.zip: hymenoptera_data/{split} holds {n} JPEGs, expected {expected}")
        for infos in found.values():
            for info in infos:
                if not _decodes_as_jpeg(zf.read(info)):
                    raise ValueError(f"hymenoptera_data.zip: {info.filename} does not decode as a JPEG")


def _derive_hymenoptera(archive: Path, out: Path) -> dict[str, list[int]]:
    """Write ants vs bees from the official ``hymenoptera_data.zip`` into ``out/hymenoptera``.

    The archive has passed :func:`_check_hymenoptera` (as the ``check`` of its Source).
    """
    with zipfile.ZipFile(archive) as zf:
        for (split, cls), infos in _hymenoptera_members(zf).items():
            folder = out / "hymenoptera" / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for info in infos:
                jpeg = _small_jpeg(zf.read(info), **_HYMENOPTERA_IMAGE)
                if jpeg is None:
                    raise ValueError(f"{archive.name}: {info.filename} does not decode as a JPEG")
                (folder / info.filename.rsplit("/", 1)[1]).write_bytes(jpeg)
    return {}


_CATS_VS_DOGS_OFFICIAL = Source(
    "official/kagglecatsanddogs_5340.zip",
    "sha256:b7974bd00a84a99921f36ee4403f089853777b5ae8d151c76a86e64900334af9",
    ("https://download.microsoft.com/download/3/E/1/3E1C3F21-ECDB-4869-8368-6DEBA77B919F/kagglecatsanddogs_5340.zip",),
    size=824_887_076,
)
_HYMENOPTERA_OFFICIAL = Source(
    "official/hymenoptera_data.zip",
    None,  # no published checksum: the structure is checked instead
    ("https://download.pytorch.org/tutorial/hymenoptera_data.zip",),
    check=_check_hymenoptera,
)


def _official_source(name: str) -> Source:
    """The official source of an image-folder set, with the stand-in server's pin in tests."""
    if name == "hymenoptera":
        return _HYMENOPTERA_OFFICIAL
    pin = os.environ.get(STANDIN_CATS_VS_DOGS_ENV)
    if not pin:
        return _CATS_VS_DOGS_OFFICIAL
    if not os.environ.get(DOWNLOAD_BASE_ENV):
        raise ValueError(
            f"{STANDIN_CATS_VS_DOGS_ENV} replaces the pinned checksum of Microsoft's archive and is honoured only "
            f"with {DOWNLOAD_BASE_ENV} (a local stand-in server, in tests); unset it"
        )
    size, _, digest = pin.partition(":")
    if not size.isdigit() or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ValueError(f"{STANDIN_CATS_VS_DOGS_ENV} must be '<size>:<sha256 hex>', got {pin!r}")
    return replace(_CATS_VS_DOGS_OFFICIAL, checksum="sha256:" + digest, size=int(size))


@dataclass(frozen=True)
class _FolderSet:
    title: str
    release: Source
    splits: tuple[str, ...]
    derive: Callable[[Path, Path], dict[str, list[int]]]
    rule: str


_FOLDER_SETS = {
    "cats_vs_dogs": _FolderSet("the Cats vs Dogs images", _CATS_VS_DOGS, ("train", "val", "test"), _derive_cats_vs_dogs, _CATS_VS_DOGS_RULE),
    "hymenoptera": _FolderSet("the ants vs bees images", _HYMENOPTERA, ("train", "val"), _derive_hymenoptera, _HYMENOPTERA_RULE),
}


def _derived_marker(name: str) -> str:
    official = _official_source(name)
    return f"derived:{_FOLDER_SETS[name].rule}:{official.checksum or 'structure-checked'}"


def _image_folder_root(name: str) -> Path:
    """``cache/<name>``, holding ``<name>/<split>/<class>/*.jpg``: the release's archive, else derived.

    Order: a complete extraction (of the release, or derived earlier) in the
    cache; the release archive (cache, mirror, download); the official source
    (cache, mirror, download), from which the set is derived.
    """
    spec = _FOLDER_SETS[name]
    target = cache_dir() / name
    assert spec.release.checksum is not None  # the course's own archives are always pinned
    markers = [spec.release.checksum, _derived_marker(name)]
    if _complete(target, markers):
        return target
    archive, tried_release = _try_fetch(spec.release)
    if archive is not None:
        return _extract(archive, name, spec.release.checksum)
    official = _official_source(name)
    archive, tried_official = _try_fetch(official)
    if archive is None:
        raise _unavailable(
            f"{spec.title}: neither the course's archive nor its official source could be had",
            [(spec.release, tried_release), (official, tried_official)],
        )
    with _locked("dir-" + name):
        if not _complete(target, markers):
            with _staging(target) as tmp:
                spec.derive(archive, tmp)
                (tmp / _MARKER).write_text(_derived_marker(name))
    if archive.is_relative_to(cache_dir()):
        archive.unlink(missing_ok=True)  # the derived set is what is kept (the official archive can be large)
    return target


_TENSOR_LOADERS = {
    "mnist": _mnist_like("MNIST", "MNIST", [str(i) for i in range(10)]),
    "fashion_mnist": _mnist_like("FashionMNIST", "FashionMNIST", FASHION_CLASSES),
    "cifar10": _load_cifar10,
}

#: Names accepted by :func:`load_dataset`.
DATASETS = tuple(_TENSOR_LOADERS) + tuple(_FOLDER_SETS)
_SPLITS = {"mnist": ("train", "test"), "fashion_mnist": ("train", "test"), "cifar10": ("train", "test")}
_SPLITS.update({k: v.splits for k, v in _FOLDER_SETS.items()})


def load_dataset(
    name: str,
    split: str = "train",
    transform: Callable | None = None,
    *,
    normalize: bool = True,
) -> TensorImageDataset | ImageFolderDataset:
    """Load one split of a course dataset.

    Parameters
    ----------
    name : {"mnist", "fashion_mnist", "cifar10", "cats_vs_dogs", "hymenoptera"}
    split : str
        ``"train"``/``"test"`` for MNIST, Fashion-MNIST and CIFAR-10;
        ``"train"``/``"val"``/``"test"`` for Cats vs Dogs; ``"train"``/``"val"``
        for ants vs bees (``"hymenoptera"``).
    transform : callable, optional
        Tensor datasets: applied to the normalised ``(C, H, W)`` float tensor.
        Image-folder datasets: applied to the PIL image (it must produce a tensor
        for batching).
    normalize : bool
        Tensor datasets only: normalise with the training split's per-channel
        mean and std (computed from the data, stored as ``.mean``/``.std``).

    Every file comes from the cache, the offline mirror or an official
    download, verified (see the module docstring). Cats vs Dogs and ants vs
    bees come from the course's release archive, or, when it cannot be had,
    are derived once from their official sources by a fixed rule.

    Returns
    -------
    TensorImageDataset or ImageFolderDataset
        Both have ``.classes``, ``.targets``, ``.mean`` and ``.std``.

    Examples
    --------
    >>> train = load_dataset("fashion_mnist", "train")  # doctest: +SKIP
    >>> train.classes[1], train[0][0].shape  # doctest: +SKIP
    ('Trouser', torch.Size([1, 28, 28]))
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {DATASETS}")
    if split not in _SPLITS[name]:
        raise ValueError(f"dataset {name!r} has splits {_SPLITS[name]}, got {split!r}")
    if name in _FOLDER_SETS:
        return ImageFolderDataset(_image_folder_root(name) / name / split, transform=transform)
    loader = _TENSOR_LOADERS[name]
    images, targets, classes = loader(split)
    train_images = images if split == "train" else loader("train")[0]
    mean, std = _channel_stats(train_images)
    return TensorImageDataset(images, targets, classes, mean, std, transform=transform, normalize=normalize)


def subset(dataset: Dataset, n: int | None, seed: int = 0, stratified: bool = True) -> Dataset:
    """A reproducible subset of ``n`` items (all of them when ``n`` is None).

    With ``stratified`` (the default) every class keeps its share, so a small
    fast-profile subset stays balanced. The result keeps ``classes``.
    """
    total = len(dataset)  # type: ignore[arg-type]
    if n is None or n >= total:
        return dataset
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    g = torch.Generator().manual_seed(seed)
    targets = getattr(dataset, "targets", None)
    if stratified and targets is not None:
        targets = torch.as_tensor(targets)
        order = torch.randperm(total, generator=g)
        # Round-robin over classes in a random order: balanced and reproducible.
        per_class = [order[targets[order] == c] for c in torch.unique(targets)]
        rank = torch.empty(total, dtype=torch.long)
        for idx in per_class:
            rank[idx] = torch.arange(len(idx))
        key = rank.double() + torch.rand(total, generator=g).double() * 0.5
        indices = torch.argsort(key)[:n].sort().values
    else:
        indices = torch.randperm(total, generator=g)[:n].sort().values
    sub = torch.utils.data.Subset(dataset, indices.tolist())
    sub.classes = getattr(dataset, "classes", None)  # type: ignore[attr-defined]
    if targets is not None:
        sub.targets = torch.as_tensor(targets)[indices]  # type: ignore[attr-defined]
    return sub


def train_val_split(dataset: Dataset, val_size: int, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Split off a stratified validation set of ``val_size`` items.

    Introduced in lesson 00: the test set is kept for the final figure only,
    and choices (epochs, learning rate) are made on the validation set.

    Returns
    -------
    (train, val) : two disjoint ``Subset`` s keeping ``classes`` and ``targets``.
    """
    total = len(dataset)  # type: ignore[arg-type]
    if not 0 < val_size < total:
        raise ValueError(f"val_size must be between 1 and {total - 1}, got {val_size}")
    val = subset(dataset, val_size, seed=seed)
    chosen = set(val.indices)  # type: ignore[attr-defined]
    rest = [i for i in range(total) if i not in chosen]
    train = torch.utils.data.Subset(dataset, rest)
    train.classes = getattr(dataset, "classes", None)  # type: ignore[attr-defined]
    targets = getattr(dataset, "targets", None)
    if targets is not None:
        train.targets = torch.as_tensor(targets)[rest]  # type: ignore[attr-defined]
    return train, val


def make_loader(
    dataset: Dataset,
    batch_size: int = 128,
    shuffle: bool = False,
    seed: int = 0,
    num_workers: int = 0,
    **kwargs,
) -> DataLoader:
    """A DataLoader whose shuffling and worker RNGs are seeded (reproducible)."""
    g = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=g,
        num_workers=num_workers,
        worker_init_fn=seed_worker if num_workers > 0 else None,
        **kwargs,
    )


class DeviceLoader:
    """Batches sliced from one in-memory tensor on the device: no per-sample work.

    Holds the whole (normalised, float) dataset on ``device`` and yields
    ``(x, y)`` batches, reshuffled each epoch with a seeded generator. With a
    batch transform inside :func:`lessonkit.fit`, this is the fast augmented
    data path of lesson 07.

    Parameters
    ----------
    dataset : dataset with ``.images`` (uint8 ``(N, C, H, W)``), ``.targets``,
        ``.mean`` and ``.std``, or an ``(images, targets)`` pair of tensors
        (float images used as they are).
    batch_size : int
    shuffle : bool
    device : torch.device or str
    seed : int

    Examples
    --------
    >>> loader = DeviceLoader((torch.zeros(10, 1, 4, 4), torch.zeros(10, dtype=torch.long)), batch_size=4)
    >>> [len(y) for _, y in loader]
    [4, 4, 2]

    Introduced in lesson 04.
    """

    def __init__(self, dataset, batch_size: int = 128, shuffle: bool = False, device: torch.device | str = "cpu", seed: int = 0) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.device = torch.device(device)
        if isinstance(dataset, (tuple, list)) and len(dataset) == 2:
            images, targets = dataset
            if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.dtype.is_floating_point:
                raise ValueError(f"images must be a float (N, C, H, W) tensor, got {getattr(images, 'dtype', type(images).__name__)}")
        else:
            images, targets = as_tensors(dataset)
        targets = torch.as_tensor(targets).long()
        if targets.shape != (images.shape[0],):
            raise ValueError(f"targets must have shape ({images.shape[0]},), got {tuple(targets.shape)}")
        self.images = images.to(self.device)
        self.targets = targets.to(self.device)
        self.batch_size, self.shuffle = batch_size, shuffle
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.targets) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.targets)
        order = torch.randperm(n, generator=self.generator).to(self.device) if self.shuffle else None
        for i in range(0, n, self.batch_size):
            if order is None:
                yield self.images[i : i + self.batch_size], self.targets[i : i + self.batch_size]
            else:
                idx = order[i : i + self.batch_size]
                yield self.images[idx], self.targets[idx]


def _base_and_indices(dataset) -> tuple[TensorImageDataset, torch.Tensor | None]:
    """The TensorImageDataset under a ``Subset`` (of a ``Subset`` ...) and the composed indices into it.

    ``indices`` is ``None`` for the dataset itself. Used by :func:`as_tensors` and
    :class:`lessonkit.PILAugmentedDataset`.
    """
    indices = None
    base = dataset
    while isinstance(base, torch.utils.data.Subset):  # a subset of a subset ...: compose the indices
        idx = torch.as_tensor(base.indices, dtype=torch.long)
        indices = idx if indices is None else idx[indices]
        base = base.dataset
    for attr in ("images", "targets", "mean", "std"):
        if not hasattr(base, attr):
            raise TypeError(
                f"expected a TensorImageDataset (or a Subset of one) with .{attr}, or an (images, targets) pair; "
                f"got {type(dataset).__name__}"
            )
    return base, indices


def as_tensors(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole dataset as two tensors: normalised float images and targets.

    Parameters
    ----------
    dataset : TensorImageDataset, or a ``Subset`` (of a ``Subset`` ...) of one

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        ``(N, C, H, W)`` float32 images (normalised as the dataset's items are,
        without its per-item ``transform``) and ``(N,)`` int64 targets.

    Examples
    --------
    >>> x, y = as_tensors(test_set)  # doctest: +SKIP

    Introduced in lesson 02.
    """
    base, indices = _base_and_indices(dataset)
    images, targets = base.images, torch.as_tensor(base.targets)
    if indices is not None:
        images, targets = images[indices], targets[indices]
    x = images.float().div_(255)
    if getattr(base, "normalize", True):
        x = (x - torch.tensor(base.mean).view(1, -1, 1, 1)) / torch.tensor(base.std).view(1, -1, 1, 1)
    return x, targets
