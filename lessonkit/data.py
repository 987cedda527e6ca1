"""Datasets for the course, resolved cache → offline mirror → official download.

Introduced in lesson 00 ("Your first CNN"); every lesson from 00 to 13 loads
data through it (:func:`load_dataset`, :func:`subset`, :func:`make_loader`;
:func:`as_tensors` from lesson 02, :class:`DeviceLoader` from lesson 04).

The datasets are one table, :data:`DATASET_INFO` (a :class:`DatasetInfo` per
dataset); :data:`DATASETS`, the splits :func:`load_dataset` accepts, its
docstring and the image-search app's ``--dataset`` choices come from it.

Files are fetched by :mod:`lessonkit._fetch` (the one path shared with the
pretrained weights of :mod:`lessonkit.pretrained`), whose public names
(:class:`Source`, :func:`fetch`, :func:`file_checksum`, :func:`cache_dir`,
:func:`mirror_dir`, :func:`resolve_url`, :class:`DataUnavailableError`,
:class:`ChecksumError`) this module re-exports. Every file is checked
wherever it comes from: against a pinned checksum (and size, where one is
pinned), or, for the one file that has no published checksum, by a check of
its structure. A cached file that fails is replaced. Downloads go through a
``.part`` file renamed once verified, under a per-entry lock. The mirror
(``LESSONKIT_MIRROR``) is only ever read.

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
import io
import math
import os
import re
import shutil
import tarfile
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ._fetch import (
    DOWNLOAD_BASE_ENV,
    ChecksumError,
    DataUnavailableError,
    Source,
    _locked,
    _part,
    _try_fetch,
    _unavailable,
    cache_dir,
    fetch,
    file_checksum,
    mirror_dir,
    resolve_url,
)
from ._utils import check_batch, check_choice, check_dataset, check_int, check_number, check_tensor, check_type
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
    "resolve_url",
    "fetch",
    "file_checksum",
    "load_dataset",
    "DATASETS",
    "DATASET_INFO",
    "DatasetInfo",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "make_loader",
    "subset",
    "train_val_split",
    "DeviceLoader",
    "as_tensors",
    "normalized_black",
    "torchvision_root",
]

# The fetch names are defined once, in the private lessonkit._fetch (shared with
# lessonkit.pretrained), and presented here, their public home (lk.fetch ...), as
# numpy's ``set_module`` does: reprs, tracebacks and pickles name lessonkit.data.
for _public in (DataUnavailableError, ChecksumError, Source, cache_dir, mirror_dir, resolve_url, fetch, file_checksum):
    _public.__module__ = __name__
del _public

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


def normalized_black(mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor) -> tuple[float, ...]:
    """What a black pixel (0 in every channel) becomes after normalising with ``mean`` and ``std``.

    Introduced in lesson 12. ``(0 - mean[c]) / std[c]`` for each channel ``c``,
    computed in Python floats: the fill value that adds black to an image
    normalised with these statistics (a padding or a shift, e.g.
    :class:`lessonkit.RandomTranslate`'s ``fill``). :attr:`TensorImageDataset.black`
    uses it for a dataset's own statistics; lesson 12 for a pretrained
    backbone's (:attr:`lessonkit.PretrainedModel.mean` and ``std``).

    Parameters
    ----------
    mean, std : sequence of float or 1-D tensor
        One value per channel; every ``std`` positive.

    Returns
    -------
    tuple of float
        One value per channel.

    Examples
    --------
    >>> normalized_black((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))  # EfficientNet-Lite0's statistics
    (-1.0, -1.0, -1.0)
    >>> [round(v, 4) for v in normalized_black(IMAGENET_MEAN, IMAGENET_STD)]
    [-2.1179, -2.0357, -1.8044]
    >>> normalized_black([0.5], [0.0])
    Traceback (most recent call last):
    ...
    ValueError: std[0] must be > 0, got 0.0
    """
    values = []
    for name, v in (("mean", mean), ("std", std)):
        if isinstance(v, torch.Tensor):
            if v.ndim != 1:
                raise ValueError(f"{name} must be 1-D (one value per channel), got a tensor of shape {tuple(v.shape)}")
            v = v.tolist()
        elif isinstance(v, (str, bytes)) or not isinstance(v, Sequence):
            raise TypeError(f"{name} must be a sequence of floats (one per channel), got {type(v).__name__}")
        values.append(list(v))
    means = [check_number(f"mean[{i}]", m) for i, m in enumerate(values[0])]
    stds = [check_number(f"std[{i}]", s, minimum=0, strict_minimum=True) for i, s in enumerate(values[1])]
    if not means or len(means) != len(stds):
        raise ValueError(f"mean and std need the same number of values (one per channel, at least one), got {len(means)} and {len(stds)}")
    return tuple(-m / s for m, s in zip(means, stds))


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
    black : float or tuple of float
        The value a black pixel takes in the items (see :attr:`black`).

    Introduced in lesson 00 (what :func:`load_dataset` returns for MNIST,
    Fashion-MNIST and CIFAR-10).

    Examples
    --------
    >>> ds = TensorImageDataset(torch.zeros(4, 1, 2, 2, dtype=torch.uint8), torch.tensor([0, 1, 0, 1]),
    ...                         ["no", "yes"], mean=[0.25], std=[0.5])
    >>> ds
    TensorImageDataset(4 images, 1x2x2, 2 classes)
    >>> x, y = ds[1]
    >>> x.shape, x[0, 0, 0].item(), y
    (torch.Size([1, 2, 2]), -0.5, 1)
    >>> ds.black
    -0.5
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
        check_tensor("images", images, ndim=4, layout="(N, C, H, W)")
        if images.dtype != torch.uint8:
            raise TypeError(f"images must be a uint8 tensor (pixel values 0-255), got dtype {images.dtype}")
        check_tensor("targets", targets, ndim=1, layout=f"({len(images)},)")
        if len(targets) != len(images):
            raise ValueError(f"targets must have shape ({len(images)},), got {tuple(targets.shape)}")
        if isinstance(classes, str):
            raise TypeError(f"classes must be a sequence of class names, got the str {classes!r}")
        check_type("normalize", normalize, bool)
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable or None, got {type(transform).__name__}")
        mean, std = (
            list(v.tolist() if isinstance(v, (torch.Tensor, np.ndarray)) else check_type(n, v, Sequence))
            for n, v in (("mean", mean), ("std", std))
        )
        mean = [check_number(f"mean[{i}]", m) for i, m in enumerate(mean)]
        std = [check_number(f"std[{i}]", s, minimum=0, strict_minimum=True) for i, s in enumerate(std)]
        if len(mean) != images.shape[1] or len(std) != images.shape[1]:
            raise ValueError(f"mean and std need {images.shape[1]} values (one per channel), got {len(mean)} and {len(std)}")
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

    @property
    def black(self) -> float | tuple[float, ...]:
        """The value a black pixel (0) takes in the items: ``-mean / std`` of each channel.

        What a shift or a padding must fill in to add black, as lessons 04, 05
        and 07 do. A ``float`` for a one-channel (greyscale) dataset, a tuple
        with one value per channel otherwise; ``0.0`` per channel when the
        dataset is not normalised. Computed by :func:`normalized_black` as
        ``-mean[c] / std[c]`` in Python floats, so it equals that expression bit for bit.
        """
        if self.normalize:
            values = normalized_black(self.mean, self.std)
        else:
            values = (0.0,) * len(self.mean)
        return values[0] if len(values) == 1 else values

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Undo the normalisation (for display); works on ``(C,H,W)`` or ``(N,C,H,W)``."""
        return x * self._std_t.to(x.device) + self._mean_t.to(x.device) if self.normalize else x

    def __repr__(self) -> str:
        n, c, h, w = self.images.shape
        return f"{type(self).__name__}({n} images, {c}x{h}x{w}, {len(self.classes)} classes)"


class ImageFolderDataset(Dataset):
    """Photographs of varying size in ``root/<class>/*.jpg`` (torchvision's layout).

    Items are ``(transform(PIL image), label)``. ``mean``/``std`` are the
    ImageNet statistics, the right normalisation for pretrained backbones; the
    dataset itself does not normalise (its ``transform`` does, e.g.
    :func:`lessonkit.image_transform`), so it has no ``black``.

    Introduced in lesson 06 (what :func:`load_dataset` returns for Cats vs
    Dogs and ants vs bees).

    Examples
    --------
    >>> import tempfile
    >>> from PIL import Image
    >>> root = Path(tempfile.mkdtemp())
    >>> for cls in ("ants", "bees"):
    ...     (root / cls).mkdir()
    ...     Image.new("RGB", (8, 6)).save(root / cls / "a.jpg")
    >>> ds = ImageFolderDataset(root)
    >>> ds
    ImageFolderDataset(2 images, 2 classes: ['ants', 'bees'])
    >>> ds[1][0].size, ds[1][1]
    ((8, 6), 1)
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


def _idx_sources(folder: str, tv_class_name: str) -> tuple[Source, ...]:
    """The four gzip files of MNIST or Fashion-MNIST, at torchvision's URLs with its MD5s."""
    import torchvision.datasets as tvd

    tv_class = getattr(tvd, tv_class_name)
    return tuple(
        Source(f"{folder}/raw/{name}", f"md5:{md5}", tuple(mirror + name for mirror in tv_class.mirrors))
        for name, md5 in tv_class.resources
    )


def _load_idx(name: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST-format images ``(N, 1, 28, 28)`` and labels of one split of dataset ``name``."""
    sources = {Path(s.path).name: s for s in DATASET_INFO[name].sources}
    prefix = "train" if split == "train" else "t10k"
    images = _read_idx_gz(fetch(sources[f"{prefix}-images-idx3-ubyte.gz"]))
    labels = _read_idx_gz(fetch(sources[f"{prefix}-labels-idx1-ubyte.gz"]))
    return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


_CIFAR_JPEG = Source(
    "cifar10-jpeg.zip",
    "sha256:270d9b8bc3428da1d61eced47abe3d3e033e49b921e1f68e1dd9091d7261d123",
)
_CIFAR_PY = Source(
    "cifar-10-python.tar.gz",
    "md5:c58f30108f718f92721af3b95e74349a",
    ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
)


def _load_cifar10(name: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 from the mirror's JPEG folders, else torchvision's official archive."""
    npz = cache_dir() / "cifar10" / f"{split}.npz"
    if npz.is_file():
        try:
            with np.load(npz) as z:
                return torch.from_numpy(z["images"]), torch.from_numpy(z["labels"])
        except Exception:  # noqa: BLE001 - a corrupt derived file is rebuilt
            npz.unlink()
    jpeg_source, python_source = DATASET_INFO[name].sources  # the mirror's JPEG copy, the official pickles
    try:
        archive = fetch(jpeg_source)
        root = _extract(archive, "cifar10-jpeg", jpeg_source.checksum) / "cifar10-jpeg" / split
        from PIL import Image

        images, labels = [], []
        files = [(c, p) for c, cls in enumerate(DATASET_INFO[name].classes) for p in sorted((root / cls).glob("*.jpg"))]
        for c, p in progress(files, desc=f"decoding CIFAR-10 {split}", leave=False):
            with Image.open(p) as im:
                images.append(np.asarray(im.convert("RGB")))
            labels.append(c)
        arr = np.stack(images).transpose(0, 3, 1, 2).copy()
        lab = np.asarray(labels, dtype=np.int64)
    except DataUnavailableError as first:
        try:
            archive = fetch(python_source)
        except DataUnavailableError as second:
            raise DataUnavailableError(f"CIFAR-10 is unavailable in either form.\n{first}\n{second}") from None
        import pickle

        root = _extract(archive, "cifar10-python", python_source.checksum) / "cifar-10-batches-py"
        names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
        parts, labs = [], []
        for n in names:
            with open(root / n, "rb") as f:
                d = pickle.load(f, encoding="latin1")
            parts.append(np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labs.append(np.asarray(d["labels"], dtype=np.int64))
        arr, lab = np.concatenate(parts), np.concatenate(labs)
    _atomic_save_npz(npz, images=arr, labels=lab)
    return torch.from_numpy(arr), torch.from_numpy(lab)


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
    info = DATASET_INFO["cats_vs_dogs"]
    per_class = {split: n // len(info.classes) for split, n in info.splits.items()}  # taken in this order
    need = sum(per_class.values())
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
            for split, n in per_class.items():
                folder = out / "cats_vs_dogs" / split / (cls.lower() + "s")
                folder.mkdir(parents=True, exist_ok=True)
                for image_id, jpeg in kept[start : start + n]:
                    (folder / f"{cls.lower()}.{image_id}.jpg").write_bytes(jpeg)
                start += n
    return skipped


_HYMENOPTERA_IMAGE_PATH = re.compile(r"hymenoptera_data/(train|val)/(ants|bees)/([^/]+\.jpe?g)", re.IGNORECASE)


def _hymenoptera_members(zf: zipfile.ZipFile) -> dict[tuple[str, str], list[zipfile.ZipInfo]]:
    found: dict[tuple[str, str], list[zipfile.ZipInfo]] = {
        (s, c): [] for s in DATASET_INFO["hymenoptera"].splits for c in ("ants", "bees")
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
        for split, expected in DATASET_INFO["hymenoptera"].splits.items():
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
    official = DATASET_INFO[name].official
    if name != "cats_vs_dogs":
        return official
    pin = os.environ.get(STANDIN_CATS_VS_DOGS_ENV)
    if not pin:
        return official
    if not os.environ.get(DOWNLOAD_BASE_ENV):
        raise ValueError(
            f"{STANDIN_CATS_VS_DOGS_ENV} replaces the pinned checksum of Microsoft's archive and is honoured only "
            f"with {DOWNLOAD_BASE_ENV} (a local stand-in server, in tests); unset it"
        )
    size, _, digest = pin.partition(":")
    if not size.isdigit() or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ValueError(f"{STANDIN_CATS_VS_DOGS_ENV} must be '<size>:<sha256 hex>', got {pin!r}")
    return replace(official, checksum="sha256:" + digest, size=int(size))


def _derived_marker(name: str) -> str:
    official = _official_source(name)
    return f"derived:{DATASET_INFO[name].rule}:{official.checksum or 'structure-checked'}"


def _image_folder_root(name: str) -> Path:
    """``cache/<name>``, holding ``<name>/<split>/<class>/*.jpg``: the release's archive, else derived.

    Order: a complete extraction (of the release, or derived earlier) in the
    cache; the release archive (cache, mirror, download); the official source
    (cache, mirror, download), from which the set is derived.
    """
    info = DATASET_INFO[name]
    release = info.release
    target = cache_dir() / name
    assert release.checksum is not None  # the course's own archives are always pinned
    markers = [release.checksum, _derived_marker(name)]
    if _complete(target, markers):
        return target
    archive, tried_release = _try_fetch(release)
    if archive is not None:
        return _extract(archive, name, release.checksum)
    official = _official_source(name)
    archive, tried_official = _try_fetch(official)
    if archive is None:
        raise _unavailable(
            f"the {info.title} images: neither the course's archive nor its official source could be had",
            [(release, tried_release), (official, tried_official)],
        )
    with _locked("dir-" + name):
        if not _complete(target, markers):
            with _staging(target) as tmp:
                assert info.derive is not None
                info.derive(archive, tmp)
                (tmp / _MARKER).write_text(_derived_marker(name))
    if archive.is_relative_to(cache_dir()):
        archive.unlink(missing_ok=True)  # the derived set is what is kept (the official archive can be large)
    return target


# --------------------------------------------------------------------------
# The registry: one table of the course's datasets
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetInfo:
    """What the course knows about one dataset: one row of :data:`DATASET_INFO`.

    Introduced in lesson 00. :data:`DATASETS`, the splits :func:`load_dataset`
    accepts, its docstring's table and the image-search app's ``--dataset``
    choices are all derived from :data:`DATASET_INFO`.

    Attributes
    ----------
    name : str
        The name :func:`load_dataset` takes.
    title : str
        How the text names it, e.g. ``"Fashion-MNIST"``.
    kind : {"tensor", "folder"}
        ``"tensor"``: held in memory as a :class:`TensorImageDataset` (small
        images, normalised with the training split's statistics);
        ``"folder"``: photographs on disk, an :class:`ImageFolderDataset`.
    splits : dict of str to int
        The splits, in order, and the number of images in each (all classes).
    classes : tuple of str
        Class names, in label order.
    sources : tuple of Source
        Every file it is made from. An image-folder set: the course's release
        archive, then the official archive it is derived from when the
        release cannot be had.
    description : str
        One line on what it is.
    lesson : int or None
        The first lesson that loads it (None: no lesson does).

    Examples
    --------
    >>> info = DATASET_INFO["fashion_mnist"]
    >>> info.kind, info.splits, info.classes[:2], info.lesson
    ('tensor', {'train': 60000, 'test': 10000}, ('T-shirt/top', 'Trouser'), 0)
    >>> info.num_classes
    10
    """

    name: str
    title: str
    kind: str
    splits: dict[str, int]
    classes: tuple[str, ...]
    sources: tuple[Source, ...]
    description: str
    lesson: int | None
    # How it is made (private): a tensor set's loader, an image-folder set's derivation rule.
    load: Callable[[str, str], tuple[torch.Tensor, torch.Tensor]] | None = field(default=None, repr=False, compare=False)
    derive: Callable[[Path, Path], dict[str, list[int]]] | None = field(default=None, repr=False, compare=False)
    rule: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("tensor", "folder"):
            raise ValueError(f"kind must be 'tensor' or 'folder', got {self.kind!r}")
        if self.kind == "tensor" and self.load is None:
            raise ValueError(f"{self.name}: a tensor dataset needs a loader")
        if self.kind == "folder" and (self.derive is None or self.rule is None or len(self.sources) != 2):
            raise ValueError(f"{self.name}: an image-folder dataset needs (release, official) sources, a derive and a rule")

    @property
    def num_classes(self) -> int:
        """The number of classes."""
        return len(self.classes)

    @property
    def release(self) -> Source:
        """An image-folder set's archive in the course's release (the same bytes as the mirror's)."""
        if self.kind != "folder":
            raise ValueError(f"{self.name} is a {self.kind} dataset; only image-folder sets have a release archive")
        return self.sources[0]

    @property
    def official(self) -> Source:
        """An image-folder set's official archive, from which it is derived when the release cannot be had."""
        if self.kind != "folder":
            raise ValueError(f"{self.name} is a {self.kind} dataset; only image-folder sets are derived")
        return self.sources[1]


_DIGITS = tuple(str(i) for i in range(10))
_FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

#: The course's datasets, by name: the one table everything else is derived from.
DATASET_INFO: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            "mnist", "MNIST", "tensor", {"train": 60000, "test": 10000}, _DIGITS,
            _idx_sources("MNIST", "MNIST"), "handwritten digits, 28x28 greyscale", 1, load=_load_idx,
        ),
        DatasetInfo(
            "fashion_mnist", "Fashion-MNIST", "tensor", {"train": 60000, "test": 10000}, _FASHION_CLASSES,
            _idx_sources("FashionMNIST", "FashionMNIST"), "Zalando's clothing photographs, 28x28 greyscale", 0,
            load=_load_idx,
        ),
        DatasetInfo(
            "cifar10", "CIFAR-10", "tensor", {"train": 50000, "test": 10000}, _CIFAR10_CLASSES,
            (_CIFAR_JPEG, _CIFAR_PY), "small colour photographs, 32x32 RGB", 10, load=_load_cifar10,
        ),
        DatasetInfo(
            "cats_vs_dogs", "Cats vs Dogs", "folder", {"train": 2000, "val": 1000, "test": 1000}, ("cats", "dogs"),
            (_CATS_VS_DOGS, _CATS_VS_DOGS_OFFICIAL), "pet photographs (Kaggle), longest side <= 192 px", 6,
            derive=_derive_cats_vs_dogs, rule=_CATS_VS_DOGS_RULE,
        ),
        DatasetInfo(
            "hymenoptera", "ants vs bees", "folder", {"train": 244, "val": 153}, ("ants", "bees"),
            (_HYMENOPTERA, _HYMENOPTERA_OFFICIAL), "the PyTorch tutorial's ants and bees, longest side <= 256 px", 12,
            derive=_derive_hymenoptera, rule=_HYMENOPTERA_RULE,
        ),
    )
}

#: Names accepted by :func:`load_dataset` (the keys of :data:`DATASET_INFO`).
DATASETS = tuple(DATASET_INFO)


def _dataset_table() -> str:
    """The datasets as the reStructuredText table in :func:`load_dataset`'s docstring."""
    rows = [
        (f"``{i.name!r}``", i.title, ", ".join(f"{s} ({n})" for s, n in i.splits.items()), "-" if i.lesson is None else f"{i.lesson:02d}")
        for i in DATASET_INFO.values()
    ]
    header = ("name", "dataset", "splits (images)", "lesson")
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(4)]
    rule = "  ".join("=" * w for w in widths)
    fmt = lambda r: "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([rule, fmt(header), rule, *map(fmt, rows), rule])


def load_dataset(
    name: str,
    split: str = "train",
    transform: Callable | None = None,
    *,
    normalize: bool = True,
) -> TensorImageDataset | ImageFolderDataset:
    """Load one split of a course dataset.

    Introduced in lesson 00.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS` (the table below is built from :data:`DATASET_INFO`;
        "lesson" is the first lesson that loads it).
    split : str
        One of the dataset's splits (below).
    transform : callable, optional
        Tensor datasets: applied to the normalised ``(C, H, W)`` float tensor.
        Image-folder datasets: applied to the PIL image (it must produce a tensor
        for batching).
    normalize : bool
        Tensor datasets only: normalise with the training split's per-channel
        mean and std (computed from the data, stored as ``.mean``/``.std``).

    The datasets:

    {datasets}

    Every file comes from the cache, the offline mirror or an official
    download, verified (see the module docstring). Cats vs Dogs and ants vs
    bees come from the course's release archive, or, when it cannot be had,
    are derived once from their official sources by a fixed rule.

    Returns
    -------
    TensorImageDataset or ImageFolderDataset
        Both have ``.classes``, ``.targets``, ``.mean`` and ``.std``.

    Raises
    ------
    DataUnavailableError
        When a file cannot be had (a :class:`ChecksumError` when only wrong copies were found).

    Examples
    --------
    >>> load_dataset("mnist", "val")
    Traceback (most recent call last):
    ...
    ValueError: split of 'mnist' must be one of 'train', 'test', got 'val'
    >>> train = load_dataset("fashion_mnist", "train")  # doctest: +SKIP
    >>> train.classes[1], train[0][0].shape  # doctest: +SKIP
    ('Trouser', torch.Size([1, 28, 28]))
    """
    check_type("name", name, str)
    check_type("split", split, str)
    info = DATASET_INFO[check_choice("name", name, DATASETS)]
    check_choice(f"split of {name!r}", split, tuple(info.splits))
    check_type("normalize", normalize, bool)
    if transform is not None and not callable(transform):
        raise TypeError(f"transform must be callable or None, got {type(transform).__name__}")
    if info.kind == "folder":
        return ImageFolderDataset(_image_folder_root(name) / name / split, transform=transform)
    assert info.load is not None
    images, targets = info.load(name, split)
    train_images = images if split == "train" else info.load(name, "train")[0]
    mean, std = _channel_stats(train_images)
    return TensorImageDataset(images, targets, info.classes, mean, std, transform=transform, normalize=normalize)


load_dataset.__doc__ = (load_dataset.__doc__ or "").replace("{datasets}", _dataset_table().replace("\n", "\n    "))


def subset(dataset: Dataset, n: int | None, seed: int = 0, stratified: bool = True) -> Dataset:
    """A reproducible subset of ``n`` items (all of them when ``n`` is None).

    With ``stratified`` (the default) every class keeps its share, so a small
    fast-profile subset stays balanced. The result keeps ``classes`` and
    ``targets``.

    Introduced in lesson 00.

    Examples
    --------
    >>> from torch.utils.data import TensorDataset
    >>> data = TensorDataset(torch.zeros(6, 1))
    >>> data.targets = torch.tensor([0, 0, 0, 1, 1, 1])
    >>> sub = subset(data, 4)
    >>> len(sub), sorted(sub.targets.tolist())
    (4, [0, 0, 1, 1])
    >>> subset(data, None) is data
    True
    """
    check_dataset("dataset", dataset)
    total = len(dataset)  # type: ignore[arg-type]
    if n is not None:
        n = check_int("n", n, minimum=1)
    check_int("seed", seed)
    check_type("stratified", stratified, bool)
    if n is None or n >= total:
        return dataset
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

    Examples
    --------
    >>> from torch.utils.data import TensorDataset
    >>> data = TensorDataset(torch.arange(8.0))
    >>> data.targets = torch.tensor([0, 1] * 4)
    >>> train, val = train_val_split(data, 2)
    >>> len(train), len(val), sorted(val.targets.tolist()), set(train.indices) & set(val.indices)
    (6, 2, [0, 1], set())
    """
    check_dataset("dataset", dataset)
    total = len(dataset)  # type: ignore[arg-type]
    val_size = check_int("val_size", val_size)
    check_int("seed", seed)
    if not 0 < val_size < total:
        raise ValueError(f"val_size must be between 1 and {total - 1} (the dataset has {total} items), got {val_size}")
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
    """A DataLoader whose shuffling and worker RNGs are seeded (reproducible).

    Introduced in lesson 00. Other keyword arguments go to ``DataLoader``.

    Examples
    --------
    >>> from torch.utils.data import TensorDataset
    >>> data = TensorDataset(torch.arange(5))
    >>> order = lambda seed: [b[0].tolist() for b in make_loader(data, batch_size=2, shuffle=True, seed=seed)]
    >>> order(0) == order(0), sorted(sum(order(0), []))
    (True, [0, 1, 2, 3, 4])
    >>> [len(b[0]) for b in make_loader(data, batch_size=2)]
    [2, 2, 1]
    """
    check_dataset("dataset", dataset)
    check_int("batch_size", batch_size, minimum=1)
    check_type("shuffle", shuffle, bool)
    check_int("seed", seed)
    check_int("num_workers", num_workers, minimum=0)
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
        batch_size = check_int("batch_size", batch_size, minimum=1)
        check_type("shuffle", shuffle, bool)
        check_int("seed", seed)
        self.device = torch.device(device)
        if isinstance(dataset, (tuple, list)) and len(dataset) == 2:
            images, targets = dataset
            check_batch("images", images)
            check_tensor("targets", targets)
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
    >>> ds = TensorImageDataset(torch.full((4, 1, 2, 2), 255, dtype=torch.uint8), torch.arange(4),
    ...                         list("abcd"), mean=[0.5], std=[0.5])
    >>> x, y = as_tensors(torch.utils.data.Subset(ds, [3, 1]))
    >>> x.shape, x.unique().tolist(), y.tolist()
    (torch.Size([2, 1, 2, 2]), [1.0], [3, 1])

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


#: torchvision's folder for each course dataset its own dataset classes can read.
_TORCHVISION_FOLDERS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}


def torchvision_root(name: str) -> Path:
    """A ``root`` folder for torchvision's own dataset class, filled from the course's files.

    Introduced in lesson 06. ``torchvision.datasets.MNIST`` and ``FashionMNIST``
    read the decompressed files from ``<root>/<Folder>/raw/``. This gets each
    file the way :func:`load_dataset` does (:func:`fetch`: the cache, the
    offline mirror, or the official address, checksums verified), decompresses
    it into the cache (written to a ``.part`` file and renamed, so no
    half-written file is left) and returns the root, so that
    ``datasets.FashionMNIST(torchvision_root("fashion_mnist"), download=True)``
    finds its files and downloads nothing.

    Parameters
    ----------
    name : str
        ``"mnist"`` or ``"fashion_mnist"``.

    Returns
    -------
    Path
        ``cache_dir() / "torchvision"``.

    Examples
    --------
    >>> torchvision_root("cifar10")
    Traceback (most recent call last):
    ...
    ValueError: name must be one of 'mnist', 'fashion_mnist', got 'cifar10'
    """
    check_type("name", name, str)
    if name not in _TORCHVISION_FOLDERS:
        raise ValueError(f"name must be one of {', '.join(map(repr, _TORCHVISION_FOLDERS))}, got {name!r}")
    root = cache_dir() / "torchvision"
    raw = root / _TORCHVISION_FOLDERS[name] / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for source in DATASET_INFO[name].sources:
        gz = fetch(source)
        target = raw / Path(gz.name).stem  # torchvision reads it decompressed
        if not target.exists():
            part = _part(target)
            part.write_bytes(gzip.decompress(gz.read_bytes()))
            part.replace(target)
    return root
