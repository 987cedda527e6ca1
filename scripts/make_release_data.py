"""Build the course's own data archives from their official sources, and publish them.

The course's GitHub release (``lessonkit.data.RELEASE_TAG``, at ``RELEASE_URL``) holds the two
image-folder subsets that ``lk.load_dataset`` downloads first: ``cats_vs_dogs.zip`` and
``hymenoptera.zip``. ``lessonkit/data.py`` pins their SHA-256, and the offline mirror holds the
same bytes. This script is how they are made and published; nothing is done by hand.

Usage::

    # build from the official sources into dist/data, print size and SHA-256 of each
    .venv/bin/python scripts/make_release_data.py --out dist/data
    # or take the mirror's archives (the bytes the pins describe), after checking them
    .venv/bin/python scripts/make_release_data.py --out dist/data --from-mirror ../shared/data
    # then publish (needs the GitHub CLI, logged in with write access to the repository)
    .venv/bin/python scripts/make_release_data.py --out dist/data --from-mirror ../shared/data --upload
    # --dry-run prints the gh commands instead of running them

Building
    Each archive is derived from its official source (Microsoft's ``kagglecatsanddogs_5340.zip``,
    825 MB, checked against its pinned size and SHA-256; the PyTorch tutorial's
    ``hymenoptera_data.zip``, structure-checked since it has no published checksum) by the very
    code lessonkit runs when the release is unreachable (``lessonkit.data._derive_*``; the rule
    is in that module's docstring). The official files are fetched through ``lessonkit.fetch``,
    so ``LESSONKIT_DATA``, ``LESSONKIT_MIRROR`` and ``LESSONKIT_DOWNLOAD_BASE`` apply. The zip is
    reproducible: sorted entries, fixed time stamps, mode 0644, stored (JPEGs do not deflate).
    The same images give the same bytes; images that must be shrunk are re-encoded by Pillow, so
    another Pillow/libjpeg release may give other bytes.

Pinning and publishing
    The script prints each archive's size and SHA-256 and says whether it equals the pin in
    ``lessonkit/data.py``; it writes ``SHA256SUMS`` beside them. ``--upload`` refuses archives
    that differ from their pins: publishing new archives means, in one commit, updating the pins
    (the release ``Source`` of each image-folder set in ``DATASET_INFO``) and bumping ``RELEASE_TAG`` (a published tag's files never
    change under a pinned checksum), and updating the offline mirror. It then creates the release
    if it does not exist (``gh release create``) and uploads with ``gh release upload --clobber``.
"""

from __future__ import annotations

import argparse
import hashlib
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing lessonkit
    sys.path.insert(0, str(ROOT))

from lessonkit import data as lkdata  # noqa: E402

FIXED_TIME = (1980, 1, 1, 0, 0, 0)
NAMES = tuple(n for n, info in lkdata.DATASET_INFO.items() if info.kind == "folder")  # cats_vs_dogs, hymenoptera


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def zip_folder(folder: Path, dest: Path) -> None:
    """Zip ``folder``'s files as ``<folder name>/...``, reproducibly (no directory entries, like the mirror's)."""
    import zipfile

    files = sorted(p for p in folder.rglob("*") if p.is_file())
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as zf:
        for p in files:
            info = zipfile.ZipInfo(f"{folder.name}/{p.relative_to(folder).as_posix()}", date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            zf.writestr(info, p.read_bytes())


def build(name: str, out: Path) -> Path:
    """Derive ``<name>.zip`` from its official source into ``out``; return its path."""
    spec = lkdata.DATASET_INFO[name]
    official = lkdata.fetch(lkdata._official_source(name))  # verified: checksum, or structure
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as tmp:
        skipped = spec.derive(official, Path(tmp))
        for cls, ids in skipped.items():
            if ids:
                print(f"{name}: skipped {len(ids)} {cls} file(s) that are empty or do not decode: ids {ids[:12]}{' ...' if len(ids) > 12 else ''}")
        dest = out / spec.release.path
        zip_folder(Path(tmp) / name, dest)
    return dest


def from_mirror(name: str, mirror: Path, out: Path) -> Path:
    """Copy the mirror's ``<name>.zip`` into ``out`` after checking it against the pin."""
    source = lkdata.DATASET_INFO[name].release
    path = mirror / source.path
    problem = source.problem(path) if path.is_file() else "does not exist"
    if problem:
        raise SystemExit(f"{path} {problem}: the mirror does not hold the pinned archive")
    dest = out / source.path
    shutil.copyfile(path, dest)
    return dest


def gh_commands(paths: list[Path]) -> list[list[str]]:
    tag, repo = lkdata.RELEASE_TAG, lkdata.RELEASE_REPO
    notes = "Image-folder subsets used by lessonkit.load_dataset; made by scripts/make_release_data.py."
    return [
        ["gh", "release", "view", tag, "--repo", repo],
        ["gh", "release", "create", tag, "--repo", repo, "--title", f"Course data {tag}", "--notes", notes],
        ["gh", "release", "upload", tag, "--repo", repo, "--clobber", *map(str, paths)],
    ]


def upload(paths: list[Path], dry_run: bool) -> None:
    view, create, upload_cmd = gh_commands(paths)
    if dry_run:
        print("would run:", shlex.join(view), "||", shlex.join(create))
        print("would run:", shlex.join(upload_cmd))
        return
    if shutil.which("gh") is None:
        raise SystemExit("the GitHub CLI (gh) is not installed: https://cli.github.com")
    if subprocess.run(view, capture_output=True).returncode != 0:
        subprocess.run(create, check=True)
    subprocess.run(upload_cmd, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "data", help="where to write the archives")
    parser.add_argument("--from-mirror", type=Path, metavar="DIR", help="take the pinned archives from this mirror instead of building")
    parser.add_argument("--only", choices=NAMES, action="append", help="one archive (repeatable); default: all")
    parser.add_argument("--upload", action="store_true", help="publish with gh release upload (only archives that match their pins)")
    parser.add_argument("--dry-run", action="store_true", help="with --upload: print the gh commands instead")
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    paths, mismatched = [], []
    for name in args.only or NAMES:
        path = from_mirror(name, args.from_mirror, args.out) if args.from_mirror else build(name, args.out)
        pinned = lkdata.DATASET_INFO[name].release.checksum
        digest = sha256(path)
        same = pinned == f"sha256:{digest}"
        print(f"{path.name}: {path.stat().st_size} bytes, sha256:{digest} ({'equals the pin' if same else f'pin this; lessonkit/data.py pins {pinned}'})")
        paths.append(path)
        if not same:
            mismatched.append(path.name)
    (args.out / "SHA256SUMS").write_text("".join(f"{sha256(p)}  {p.name}\n" for p in paths))

    if args.upload:
        if mismatched:
            print(
                f"not uploading: {', '.join(mismatched)} differ(s) from the pins in lessonkit/data.py. Update the pins, "
                f"bump RELEASE_TAG (now {lkdata.RELEASE_TAG}) and the offline mirror in one commit, then upload.",
                file=sys.stderr,
            )
            return 1
        upload(paths, args.dry_run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
