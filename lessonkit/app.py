"""The "find similar images" app: upload a photo, see the most similar reference images.

Introduced in lesson 13 ("Image similarity search"). Start it with::

    python -m lessonkit.app                      # ants and bees (validation split), two backbones
    python -m lessonkit.app --folder my_photos   # any folder of images (sub-folders = labels)
    python -m lessonkit.app --backbone resnet18 --second-backbone squeezenet1_0
    python -m lessonkit.app --second-backbone none   # one backbone only
    python -m lessonkit.app --help

It serves on http://127.0.0.1:7860 (this machine only) unless ``--host`` says
otherwise. The reference images' feature vectors are computed once and cached
on disk, under a key that hashes the backbone's name and weights, the image
size and every reference file's path and contents, so changing any of them
recomputes the features and nothing else does.

Two backbones side by side (the default when a second one is available): the
same upload is searched with each, their top-k matches are shown in two
columns, and above each column its precision@k and recall@k on the labelled
reference set (:func:`lessonkit.leave_one_out_metrics`: every reference image
searches all the others, and a match is relevant when it has the same
sub-folder label). The metrics are computed once and stored in the same cache
file as the features, under the same key.

The web interface is built with Gradio (the ``app`` extra:
``pip install "lessonkit[app]"``); everything else here is plain Python and
is what the tests and lesson 13 call directly.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .data import DATASET_INFO
from .pretrained import PretrainedModel, image_transform, pretrained_model
from .pretrained import extract_features
from .retrieval import SearchIndex, leave_one_out_metrics

__all__ = [
    "IMAGE_EXTENSIONS",
    "ReferenceSet",
    "SimilarityFinder",
    "UploadError",
    "build_demo",
    "cache_key",
    "load_upload",
    "reference_features",
    "reference_metrics",
    "scan_reference_folder",
    "second_backbone",
]

#: File name endings treated as images when scanning a reference folder.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
#: Uploads with more pixels than this are refused (a 50-megapixel photo is allowed).
DEFAULT_MAX_PIXELS = 60_000_000
#: Uploads are shrunk to this longest side before anything else (the network sees 224 px).
WORKING_SIDE = 1024
CACHE_VERSION = "1"
#: The k of the precision@k / recall@k each backbone's column shows (those above N - 1 are left out).
METRIC_KS = (1, 5, 10)


class UploadError(ValueError):
    """An upload that cannot be used; the message is meant for the user.

    Examples
    --------
    >>> try:
    ...     load_upload(None)
    ... except UploadError as exc:
    ...     print(exc)
    Please upload an image first.

    Introduced in lesson 13.
    """


def _example(folder: str | os.PathLike) -> tuple[PretrainedModel, Path]:
    """For the examples: a tiny random backbone, and ``folder/ref`` with 2 red and 2 blue images."""
    from PIL import Image

    torch.manual_seed(0)
    backbone = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3), torch.nn.ReLU())
    pm = PretrainedModel(backbone, backbone, "mobilenet_v2", "example", (0.5,) * 3, (0.5,) * 3, None, 16, "0", ["0"], "example")
    root = Path(folder) / "ref"
    for label, colours in {"red": [(250, 10, 10), (200, 30, 20)], "blue": [(10, 10, 250), (30, 20, 200)]}.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        for i, colour in enumerate(colours):
            Image.new("RGB", (40, 40), colour).save(root / label / f"{i}.png")
    return pm, root


# --------------------------------------------------------------------------
# Reference set and its cached features
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceSet:
    """The images to search, in a fixed (sorted) order.

    Attributes
    ----------
    root : Path
    paths : list of Path
        Every image file under ``root``, sorted.
    labels : list of str
        The first sub-folder of each path (``""`` for files directly in ``root``).

    Examples
    --------
    >>> import tempfile
    >>> _, folder = _example(tempfile.mkdtemp())
    >>> ref = scan_reference_folder(folder)
    >>> len(ref), [str(p.relative_to(ref.root)) for p in ref.paths][:2], ref.labels[:2]
    (4, ['blue/0.png', 'blue/1.png'], ['blue', 'blue'])

    Introduced in lesson 13.
    """

    root: Path
    paths: list[Path]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.paths)


def scan_reference_folder(root: str | os.PathLike) -> ReferenceSet:
    """All images under ``root`` (recursively), labelled by their first sub-folder.

    Introduced in lesson 13.

    Raises
    ------
    ValueError
        When ``root`` is not a folder or holds no image files.

    Examples
    --------
    >>> import tempfile
    >>> _, folder = _example(tempfile.mkdtemp())
    >>> sorted(set(scan_reference_folder(folder).labels))
    ['blue', 'red']
    """
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise ValueError(f"the reference folder {root} does not exist or is not a folder")
    paths = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not paths:
        raise ValueError(f"the reference folder {root} holds no images (looked for {', '.join(IMAGE_EXTENSIONS)})")
    labels = [p.relative_to(root).parts[0] if len(p.relative_to(root).parts) > 1 else "" for p in paths]
    return ReferenceSet(root, paths, labels)


def _module_fingerprint(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        h.update(name.encode())
        h.update(str(tuple(tensor.shape)).encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def cache_key(pm: PretrainedModel, reference: ReferenceSet, image_size: int) -> str:
    """The hash that names a reference set's cached features.

    Introduced in lesson 13. It covers the backbone (name, weights file
    identity and the weights themselves), the image size, and each reference
    image's path relative to the folder and its bytes.

    Examples
    --------
    >>> import tempfile
    >>> pm, folder = _example(tempfile.mkdtemp())
    >>> ref = scan_reference_folder(folder)
    >>> key = cache_key(pm, ref, 32)
    >>> len(key), key == cache_key(pm, ref, 32), key == cache_key(pm, ref, 64)
    (64, True, False)
    """
    h = hashlib.sha256()
    h.update(f"lessonkit-app-v{CACHE_VERSION}|{pm.name}|{pm.weights_id}|{image_size}|".encode())
    h.update(_module_fingerprint(pm.backbone).encode())
    for path in reference.paths:
        h.update(str(path.relative_to(reference.root)).encode() + b"\0")
        with open(path, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


def _cache_path(pm: PretrainedModel, key: str, cache_dir: Path) -> Path:
    return cache_dir / f"reference-{pm.name}-{key[:24]}.npz"


def _read_cache(path: Path, key: str, n: int) -> dict[str, np.ndarray] | None:
    """The arrays of a valid cache file for ``key``, or None (missing, damaged or stale)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {name: z[name].copy() for name in z.files}
    except Exception:  # noqa: BLE001 - a damaged cache file is simply recomputed
        return None
    if str(arrays.get("key", "")) != key or arrays.get("features", np.empty((0,))).shape[:1] != (n,):
        return None
    return arrays


