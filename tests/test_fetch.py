"""Tests for lessonkit._fetch: the one path by which data files and weights are fetched.

The conftest gives every test an empty cache (``LESSONKIT_DATA``) and no mirror. Downloads
go through a fake ``urlopen``; the oracles are published test vectors and byte counts.
"""

from __future__ import annotations

import io
import urllib.error
import urllib.request

import pytest

import lessonkit as lk
from lessonkit import _fetch

# FIPS 180-2 / RFC 1321 test vectors for b"abc": independent of hashlib.
ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
ABC_MD5 = "900150983cd24fb0d6963f7d28e17f72"


class FakeServer:
    """Stands in for urllib.request.urlopen: serves ``files`` by URL, records requests."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.requests: list[tuple[str, float]] = []

    def __call__(self, url, timeout):
        self.requests.append((url, timeout))
        if url not in self.files:
            raise urllib.error.URLError(f"no route to {url}")
        body = io.BytesIO(self.files[url])
        body.headers = {"Content-Length": str(len(self.files[url]))}  # type: ignore[attr-defined]
        return body


@pytest.fixture
def server(monkeypatch):
    fake = FakeServer({})
    monkeypatch.setattr(urllib.request, "urlopen", fake)
    return fake


def abc_source(**kwargs) -> lk.Source:
    return lk.Source("pack/abc.txt", "sha256:" + ABC_SHA256, size=3, **kwargs)


def test_the_public_names_are_one_definition_presented_by_data():
    for name in _fetch.__all__:
        assert getattr(lk, name) is getattr(_fetch, name) is getattr(lk.data, name)
        assert getattr(lk, name).__module__ == "lessonkit.data"
    assert issubclass(lk.ChecksumError, lk.DataUnavailableError) and issubclass(lk.ChecksumError, ValueError)


def test_file_checksum_matches_published_test_vectors(tmp_path):
    path = tmp_path / "abc.txt"
    path.write_bytes(b"abc")
    assert lk.file_checksum(path) == ABC_SHA256
    assert lk.file_checksum(str(path), "md5") == ABC_MD5
    with pytest.raises(ValueError, match="algorithm must be a hashlib name"):
        lk.file_checksum(path, "crc-none")
    with pytest.raises(TypeError, match="path must be a str or PathLike, got int"):
        lk.file_checksum(3)  # type: ignore[arg-type]


def test_source_validates_its_fields():
    with pytest.raises(ValueError, match="needs a check"):
        lk.Source("a.bin", None)
    with pytest.raises(ValueError, match="checksum must look like"):
        lk.Source("a.bin", "sha256:not-hex")
    with pytest.raises(TypeError, match="checksum must be a str"):
        lk.Source("a.bin", 1234)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="urls must be a sequence of str"):
        lk.Source("a.bin", "md5:" + ABC_MD5, "https://example.org/a.bin")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="size must be an int >= 0"):
        lk.Source("a.bin", "md5:" + ABC_MD5, size=-1)
    with pytest.raises(TypeError, match="size must be an int"):
        lk.Source("a.bin", "md5:" + ABC_MD5, size=3.0)  # type: ignore[arg-type]
    assert lk.Source("a.bin", "md5:" + ABC_MD5, ["https://a.org/x"]).urls == ("https://a.org/x",)


def test_problem_checks_size_then_checksum_then_structure(tmp_path):
    path = tmp_path / "abc.txt"
    path.write_bytes(b"abc")
    assert abc_source().problem(path) is None
    assert lk.Source("x", "sha256:" + ABC_SHA256, size=4).problem(path) == "is 3 bytes, not the pinned 4"
    assert lk.Source("x", "sha256:" + "0" * 64, size=3).problem(path) == "does not have the checksum sha256:" + "0" * 64

    def no_c(p):
        if b"c" in p.read_bytes():
            raise ValueError("contains c")

    assert lk.Source("x", None, check=no_c).problem(path) == "failed its check (contains c)"


def test_resolve_url_and_fetch_validate_their_arguments():
    with pytest.raises(TypeError, match="url must be a str"):
        lk.resolve_url(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="source must be a Source, got str"):
        lk.fetch("pack/abc.txt")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout must be > 0"):
        lk.fetch(abc_source(), timeout=0)
    with pytest.raises(TypeError, match="download must be a bool"):
        lk.fetch(abc_source(), download="no")  # type: ignore[arg-type]


def test_order_is_cache_then_mirror_then_download(tmp_path, monkeypatch, server):
    url = "https://example.org/abc.txt"
    server.files[url] = b"abc"
    source = abc_source(urls=(url,))
    # 1. nothing cached, no mirror: downloaded into the cache (with the timeout asked for)
    path = lk.fetch(source, timeout=7.5)
    assert path == lk.cache_dir() / "pack/abc.txt" and path.read_bytes() == b"abc"
    assert server.requests == [(url, 7.5)]
    # 2. cached: no request at all
    assert lk.fetch(source) == path and len(server.requests) == 1
    # 3. a mirror copy is used in place when the cache has none
    path.unlink()
    mirror = tmp_path / "mirror"
    (mirror / "pack").mkdir(parents=True)
    (mirror / "pack/abc.txt").write_bytes(b"abc")
    monkeypatch.setenv("LESSONKIT_MIRROR", str(mirror))
    assert lk.fetch(source) == mirror / "pack/abc.txt" and len(server.requests) == 1
    assert not path.exists()  # the mirror is read in place, not copied


def test_a_corrupt_cached_file_is_replaced_and_a_wrong_mirror_copy_left_alone(tmp_path, monkeypatch, server):
    url = "https://example.org/abc.txt"
    server.files[url] = b"abc"
    cached = lk.cache_dir() / "pack/abc.txt"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"abd")  # same size, wrong content
    mirror = tmp_path / "mirror"
    (mirror / "pack").mkdir(parents=True)
    (mirror / "pack/abc.txt").write_bytes(b"ab")  # truncated
    monkeypatch.setenv("LESSONKIT_MIRROR", str(mirror))
    assert lk.fetch(abc_source(urls=(url,))) == cached and cached.read_bytes() == b"abc"
    assert (mirror / "pack/abc.txt").read_bytes() == b"ab"


def test_only_wrong_copies_raise_checksum_error_with_every_attempt(tmp_path, monkeypatch, server):
    url = "https://example.org/abc.txt"
    server.files[url] = b"abcd"  # the download is wrong too
    mirror = tmp_path / "mirror"
    (mirror / "pack").mkdir(parents=True)
    (mirror / "pack/abc.txt").write_bytes(b"ab")
    monkeypatch.setenv("LESSONKIT_MIRROR", str(mirror))
    with pytest.raises(lk.ChecksumError) as info:
        lk.fetch(abc_source(urls=(url,)))
    message = str(info.value)
    assert message.startswith("Could not get 'pack/abc.txt': a copy was found, but it is not the pinned file")
    assert "is 2 bytes, not the pinned 3 (left untouched)" in message
    assert "downloaded, but it is 4 bytes, not the pinned 3" in message
    assert not list(lk.cache_dir().rglob("*.part")) and not (lk.cache_dir() / "pack/abc.txt").exists()


def test_a_missing_file_is_a_plain_data_unavailable_error_with_advice(server):
    url = "https://example.org/abc.txt"
    with pytest.raises(lk.DataUnavailableError) as info:
        lk.fetch(abc_source(urls=(url,)))
    assert type(info.value) is lk.DataUnavailableError
    message = str(info.value)
    assert "no route to" in message and "Fix: check the internet connection" in message and url in message
    assert "mirror" not in message.split("Fix:")[1]  # no mirror set: the advice does not mention one


def test_download_false_tries_no_url(server):
    with pytest.raises(lk.DataUnavailableError, match=r"not allowed \(download=False\)"):
        lk.fetch(abc_source(urls=("https://example.org/abc.txt",)), download=False)
    assert server.requests == []


def test_the_download_base_replaces_the_official_host(monkeypatch, server):
    monkeypatch.setenv("LESSONKIT_DOWNLOAD_BASE", "http://127.0.0.1:9/")
    server.files["http://127.0.0.1:9/example.org/abc.txt"] = b"abc"
    assert lk.fetch(abc_source(urls=("https://example.org/abc.txt",))).read_bytes() == b"abc"
    assert [u for u, _ in server.requests] == ["http://127.0.0.1:9/example.org/abc.txt"]
    assert lk.resolve_url("file:///x") == "file:///x"


def test_a_leftover_part_file_is_removed(server):
    part = lk.cache_dir() / "pack/abc.txt.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"half")
    with pytest.raises(lk.DataUnavailableError):
        lk.fetch(abc_source())
    assert not part.exists()
