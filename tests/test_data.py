"""Data resolution: cache -> mirror -> download, checksums, atomic writes, clear errors."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import os
import pickle
import stat
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import lessonkit as lk
from lessonkit import data as lkdata


def sha256(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def make_source(tmp_path: Path, payload: bytes, name: str = "pack/file.bin", with_url: bool = True):
    """A Source whose official 'download' is a file:// URL served from tmp_path/remote."""
    remote = tmp_path / "remote" / name
    remote.parent.mkdir(parents=True, exist_ok=True)
    remote.write_bytes(payload)
    urls = (remote.as_uri(),) if with_url else ()
    return lk.Source(name, sha256(payload), urls), remote


def cache_files() -> list[Path]:
    """Files in the cache, other than the writers' lock files (``.locks/``)."""
    return sorted(p for p in lk.cache_dir().rglob("*") if p.is_file() and ".locks" not in p.relative_to(lk.cache_dir()).parts)


def patch_dataset(monkeypatch, name: str, **changes) -> None:
    """Replace fields of one registry row (``DATASET_INFO[name]``) for the test."""
    monkeypatch.setitem(lkdata.DATASET_INFO, name, dataclasses.replace(lkdata.DATASET_INFO[name], **changes))


def block_network(monkeypatch):
    def refuse(url, *a, **k):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


# --------------------------------------------------------------------- Source


def test_source_rejects_malformed_checksum():
    with pytest.raises(ValueError, match="sha256:<hex>"):
        lk.Source("a.bin", "deadbeef")
    with pytest.raises(ValueError, match="sha256:<hex>"):
        lk.Source("a.bin", "crc32:1234")


def test_source_verify_against_hashlib(tmp_path):
    p = tmp_path / "x.bin"
    p.write_bytes(b"hello")
    assert lk.Source("x.bin", "md5:" + hashlib.md5(b"hello").hexdigest()).verify(p)
    assert lk.Source("x.bin", sha256(b"hello")).verify(p)
    assert not lk.Source("x.bin", sha256(b"hellO")).verify(p)


# ------------------------------------------------------------ resolution order


def test_cache_is_used_first(tmp_path, monkeypatch):
    src, remote = make_source(tmp_path, b"payload")
    cached = lk.cache_dir() / src.path
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"payload")
    remote.unlink()  # the download would fail: the cache must be enough
    assert lk.fetch(src) == cached


def test_mirror_is_read_in_place_and_never_written(tmp_path, monkeypatch):
    src, remote = make_source(tmp_path, b"mirror-bytes", with_url=False)
    mirror = tmp_path / "mirror"
    (mirror / "pack").mkdir(parents=True)
    (mirror / src.path).write_bytes(b"mirror-bytes")
    for p in [mirror / src.path, mirror / "pack", mirror]:
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    monkeypatch.setenv("LESSONKIT_MIRROR", str(mirror))
    try:
        before = sorted(str(p) for p in mirror.rglob("*"))
        assert lk.fetch(src) == mirror / src.path
        assert sorted(str(p) for p in mirror.rglob("*")) == before
        assert not (lk.cache_dir() / src.path).exists()
    finally:
        for p in [mirror, mirror / "pack", mirror / src.path]:
            p.chmod(p.stat().st_mode | stat.S_IWUSR)


def test_download_is_last_and_lands_in_cache(tmp_path, monkeypatch):
    src, _ = make_source(tmp_path, b"remote-bytes")
    monkeypatch.setenv("LESSONKIT_MIRROR", str(tmp_path / "empty-mirror"))
    path = lk.fetch(src)
    assert path == lk.cache_dir() / src.path
    assert path.read_bytes() == b"remote-bytes"


def test_corrupt_cached_file_is_detected_and_replaced(tmp_path):
    src, _ = make_source(tmp_path, b"the real content")
    cached = lk.cache_dir() / src.path
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"the real cont")  # truncated
    assert lk.fetch(src).read_bytes() == b"the real content"


def test_corrupt_mirror_file_is_skipped_for_the_download(tmp_path, monkeypatch):
    src, _ = make_source(tmp_path, b"good")
    mirror = tmp_path / "mirror"
    (mirror / "pack").mkdir(parents=True)
    (mirror / src.path).write_bytes(b"bad!")
    monkeypatch.setenv("LESSONKIT_MIRROR", str(mirror))
    assert lk.fetch(src).read_bytes() == b"good"
    assert (mirror / src.path).read_bytes() == b"bad!"  # left untouched


def test_download_with_wrong_checksum_leaves_nothing(tmp_path):
    src, remote = make_source(tmp_path, b"expected")
    remote.write_bytes(b"tampered")
    with pytest.raises(lk.DataUnavailableError, match="checksum"):
        lk.fetch(src)
    assert cache_files() == []


def test_interrupted_download_leaves_no_partial_file(tmp_path, monkeypatch):
    src, _ = make_source(tmp_path, b"x" * (3 << 20))

    class Interrupted(io.BytesIO):
        headers = {"Content-Length": str(3 << 20)}
        calls = 0

        def read(self, n=-1):
            Interrupted.calls += 1
            if Interrupted.calls > 1:
                raise ConnectionResetError("connection dropped mid-transfer")
            return b"x" * (1 << 20)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: Interrupted())
    with pytest.raises(lk.DataUnavailableError, match="ConnectionResetError"):
        lk.fetch(src)
    assert cache_files() == []


def test_nothing_reachable_gives_a_clear_error(tmp_path, monkeypatch):
    block_network(monkeypatch)
    src = lk.Source("MNIST/raw/x.gz", sha256(b"?"), ("https://example.invalid/x.gz",))
    with pytest.raises(lk.DataUnavailableError) as info:
        lk.fetch(src)
    msg = str(info.value)
    assert "cache:" in msg and "does not exist" in msg
    assert "LESSONKIT_MIRROR is not set" in msg
    assert "https://example.invalid/x.gz" in msg
    fix = msg[msg.index("Fix:") :]
    assert "check the internet connection" in fix and "https://example.invalid/x.gz" in fix
    assert "shared/data" not in msg  # no mirror here: no path of the course's build machines