def _write_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write the cache file atomically: a temporary file in the same folder, then a rename.

    An interrupted or failed write leaves the previous file (or none), never half of one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


class _FileDataset(Dataset):
    def __init__(self, paths: Sequence[Path], transform) -> None:
        self.paths, self.transform = list(paths), transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        from PIL import Image

        try:
            with Image.open(self.paths[i]) as im:
                im.load()
                return self.transform(im), i
        except Exception as exc:  # noqa: BLE001 - name the file that failed
            raise ValueError(f"reference image {self.paths[i]} cannot be read: {exc}") from exc


def reference_features(
    pm: PretrainedModel,
    reference: ReferenceSet,
    *,
    cache_dir: str | os.PathLike,
    image_size: int = 224,
    batch_size: int = 32,
) -> tuple[torch.Tensor, bool]:
    """L2-normalised features of every reference image, from the disk cache when valid.

    Introduced in lesson 13.

    Returns
    -------
    (features, from_cache)
        ``float32 (N, D)`` features in ``reference.paths`` order, and whether
        they were read from the cache (False: computed now and cached).

    Examples
    --------
    >>> import tempfile
    >>> tmp = tempfile.mkdtemp()
    >>> pm, folder = _example(tmp)
    >>> ref = scan_reference_folder(folder)
    >>> feats, from_cache = reference_features(pm, ref, cache_dir=tmp, image_size=32)
    >>> feats.shape, from_cache, reference_features(pm, ref, cache_dir=tmp, image_size=32)[1]
    (torch.Size([4, 16]), False, True)
    """
    key = cache_key(pm, reference, image_size)
    path = _cache_path(pm, key, Path(cache_dir))
    cached = _read_cache(path, key, len(reference))
    if cached is not None:
        return torch.from_numpy(cached["features"]), True
    transform = image_transform(image_size, mean=pm.mean, std=pm.std)
    feats, _ = extract_features(pm.backbone, _FileDataset(reference.paths, transform), batch_size=batch_size)
    _write_cache(path, {"features": feats.numpy(), "key": np.array(key)})
    return feats, False


