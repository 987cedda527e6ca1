"""A local stand-in for the official dataset and weights hosts, so that tests can run lessonkit's download path.

Usage
-----
Shell (serves until Ctrl-C; prints the two variables to export)::

    .venv/bin/python scripts/serve_official.py --port 8765 --mirror ../shared/data
    # LESSONKIT_DOWNLOAD_BASE=http://127.0.0.1:8765/
    # LESSONKIT_STANDIN_CATS_VS_DOGS=<size>:<sha256>

Run lessonkit (a notebook, pytest, ...) with both variables set and *no* ``LESSONKIT_MIRROR``,
and an empty ``LESSONKIT_DATA``: every official download ``https://HOST/PATH`` is then fetched
from ``http://127.0.0.1:8765/HOST/PATH`` and checked as usual. Python (a thread on an
ephemeral port)::

    serve_official = <import scripts/serve_official.py, e.g. with importlib>
    with serve_official.serving(Path("../shared/data")) as standin:
        subprocess.run([...], env={**os.environ, **standin.env})

What it serves (``--mirror`` is only read; the archives are built in a temporary folder):

- MNIST and Fashion-MNIST: the mirror's original gzip files at torchvision's URLs (the same
  bytes, so the pinned MD5s hold).
- Microsoft's ``kagglecatsanddogs_5340.zip``: the real archive is 825 MB and not on this
  machine, so a small one in its layout, ``PetImages/{Cat,Dog}/<id>.jpg``, is built from the
  mirror's ``cats_vs_dogs.zip`` (an image ``cat.<id>.jpg`` becomes ``PetImages/Cat/<id>.jpg``),
  plus, per class, a 0-byte file, a truncated JPEG and a PNG named ``.jpg`` (ids just after the
  training images, so lessonkit must skip them to get the same split), a ``Thumbs.db`` and a
  top-level ``readme[1].txt``. Its size and SHA-256 differ from the pinned ones:
  ``LESSONKIT_STANDIN_CATS_VS_DOGS`` replaces those pins, and is the only pinned figure a test
  replaces (lessonkit honours it only together with ``LESSONKIT_DOWNLOAD_BASE``). With the full
  mirror, the subset lessonkit derives equals the mirror's, file for file.
- The PyTorch tutorial's ``hymenoptera_data.zip``: the mirror's ants/bees images in the official
  layout ``hymenoptera_data/{train,val}/{ants,bees}/``, plus a GIF that must be ignored. No pin:
  lessonkit checks its structure.
- Pretrained weights with an official URL (ResNet-18's ``resnet18-f37072fd.pth``): lessonkit
  fetches weights through the same path as data, so the stand-in serves the mirror's
  ``weights/<file>`` at the official URL when the mirror holds it (the course's mirror does not:
  then it is a 404, and ``pretrained_model`` falls back as it does offline).
- Not served (404): the course's release archives (unpublished, like the real ones, unless
  ``--with-release``); CIFAR-10's official ``cifar-10-python.tar.gz`` (the mirror holds only a JPEG
  re-encoding, which cannot give the pinned MD5; no lesson loads CIFAR-10).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import re
import sys
import tempfile
import threading
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing lessonkit
    sys.path.insert(0, str(ROOT))

from lessonkit import data as lkdata  # noqa: E402
from lessonkit import pretrained as lkpretrained  # noqa: E402

FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # zip entries carry no build date: same bytes on every run


def url_path(url: str) -> str:
    """``https://HOST/PATH`` -> ``HOST/PATH`` (where the stand-in serves it)."""
    return url.split("://", 1)[1]


def write_zip(path: Path, entries: Mapping[str, bytes]) -> None:
    """A reproducible zip: sorted entries, fixed time stamps, mode 0644, stored (JPEGs do not deflate)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            zf.writestr(info, entries[name])


def broken_files() -> dict[str, bytes]:
    """A 0-byte file, a truncated JPEG and a PNG: three ``.jpg`` files that must be skipped."""
    from PIL import Image

    img = Image.new("RGB", (64, 48), (200, 120, 40))
    jpeg, png = io.BytesIO(), io.BytesIO()
    img.save(jpeg, format="JPEG")
    img.save(png, format="PNG")
    return {"empty": b"", "truncated": jpeg.getvalue()[: len(jpeg.getvalue()) // 2], "png": png.getvalue()}


def petimages_from_mirror(cats_vs_dogs_zip: Path) -> dict[str, bytes]:
    """Microsoft's layout, built from the course's ``cats_vs_dogs.zip`` (see the module docstring)."""
    entries: dict[str, bytes] = {"PetImages/readme[1].txt": b"stand-in for kagglecatsanddogs_5340.zip\n"}
    train_ids: dict[str, list[int]] = {"Cat": [], "Dog": []}
    with zipfile.ZipFile(cats_vs_dogs_zip) as zf:
        for name in zf.namelist():
            m = re.fullmatch(r"cats_vs_dogs/(train|val|test)/(?:cats|dogs)/(cat|dog)\.(\d+)\.jpg", name)
            if not m:
                continue
            cls = m.group(2).capitalize()
            entries[f"PetImages/{cls}/{int(m.group(3))}.jpg"] = zf.read(name)
            if m.group(1) == "train":
                train_ids[cls].append(int(m.group(3)))
    for cls, ids in train_ids.items():
        if not ids:
            raise ValueError(f"{cats_vs_dogs_zip} has no training images of class {cls}")
        next_id = max(ids) + 1
        for payload in broken_files().values():
            while f"PetImages/{cls}/{next_id}.jpg" in entries:
                next_id += 1
            entries[f"PetImages/{cls}/{next_id}.jpg"] = payload
        entries[f"PetImages/{cls}/Thumbs.db"] = b"\xd0\xcf\x11\xe0 not an image"
    return entries


def hymenoptera_data_from_mirror(hymenoptera_zip: Path) -> dict[str, bytes]:
    """The official ``hymenoptera_data/`` layout, built from the course's ``hymenoptera.zip``."""
    entries: dict[str, bytes] = {}
    with zipfile.ZipFile(hymenoptera_zip) as zf:
        for name in zf.namelist():
            if name.startswith("hymenoptera/") and not name.endswith("/"):
                entries["hymenoptera_data/" + name.split("/", 1)[1]] = zf.read(name)
    entries["hymenoptera_data/train/ants/placeholder.gif"] = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
    return entries