def test_load_dataset_without_mirror_or_network_fails_clearly(monkeypatch):
    block_network(monkeypatch)
    with pytest.raises(lk.DataUnavailableError, match="train-images-idx3-ubyte.gz"):
        lk.load_dataset("mnist", "train")
    with pytest.raises(lk.DataUnavailableError) as info:
        lk.load_dataset("cats_vs_dogs", "train")
    msg = str(info.value)
    assert "'cats_vs_dogs.zip'" in msg and "'official/kagglecatsanddogs_5340.zip'" in msg  # release, then official
    assert "https://download.microsoft.com/" in msg


def test_load_dataset_validates_name_and_split():
    with pytest.raises(ValueError, match="name must be one of 'mnist', 'fashion_mnist', .*got 'imagenet'"):
        lk.load_dataset("imagenet")
    with pytest.raises(ValueError, match="split of 'hymenoptera' must be one of 'train', 'val', got 'test'"):
        lk.load_dataset("hymenoptera", "test")
    with pytest.raises(TypeError, match="name must be a str, got int"):
        lk.load_dataset(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="normalize must be a bool"):
        lk.load_dataset("mnist", "test", normalize="no")  # type: ignore[arg-type]


# ------------------------------------------------------------------- the registry


def test_the_registry_is_the_one_table():
    info = lkdata.DATASET_INFO
    assert lk.DATASETS == tuple(info) == ("mnist", "fashion_mnist", "cifar10", "cats_vs_dogs", "hymenoptera")
    assert lk.DATASET_INFO is info and all(isinstance(i, lk.DatasetInfo) and i.name == n for n, i in info.items())
    for old in ("_TENSOR_LOADERS", "_FOLDER_SETS", "_SPLITS", "CATS_VS_DOGS_SPLITS", "HYMENOPTERA_SPLITS", "FASHION_CLASSES", "CIFAR10_CLASSES"):
        assert not hasattr(lkdata, old), old
    # Independent oracles: torchvision's own class lists, and the figures the mirror's README states.
    import torchvision.datasets as tvd

    assert list(info["mnist"].classes) == [c.split(" - ")[0] for c in tvd.MNIST.classes]
    assert list(info["fashion_mnist"].classes) == tvd.FashionMNIST.classes
    assert list(info["cifar10"].classes) == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    assert info["cats_vs_dogs"].splits == {"train": 2 * 1000, "val": 2 * 500, "test": 2 * 500}
    assert info["hymenoptera"].splits == {"train": 244, "val": 153}
    assert [s.path for s in info["mnist"].sources] == [f"MNIST/raw/{name}" for name, _ in tvd.MNIST.resources]


def test_the_first_lesson_of_each_dataset_is_right():
    """``lesson`` is the first notebook that loads the dataset (grep of the lessons)."""
    import re

    notebooks = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    first: dict[str, int] = {}
    for nb in notebooks:
        for name in lk.DATASETS:
            if re.search(rf'\\"{name}\\"', nb.read_text()):
                first.setdefault(name, int(nb.name[:2]))
    assert {n: i.lesson for n, i in lkdata.DATASET_INFO.items()} == {n: first.get(n) for n in lk.DATASETS}


def test_load_dataset_docstring_agrees_with_the_table():
    doc = lk.load_dataset.__doc__
    rows = [line.split() for line in doc.splitlines() if line.strip().startswith("``'")]
    assert [r[0] for r in rows] == [f"``{n!r}``" for n in lk.DATASETS]
    for row, info in zip(rows, lkdata.DATASET_INFO.values()):
        line = " ".join(row)
        assert info.title in line
        assert line.endswith("-" if info.lesson is None else f"{info.lesson:02d}")
        assert all(f"{split} ({n})" in line for split, n in info.splits.items())


def test_how_to_use_page_lists_the_registry_datasets_and_splits():
    """book/how-to-use.md's dataset table is written by hand: it must agree with the registry."""
    page = (Path(__file__).resolve().parents[1] / "book" / "how-to-use.md").read_text()
    rows = {}
    for line in page.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[1].startswith('`"'):
            rows[cells[1].strip('`"')] = [s.strip() for s in cells[2].split(",")]
    assert rows == {name: list(info.splits) for name, info in lkdata.DATASET_INFO.items()}


def test_split_validation_and_the_apps_choices_come_from_the_table(monkeypatch):
    from lessonkit import app

    folders = [n for n, i in lkdata.DATASET_INFO.items() if i.kind == "folder"]
    choices = next(a for a in app._parser()._actions if a.dest == "dataset").choices
    assert sorted(choices) == sorted(folders) == ["cats_vs_dogs", "hymenoptera"]
    patch_dataset(monkeypatch, "hymenoptera", splits={"train": 244, "val": 153, "test": 1})
    with pytest.raises(ValueError, match="split of 'mnist' must be one of 'train', 'test', got 'val'"):
        lk.load_dataset("mnist", "val")
    # a split the table adds is accepted by the validation (it then fails for want of files, not of a name)
    monkeypatch.setattr(lkdata, "_image_folder_root", lambda name: Path("/nonexistent"))
    with pytest.raises(FileNotFoundError):
        lk.load_dataset("hymenoptera", "test")


def test_black_is_the_normalised_value_of_a_black_pixel():
    imgs = torch.tensor([[[[0, 255]], [[0, 255]]]], dtype=torch.uint8)  # (1, 2, 1, 2): black and white pixels
    ds = lk.TensorImageDataset(imgs, torch.tensor([0]), ["a"], mean=(0.3, 0.6), std=(0.2, 0.7))
    x, _ = ds[0]
    assert ds.black == (-0.3 / 0.2, -0.6 / 0.7)
    torch.testing.assert_close(x[:, 0, 0], torch.tensor(ds.black, dtype=torch.float32))  # what the items hold for black
    grey = lk.TensorImageDataset(imgs[:, :1], torch.tensor([0]), ["a"], mean=(0.2860,), std=(0.3530,))
    assert isinstance(grey.black, float) and grey.black == -grey.mean[0] / grey.std[0]  # the lessons' expression, bit for bit
    assert abs(grey.black - grey[0][0][0, 0, 0].item()) < 1e-6  # the item is float32
    raw = lk.TensorImageDataset(imgs, torch.tensor([0]), ["a"], mean=(0.3, 0.6), std=(0.2, 0.7), normalize=False)
    assert raw.black == (0.0, 0.0) and tuple(raw[0][0][:, 0, 0].tolist()) == (0.0, 0.0)