def _label_ids(reference: ReferenceSet) -> list[int] | None:
    """Integer labels of the reference images, or None when they cannot be evaluated."""
    names = sorted(set(reference.labels))
    if "" in names or len(names) < 2:
        return None  # images outside a sub-folder, or a single class: nothing to tell apart
    ids = [names.index(label) for label in reference.labels]
    return ids if any(ids.count(i) > 1 for i in set(ids)) else None


def reference_metrics(
    pm: PretrainedModel,
    reference: ReferenceSet,
    *,
    cache_dir: str | os.PathLike,
    image_size: int = 224,
    ks: Sequence[int] = METRIC_KS,
    batch_size: int = 32,
) -> tuple[dict[str, float] | None, bool]:
    """A backbone's precision@k and recall@k on the labelled reference set, cached with its features.

    Introduced in lesson 13. Each reference image searches all the others
    (:func:`lessonkit.leave_one_out_metrics`), with the sub-folder names as
    labels. The result is stored in the feature cache file of
    :func:`reference_features`, under the same :func:`cache_key`, so it is
    computed once per backbone, image size and reference set. Each ``k`` above
    ``N - 1`` is left out.

    Returns
    -------
    (metrics, from_cache)
        ``{"P@1": ..., "R@1": ..., ...}``, or None when the reference set has no
        usable labels (images outside sub-folders, a single sub-folder, or no
        label that occurs twice); and whether the metrics were read from the cache.

    Examples
    --------
    >>> import tempfile
    >>> tmp = tempfile.mkdtemp()
    >>> pm, folder = _example(tmp)
    >>> ref = scan_reference_folder(folder)
    >>> reference_metrics(pm, ref, cache_dir=tmp, image_size=32)
    ({'P@1': 1.0, 'R@1': 1.0}, False)
    >>> reference_metrics(pm, ref, cache_dir=tmp, image_size=32)[1]
    True
    """
    if isinstance(ks, (str, bytes)) or not isinstance(ks, Sequence):
        raise TypeError(f"ks must be a sequence of ints such as (1, 5, 10), got {type(ks).__name__}")
    feats, _ = reference_features(pm, reference, cache_dir=cache_dir, image_size=image_size, batch_size=batch_size)
    labels = _label_ids(reference)
    ks = [k for k in ks if k <= len(reference) - 1]
    if labels is None or not ks:
        return None, False
    key = cache_key(pm, reference, image_size)
    path = _cache_path(pm, key, Path(cache_dir))
    cached = _read_cache(path, key, len(reference))
    if cached is not None and "metric_ks" in cached and cached["metric_ks"].tolist() == ks:
        return dict(zip(cached["metric_names"].tolist(), cached["metric_values"].tolist())), True
    metrics = leave_one_out_metrics(feats, labels, ks)
    _write_cache(path, {
        "features": feats.numpy(), "key": np.array(key), "metric_ks": np.array(ks, dtype=np.int64),
        "metric_names": np.array(list(metrics)), "metric_values": np.array(list(metrics.values()), dtype=np.float64),
    })
    return metrics, False


# --------------------------------------------------------------------------
# Uploads and search
# --------------------------------------------------------------------------


