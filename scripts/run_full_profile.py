"""Run lessons in the ``full`` profile and record what they measure.

Used by ``make full-profile``. Each notebook is executed top to bottom in a
fresh kernel with ``LESSONKIT_PROFILE=full``. The committed lesson is left
untouched: the executed copy goes to ``results/full/<lesson>.ipynb`` (not
committed, it is large and reproducible) and a record goes to
``results/full/<lesson>.json`` (committed). The record holds every value the
notebook glues for the text, everything it printed, the device, the library
versions and the wall-clock time. ``scripts/make_results.py`` turns the records
into the book's results page, so no figure on that page is typed by hand.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from execute_notebooks import run_in_kernel  # noqa: E402  (one way to run a notebook)

ROOT = Path(__file__).resolve().parents[1]
GLUE_PREFIX = "application/papermill.record/"


def device_description() -> str:
    """The device a lesson's ``lk.device()`` picks, in words."""
    import torch

    if torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)}"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "Apple GPU (MPS)"
    return f"CPU, {os.cpu_count()} cores ({platform.processor() or platform.machine()})"


def glued_values(nb: nbformat.NotebookNode) -> dict[str, str]:
    """Every value the notebook glues (myst-nb), as its text form."""
    values = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is None:
                continue
            text = out.get("data", {}).get(GLUE_PREFIX + "text/plain")
            if text is not None:
                values[name] = text.strip("'\"")
    return values


def printed_text(nb: nbformat.NotebookNode) -> list[str]:
    """What the code cells printed, one string per cell that printed anything."""
    printed = []
    for cell in nb.cells:
        text = "".join(o.get("text", "") for o in cell.get("outputs", [])
                       if o.get("output_type") == "stream" and o.get("name") == "stdout")
        if text:
            printed.append(text)
    return printed


def run(path: Path, out_dir: Path, timeout: int) -> dict:
    import torch

    nb = nbformat.read(path, as_version=4)
    started = dt.datetime.now(dt.timezone.utc)
    elapsed = run_in_kernel(nb, path.parent, timeout)
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out_dir / path.name)
    record = {
        "notebook": f"notebooks/{path.name}",
        "profile": os.environ["LESSONKIT_PROFILE"],
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(elapsed, 1),
        "device": device_description(),
        "torch_threads": torch.get_num_threads(),
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
        "glued": glued_values(nb),
        "printed": printed_text(nb),
    }
    tmp = out_dir / (path.stem + ".json.part")
    tmp.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    tmp.replace(out_dir / (path.stem + ".json"))  # never a half-written record
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "full")
    parser.add_argument("--timeout", type=int, default=4 * 3600, help="seconds per cell")
    args = parser.parse_args(argv)
    os.environ["LESSONKIT_PROFILE"] = "full"
    for path in args.notebooks:
        print(f"executing {path} in the full profile ...", flush=True)
        record = run(path.resolve(), args.out, args.timeout)
        print(f"  {record['seconds']:8.1f} s on {record['device']}: {record['glued']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
