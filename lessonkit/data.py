"""Datasets for the course, resolved cache → offline mirror → official download.

Introduced in lesson 00 ("Your first CNN").

Every file is checked against a pinned checksum wherever it comes from. A
cached file that fails the check is replaced; a download is written to a
temporary name in the cache and renamed only once its checksum matches, so an
interrupted download never leaves a half-written file behind. The mirror
(``LESSONKIT_MIRROR``) is only ever read.

Environment variables
---------------------
LESSONKIT_DATA
    The cache directory (default ``$XDG_CACHE_HOME/lessonkit`` or
    ``~/.cache/lessonkit``).
LESSONKIT_MIRROR
    A read-only folder laid out like the course's offline data mirror, e.g.
    ``MNIST/raw/train-images-idx3-ubyte.gz`` or ``cats_vs_dogs.zip``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from .profile import seed_worker
from .progress import progress

__all__ = [
    "DataUnavailableError",
    "ChecksumError",
    "Source",
    "TensorImageDataset",
    "ImageFolderDataset",
    "cache_dir",
    "mirror_dir",
    "fetch",
    "file_checksum",
    "load_dataset",
    "DATASETS",
    "make_loader",
    "subset",
    "train_val_split",
]

DATA_ENV = "LESSONKIT_DATA"
MIRROR_ENV = "LESSONKIT_MIRROR"

# ImageNet statistics: the standard normalisation for RGB photographs and for
# every ImageNet-pretrained backbone the course uses.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Where the course publishes the archives of its own image-folder subsets
# (identical bytes to the offline mirror's, so the same checksums apply).
RELEASE_URL = "https://github.com/cnn-course/cnns-for-computer-vision/releases/download/data-v1/"


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
    checksum : str
        ``"md5:<hex>"`` or ``"sha256:<hex>"``.
    urls : sequence of str
        Official download URLs, tried in order.
    """

    path: str
    checksum: str
    urls: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        algo, _, digest = self.checksum.partition(":")
        if algo not in {"md5", "sha256"} or not digest:
            raise ValueError(f"checksum must look like 'sha256:<hex>' or 'md5:<hex>', got {self.checksum!r}")

    def verify(self, path: str | os.PathLike) -> bool:
        """True when the file at ``path`` has this source's checksum."""
        algo, _, digest = self.checksum.partition(":")
        return file_checksum(path, algo) == digest.lower()


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


def _download(url: str, dest: Path, expected: Source) -> None:
    """Download ``url`` to ``dest`` via a temporary file; verify, then rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with progress(total=total, unit="B", unit_scale=True, desc=dest.name, leave=False) as bar:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
        if not expected.verify(tmp):
            raise ChecksumError(f"{url} downloaded, but its checksum is not {expected.checksum}")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def fetch(source: Source) -> Path:
    """Return a verified local path for ``source``.

    Tries, in order: the cache (a corrupt cached file is deleted and replaced),
    the mirror (read in place, never written), each official URL (downloaded
    into the cache). Raises :class:`DataUnavailableError` listing every attempt
    when none succeeds.
    """
    tried: list[str] = []
    cached = cache_dir() / source.path
    if cached.is_file():
        if source.verify(cached):
            return cached
        cached.unlink()
        tried.append(f"cache: {cached} had the wrong checksum (deleted)")
    else:
        tried.append(f"cache: {cached} does not exist")

    mirror = mirror_dir()
    if mirror is None:
        tried.append(f"mirror: {MIRROR_ENV} is not set")
    else:
        candidate = mirror / source.path
        if not candidate.is_file():
            tried.append(f"mirror: {candidate} does not exist")
        elif not source.verify(candidate):
            tried.append(f"mirror: {candidate} has the wrong checksum (left untouched)")
        else:
            return candidate

    for url in source.urls:
        try:
            _download(url, cached, source)
            return cached
        except Exception as exc:  # noqa: BLE001 - every failure is reported below
            tried.append(f"download: {url} failed ({type(exc).__name__}: {exc})")
    if not source.urls:
        tried.append("download: no official URL is known for this file")

    raise DataUnavailableError(
        f"Could not get {source.path!r}. Tried:\n  - "
        + "\n  - ".join(tried)
        + f"\nFix: connect to the internet, or point {MIRROR_ENV} at a folder that holds "
        f"{source.path!r} (the course's offline mirror, e.g. ../shared/data), "
        f"or place the file in {cache_dir()} ({DATA_ENV})."
    )


def _extract(archive: Path, name: str, checksum: str) -> Path:
    """Extract a zip or tar archive into ``cache_dir()/name`` exactly once.

    The archive's checksum is recorded in a marker written last, so a partial
    or stale extraction is detected and redone. Extraction goes to a temporary
    directory that is renamed into place.
    """
    target = cache_dir() / name
    marker = target / ".lessonkit-complete"
    if marker.is_file() and marker.read_text().strip() == checksum:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=name + ".", suffix=".part", dir=target.parent))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(tmp)
        else:
            with tarfile.open(archive) as tf:
                tf.extractall(tmp, filter="data")
        (tmp / ".lessonkit-complete").write_text(checksum)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _atomic_save_npz(path: Path, **arrays: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


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


def _folder_source(name: str, sha256: str) -> Source:
    return Source(f"{name}.zip", f"sha256:{sha256}", (RELEASE_URL + f"{name}.zip",))


_CATS_VS_DOGS = _folder_source("cats_vs_dogs", "2b3b31d8954c00c1aed6ace6ddff1a0a82814ff3623423a73dda02bbb3024651")
_HYMENOPTERA = _folder_source("hymenoptera", "634e8a76ec4caed2eed6245de68a035d190277a87267777315372c94d19c769f")

_TENSOR_LOADERS = {
    "mnist": _mnist_like("MNIST", "MNIST", [str(i) for i in range(10)]),
    "fashion_mnist": _mnist_like("FashionMNIST", "FashionMNIST", FASHION_CLASSES),
    "cifar10": _load_cifar10,
}
_FOLDER_SOURCES = {"cats_vs_dogs": (_CATS_VS_DOGS, ("train", "val", "test")), "hymenoptera": (_HYMENOPTERA, ("train", "val"))}

#: Names accepted by :func:`load_dataset`.
DATASETS = tuple(_TENSOR_LOADERS) + tuple(_FOLDER_SOURCES)
_SPLITS = {"mnist": ("train", "test"), "fashion_mnist": ("train", "test"), "cifar10": ("train", "test")}
_SPLITS.update({k: v[1] for k, v in _FOLDER_SOURCES.items()})


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
    if name in _FOLDER_SOURCES:
        source, _ = _FOLDER_SOURCES[name]
        root = _extract(fetch(source), name, source.checksum) / name / split
        return ImageFolderDataset(root, transform=transform)
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
