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


def coalesce_streams(nb: nbformat.NotebookNode) -> None:
    """Merge consecutive stdout (or stderr) outputs of a cell into one.

    How a cell's printing is split into messages depends on timing (a busy
    machine flushes more often); the committed notebook should not.
    """
    for cell in nb.cells:
        merged = []
        for out in cell.get("outputs", []):
            prev = merged[-1] if merged else None
            if (out.output_type == "stream" and prev is not None and prev.output_type == "stream"
                    and prev.name == out.name):
                prev.text += out.text
            else:
                merged.append(out)
        if "outputs" in cell:
            cell.outputs = merged


def run_in_kernel(nb: nbformat.NotebookNode, cwd: Path, timeout: int) -> float:
    """Execute ``nb`` top to bottom in a fresh kernel started in ``cwd``; return seconds.

    The executed notebook is tidied the same way wherever it is saved: per-run
    widget state is dropped and split stream outputs are merged. Shared by
    ``make execute`` (this script) and ``make full-profile`` (run_full_profile.py).
    """
    start = time.perf_counter()
    NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
        record_timing=False,
    ).execute()
    elapsed = time.perf_counter() - start
    # Widget state is per-run noise (random model ids); the static book does not need it.
    nb.metadata.pop("widgets", None)
    coalesce_streams(nb)
    return elapsed


def execute(path: Path, timeout: int) -> float:
    """Execute the notebook at ``path`` in place; return seconds."""
    nb = nbformat.read(path, as_version=4)
    elapsed = run_in_kernel(nb, path.parent, timeout)
    nbformat.write(nb, path)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--coalesce-only", action="store_true",
                        help="only merge split stream outputs of already executed notebooks")
    parser.add_argument("--timeout", type=int, default=2400, help="seconds per cell (a guard against a hung kernel; lesson 10's ablation takes over 15 min on two AVX2 cores)")
    args = parser.parse_args(argv)
    if args.coalesce_only:
        for path in args.notebooks:
            nb = nbformat.read(path, as_version=4)
            coalesce_streams(nb)
            nbformat.write(nb, path)
        return 0
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
