"""Data resolution: cache -> mirror -> download, checksums, atomic writes, clear errors."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import stat
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
    assert list((lk.cache_dir()).rglob("*.*")) == []


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
    leftovers = [p for p in lk.cache_dir().rglob("*") if p.is_file()]
    assert leftovers == []


def test_nothing_reachable_gives_a_clear_error(tmp_path, monkeypatch):
    block_network(monkeypatch)
    src = lk.Source("MNIST/raw/x.gz", sha256(b"?"), ("https://example.invalid/x.gz",))
    with pytest.raises(lk.DataUnavailableError) as info:
        lk.fetch(src)
    msg = str(info.value)
    assert "cache:" in msg and "does not exist" in msg
    assert "LESSONKIT_MIRROR is not set" in msg
    assert "https://example.invalid/x.gz" in msg
    assert "Fix:" in msg and "LESSONKIT_MIRROR" in msg


def test_load_dataset_without_mirror_or_network_fails_clearly(monkeypatch):
    block_network(monkeypatch)
    with pytest.raises(lk.DataUnavailableError, match="train-images-idx3-ubyte.gz"):
        lk.load_dataset("mnist", "train")
    with pytest.raises(lk.DataUnavailableError, match="cats_vs_dogs.zip"):
        lk.load_dataset("cats_vs_dogs", "train")


def test_load_dataset_validates_name_and_split():
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        lk.load_dataset("imagenet")
    with pytest.raises(ValueError, match=r"splits \('train', 'val'\), got 'test'"):
        lk.load_dataset("hymenoptera", "test")


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
    assert [p.name for p in lk.cache_dir().iterdir()] == ["set"]  # no temporary leftovers


def tiny_cifar_sources(tmp_path, rng):
    """A 2-image-per-class CIFAR in both forms: the mirror's JPEG zip and the official pickles."""
    classes = lkdata.CIFAR10_CLASSES
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
    monkeypatch.setattr(lkdata, "_CIFAR_JPEG", jpeg_src)
    monkeypatch.setattr(lkdata, "_CIFAR_PY", py_src)

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
    with pytest.raises(ValueError, match="uint8 tensor of shape"):
        lk.TensorImageDataset(torch.zeros(2, 1, 2, 2), torch.tensor([0, 1]), ["a"], (0.5,), (0.5,))
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
    with pytest.raises(ValueError, match="n must be positive"):
        lk.subset(ds, 0)


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