def test_black_of_fashion_mnist_is_the_lessons_value(real_mirror):
    ds = lk.load_dataset("fashion_mnist", "train")
    assert ds.black == -ds.mean[0] / ds.std[0]  # lessons 04, 05, 07 type this; it must stay the same float
    assert round(ds.black, 4) == -0.8103  # lesson 05's printed value


# ------------------------------------------------------------------- formats


def idx_bytes(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return gzip.compress(header + arr.astype(np.uint8).tobytes())


def test_idx_reader_matches_numpy_and_rejects_truncation(tmp_path):
    arr = np.random.default_rng(0).integers(0, 256, size=(5, 4, 3), dtype=np.uint8)
    p = tmp_path / "a.gz"
    p.write_bytes(idx_bytes(arr))
    np.testing.assert_array_equal(lkdata._read_idx_gz(p), arr)
    raw = gzip.decompress(p.read_bytes())
    p.write_bytes(gzip.compress(raw[:-7]))
    with pytest.raises(ValueError, match="header says"):
        lkdata._read_idx_gz(p)


def test_extraction_is_redone_when_incomplete(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("set/train/a/1.txt", "one")
    archive = tmp_path / "set.zip"
    archive.write_bytes(buf.getvalue())
    target = lk.cache_dir() / "set"
    (target / "set" / "train").mkdir(parents=True)  # a half-finished earlier extraction
    out = lkdata._extract(archive, "set", "sha256:abc")
    assert (out / "set/train/a/1.txt").read_text() == "one"
    assert (out / ".lessonkit-complete").read_text() == "sha256:abc"
    assert [p.name for p in lk.cache_dir().iterdir() if p.name != ".locks"] == ["set"]  # no temporary leftovers


def tiny_cifar_sources(tmp_path, rng):
    """A 2-image-per-class CIFAR in both forms: the mirror's JPEG zip and the official pickles."""
    classes = lkdata.DATASET_INFO["cifar10"].classes
    # smooth images (JPEG is made for them): a gradient with a random colour per image
    ramp = np.linspace(0, 1, 32)[None, :, None, None] * np.linspace(0, 1, 32)[None, None, :, None]
    colours = rng.uniform(40, 215, size=(20, 1, 1, 3))
    images = np.clip(colours + 40 * ramp, 0, 255).astype(np.uint8)
    labels = np.repeat(np.arange(10), 2)
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        for split in ("train", "test"):
            for i, (img, lab) in enumerate(zip(images, labels)):
                b = io.BytesIO()
                Image.fromarray(img).save(b, format="JPEG", quality=95)
                zf.writestr(f"cifar10-jpeg/{split}/{classes[lab]}/{i:04d}.jpg", b.getvalue())
    tbuf = io.BytesIO()
    with tarfile.open(fileobj=tbuf, mode="w:gz") as tf:
        chw = images.transpose(0, 3, 1, 2).reshape(20, -1)
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            payload = pickle.dumps({"data": chw, "labels": labels.tolist()})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload))
    return images, labels, zbuf.getvalue(), tbuf.getvalue()


def test_cifar10_from_mirror_jpegs_and_from_official_pickles_agree(tmp_path, monkeypatch):
    images, labels, zip_bytes, tar_bytes = tiny_cifar_sources(tmp_path, np.random.default_rng(1))
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "cifar10-jpeg.zip").write_bytes(zip_bytes)
    jpeg_src = lk.Source("cifar10-jpeg.zip", sha256(zip_bytes))
    py_src, _ = make_source(tmp_path, tar_bytes, name="cifar-10-python.tar.gz")
    patch_dataset(monkeypatch, "cifar10", sources=(jpeg_src, py_src))

    monkeypatch.setenv("LESSONKIT_MIRROR", str(mirror))
    from_mirror = lk.load_dataset("cifar10", "test", normalize=False)
    # JPEG is lossy: close to the original pixels, not equal.
    diff = (from_mirror.images.float() - torch.from_numpy(images.transpose(0, 3, 1, 2)).float()).abs().mean()
    assert diff < 3
    assert from_mirror.targets.tolist() == labels.tolist()

    monkeypatch.setenv("LESSONKIT_DATA", str(tmp_path / "cache2"))
    monkeypatch.delenv("LESSONKIT_MIRROR")
    from_download = lk.load_dataset("cifar10", "test", normalize=False)
    assert torch.equal(from_download.images, torch.from_numpy(images.transpose(0, 3, 1, 2)))
    # the decoded arrays are cached: a second load needs no source at all
    block_network(monkeypatch)
    again = lk.load_dataset("cifar10", "test", normalize=False)
    assert torch.equal(again.images, from_download.images)


# ------------------------------------------------------------------ datasets


def test_tensor_dataset_normalises_with_given_stats():
    imgs = torch.tensor([[[[0, 255]]], [[[255, 255]]]], dtype=torch.uint8)
    ds = lk.TensorImageDataset(imgs, torch.tensor([0, 1]), ["a", "b"], mean=(0.5,), std=(0.25,))
    x, y = ds[0]
    assert y == 0
    torch.testing.assert_close(x, torch.tensor([[[-2.0, 2.0]]]))
    torch.testing.assert_close(ds.denormalize(x), torch.tensor([[[0.0, 1.0]]]))


