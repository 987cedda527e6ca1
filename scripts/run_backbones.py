"""Run lessons top to bottom on each backbone of lk.pretrained_model()'s fall-back chain.

Used by ``make backbones``. A lesson that uses ``lk.pretrained_model()`` must run
with whichever network a student's machine gives it (issue 12): torchvision's
ResNet-18 online, EfficientNet-Lite0 from its PyPI package, SqueezeNet 1.0 and
MobileNetV2 from the offline mirror. Each run sets ``LESSONKIT_BACKBONE`` (which
makes every default ``pretrained_model()`` call load that network and no other),
executes a copy of the notebook in a fresh kernel in the fast profile and keeps
the executed copy in ``_build/backbones/<backbone>/`` (the committed notebook is
never touched).

ResNet-18's real weights cannot be had offline, so by default its path is run
with ``resnet18-standin``: the same architecture with deterministic random
weights. A stand-in knows nothing, so the lesson's claim checks (hidden cells
whose first line is ``# Check:``) are *allowed to fail* in a stand-in run: they
still run, and the report lists the ones that failed. Every other cell must
run. For a real backbone every cell, claim checks included, must pass.
Output comparison (nbval) is not part of this: the committed outputs belong to
the book's own backbone.

Examples
--------
    python scripts/run_backbones.py notebooks/09_inside_a_cnn.ipynb
    python scripts/run_backbones.py --backbones squeezenet1_0 mobilenet_v2
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from execute_notebooks import run_in_kernel  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_NOTEBOOKS = [
    "notebooks/09_inside_a_cnn.ipynb",
    "notebooks/12_transfer_learning.ipynb",
    "notebooks/13_image_similarity.ipynb",
]
# The fall-back chain of lk.pretrained_model(), ResNet-18 replaced by its offline stand-in.
DEFAULT_BACKBONES = ["resnet18-standin", "efficientnet_lite0", "squeezenet1_0", "mobilenet_v2"]
STANDIN_SUFFIX = "-standin"


def is_claim_check(cell: nbformat.NotebookNode) -> bool:
    """A hidden check cell: code, tagged ``remove-cell``, first line ``# Check: ...``."""
    return (
        cell.cell_type == "code"
        and "remove-cell" in cell.metadata.get("tags", [])
        and cell.source.lstrip().startswith("# Check:")
    )


def prepare(nb: nbformat.NotebookNode, standin: bool) -> list[int]:
    """Allow the claim checks of a stand-in run to fail (nbclient's ``raises-exception`` tag).

    Returns the indices of the cells allowed to fail.
    """
    allowed = []
    if standin:
        for i, cell in enumerate(nb.cells):
            if is_claim_check(cell):
                cell.metadata.setdefault("tags", []).append("raises-exception")
                allowed.append(i)
    return allowed


def failed_cells(nb: nbformat.NotebookNode, indices: list[int]) -> list[str]:
    """The first line and error of each of ``indices`` that raised."""
    out = []
    for i in indices:
        for o in nb.cells[i].get("outputs", []):
            if o.output_type == "error":
                first = nb.cells[i].source.splitlines()[0]
                out.append(f"cell {i} {first!r}: {o.ename}: {o.evalue.splitlines()[0][:160] if o.evalue else ''}")
    return out


def run_one(path: Path, backbone: str, out_dir: Path, timeout: int) -> tuple[bool, float, str]:
    """Execute a copy of ``path`` with ``LESSONKIT_BACKBONE=backbone``; return (ok, seconds, note)."""
    nb = nbformat.read(path, as_version=4)
    run = copy.deepcopy(nb)
    for cell in run.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    standin = backbone.endswith(STANDIN_SUFFIX)
    allowed = prepare(run, standin)
    previous = os.environ.get("LESSONKIT_BACKBONE")
    os.environ["LESSONKIT_BACKBONE"] = backbone  # the kernel inherits this environment
    start = time.perf_counter()
    try:
        run_in_kernel(run, path.parent, timeout)
        ok, note = True, ""
    except Exception as exc:  # noqa: BLE001 - reported, then the next run goes on
        ok = False
        lines = [line for line in str(exc).splitlines() if line.strip()]
        note = "; ".join(lines[-2:])[:400]
    finally:
        if previous is None:
            os.environ.pop("LESSONKIT_BACKBONE", None)
        else:
            os.environ["LESSONKIT_BACKBONE"] = previous
    elapsed = time.perf_counter() - start
    if ok and standin:
        failed = failed_cells(run, allowed)
        note = (f"{len(failed)} of {len(allowed)} claim checks failed (allowed for a stand-in)"
                + ("".join(f"\n        - {f}" for f in failed)))
    elif ok:
        note = "every cell ran, every check passed"
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(run, out_dir / path.name)
    return ok, elapsed, note


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help=f"default: {' '.join(DEFAULT_NOTEBOOKS)}")
    parser.add_argument("--backbones", nargs="+", default=DEFAULT_BACKBONES,
                        help=f"values of LESSONKIT_BACKBONE (default: {' '.join(DEFAULT_BACKBONES)})")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "backbones",
                        help="where the executed copies go (default: _build/backbones)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or [ROOT / p for p in DEFAULT_NOTEBOOKS]
    os.environ.setdefault("LESSONKIT_PROFILE", "fast")
    os.environ.setdefault("LESSONKIT_PROGRESS", "0")
    results = []
    for backbone in args.backbones:
        for path in notebooks:
            print(f"running {path.name} with LESSONKIT_BACKBONE={backbone} ...", flush=True)
            ok, elapsed, note = run_one(Path(path), backbone, args.out / backbone, args.timeout)
            results.append((backbone, path.name, ok, elapsed, note))
            print(f"  {'ok    ' if ok else 'FAILED'} {elapsed:6.1f} s  {note}", flush=True)
    print("\nsummary (backbone, lesson, seconds, result):")
    for backbone, name, ok, elapsed, note in results:
        print(f"  {backbone:18s} {name:32s} {elapsed:6.1f} s  {'ok' if ok else 'FAILED'}  {note.splitlines()[0] if note else ''}")
    return 0 if all(ok for _, _, ok, _, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
