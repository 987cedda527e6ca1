"""One path for every file lessonkit fetches: datasets (lesson 00 on) and pretrained weights (lesson 09 on).

A file is described by a :class:`Source` (relative path, pinned checksum and
size, official URLs) and resolved by :func:`fetch`, in this order:

1. the cache (``LESSONKIT_DATA``; a cached file that fails its check is deleted);
2. the offline mirror (``LESSONKIT_MIRROR``), read in place and never written;
3. each official URL, or, when ``LESSONKIT_DOWNLOAD_BASE`` is set (tests), a
   local stand-in for the official hosts (see :func:`resolve_url`).

Every file is checked wherever it comes from: against its pinned size and
checksum, or, for a file without a published checksum, by its ``check``. A
download is written to ``<name>.part`` in the cache and renamed only once it
passes, so an interrupted download never leaves a half-written file under the
real name; a ``.part`` left by a killed process is removed on the next attempt.
Writers of one cache entry take a lock (``<cache>/.locks``, on POSIX systems).

Used by :mod:`lessonkit.data` (every lesson that loads a dataset, from lesson
00) and :mod:`lessonkit.pretrained` (lessons 09-11). The public names are
presented by :mod:`lessonkit.data` (their ``__module__`` is ``lessonkit.data``,
their public home) and so reachable as ``lk.fetch`` etc.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ._utils import check_int, check_number, check_type
from .progress import progress

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "DataUnavailableError",
    "ChecksumError",
    "Source",
    "cache_dir",
    "mirror_dir",
    "resolve_url",
    "fetch",
    "file_checksum",
]

DATA_ENV = "LESSONKIT_DATA"
MIRROR_ENV = "LESSONKIT_MIRROR"
DOWNLOAD_BASE_ENV = "LESSONKIT_DOWNLOAD_BASE"
#: Seconds :func:`fetch` waits for a download server by default.
DEFAULT_TIMEOUT = 60.0


class DataUnavailableError(RuntimeError):
    """No source could provide a file; the message lists what was tried and what to do.

    Introduced in lesson 00 (raised by :func:`lessonkit.load_dataset`).

    Examples
    --------
    >>> import tempfile, unittest.mock
    >>> empty = tempfile.mkdtemp()
    >>> with unittest.mock.patch.dict(os.environ, {"LESSONKIT_MIRROR": empty, "LESSONKIT_DATA": empty}):
    ...     fetch(Source("nowhere.bin", "sha256:" + "0" * 64))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lessonkit.data.DataUnavailableError: Could not get 'nowhere.bin'...
    """


class ChecksumError(DataUnavailableError, ValueError):
    """A file was found, but its size or checksum differs from the pinned one.

    Introduced in lesson 00. Raised by :func:`fetch` when no source gave a good
    copy and at least one gave a wrong one (a corrupted or truncated file), so
    that the message says so; it is a :class:`DataUnavailableError` (and a
    ``ValueError``), so code that handles a missing file handles it too.

    Examples
    --------
    >>> import tempfile, unittest.mock
    >>> mirror = Path(tempfile.mkdtemp())
    >>> _ = (mirror / "w.bin").write_bytes(b"truncated")
    >>> env = {"LESSONKIT_MIRROR": str(mirror), "LESSONKIT_DATA": str(mirror / "cache")}
    >>> with unittest.mock.patch.dict(os.environ, env):
    ...     fetch(Source("w.bin", "sha256:" + "0" * 64, size=9))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lessonkit.data.ChecksumError: Could not get 'w.bin': a copy was found, but it is not the pinned file...
    """


# --------------------------------------------------------------------------
# Checksums and sources
# --------------------------------------------------------------------------


def file_checksum(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Return the hex digest of a file (``algorithm`` is any :mod:`hashlib` name).

    Introduced in lesson 00 (every downloaded file is checked with it).

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "abc.txt"
    >>> _ = path.write_bytes(b"abc")
    >>> file_checksum(path)  # SHA-256 of "abc", the test vector of FIPS 180-2
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
    >>> file_checksum(path, "md5")
    '900150983cd24fb0d6963f7d28e17f72'
    """
    check_type("path", path, (str, os.PathLike))
    check_type("algorithm", algorithm, str)
    if algorithm not in hashlib.algorithms_available:
        raise ValueError(f"algorithm must be a hashlib name such as 'sha256' or 'md5', got {algorithm!r}")
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Source:
    """One file (a dataset's or a network's weights) and where it can come from.

    Introduced in lesson 00.

    Parameters
    ----------
    path : str
        Relative path, the same in the cache and in the mirror
        (e.g. ``"MNIST/raw/train-images-idx3-ubyte.gz"``, ``"weights/resnet18-f37072fd.pth"``).
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
    >>> src = Source("MNIST/raw/t10k-labels-idx1-ubyte.gz", "md5:ec29112dd5afa0611ce80d1b7f02629c")
    >>> src.checksum
    'md5:ec29112dd5afa0611ce80d1b7f02629c'
    >>> Source("x.bin", "crc32:1234")
    Traceback (most recent call last):
    ...
    ValueError: checksum must look like 'sha256:<hex>' or 'md5:<hex>', got 'crc32:1234'

    :meth:`problem` says why a file is not the pinned one (``None`` when it is):

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "abc.txt"
    >>> _ = path.write_bytes(b"abc")
    >>> Source("abc.txt", "md5:900150983cd24fb0d6963f7d28e17f72", size=3).problem(path) is None
    True
    >>> Source("abc.txt", "md5:900150983cd24fb0d6963f7d28e17f72", size=4).problem(path)
    'is 3 bytes, not the pinned 4'
    """

    path: str
    checksum: str | None
    urls: tuple[str, ...] = ()
    size: int | None = None
    check: Callable[[Path], None] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        check_type("path", self.path, str)
        if self.checksum is None:
            if self.check is None:
                raise ValueError(f"{self.path}: a file without a pinned checksum needs a check, got neither")
        else:
            check_type("checksum", self.checksum, str)
            algo, _, digest = self.checksum.partition(":")
            if algo not in {"md5", "sha256"} or not re.fullmatch(r"[0-9a-fA-F]+", digest):
                raise ValueError(f"checksum must look like 'sha256:<hex>' or 'md5:<hex>', got {self.checksum!r}")
        if isinstance(self.urls, str):
            raise TypeError(f"urls must be a sequence of str, got the str {self.urls!r}")
        object.__setattr__(self, "urls", tuple(check_type("urls[]", u, str) for u in self.urls))
        if self.size is not None:
            check_int("size", self.size, minimum=0)

    def problem(self, path: str | os.PathLike) -> str | None:
        """Why the file at ``path`` is not this source's file, or ``None`` when it is (examples: the class's)."""
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