def official_sources() -> list[lkdata.Source]:
    """Every pinned file lessonkit can download: each dataset's files (the registry), then the weights.

    An image-folder set's official archive is left out: it is built below from the mirror.
    """
    sources = []
    for info in lkdata.DATASET_INFO.values():
        sources += [info.release] if info.kind == "folder" else list(info.sources)
    sources += [s for s in lkpretrained._WEIGHTS.values() if s.urls]
    return sources


class StandIn(NamedTuple):
    """A running stand-in: ``base`` URL, the environment ``env`` that points lessonkit at it, and its ``routes``."""

    base: str
    env: dict[str, str]
    routes: dict[str, Path]


def build_routes(mirror: Path, workdir: Path, with_release: bool = False) -> tuple[dict[str, Path], dict[str, str]]:
    """The files to serve, by ``HOST/PATH``, and the environment variables for lessonkit."""
    routes: dict[str, Path] = {}
    for source in official_sources():
        if source.urls and (with_release or not source.urls[0].startswith(lkdata.RELEASE_URL)):
            local = mirror / source.path
            if local.is_file():
                for url in source.urls:
                    routes[url_path(url)] = local
    env = {}
    cats = mirror / lkdata.DATASET_INFO["cats_vs_dogs"].release.path
    if cats.is_file():
        archive = workdir / "kagglecatsanddogs_5340.zip"
        write_zip(archive, petimages_from_mirror(cats))
        routes[url_path(lkdata.DATASET_INFO["cats_vs_dogs"].official.urls[0])] = archive
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        env[lkdata.STANDIN_CATS_VS_DOGS_ENV] = f"{archive.stat().st_size}:{digest}"
    bees = mirror / lkdata.DATASET_INFO["hymenoptera"].release.path
    if bees.is_file():
        archive = workdir / "hymenoptera_data.zip"
        write_zip(archive, hymenoptera_data_from_mirror(bees))
        routes[url_path(lkdata.DATASET_INFO["hymenoptera"].official.urls[0])] = archive
    return routes, env


def _handler(routes: Mapping[str, Path]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _file(self) -> Path | None:
            return routes.get(self.path.split("?", 1)[0].lstrip("/"))

        def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
            self._respond(body=False)

        def do_GET(self) -> None:  # noqa: N802
            self._respond(body=True)

        def _respond(self, body: bool) -> None:
            path = self._file()
            if path is None:
                self.send_error(404, "not served by the stand-in")
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(path.stat().st_size))
            self.end_headers()
            if body:
                with open(path, "rb") as f:
                    while chunk := f.read(1 << 20):
                        self.wfile.write(chunk)

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

    return Handler


@contextmanager
def serving(
    mirror: Path,
    port: int = 0,
    with_release: bool = False,
    overrides: Mapping[str, Path | None] | None = None,
) -> Iterator[StandIn]:
    """Serve the stand-in on 127.0.0.1 in a thread for the duration of the block.

    ``overrides`` maps an official URL to another file to serve there (a tampered
    archive, say), or to ``None`` to answer 404.
    """
    with tempfile.TemporaryDirectory(prefix="standin-") as tmp:
        routes, env = build_routes(Path(mirror), Path(tmp), with_release)
        for url, path in (overrides or {}).items():
            if path is None:
                routes.pop(url_path(url), None)
            else:
                routes[url_path(url)] = Path(path)
        server = ThreadingHTTPServer(("127.0.0.1", port), _handler(routes))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        try:
            yield StandIn(base, {lkdata.DOWNLOAD_BASE_ENV: base, **env}, routes)
        finally:
            server.shutdown()
            server.server_close()
            thread.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--mirror", type=Path, default=ROOT.parent / "shared" / "data", help="a folder laid out like the offline mirror (read only)")
    parser.add_argument("--with-release", action="store_true", help="also serve the course's release archives (unpublished for real)")
    args = parser.parse_args(argv)
    if not args.mirror.is_dir():
        parser.error(f"--mirror {args.mirror} is not a folder")
    with serving(args.mirror, args.port, args.with_release) as standin:
        for key, value in standin.env.items():
            print(f"{key}={value}")
        for route in sorted(standin.routes):
            print(f"# serving {route}", file=sys.stderr)
        sys.stdout.flush()
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