def load_upload(path: str | os.PathLike | None, *, max_pixels: int = DEFAULT_MAX_PIXELS):
    """Open an uploaded file as an RGB PIL image, or raise :class:`UploadError`.

    Introduced in lesson 13. Handles greyscale, palette, 16-bit and RGBA
    images (transparency is composited onto white); shrinks large images to
    at most ``WORKING_SIDE`` pixels on the longest side; refuses files that are
    not images, truncated or corrupt images, and images with more than
    ``max_pixels`` pixels, with a message that says which.

    Examples
    --------
    >>> import tempfile
    >>> from PIL import Image
    >>> path = Path(tempfile.mkdtemp()) / "grey.png"
    >>> Image.new("L", (3000, 1500)).save(path)
    >>> image = load_upload(path)
    >>> image.mode, image.size
    ('RGB', (1024, 512))
    >>> load_upload(path, max_pixels=1_000_000)
    Traceback (most recent call last):
    ...
    lessonkit.app.UploadError: This image is too large: 3000 × 1500 = 4 megapixels; the limit is 1 megapixels. Please upload a smaller version.
    """
    from PIL import Image, UnidentifiedImageError

    from .pretrained import _to_rgb

    if path is None:
        raise UploadError("Please upload an image first.")
    path = Path(path)
    if not path.is_file():
        raise UploadError("The upload did not arrive; please try again.")
    if path.stat().st_size == 0:
        raise UploadError("The uploaded file is empty.")
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > max_pixels:
                raise UploadError(
                    f"This image is too large: {w} × {h} = {w * h / 1e6:.0f} megapixels; "
                    f"the limit is {max_pixels / 1e6:.0f} megapixels. Please upload a smaller version."
                )
            im.draft("RGB", (WORKING_SIDE, WORKING_SIDE))  # JPEG: decode at reduced size, fast
            im.load()
            image = _to_rgb(im)
            image.thumbnail((WORKING_SIDE, WORKING_SIDE))
            return image.copy()
    except UploadError:
        raise
    except UnidentifiedImageError:
        raise UploadError("This file is not an image that can be read (try a JPEG or PNG photo).") from None
    except Image.DecompressionBombError:
        raise UploadError(f"This image is too large (the limit is {max_pixels / 1e6:.0f} megapixels).") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise UploadError(f"This image file is damaged or truncated and cannot be decoded ({exc}).") from None