# --------------------------------------------------------------------------
# Where files live
# --------------------------------------------------------------------------


def cache_dir() -> Path:
    """The cache directory (``LESSONKIT_DATA``, else ``$XDG_CACHE_HOME/lessonkit`` or ``~/.cache/lessonkit``).

    Introduced in lesson 00.

    Examples
    --------
    >>> import unittest.mock
    >>> with unittest.mock.patch.dict(os.environ, {"LESSONKIT_DATA": "/tmp/lk-cache"}):
    ...     cache_dir().as_posix()
    '/tmp/lk-cache'
    """
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lessonkit"


def mirror_dir() -> Path | None:
    """The offline mirror (``LESSONKIT_MIRROR``), or ``None`` when unset.

    Introduced in lesson 00.

    Examples
    --------
    >>> import unittest.mock
    >>> with unittest.mock.patch.dict(os.environ, {"LESSONKIT_MIRROR": ""}):
    ...     mirror_dir() is None
    True
    """
    env = os.environ.get(MIRROR_ENV)
    return Path(env).expanduser() if env else None


def resolve_url(url: str) -> str:
    """The address to download an official ``url`` from.

    Unchanged, unless ``LESSONKIT_DOWNLOAD_BASE`` names a local stand-in for
    the official hosts (tests only, ``scripts/serve_official.py``): then
    ``https://HOST/PATH`` (or ``http``) becomes ``<BASE>/HOST/PATH``. This
    applies to data files and weights alike.

    Introduced in lesson 00 (through :func:`lessonkit.load_dataset`).

    Examples
    --------
    >>> import unittest.mock
    >>> with unittest.mock.patch.dict(os.environ, {"LESSONKIT_DOWNLOAD_BASE": ""}):
    ...     resolve_url("https://example.org/a/b.zip")
    'https://example.org/a/b.zip'
    >>> with unittest.mock.patch.dict(os.environ, {"LESSONKIT_DOWNLOAD_BASE": "http://127.0.0.1:8765/"}):
    ...     resolve_url("https://example.org/a/b.zip")
    'http://127.0.0.1:8765/example.org/a/b.zip'
    """
    check_type("url", url, str)
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


