"""Run lessons in the ``full`` profile and record what they measure.

Used by ``make full-profile``. Each notebook is executed top to bottom in a
fresh kernel with ``LESSONKIT_PROFILE=full``, hidden check cells included, so
every claim the prose makes is checked at full size too. The committed lesson is
left untouched: the executed copy goes to ``results/full/<lesson>.ipynb`` (not
committed, it is large and reproducible) and a record goes to
``results/full/<lesson>.json`` (committed). The record holds every value the
notebook glues for the text, everything it printed, the device, the library
versions, the wall-clock time, and the fingerprint of the code it ran
(``scripts/full_records.py`` says what that covers). ``scripts/make_results.py``
turns the records into the book's results page, so no figure on that page is
typed by hand.

Without arguments it runs, one at a time, the lessons of the results page
whose record is missing or stale, and so resumes where an interrupted run
stopped: a record is written only when its lesson has run to the end, and
atomically, so a killed run leaves the previous record (still stale) or none.
Notebooks given as arguments are run whatever their records say.

A lesson that fails (a check cell's assertion, an error) gets no record: the
run names the cell and the error at once and again at the end, keeps the
executed copy as ``results/full/<lesson>.failed.ipynb``, goes on with the
next lesson and exits with status 1.

    python scripts/run_full_profile.py                 # missing and stale lessons
    python scripts/run_full_profile.py --dry-run       # ... only say which, and why
    python scripts/run_full_profile.py notebooks/00_first_cnn.ipynb
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import signal
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from execute_notebooks import run_in_kernel  # noqa: E402  (one way to run a notebook)
from full_records import (  # noqa: E402
    NOTEBOOKS, RECORDS, fingerprint, load_records, remove_leftovers, save_record, status, write_atomically)

ROOT = Path(__file__).resolve().parents[1]


class LessonFailed(RuntimeError):
    """A lesson raised in the full profile; the message names the cell and the error."""


def device_description() -> str:
    """The device a lesson's ``lk.device()`` picks, in words."""
    import torch

    if torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)}"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "Apple GPU (MPS)"
    return f"CPU, {os.cpu_count()} cores ({cpu_kind()})"


def cpu_kind(info: str | None = None) -> str:
    """The CPU's model and widest vector unit (from ``info``, default /proc/cpuinfo's text).

    They decide how fast a lesson trains: the same two cores train CIFAR-10 several
    times faster with AMX or AVX-512-BF16 (native bfloat16) than with AVX2 alone,
    so a record must say which it ran on.
    """
    if info is None:
        try:
            info = Path("/proc/cpuinfo").read_text()
        except OSError:
            return platform.processor() or platform.machine()
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
                 platform.machine())
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    for flag, name in (("amx_bf16", "AMX"), ("avx512_bf16", "AVX-512 with bf16"), ("avx512f", "AVX-512"),
                       ("avx2", "AVX2")):
        if flag in flags:
            return f"{model}, {name}"
    return model


def glued_values(path: Path) -> dict[str, str]:
    """Every value the executed notebook at ``path`` glues, as its text form (lessonkit's reader)."""
    from lessonkit import glued_values as read

    return read(path)


def printed_text(nb: nbformat.NotebookNode) -> list[str]:
    """What the code cells printed, one string per cell that printed anything."""
    printed = []
    for cell in nb.cells:
        text = "".join(o.get("text", "") for o in cell.get("outputs", [])
                       if o.get("output_type") == "stream" and o.get("name") == "stdout")
        if text:
            printed.append(text)
    return printed


def failure(nb: nbformat.NotebookNode, path: Path, error: Exception) -> str:
    """Which cell failed, with its source and the error it raised."""
    for index, cell in enumerate(nb.cells):
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if cell.cell_type == "code" and errors:
            source = "\n".join("    | " + line for line in cell.source.splitlines())
            return (f"{path.name} failed in the full profile at cell {index} "
                    f"(execution count {cell.get('execution_count')}):\n{source}\n"
                    f"{errors[0]['ename']}: {errors[0]['evalue']}")
    return f"{path.name} failed in the full profile: {type(error).__name__}: {error}"