def test_tensor_dataset_rejects_bad_input():
    with pytest.raises(TypeError, match="images must be a uint8 tensor"):
        lk.TensorImageDataset(torch.zeros(2, 1, 2, 2), torch.tensor([0, 1]), ["a"], (0.5,), (0.5,))
    with pytest.raises(ValueError, match=r"images must have shape \(N, C, H, W\)"):
        lk.TensorImageDataset(torch.zeros(1, 2, 2, dtype=torch.uint8), torch.tensor([0]), ["a"], (0.5,), (0.5,))
    with pytest.raises(TypeError, match="images must be a torch.Tensor"):
        lk.TensorImageDataset(np.zeros((2, 1, 2, 2), np.uint8), torch.tensor([0, 1]), ["a"], (0.5,), (0.5,))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mean must be a Sequence, got float"):
        lk.TensorImageDataset(torch.zeros(2, 1, 2, 2, dtype=torch.uint8), torch.tensor([0, 1]), ["a"], 0.5, (0.5,))  # type: ignore[arg-type]
    from_arrays = lk.TensorImageDataset(torch.zeros(2, 1, 2, 2, dtype=torch.uint8), torch.tensor([0, 1]), ["a"], np.array([0.25]), torch.tensor([0.5]))
    assert from_arrays.mean == (0.25,) and from_arrays.std == (0.5,)  # arrays and tensors are accepted, as floats
    with pytest.raises(ValueError, match="std.0. must be > 0"):
        lk.TensorImageDataset(torch.zeros(2, 1, 2, 2, dtype=torch.uint8), torch.tensor([0, 1]), ["a"], (0.5,), (0.0,))
    with pytest.raises(ValueError, match=r"targets must have shape \(2,\)"):
        lk.TensorImageDataset(torch.zeros(2, 1, 2, 2, dtype=torch.uint8), torch.tensor([0]), ["a"], (0.5,), (0.5,))
    with pytest.raises(ValueError, match="mean and std need 3 values"):
        lk.TensorImageDataset(torch.zeros(2, 3, 2, 2, dtype=torch.uint8), torch.tensor([0, 1]), ["a"], (0.5,), (0.5,))