# --------------------------------------------------------------------------
# Fetching
# --------------------------------------------------------------------------


def _download(url: str, dest: Path, expected: Source, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Download ``url`` to ``dest`` via ``dest.part``; verify, then rename.

    The caller holds the lock of ``dest``, so an existing ``.part`` is a
    leftover of a killed process: it is overwritten, and removed on failure.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = _part(dest)
    try:
        with open(tmp, "wb") as out, urllib.request.urlopen(resolve_url(url), timeout=timeout) as response:
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


@dataclass
class _Attempts:
    """What :func:`_try_fetch` tried, and whether some copy had the wrong size or checksum."""

    tried: list[str] = field(default_factory=list)
    wrong_copy: bool = False


def _try_fetch(source: Source, *, download: bool = True, timeout: float = DEFAULT_TIMEOUT) -> tuple[Path | None, _Attempts]:
    """Resolve ``source`` (cache, mirror, downloads); the path or None, and what was tried."""
    attempts = _Attempts()
    tried = attempts.tried
    cached = cache_dir() / source.path
    with _locked(source.path):
        _part(cached).unlink(missing_ok=True)  # a killed download's leftover (we hold the lock)
        if cached.is_file():
            problem = source.problem(cached)
            if problem is None:
                return cached, attempts
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
                    return candidate, attempts
                attempts.wrong_copy = True
                tried.append(f"mirror: {candidate} {problem} (left untouched)")

        if not download:
            tried.append("download: not allowed (download=False)")
            return None, attempts
        for url in source.urls:
            shown = url if resolve_url(url) == url else f"{url} (via {resolve_url(url)})"
            try:
                _download(url, cached, source, timeout)
                return cached, attempts
            except Exception as exc:  # noqa: BLE001 - every failure is reported below
                attempts.wrong_copy |= isinstance(exc, ChecksumError)
                tried.append(f"download: {shown} failed ({type(exc).__name__}: {exc})")
        if not source.urls:
            tried.append("download: no official URL is known for this file")
    return None, attempts


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


def _unavailable(what: str, attempts: Sequence[tuple[Source, _Attempts]]) -> DataUnavailableError:
    """The error for ``what``: a :class:`ChecksumError` when some copy was found but wrong."""
    wrong = any(a.wrong_copy for _, a in attempts)
    head = f"Could not get {what}"
    parts = [head + (": a copy was found, but it is not the pinned file (corrupted or truncated?)." if wrong else ".")]
    for source, a in attempts:
        parts.append(f"Tried, for {source.path!r}:\n  - " + "\n  - ".join(a.tried))
    parts.append(_advice([s for s, _ in attempts]))
    return (ChecksumError if wrong else DataUnavailableError)("\n".join(parts))


def fetch(source: Source, *, download: bool = True, timeout: float = DEFAULT_TIMEOUT) -> Path:
    """Return a verified local path for ``source``.

    Introduced in lesson 00 (every dataset, and from lesson 09 every weights
    file, comes through it).

    Tries, in order: the cache (a corrupt cached file is deleted and replaced),
    the mirror (read in place, never written), each official URL (downloaded
    into the cache, through ``LESSONKIT_DOWNLOAD_BASE`` when set).

    Parameters
    ----------
    source : Source
    download : bool
        Allow downloads (otherwise only the cache and the mirror are tried).
    timeout : float
        Seconds to wait for a download server.

    Raises
    ------
    ChecksumError
        When no good copy was found and some copy had the wrong size or checksum.
    DataUnavailableError
        When no copy was found; the message lists every attempt and what to do.

    Examples
    --------
    >>> import tempfile, unittest.mock
    >>> mirror = Path(tempfile.mkdtemp())
    >>> _ = (mirror / "hello.txt").write_bytes(b"hi")
    >>> src = Source("hello.txt", "md5:49f68a5c8493ec2c0bf489821c21fc3b", size=2)
    >>> env = {"LESSONKIT_MIRROR": str(mirror), "LESSONKIT_DATA": str(mirror / "cache")}
    >>> with unittest.mock.patch.dict(os.environ, env):
    ...     fetch(src) == mirror / "hello.txt"
    True
    """
    check_type("source", source, Source)
    check_type("download", download, bool)
    timeout = check_number("timeout", timeout, minimum=0, strict_minimum=True)
    path, attempts = _try_fetch(source, download=download, timeout=timeout)
    if path is None:
        raise _unavailable(repr(source.path), [(source, attempts)])
    return path
