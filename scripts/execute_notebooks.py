"""Execute lesson notebooks in place, top to bottom, each in a fresh kernel.

Used by ``make execute``. The environment (LESSONKIT_PROFILE, LESSONKIT_PROGRESS,
LESSONKIT_MIRROR) comes from the Makefile; this script only runs the notebooks
and prints how long each took (to the terminal, never into a notebook).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute(path: Path, timeout: int) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
    ).execute()
    elapsed = time.perf_counter() - start
    # Widget state is per-run noise (random model ids); the static book does not need it.
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = parser.parse_args(argv)
    total = 0.0
    for path in args.notebooks:
        print(f"executing {path} ...", flush=True)
        elapsed = execute(path, args.timeout)
        total += elapsed
        print(f"  {elapsed:6.1f} s  {path}", flush=True)
    print(f"total {total:.1f} s for {len(args.notebooks)} notebook(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