def test_subset_is_stratified_and_reproducible():
    targets = torch.tensor([0] * 90 + [1] * 10)
    ds = lk.TensorImageDataset(torch.zeros(100, 1, 1, 1, dtype=torch.uint8), targets, ["a", "b"], (0.0,), (1.0,))
    sub = lk.subset(ds, 20, seed=3)
    assert len(sub) == 20
    assert sorted(sub.targets.tolist()).count(1) == 10  # the rare class is not drowned out
    assert torch.equal(lk.subset(ds, 20, seed=3).targets, sub.targets)
    assert lk.subset(ds, None) is ds
    with pytest.raises(ValueError, match="n must be an int >= 1, got 0"):
        lk.subset(ds, 0)
    with pytest.raises(TypeError, match="n must be an int, got float"):
        lk.subset(ds, 20.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dataset must be a dataset with a length"):
        lk.subset(iter(range(3)), 2)  # type: ignore[arg-type]


def test_fashion_mnist_matches_torchvision_reader(real_mirror, tmp_path):
    """Our IDX parser against torchvision's own FashionMNIST class on the same files."""
    import shutil

    from torchvision.datasets import FashionMNIST

    ds = lk.load_dataset("fashion_mnist", "test")
    root = tmp_path / "tv"
    shutil.copytree(real_mirror / "FashionMNIST", root / "FashionMNIST")
    for gz in (root / "FashionMNIST" / "raw").glob("*.gz"):
        gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
    tv = FashionMNIST(str(root), train=False, download=False)
    assert torch.equal(ds.images[:, 0], tv.data)
    assert torch.equal(ds.targets, tv.targets)
    assert ds.classes == tv.classes
    # normalisation statistics come from the training split (about 0.286 / 0.353)
    tv_train = FashionMNIST(str(root), train=True, download=False).data.float() / 255
    assert ds.mean[0] == pytest.approx(tv_train.mean().item(), abs=1e-5)
    assert ds.std[0] == pytest.approx(tv_train.std().item(), abs=1e-4)


def test_image_folder_sets_from_mirror(real_mirror):
    ds = lk.load_dataset("hymenoptera", "val")
    assert ds.classes == ["ants", "bees"]
    assert len(ds) == 153
    img, label = ds[0]
    assert img.mode == "RGB" and label == 0
    assert ds.mean == lkdata.IMAGENET_MEAN


def test_train_val_split_is_disjoint_complete_and_stratified():
    targets = torch.arange(100) % 4
    ds = lk.TensorImageDataset(torch.zeros(100, 1, 1, 1, dtype=torch.uint8), targets, list("abcd"), (0.0,), (1.0,))
    train, val = lk.train_val_split(ds, 20, seed=1)
    assert sorted(train.indices + val.indices) == list(range(100))
    assert torch.bincount(val.targets).tolist() == [5, 5, 5, 5]
    assert torch.equal(train.targets, targets[train.indices])
    with pytest.raises(ValueError, match="val_size must be between 1 and 99"):
        lk.train_val_split(ds, 100)


# ------------------------------------------------------- leftovers, permissions


def test_a_killed_downloads_part_file_is_removed_on_the_next_attempt(tmp_path):
    """A ``.part`` left by a killed process (kill -9 runs no clean-up) is overwritten, never reused as is."""
    src, _ = make_source(tmp_path, b"the complete file")
    part = lk.cache_dir() / (src.path + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"half of an earlier down")
    assert lk.fetch(src).read_bytes() == b"the complete file"
    assert not part.exists()
    assert cache_files() == [lk.cache_dir() / src.path]


def test_a_part_file_is_removed_even_when_the_mirror_serves_the_file(tmp_path, monkeypatch):
    src, _ = make_source(tmp_path, b"mirrored", with_url=False)
    (tmp_path / "mirror" / "pack").mkdir(parents=True)
    (tmp_path / "mirror" / src.path).write_bytes(b"mirrored")
    monkeypatch.setenv("LESSONKIT_MIRROR", str(tmp_path / "mirror"))
    part = lk.cache_dir() / (src.path + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"junk")
    assert lk.fetch(src) == tmp_path / "mirror" / src.path
    assert cache_files() == []


@pytest.mark.parametrize("umask", [0o022, 0o027], ids=["umask-022", "umask-027"])
def test_extracted_folders_get_normal_permissions(tmp_path, umask):
    """0777/0666 minus the umask, like any folder the user makes (mkdtemp's 0700 would hide them from others)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("set/train/a/1.txt")
        info.external_attr = 0o600 << 16  # as in the mirror's archives
        zf.writestr(info, "one")
    archive = tmp_path / "set.zip"
    archive.write_bytes(buf.getvalue())
    # a killed extraction's staging folder is replaced too
    (lk.cache_dir() / "set.part" / "junk").mkdir(parents=True)
    old = os.umask(umask)
    try:
        out = lkdata._extract(archive, "set", "sha256:abc")
    finally:
        os.umask(old)
    assert sorted(p.name for p in lk.cache_dir().iterdir() if p.name != ".locks") == ["set"]
    dirs = [out, out / "set", out / "set/train", out / "set/train/a"]
    assert {oct(stat.S_IMODE(d.stat().st_mode)) for d in dirs} == {oct(0o777 & ~umask)}
    files = [out / "set/train/a/1.txt", out / ".lessonkit-complete"]
    assert {oct(stat.S_IMODE(f.stat().st_mode)) for f in files} == {oct(0o666 & ~umask)}


# ------------------------------------------------------------- error advice


def unreachable_error(monkeypatch) -> str:
    block_network(monkeypatch)
    src = lk.Source("cats_vs_dogs.zip", sha256(b"?"), ("https://example.invalid/cats_vs_dogs.zip",))
    with pytest.raises(lk.DataUnavailableError) as info:
        lk.fetch(src)
    return str(info.value)


def test_advice_in_colab_names_no_path_of_the_build_machines(tmp_path, monkeypatch):
    import types

    monkeypatch.setenv("LESSONKIT_MIRROR", str(tmp_path / "build-machine-mirror"))
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    fix = unreachable_error(monkeypatch).split("Fix:", 1)[1]
    assert "check the internet connection" in fix and "run the cell again" in fix
    assert "https://example.invalid/cats_vs_dogs.zip" in fix
    assert "build-machine-mirror" not in fix and "LESSONKIT_MIRROR" not in fix and "shared/data" not in fix


def test_advice_on_a_machine_with_a_mirror_names_that_mirror(tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setenv("LESSONKIT_MIRROR", str(tmp_path / "my-mirror"))
    fix = unreachable_error(monkeypatch).split("Fix:", 1)[1]
    assert str(tmp_path / "my-mirror") in fix and "check the internet connection" in fix


# ----------------------------------------------------- sources and addresses


def test_source_without_checksum_needs_a_check_and_pinned_size_is_checked(tmp_path):
    with pytest.raises(ValueError, match="needs a check"):
        lk.Source("a.zip", None)
    p = tmp_path / "a.bin"
    p.write_bytes(b"12345")
    assert lk.Source("a.bin", sha256(b"12345"), size=5).verify(p)
    assert lk.Source("a.bin", sha256(b"12345"), size=6).problem(p) == "is 5 bytes, not the pinned 6"

    def must_start_with_9(path):
        if path.read_bytes()[:1] != b"9":
            raise ValueError("does not start with 9")

    assert "does not start with 9" in lk.Source("a.bin", None, check=must_start_with_9).problem(p)


def test_resolve_url_maps_official_hosts_to_the_stand_in(monkeypatch):
    url = "https://download.pytorch.org/tutorial/hymenoptera_data.zip"
    monkeypatch.delenv("LESSONKIT_DOWNLOAD_BASE", raising=False)
    assert lkdata.resolve_url(url) == url
    monkeypatch.setenv("LESSONKIT_DOWNLOAD_BASE", "http://127.0.0.1:9/")
    assert lkdata.resolve_url(url) == "http://127.0.0.1:9/download.pytorch.org/tutorial/hymenoptera_data.zip"
    assert lkdata.resolve_url("http://a.org/x") == "http://127.0.0.1:9/a.org/x"
    assert lkdata.resolve_url("file:///tmp/x") == "file:///tmp/x"  # only web addresses
    with pytest.raises(TypeError, match="url must be a str"):
        lkdata.resolve_url(Path("x"))


def test_stand_in_pin_is_refused_without_the_stand_in(monkeypatch):
    monkeypatch.delenv("LESSONKIT_DOWNLOAD_BASE", raising=False)
    monkeypatch.setenv("LESSONKIT_STANDIN_CATS_VS_DOGS", "12:" + "0" * 64)
    with pytest.raises(ValueError, match="honoured only with LESSONKIT_DOWNLOAD_BASE"):
        lk.load_dataset("cats_vs_dogs", "train")


# ------------------------------------------- official sources via the stand-in


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def serve_official():
    """scripts/serve_official.py, imported as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("serve_official", ROOT / "scripts" / "serve_official.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def jpeg_bytes(size, colour, mode="RGB") -> bytes:
    b = io.BytesIO()
    Image.new(mode, size, colour).save(b, format="JPEG", quality=90)
    return b.getvalue()


# A tiny mirror: per class, training ids 1-4, validation 10-11, test 20-21.
TINY_IDS = {"train": [1, 2, 3, 4], "val": [10, 11], "test": [20, 21]}


def tiny_mirror(root: Path) -> dict[str, bytes]:
    """cats_vs_dogs.zip and hymenoptera.zip in the mirror's layout, a few small images each.

    Cat 2 is 300x200 (must be shrunk to 192x128); dog 3 is greyscale (must become RGB).
    """
    root.mkdir(parents=True, exist_ok=True)
    cats = {}
    for split, ids in TINY_IDS.items():
        for cls, animal in (("cats", "cat"), ("dogs", "dog")):
            for i in ids:
                size = (300, 200) if (animal, i) == ("cat", 2) else (40 + i, 30)
                mode = "L" if (animal, i) == ("dog", 3) else "RGB"
                colour = 90 if mode == "L" else (10 * i, 100 if animal == "cat" else 200, 50)
                cats[f"cats_vs_dogs/{split}/{cls}/{animal}.{i}.jpg"] = jpeg_bytes(size, colour, mode)
    with zipfile.ZipFile(root / "cats_vs_dogs.zip", "w") as zf:
        for name, payload in cats.items():
            zf.writestr(name, payload)
    bees = {}
    for split, per_class in (("train", {"ants": 2, "bees": 1}), ("val", {"ants": 1, "bees": 1})):
        for cls, n in per_class.items():
            for i in range(n):
                bees[f"hymenoptera/{split}/{cls}/{cls}{i}.jpg"] = jpeg_bytes((30, 20 + i), (i * 40, 80, 120))
    with zipfile.ZipFile(root / "hymenoptera.zip", "w") as zf:
        for name, payload in bees.items():
            zf.writestr(name, payload)
    return {**cats, **bees}


@pytest.fixture
def tiny_standin(serve_official, tmp_path, monkeypatch):
    """The stand-in server over a tiny mirror; lessonkit pointed at it (empty cache, no mirror)."""
    originals = tiny_mirror(tmp_path / "tiny-mirror")
    patch_dataset(monkeypatch, "cats_vs_dogs", splits={"train": 8, "val": 4, "test": 4})  # both classes
    patch_dataset(monkeypatch, "hymenoptera", splits={"train": 3, "val": 2})

    def start(**kwargs):
        server = serve_official.serving(tmp_path / "tiny-mirror", **kwargs)
        standin = server.__enter__()
        started.append(server)
        for key, value in standin.env.items():
            monkeypatch.setenv(key, value)
        return standin

    started: list = []
    yield start, originals
    for server in started:
        server.__exit__(None, None, None)


def test_cats_vs_dogs_is_derived_from_the_official_archive(tiny_standin, monkeypatch):
    start, originals = tiny_standin
    standin = start()
    assert "LESSONKIT_MIRROR" not in os.environ and not lk.cache_dir().exists()
    old = os.umask(0o022)
    try:
        train = lk.load_dataset("cats_vs_dogs", "train")
    finally:
        os.umask(old)
    assert train.classes == ["cats", "dogs"] and len(train) == 8
    root = lk.cache_dir() / "cats_vs_dogs" / "cats_vs_dogs"
    for split, ids in TINY_IDS.items():
        for cls, animal in (("cats", "cat"), ("dogs", "dog")):
            # ids 5-7 (empty, truncated, a PNG) come between train and val: skipped, not shifted into val
            assert sorted(p.name for p in (root / split / cls).iterdir()) == sorted(f"{animal}.{i}.jpg" for i in ids)
    for p in root.rglob("*.jpg"):
        original = originals[f"cats_vs_dogs/{p.relative_to(root)}"]
        with Image.open(p) as im:
            assert im.format == "JPEG" and im.mode == "RGB" and max(im.size) <= 192
        if p.name in ("cat.2.jpg", "dog.3.jpg"):
            assert p.read_bytes() != original  # shrunk / made RGB, so re-encoded
        else:
            assert p.read_bytes() == original  # already fit: kept byte for byte
    with Image.open(root / "train/cats/cat.2.jpg") as im:
        assert im.size == (192, 128)
    marker = (lk.cache_dir() / "cats_vs_dogs" / ".lessonkit-complete").read_text()
    assert marker.startswith("derived:") and standin.env["LESSONKIT_STANDIN_CATS_VS_DOGS"].split(":")[1] in marker
    # the official archive is not kept; no .part files; normal permissions
    assert [p for p in cache_files() if p.suffix != ".jpg"] == [lk.cache_dir() / "cats_vs_dogs" / ".lessonkit-complete"]
    assert {oct(stat.S_IMODE(d.stat().st_mode)) for d in root.rglob("*") if d.is_dir()} == {oct(0o755)}
    assert {oct(stat.S_IMODE(f.stat().st_mode)) for f in root.rglob("*.jpg")} == {oct(0o644)}
    # the other splits come from the derived cache, with no server at all
    block_network(monkeypatch)
    assert len(lk.load_dataset("cats_vs_dogs", "test")) == 4


def test_the_official_archives_checksum_and_size_are_verified(tiny_standin, tmp_path, monkeypatch):
    start, _ = tiny_standin
    standin = start()
    served = standin.routes[lkdata.resolve_url(lkdata.DATASET_INFO["cats_vs_dogs"].official.urls[0]).split("/", 3)[3]]
    # without the stand-in's pin, Microsoft's real size is expected, and the small archive is refused
    monkeypatch.delenv("LESSONKIT_STANDIN_CATS_VS_DOGS")
    with pytest.raises(lk.DataUnavailableError, match=r"not the pinned 824,887,076"):
        lk.load_dataset("cats_vs_dogs", "train")
    # with it, one flipped byte (same size) is caught by the SHA-256
    monkeypatch.setenv("LESSONKIT_STANDIN_CATS_VS_DOGS", standin.env["LESSONKIT_STANDIN_CATS_VS_DOGS"])
    tampered = tmp_path / "tampered.zip"
    data = bytearray(served.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    standin.routes[next(k for k, v in standin.routes.items() if v == served)] = tampered
    with pytest.raises(lk.DataUnavailableError, match="does not have the checksum sha256:"):
        lk.load_dataset("cats_vs_dogs", "train")
    assert cache_files() == []


def test_hymenoptera_comes_from_the_pytorch_tutorial_archive(tiny_standin):
    start, originals = tiny_standin
    start()
    val = lk.load_dataset("hymenoptera", "val")
    assert val.classes == ["ants", "bees"] and val.targets.tolist() == [0, 1]
    root = lk.cache_dir() / "hymenoptera" / "hymenoptera"
    got = {f"hymenoptera/{p.relative_to(root)}": p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert got == {k: v for k, v in originals.items() if k.startswith("hymenoptera/")}  # the GIF is ignored
    assert (lk.cache_dir() / "hymenoptera" / ".lessonkit-complete").read_text().startswith("derived:")


def malformed_hymenoptera(serve_official, originals, tmp_path, how):
    entries = {"hymenoptera_data/" + k.split("/", 1)[1]: v for k, v in originals.items() if k.startswith("hymenoptera/")}
    if how == "an image missing":
        del entries["hymenoptera_data/train/ants/ants1.jpg"]
        entries["hymenoptera_data/train/bees/notes.txt"] = b"not an image"
    elif how == "a corrupt image":
        entries["hymenoptera_data/val/ants/ants0.jpg"] = entries["hymenoptera_data/val/ants/ants0.jpg"][:100]
    elif how == "a class folder missing":
        entries = {k: v for k, v in entries.items() if "/val/bees/" not in k}
        entries["hymenoptera_data/val/ants/extra.jpg"] = jpeg_bytes((20, 20), (1, 2, 3))
    path = tmp_path / f"{how}.zip"
    serve_official.write_zip(path, entries)
    return path


@pytest.mark.parametrize(
    "how, reason",
    [
        ("an image missing", "hymenoptera_data/train holds 2 JPEGs, expected 3"),
        ("a corrupt image", "val/ants/ants0.jpg does not decode"),
        ("a class folder missing", "has no hymenoptera_data/val/bees"),
    ],
)
def test_a_malformed_hymenoptera_archive_is_rejected(serve_official, tiny_standin, tmp_path, how, reason):
    start, originals = tiny_standin
    bad = malformed_hymenoptera(serve_official, originals, tmp_path, how)
    start(overrides={lkdata.DATASET_INFO["hymenoptera"].official.urls[0]: bad})
    with pytest.raises(lk.DataUnavailableError) as info:
        lk.load_dataset("hymenoptera", "train")
    assert "failed its check" in str(info.value) and reason in str(info.value)
    assert cache_files() == []  # the rejected download is not kept


def test_mnist_downloads_from_torchvisions_urls_with_their_md5(serve_official, real_mirror, monkeypatch, tmp_path):
    with serve_official.serving(real_mirror) as standin:
        monkeypatch.delenv("LESSONKIT_MIRROR")
        for key, value in standin.env.items():
            monkeypatch.setenv(key, value)
        test = lk.load_dataset("mnist", "test", normalize=False)
        expected = lkdata._read_idx_gz(real_mirror / "MNIST/raw/t10k-images-idx3-ubyte.gz")
        assert torch.equal(test.images[:, 0], torch.from_numpy(expected.copy()))
        assert (lk.cache_dir() / "MNIST/raw/t10k-images-idx3-ubyte.gz").is_file()

    # a tampered file at the official URL is refused by its MD5
    labels = "MNIST/raw/t10k-labels-idx1-ubyte.gz"
    bad = tmp_path / "bad.gz"
    bad.write_bytes(gzip.compress(gzip.decompress((real_mirror / labels).read_bytes())[:-1] + b"\x09"))
    source = next(s for s in lkdata.DATASET_INFO["mnist"].sources if s.path == labels)
    monkeypatch.setenv("LESSONKIT_DATA", str(tmp_path / "cache2"))
    with serve_official.serving(real_mirror, overrides={url: bad for url in source.urls}) as standin:
        monkeypatch.setenv("LESSONKIT_DOWNLOAD_BASE", standin.base)
        with pytest.raises(lk.DataUnavailableError, match="does not have the checksum md5:ec29112d"):
            lk.fetch(source)


def test_the_release_archive_is_preferred_when_published(serve_official, real_mirror, monkeypatch):
    with serve_official.serving(real_mirror, with_release=True) as standin:
        monkeypatch.delenv("LESSONKIT_MIRROR")
        for key, value in standin.env.items():
            monkeypatch.setenv(key, value)
        val = lk.load_dataset("hymenoptera", "val")
    assert len(val) == 153
    marker = (lk.cache_dir() / "hymenoptera" / ".lessonkit-complete").read_text()
    assert marker == lkdata.DATASET_INFO["hymenoptera"].release.checksum  # extracted from the release, not derived


@pytest.mark.slow
def test_the_rule_derives_the_courses_subsets_from_the_official_layouts(serve_official, real_mirror, monkeypatch):
    """From the mirror's images in the official layouts (plus broken files), the rule gives back the mirror's sets, file for file."""
    with serve_official.serving(real_mirror) as standin:
        monkeypatch.delenv("LESSONKIT_MIRROR")
        for key, value in standin.env.items():
            monkeypatch.setenv(key, value)
        for name, split, n in (("cats_vs_dogs", "val", 1000), ("hymenoptera", "train", 244)):
            assert len(lk.load_dataset(name, split)) == n
            root = lk.cache_dir() / name
            with zipfile.ZipFile(real_mirror / f"{name}.zip") as zf:
                expected = {n_: zf.read(n_) for n_ in zf.namelist() if not n_.endswith("/")}
            got = {str(p.relative_to(root)): p.read_bytes() for p in (root / name).rglob("*") if p.is_file()}
            assert got.keys() == expected.keys()
            assert all(got[k] == expected[k] for k in expected)


def test_release_script_builds_reproducible_archives_and_uploads_only_pinned_ones(tiny_standin, tmp_path, monkeypatch, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_release_data", ROOT / "scripts" / "make_release_data.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    start, originals = tiny_standin
    start()
    assert script.main(["--out", str(tmp_path / "a")]) == 0
    assert script.main(["--out", str(tmp_path / "b")]) == 0
    for name in ("cats_vs_dogs.zip", "hymenoptera.zip"):
        built = tmp_path / "a" / name
        assert built.read_bytes() == (tmp_path / "b" / name).read_bytes()  # reproducible
        with zipfile.ZipFile(built) as zf:
            prefix = name.removesuffix(".zip") + "/"
            expected = {k for k in originals if k.startswith(prefix)}
            assert set(zf.namelist()) == expected
            # images that already fit come back byte for byte (cat 2 was shrunk, dog 3 made RGB)
            same = {k for k in expected if zf.read(k) == originals[k]}
            assert expected - same == ({"cats_vs_dogs/train/cats/cat.2.jpg", "cats_vs_dogs/train/dogs/dog.3.jpg"} if prefix == "cats_vs_dogs/" else set())
    out = capsys.readouterr().out
    assert "skipped 3 Cat file(s)" in out and "pin this" in out
    # the pins are those of the mirror's archives, not these: publishing is refused
    assert script.main(["--out", str(tmp_path / "c"), "--upload", "--dry-run"]) == 1
    # with matching pins it would upload, with gh, to the tag lessonkit downloads from
    for name in ("cats_vs_dogs", "hymenoptera"):
        info = lkdata.DATASET_INFO[name]
        digest = hashlib.sha256((tmp_path / "a" / f"{name}.zip").read_bytes()).hexdigest()
        patch_dataset(monkeypatch, name, sources=(dataclasses.replace(info.release, checksum=f"sha256:{digest}"), info.official))
    capsys.readouterr()
    assert script.main(["--out", str(tmp_path / "d"), "--upload", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"gh release upload {lkdata.RELEASE_TAG} --repo {lkdata.RELEASE_REPO} --clobber" in out
    assert lkdata.RELEASE_URL.endswith(f"/{lkdata.RELEASE_REPO}/releases/download/{lkdata.RELEASE_TAG}/")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")
def test_a_download_killed_with_sigkill_leaves_a_part_that_the_next_attempt_removes(tmp_path):
    """A real ``kill -9`` mid-download (no clean-up code runs), then a fresh attempt."""
    import signal
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    payload = bytes(range(256)) * 8192  # 2 MiB
    first_request_done = threading.Event()

    class Slow(BaseHTTPRequestHandler):
        """Sends half of the file, then stalls until the first client is gone; later requests get it all."""

        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[: 1 << 20])
            self.wfile.flush()
            if not first_request_done.is_set():
                first_request_done.wait(30)
                return
            self.wfile.write(payload[1 << 20 :])

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    src = lk.Source("pack/file.bin", sha256(payload), (f"http://127.0.0.1:{server.server_address[1]}/file.bin",))
    part = lk.cache_dir() / "pack/file.bin.part"
    pid = os.fork()
    if pid == 0:  # the child downloads (lessonkit is already imported) until it is killed
        try:
            lk.fetch(src)
        finally:
            os._exit(0)
    try:
        deadline = time.monotonic() + 30
        while not (part.is_file() and part.stat().st_size >= 1 << 20):
            assert time.monotonic() < deadline, "the download never started"
            time.sleep(0.02)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        assert part.is_file()  # what kill -9 leaves behind
        first_request_done.set()
        assert lk.fetch(src).read_bytes() == payload
        assert cache_files() == [lk.cache_dir() / "pack/file.bin"]
    finally:
        first_request_done.set()
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        server.shutdown()
        server.server_close()


def test_the_stand_in_serves_weights_at_their_official_url(serve_official, tmp_path, monkeypatch):
    """Weights go through the same fetch as data, so LESSONKIT_DOWNLOAD_BASE serves them too (real HTTP)."""
    from lessonkit import pretrained as P

    source = P._WEIGHTS["resnet18"]
    payload = b"stand-in weights"
    mirror = tmp_path / "mirror"
    (mirror / source.path).parent.mkdir(parents=True)
    (mirror / source.path).write_bytes(payload)
    pinned = dataclasses.replace(source, checksum="sha256:" + hashlib.sha256(payload).hexdigest(), size=len(payload))
    monkeypatch.setitem(P._WEIGHTS, "resnet18", pinned)
    with serve_official.serving(mirror) as standin:
        assert standin.routes["download.pytorch.org/models/resnet18-f37072fd.pth"] == mirror / source.path
        monkeypatch.setenv("LESSONKIT_DOWNLOAD_BASE", standin.base)  # and no mirror: a download
        path = lk.fetch(pinned)
    assert path == lk.cache_dir() / source.path and path.read_bytes() == payload


def test_normalized_black_is_what_normalize_makes_of_a_black_image():
    # Oracle: torchvision's Normalize applied to an all-black image, channel by channel.
    from torchvision.transforms import Normalize

    for mean, std in ((lk.IMAGENET_MEAN, lk.IMAGENET_STD), ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)), ((0.1307,), (0.3081,))):
        black = lk.normalized_black(mean, std)
        expected = Normalize(mean, std)(torch.zeros(len(mean), 2, 2, dtype=torch.float64))[:, 0, 0]
        assert isinstance(black, tuple) and len(black) == len(mean)
        torch.testing.assert_close(torch.tensor(black, dtype=torch.float64), expected, rtol=0, atol=1e-15)
    # a tensor of statistics gives the same values as the list
    assert lk.normalized_black(torch.tensor([0.25, 0.5]), torch.tensor([0.5, 0.25])) == (-0.5, -2.0)
    # the dataset's black is this helper under its own statistics, bit for bit
    ds = lk.TensorImageDataset(torch.zeros(1, 2, 1, 1, dtype=torch.uint8), torch.tensor([0]), ["a"], mean=[0.3, 0.6], std=[0.2, 0.7])
    assert ds.black == lk.normalized_black(ds.mean, ds.std)


def test_normalized_black_rejects_bad_statistics():
    with pytest.raises(ValueError, match=r"std\[1\] must be > 0, got 0.0"):
        lk.normalized_black([0.5, 0.5], [0.5, 0.0])
    with pytest.raises(ValueError, match="the same number of values.*got 3 and 1"):
        lk.normalized_black([0.5] * 3, [0.5])
    with pytest.raises(ValueError, match="at least one"):
        lk.normalized_black([], [])
    with pytest.raises(ValueError, match=r"1-D .* shape \(3, 1, 1\)"):
        lk.normalized_black(torch.zeros(3, 1, 1), torch.ones(3))
    with pytest.raises(TypeError, match="mean must be a sequence of floats .* got float"):
        lk.normalized_black(0.5, [0.5])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="std must be a sequence of floats .* got str"):
        lk.normalized_black([0.5], "0.5")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"mean\[0\]"):
        lk.normalized_black(["a"], [0.5])  # type: ignore[list-item]


def test_torchvision_root_lets_torchvision_read_the_course_files(real_mirror):
    from torchvision import datasets

    root = lkdata.torchvision_root("fashion_mnist")
    assert root == lkdata.cache_dir() / "torchvision"
    assert not list(root.rglob("*.part")), "no half-written file left"
    test = datasets.FashionMNIST(root, train=False, download=False)  # raises if a file is missing
    ours = lkdata.load_dataset("fashion_mnist", "test")
    assert torch.equal(test.data, ours.images[:, 0]) and torch.equal(test.targets, ours.targets)
    with pytest.raises(ValueError, match="'mnist', 'fashion_mnist', got 'cifar10'"):
        lkdata.torchvision_root("cifar10")
    with pytest.raises(TypeError):
        lkdata.torchvision_root(3)