def run(path: Path, out_dir: Path, timeout: int) -> dict:
    """Execute ``path`` in the full profile; write and return its record.

    Raises :class:`LessonFailed` (and writes no record) when a cell raises.
    """
    import torch
    from nbclient.exceptions import CellExecutionError

    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    # The fingerprint of the code as the kernel imports it: taken before the run.
    before = fingerprint(path)
    started = dt.datetime.now(dt.timezone.utc)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        elapsed = run_in_kernel(nb, path.parent, timeout)
    except CellExecutionError as error:
        write_atomically(out_dir / f"{path.stem}.failed.ipynb", nbformat.writes(nb))
        raise LessonFailed(failure(nb, path, error)) from None
    executed = out_dir / path.name
    write_atomically(executed, nbformat.writes(nb))
    (out_dir / f"{path.stem}.failed.ipynb").unlink(missing_ok=True)
    after = fingerprint(path)
    if after != before:
        print(f"  warning: {path.name} or the lessonkit it uses changed during the run; "
              "the record keeps the fingerprint of what the run started with", flush=True)
    record = {
        "notebook": f"notebooks/{path.name}",
        "profile": os.environ["LESSONKIT_PROFILE"],
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(elapsed, 1),
        "device": device_description(),
        "torch_threads": torch.get_num_threads(),
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
        "fingerprint": before,
        "glued": glued_values(executed),
        "printed": printed_text(nb),
    }
    save_record(record, out_dir / f"{path.stem}.json")  # atomic: never a half-written record
    return record


def page_lessons() -> list[str]:
    """The lessons the results page reports, in order (from scripts/make_results.py)."""
    from make_results import lessons

    return lessons()


def to_run(records_dir: Path | None = None, notebooks: Path | None = None) -> list[tuple[Path, str]]:
    """The page's lessons whose record is missing or stale, each with the reason."""
    records = load_records(RECORDS if records_dir is None else records_dir)
    notebooks = NOTEBOOKS if notebooks is None else notebooks
    todo = []
    for lesson in page_lessons():
        state, reasons = status(lesson, records, notebooks)
        if state != "current":
            todo.append((notebooks / f"{lesson}.ipynb", "no record yet" if state == "missing" else "; ".join(reasons)))
    return todo


def _terminate_gracefully(signum, frame):  # noqa: ARG001
    """SIGTERM (``kill``) unwinds like Ctrl-C: the kernel is shut down and no record is written."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="run these whatever their records say (default: the missing and stale ones)")
    parser.add_argument("--out", type=Path, default=RECORDS)
    parser.add_argument("--timeout", type=int, default=4 * 3600, help="seconds per cell")
    parser.add_argument("--dry-run", action="store_true", help="only list the lessons that would run, and why")
    args = parser.parse_args(argv)
    os.environ["LESSONKIT_PROFILE"] = "full"
    signal.signal(signal.SIGTERM, _terminate_gracefully)
    for leftover in remove_leftovers(args.out) if args.out.is_dir() else []:
        print(f"removed {leftover.name}, left by an interrupted run", flush=True)
    if args.notebooks:
        todo = [(p, "asked for") for p in args.notebooks]
    else:
        todo = to_run(args.out)
        if not todo:
            print("every full-profile record is current: nothing to run", flush=True)
    for path, why in todo:
        print(f"{'would run' if args.dry_run else 'runs'} {path} ({why})", flush=True)
    if args.dry_run:
        return 0
    failed = []
    for path, _ in todo:
        print(f"executing {path} in the full profile ...", flush=True)
        try:
            record = run(path, args.out, args.timeout)
        except LessonFailed as error:
            print(f"\nFAILED: {error}\nno record written for {path.name}\n", file=sys.stderr, flush=True)
            failed.append(str(error))
            continue
        print(f"  {record['seconds']:8.1f} s on {record['device']}: {record['glued']}", flush=True)
    if failed:
        print(f"\n{len(failed)} lesson(s) failed in the full profile:\n\n" + "\n\n".join(failed),
              file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