class SimilarityFinder:
    """A reference set, its cached features and a :class:`SearchIndex`, ready to query.

    Introduced in lesson 13.

    Parameters
    ----------
    pm : PretrainedModel
        The backbone that turns images into feature vectors.
    reference : ReferenceSet
    cache_dir : path
        Where the reference features are cached.
    image_size : int
        Side of the square crop the backbone sees.
    max_pixels : int
        Uploads larger than this are refused.

    Examples
    --------
    >>> import tempfile
    >>> tmp = tempfile.mkdtemp()
    >>> pm, folder = _example(tmp)
    >>> finder = SimilarityFinder(pm, scan_reference_folder(folder), cache_dir=tmp, image_size=32)
    >>> matches = finder.query(load_upload(folder / "red" / "0.png"), k=2)
    >>> [(str(path.relative_to(folder)), label) for path, label, _ in matches]
    [('red/0.png', 'red'), ('red/1.png', 'red')]
    """

    def __init__(
        self,
        pm: PretrainedModel,
        reference: ReferenceSet,
        *,
        cache_dir: str | os.PathLike,
        image_size: int = 224,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        self.pm = pm
        self.reference = reference
        self.image_size = image_size
        self.max_pixels = max_pixels
        self.transform = image_transform(image_size, mean=pm.mean, std=pm.std)
        features, self.from_cache = reference_features(pm, reference, cache_dir=cache_dir, image_size=image_size)
        self.index = SearchIndex(features, normalize=False)
        self.metrics, self.metrics_from_cache = reference_metrics(pm, reference, cache_dir=cache_dir, image_size=image_size)

    def metrics_text(self) -> str:
        """The backbone's name and its precision@k / recall@k on the reference set, as Markdown."""
        head = f"**{self.pm.pretty_name}**"
        if self.metrics is None:
            return f"{head}: no precision/recall (the reference images need at least two labelled sub-folders)."
        ks = [int(name[2:]) for name in self.metrics if name.startswith("P@")]
        cells = " · ".join(f"P@{k} {self.metrics[f'P@{k}']:.3f}, R@{k} {self.metrics[f'R@{k}']:.3f}" for k in ks)
        return (f"{head}: {cells} (each of the {len(self.reference)} labelled reference images searching "
                "the others; relevant = same label)")

    def query(self, image, k: int = 5) -> list[tuple[Path, str, float]]:
        """The ``k`` most similar reference images to a PIL image: ``(path, label, score)``."""
        k = max(1, min(int(k), len(self.reference)))
        feats, _ = extract_features(self.pm.backbone, self.transform(image).unsqueeze(0))
        scores, idx = self.index.search(feats, k)
        return [(self.reference.paths[i], self.reference.labels[i], float(s)) for s, i in zip(scores[0].tolist(), idx[0].tolist())]

    def find(self, upload: str | os.PathLike | None, k: int = 5) -> tuple[list[tuple[str, str]], str]:
        """What the web page shows for one upload: gallery items and a message. Never raises."""
        try:
            image = load_upload(upload, max_pixels=self.max_pixels)
        except UploadError as exc:
            return [], f"**Could not use this upload.** {exc}"
        try:
            matches = self.query(image, k)
        except Exception as exc:  # noqa: BLE001 - the page must keep working whatever happens
            return [], f"**Something went wrong while searching:** {type(exc).__name__}: {exc}"
        gallery = [(str(p), f"{label + ' · ' if label else ''}similarity {s:.3f}") for p, label, s in matches]
        return gallery, (
            f"Top {len(matches)} of {len(self.reference)} reference images by cosine similarity of "
            f"{self.pm.pretty_name} features (1 = same direction)."
        )


def build_demo(finder: SimilarityFinder | Sequence[SimilarityFinder], k: int = 5):
    """The Gradio page around one :class:`SimilarityFinder`, or several side by side.

    One upload is searched with every finder (one backbone each); each gets a
    column with its backbone's precision@k/recall@k on the reference set
    (:meth:`SimilarityFinder.metrics_text`), a message and its matches. API
    names: ``/find`` (upload, k) returns a gallery and a message per finder,
    in order; ``/metrics`` returns each finder's metrics text.

    Needs Gradio (``pip install "lessonkit[app]"``); ``demo.launch()`` serves it.

    Raises
    ------
    TypeError
        When ``finder`` is not a SimilarityFinder or a sequence of them.
    ValueError
        When the finders search different reference sets, or none is given.

    Examples
    --------
    >>> import tempfile
    >>> tmp = tempfile.mkdtemp()
    >>> pm, folder = _example(tmp)
    >>> demo = build_demo(SimilarityFinder(pm, scan_reference_folder(folder), cache_dir=tmp, image_size=32))
    >>> type(demo).__name__
    'Blocks'

    Introduced in lesson 13.
    """
    import gradio as gr

    finders = [finder] if isinstance(finder, SimilarityFinder) else finder
    if isinstance(finders, (str, bytes)) or not isinstance(finders, Sequence):
        raise TypeError(f"finder must be a SimilarityFinder or a sequence of them, got {type(finder).__name__}")
    if not finders:
        raise ValueError("build_demo needs at least one SimilarityFinder, got an empty sequence")
    for i, f in enumerate(finders):
        if not isinstance(f, SimilarityFinder):
            raise TypeError(f"finder[{i}] must be a SimilarityFinder, got {type(f).__name__}")
    reference = finders[0].reference
    if any(f.reference.paths != reference.paths for f in finders[1:]):
        raise ValueError("the finders search different reference sets: side by side they must search the same images")

    def find_all(upload, k):
        out = []
        for f in finders:
            out.extend(f.find(upload, k))
        return out

    k_max = min(20, len(reference))
    backbones = ", ".join(f.pm.describe() for f in finders)
    with gr.Blocks(title="Find similar images") as demo:
        gr.Markdown(
            "# Find similar images\n"
            f"Upload a photo; the app shows the most similar of {len(reference)} reference images "
            f"in `{reference.root.name}` with their cosine similarity. "
            + (f"Backbone: {backbones}." if len(finders) == 1 else f"{len(finders)} backbones side by side: {backbones}.")
        )
        with gr.Row():
            upload = gr.File(label="Image to search with", type="filepath")
            k_slider = gr.Slider(1, k_max, value=min(k, k_max), step=1, label="How many matches (k)")
        button = gr.Button("Find similar images", variant="primary")
        outputs, headers = [], []
        with gr.Row():
            for f in finders:
                with gr.Column():
                    headers.append(gr.Markdown(f.metrics_text()))
                    message = gr.Markdown()
                    gallery = gr.Gallery(
                        label=f"Most similar reference images ({f.pm.pretty_name})", columns=5 // len(finders) + 1, height="auto"
                    )
                    outputs += [gallery, message]
        button.click(find_all, inputs=[upload, k_slider], outputs=outputs, api_name="find")
        upload.upload(find_all, inputs=[upload, k_slider], outputs=outputs, api_name=False)
        demo.load(lambda: [f.metrics_text() for f in finders], inputs=None, outputs=headers, api_name="metrics")
    return demo


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    from .pretrained import BACKBONES

    p = argparse.ArgumentParser(
        prog="python -m lessonkit.app",
        description="Find similar images: upload a photo and get the most similar images of a reference set "
        "(lesson 13 of 'CNNs for Computer Vision').",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--folder", type=Path, help="reference folder of images (sub-folders are shown as labels)")
    src.add_argument(
        "--dataset", default="hymenoptera", choices=[n for n, info in DATASET_INFO.items() if info.kind == "folder"],
        help="a course dataset to use as the reference set (default: hymenoptera, i.e. ants and bees)",
    )
    p.add_argument("--split", default="val", help="split of --dataset (default: val)")
    p.add_argument("--backbone", choices=BACKBONES, default=None, help="backbone to prefer (default: the best available)")
    p.add_argument(
        "--second-backbone", choices=BACKBONES + ("auto", "none"), default="auto",
        help="backbone of the second column (default: auto, the next one available after the first, without "
        "downloading; none: one column only)",
    )
    p.add_argument("--k", type=int, default=5, help="number of matches shown at first (default: 5)")
    p.add_argument("--image-size", type=int, default=224, help="crop size the backbone sees (default: 224)")
    p.add_argument("--cache-dir", type=Path, default=None, help="where reference features are cached (default: <lessonkit cache>/app)")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help=f"refuse larger uploads (default: {DEFAULT_MAX_PIXELS})")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    return p


def second_backbone(first: str, choice: str = "auto") -> PretrainedModel | None:
    """The backbone to compare with ``first``: the next one available, a named one, or none.

    Introduced in lesson 13 (the second pretrained backbone, and the app's
    second column). ``choice="auto"`` tries the networks of
    :data:`lessonkit.BACKBONES` after skipping ``first``, in order, each strictly
    and without downloading, and returns the first that loads (None when none
    does); a name loads that network strictly (downloads allowed), and
    ``"none"`` gives None.

    Raises
    ------
    TypeError
        When ``first`` or ``choice`` is not a string.
    ValueError
        When ``choice`` is not ``"auto"``, ``"none"`` or a backbone name, or names ``first`` itself.
    DataUnavailableError
        When the named backbone cannot be loaded.

    Examples
    --------
    >>> second_backbone("efficientnet_lite0", "squeezenet1_0").name
    'squeezenet1_0'
    >>> second_backbone("resnet18", "none") is None
    True
    """
    from ._fetch import DataUnavailableError
    from ._utils import check_choice, check_type
    from .pretrained import BACKBONES

    check_type("first", first, str)
    check_choice("choice", check_type("choice", choice, str), BACKBONES + ("auto", "none"))
    if choice == "none":
        return None
    if choice == first:
        raise ValueError(f"choice {choice!r} is the first backbone already: choose another one, 'auto' or 'none'")
    if choice != "auto":
        return pretrained_model(choice, strict=True)
    for name in BACKBONES:
        if name != first:
            try:
                return pretrained_model(name, strict=True, download=False)
            except DataUnavailableError:
                continue
    return None


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m lessonkit.app``."""
    args = _parser().parse_args(argv)
    from .data import cache_dir, load_dataset

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    if args.folder is not None:
        reference = scan_reference_folder(args.folder)
    else:
        reference = scan_reference_folder(load_dataset(args.dataset, args.split).root)
    first = pretrained_model(args.backbone)
    try:
        second = second_backbone(first.name, args.second_backbone)
    except ValueError as error:
        raise SystemExit(f"--second-backbone: {error}") from None
    print(f"Reference set: {len(reference)} images in {reference.root}")
    finders = []
    for pm in [first] + ([second] if second is not None else []):
        finder = SimilarityFinder(
            pm, reference, cache_dir=args.cache_dir or cache_dir() / "app", image_size=args.image_size, max_pixels=args.max_pixels
        )
        print(f"Backbone: {pm.describe()} (features {'read from the cache' if finder.from_cache else 'computed and cached'})")
        print(f"  {finder.metrics_text()}")
        finders.append(finder)
    build_demo(finders, args.k).launch(
        server_name=args.host, server_port=args.port, allowed_paths=[str(reference.root)], max_file_size="100mb"
    )


if __name__ == "__main__":
    main()
