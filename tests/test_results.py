"""The full-profile records and the results page: fingerprints, staleness, resumable runs, figures.

scripts/full_records.py fingerprints what a record was measured from;
scripts/run_full_profile.py writes records (only for lessons that ran to the end);
scripts/make_results.py turns them into book/results.md and its figures.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import full_records  # noqa: E402
import make_results  # noqa: E402
import results_figures  # noqa: E402
import run_full_profile  # noqa: E402

def test_every_lessons_time_is_listed_against_its_budget(tmp_path):
    for name in ("00_first_cnn", "03_blocks", "07_cost", "10_cifar10_from_scratch"):
        write_notebook(tmp_path / f"{name}.ipynb")
    records = {"00_first_cnn": record({}, seconds=50 * 60.0), "10_cifar10_from_scratch": record({}, seconds=50 * 60.0),
               "03_blocks": record({}, seconds=32.4)}
    statuses = {"00_first_cnn": ("stale", ["x"]), "10_cifar10_from_scratch": ("current", []), "03_blocks": ("current", [])}
    lines = make_results._time_section(records, statuses, notebooks=tmp_path)
    rows = [line for line in lines if line.startswith("| [")]
    assert [row[3:5] for row in rows] == ["00", "03", "07", "10"]  # every notebook, with or without a record
    assert "| *not run yet* | | 45 min |" in rows[2]
    assert rows[0].startswith("| [00](../notebooks/00_first_cnn.ipynb) | **stale** | 50 min (2026-12-01) | 45 min | **no** |")
    assert "| 32 s (2026-12-01) | 45 min | yes |" in rows[1]  # under a minute: in seconds
    assert "| current | 50 min (2026-12-01) | 60 min | yes |" in rows[3]  # lesson 10 has an hour


new_code = nbformat.v4.new_code_cell
new_markdown = nbformat.v4.new_markdown_cell


def write_notebook(path: Path, *cells) -> Path:
    nbformat.write(nbformat.v4.new_notebook(cells=list(cells)), path)
    return path


def record(glued: dict[str, str], **extra) -> dict:
    """A record as run_full_profile writes it (without a fingerprint unless given)."""
    base = {"notebook": "notebooks/x.ipynb", "profile": "full", "started": "2026-12-01T10:00:00+00:00",
            "seconds": 600.0, "device": "CPU, 2 cores (x86_64)", "torch_threads": 2,
            "versions": {"python": "3.11", "torch": "2.x"}, "glued": glued, "printed": []}
    return {**base, **extra}


# --------------------------------------------------------------------------- the committed page


def test_the_committed_results_page_is_what_the_records_give():
    """book/results.md and its figures are regenerated from results/full/ and today's code."""
    text, figures = make_results.page(make_results.load_records())
    assert (ROOT / "book" / "results.md").read_text(encoding="utf-8") == text, \
        "book/results.md is out of date (a record, a lesson's code or lessonkit changed): run `make results`"
    for name in figures:
        assert (make_results.FIGURES / name).is_file(), f"book/results_figures/{name} is missing: run `make results`"
    assert sorted(p.name for p in make_results.FIGURES.glob("*.svg")) == sorted(figures), \
        "book/results_figures/ holds figures the page no longer shows: run `make results`"


def test_a_hand_edited_page_or_a_missing_figure_is_reported(tmp_path):
    text, figures = make_results.page(make_results.load_records())
    page, figdir = tmp_path / "results.md", tmp_path / "results_figures"
    figdir.mkdir()
    for name in figures:
        (figdir / name).write_text("<svg/>")
    page.write_text(text, encoding="utf-8")
    assert make_results.problems(page, figdir) == []
    for edited in (text + "A hand-written line.\n", text.replace("*to be measured*", "93.0%", 1)):
        page.write_text(edited, encoding="utf-8")
        assert make_results.problems(page, figdir) == [f"{page} is not what the records give"]
    page.write_text(text, encoding="utf-8")
    for name in figures:
        (figdir / name).unlink()
    assert figures and make_results.problems(page, figdir) == [f"{figdir}/{n} is missing" for n in figures]


def test_make_results_writes_the_page_and_its_figures_and_removes_old_ones(tmp_path):
    records = {"10_cifar10_from_scratch": record({"full_test_acc": "91.0%", "train_minutes": "90",
                                                  "train_flops": "2e15", "val_acc_curve": "[0.5, 0.7, 0.8]"})}
    figdir = tmp_path / "results_figures"
    figdir.mkdir()
    (figdir / "cost-0000000000000000.svg").write_text("<svg/>")  # a figure of an older page
    changed = make_results.write(records, tmp_path / "results.md", figdir)
    text, figures = make_results.page(records)
    assert (tmp_path / "results.md").read_text(encoding="utf-8") == text
    assert sorted(p.name for p in figdir.glob("*.svg")) == sorted(figures) and len(figures) == 2
    assert "removed results_figures/cost-0000000000000000.svg" in changed
    for name in figures:
        assert (figdir / name).read_text().lstrip().startswith("<?xml")
    assert make_results.write(records, tmp_path / "results.md", figdir) == []  # nothing left to do


# --------------------------------------------------------------------------- records


def test_records_round_trip_and_are_written_atomically(tmp_path, monkeypatch):
    rec = record({"test_top1": "91.6%", "val_acc_curve": "[0.5, 0.6]"}, fingerprint={"code": "ab", "lessonkit": {},
                                                                                     "inputs": {}})
    full_records.save_record(rec, tmp_path / "00_x.json")
    assert full_records.load_records(tmp_path) == {"00_x": rec}
    assert list(tmp_path.iterdir()) == [tmp_path / "00_x.json"]

    # A writer that dies between writing and renaming leaves the old record whole and no temporary file.
    def dies(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(full_records.os, "replace", dies)
    with pytest.raises(KeyboardInterrupt):
        full_records.save_record(dict(rec, glued={"test_top1": "10.0%"}), tmp_path / "00_x.json")
    assert full_records.load_records(tmp_path) == {"00_x": rec}
    assert list(tmp_path.iterdir()) == [tmp_path / "00_x.json"]


def test_leftover_temporary_files_are_removed_and_never_read_as_records(tmp_path):
    (tmp_path / ".00_x.json.abc.part").write_text('{"half": ')
    (tmp_path / "00_x.json.part").write_text('{"half": ')
    assert full_records.load_records(tmp_path) == {}
    assert len(full_records.remove_leftovers(tmp_path)) == 2 and list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- fingerprints


def test_a_record_goes_stale_when_a_code_cell_changes_not_when_outputs_or_prose_do(tmp_path, monkeypatch):
    monkeypatch.setenv("LESSONKIT_PROFILE", "full")
    nb_path = write_notebook(tmp_path / "00_x.ipynb", new_markdown("# Lesson"),
                             new_code("x = 6 * 7\nprint(x)"), new_code("from myst_nb import glue\nglue('x', str(x))"))
    rec = run_full_profile.run(nb_path, tmp_path / "out", timeout=120)
    records = full_records.load_records(tmp_path / "out")
    assert records == {"00_x": rec} and rec["glued"] == {"x": "42"}
    assert full_records.status("00_x", records, tmp_path) == ("current", [])

    # Re-executing (new outputs and counts) and rewriting the prose change nothing that runs.
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells[0].source = "# Lesson, reworded"
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="42\n")]
    nb.cells[1].execution_count = 7
    nb.cells[1].metadata["tags"] = ["nbval-check-output"]
    nb.cells.append(new_markdown("More prose."))
    nbformat.write(nb, nb_path)
    assert full_records.status("00_x", records, tmp_path) == ("current", [])

    # A tag that changes what runs, or a changed line of code, makes the record stale.
    nb.cells[1].metadata["tags"] = ["skip-execution"]
    nbformat.write(nb, nb_path)
    assert full_records.status("00_x", records, tmp_path) == ("stale", ["the lesson's code changed"])
    nb.cells[1].metadata["tags"] = []
    nb.cells[1].source = "x = 6 * 9\nprint(x)"
    nbformat.write(nb, nb_path)
    assert full_records.status("00_x", records, tmp_path) == ("stale", ["the lesson's code changed"])
    assert full_records.status("01_y", records, tmp_path) == ("missing", [])
    assert full_records.status("00_x", {"00_x": record({})}, tmp_path)[0] == "stale"  # no fingerprint: stale


def make_package(root: Path) -> Path:
    """A small package shaped like lessonkit: each module's __all__, imports at the top and inside functions."""
    pkg = root / "lessonkit"
    pkg.mkdir()
    files = {
        "__init__.py": "from . import a, b, c, d\nfrom .a import *\nfrom .b import *\nfrom .d import *\n",
        "_u.py": "__all__ = []\nHALF = 0.5\n",
        "a.py": "from ._u import HALF\n__all__ = ['fa']\ndef fa():\n    return HALF\n",
        "b.py": "__all__: list[str] = ['fb', 'FB']\nFB = 1\ndef fb():\n    from .c import fc\n    return fc()\n",
        "c.py": "__all__ = ['fc']\ndef fc():\n    return 3\n",
        "d.py": "__all__ = ['fd']\ndef fd():\n    return 4\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    return pkg


def test_the_lessonkit_part_covers_the_modules_a_lesson_reaches(tmp_path):
    pkg = make_package(tmp_path)
    package = full_records.read_package(pkg)
    assert package.exports == {"fa": {"lessonkit.a"}, "fb": {"lessonkit.b"}, "FB": {"lessonkit.b"},
                               "fc": {"lessonkit.c"}, "fd": {"lessonkit.d"}}
    assert package.imports["lessonkit"] == frozenset()  # __init__ re-exports; its imports are not followed
    assert package.imports["lessonkit.b"] == {"lessonkit", "lessonkit.c"}  # found inside a function; the
    # package's __init__ runs on any import of one of its modules
    uses = lambda *code: full_records.lessonkit_uses(list(code), package)  # noqa: E731
    assert uses("import lessonkit as lk\nlk.fa()") == {"lessonkit", "lessonkit.a", "lessonkit._u"}
    assert uses("import lessonkit as lk", "y = lk.fb() + lk.FB") == {"lessonkit", "lessonkit.b", "lessonkit.c"}
    assert uses("print('hello')") == set()
    assert uses('%pip install -q "lessonkit @ git+https://example.org/course"') == {"lessonkit"}
    assert uses("from lessonkit import fd as f\nf()") == {"lessonkit", "lessonkit.d"}
    assert uses("import lessonkit.c") == {"lessonkit", "lessonkit.c"}
    # A name no module exports: the lesson may reach anything, so the whole package counts.
    assert uses("import lessonkit as lk\nlk.MODULES") == set(package.files)
    # So does a module that imports the package itself.
    (pkg / "d.py").write_text("__all__ = ['fd']\ndef fd():\n    import lessonkit\n    return lessonkit.fa()\n")
    assert full_records.lessonkit_uses(["from lessonkit import fd"], full_records.read_package(pkg)) == set(package.files)


def test_an_edit_to_a_used_lessonkit_module_makes_the_record_stale_and_others_do_not(tmp_path):
    pkg = make_package(tmp_path)
    nb_path = write_notebook(tmp_path / "00_x.ipynb", new_code("import lessonkit as lk\nprint(lk.fb())"))
    rec = record({}, fingerprint=full_records.fingerprint(nb_path, pkg, tmp_path))
    status = lambda: full_records.status("00_x", {"00_x": rec}, tmp_path, pkg)  # noqa: E731
    assert status() == ("current", [])
    (pkg / "d.py").write_text("__all__ = ['fd']\ndef fd():\n    return 5\n")  # not used by the lesson
    (pkg / "a.py").write_text((pkg / "a.py").read_text() + "# a comment\n")
    assert status() == ("current", [])
    (pkg / "c.py").write_text("__all__ = ['fc']\ndef fc():\n    return 33\n")  # reached through b's function
    assert status() == ("stale", ["lessonkit changed: lessonkit.c"])


def test_a_lesson_that_reads_another_lessons_values_goes_stale_when_they_change(tmp_path):
    other = write_notebook(tmp_path / "12_other.ipynb", new_code("glue('acc', '98.5%')", outputs=[
        nbformat.v4.new_output("display_data", data={"text/plain": "'98.5%'"},
                               metadata={"scrapbook": {"name": "acc", "mime_prefix": ""}})]))
    nb_path = write_notebook(tmp_path / "11_x.ipynb", new_code(
        "from pathlib import Path\nimport lessonkit as lk\nglued = lk.glued_values(Path('12_other.ipynb'))"))
    rec = record({}, fingerprint=full_records.fingerprint(nb_path, notebooks=tmp_path))
    assert rec["fingerprint"]["inputs"] == {str(other): full_records.glued_hash(other)}
    status = lambda: full_records.status("11_x", {"11_x": rec}, tmp_path)  # noqa: E731
    assert status() == ("current", [])
    nb = nbformat.read(other, as_version=4)
    nb.cells[0].source = "glue('acc',  '98.5%')  # the other lesson's code alone"
    nbformat.write(nb, other)
    assert status() == ("current", [])
    nb.cells[0].outputs[0].data["text/plain"] = "'97.0%'"
    nbformat.write(nb, other)
    state, reasons = status()
    assert state == "stale" and reasons[0].startswith("the values it reads from other lessons changed")


def test_static_exports_agree_with_the_imported_package():
    """The fingerprint's name -> module table, read from the source, is the one Python builds."""
    import lessonkit

    package = full_records.read_package()
    assert package.complete_exports
    imported = {(name, module.__name__) for module in lessonkit.MODULES for name in module.__all__}
    static = {(name, module) for name, modules in package.exports.items() for module in modules}
    assert imported <= static
    # ... and a name that a second module re-exports counts for both: the one lessonkit shows
    # (data.cache_dir) and the one that defines it (_fetch.cache_dir).
    assert package.exports["cache_dir"] == {"lessonkit.data", "lessonkit._fetch"}


def test_no_lessonkit_module_changes_state_when_imported():
    """The fingerprint does not follow lessonkit/__init__.py's imports of every module.

    That is sound only while importing a module changes nothing outside it (no
    torch.backends flags, no seeding, no patching of other modules): its top
    level may import, define, assign names, and set the documentation
    attributes of what it defines (``__module__``), nothing else.
    """
    allowed_attributes = {"__module__", "__doc__", "__qualname__"}

    def harmless(node: ast.stmt) -> bool:
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return True
        if isinstance(node, ast.Delete):  # a helper name, removed after use
            return all(isinstance(t, ast.Name) for t in node.targets)
        if isinstance(node, ast.Expr):
            return isinstance(node.value, ast.Constant)  # a docstring
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            return all(isinstance(t, (ast.Name, ast.Tuple)) or
                       (isinstance(t, ast.Attribute) and t.attr in allowed_attributes) for t in targets)
        if isinstance(node, ast.Try):  # optional imports
            return all(harmless(n) for n in node.body + node.orelse + node.finalbody) and all(
                harmless(n) for h in node.handlers for n in h.body)
        if isinstance(node, ast.For):
            return all(harmless(n) for n in node.body + node.orelse)
        if isinstance(node, ast.If):
            return ast.unparse(node.test) == "__name__ == '__main__'" or all(harmless(n) for n in node.body + node.orelse)
        return False

    offenders = [f"{path.name}:{node.lineno}: {ast.unparse(node).splitlines()[0]}"
                 for path in sorted((ROOT / "lessonkit").rglob("*.py"))
                 for node in ast.parse(path.read_text()).body if not harmless(node)]
    assert offenders == []
    assert not harmless(ast.parse("torch.backends.cudnn.benchmark = True").body[0])
    assert not harmless(ast.parse("torch.manual_seed(0)").body[0])


# --------------------------------------------------------------------------- runs


def test_a_failing_check_cell_fails_the_run_loudly_and_leaves_no_record(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LESSONKIT_PROFILE", "full")
    nb_path = write_notebook(tmp_path / "00_x.ipynb", new_code("n_mlp, n_cnn = 50, 100"),
                             new_code("# Check: the MLP has more parameters than the CNN.\n"
                                      "assert n_mlp > n_cnn, (n_mlp, n_cnn)"))
    with pytest.raises(run_full_profile.LessonFailed) as failed:
        run_full_profile.run(nb_path, tmp_path / "out", timeout=120)
    message = str(failed.value)
    assert "00_x.ipynb failed in the full profile at cell 1" in message
    assert "# Check: the MLP has more parameters than the CNN." in message
    assert "AssertionError: (50, 100)" in message
    assert not list((tmp_path / "out").glob("*.json")) and not list((tmp_path / "out").glob("*.part"))
    assert (tmp_path / "out" / "00_x.failed.ipynb").exists()  # kept to look at

    monkeypatch.setattr(run_full_profile, "page_lessons", lambda: [])
    assert run_full_profile.main([str(nb_path), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "FAILED: 00_x.ipynb failed in the full profile at cell 1" in err and "1 lesson(s) failed" in err


def test_resume_runs_only_missing_and_stale_records(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LESSONKIT_PROFILE", "full")
    out = tmp_path / "out"
    for name in ("00_a", "01_b", "02_c"):
        write_notebook(tmp_path / f"{name}.ipynb", new_code(f"print('{name}')"))
    monkeypatch.setattr(run_full_profile, "page_lessons", lambda: ["00_a", "01_b", "02_c"])
    monkeypatch.setattr(run_full_profile, "NOTEBOOKS", tmp_path)
    run_full_profile.run(tmp_path / "00_a.ipynb", out, timeout=120)  # a fresh record
    full_records.save_record(record({}), out / "01_b.json")  # a record without fingerprint: stale
    ran = []
    real_run = run_full_profile.run
    monkeypatch.setattr(run_full_profile, "run", lambda path, *a: ran.append(path.stem) or real_run(path, *a))

    assert run_full_profile.main(["--out", str(out), "--dry-run"]) == 0 and ran == []
    assert "would run" in capsys.readouterr().out
    assert run_full_profile.main(["--out", str(out)]) == 0
    assert ran == ["01_b", "02_c"]
    assert run_full_profile.main(["--out", str(out)]) == 0
    assert ran == ["01_b", "02_c"], "a second run found everything current"
    assert "nothing to run" in capsys.readouterr().out
    assert run_full_profile.main([str(tmp_path / "00_a.ipynb"), "--out", str(out)]) == 0  # forced
    assert ran == ["01_b", "02_c", "00_a"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_killed_run_leaves_no_record_and_no_half_written_file(tmp_path, sig):
    out, mark = tmp_path / "out", tmp_path / "kernel.pid"
    old = record({"x": "1"})
    full_records.save_record(old, out / "00_x.json")  # the previous (stale) record
    nb_path = write_notebook(tmp_path / "00_x.ipynb", new_code(
        f"import os, pathlib, time\npathlib.Path({str(mark)!r}).write_text(str(os.getpid()))\ntime.sleep(300)"))
    env = dict(os.environ, LESSONKIT_PROGRESS="0")
    runner = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "run_full_profile.py"), str(nb_path),
                               "--out", str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    kernel = connection = None
    try:
        deadline = time.monotonic() + 120
        while not (mark.exists() and mark.read_text()) and time.monotonic() < deadline:
            assert runner.poll() is None, runner.stdout.read().decode()
            time.sleep(0.2)
        kernel = int(mark.read_text())
        args = Path(f"/proc/{kernel}/cmdline").read_bytes().split(b"\0")
        connection = Path(args[args.index(b"-f") + 1].decode())  # the kernel's connection file
        runner.send_signal(sig)
        assert runner.wait(timeout=60) != 0
        deadline = time.monotonic() + 30  # the kernel goes too (SIGKILL: when it sees its parent gone)
        while _alive(kernel) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(kernel), "the kernel outlived the runner"
        if sig == signal.SIGTERM:  # shut down in order, like Ctrl-C: nothing of the kernel's is left either
            assert not connection.exists()
    finally:
        if runner.poll() is None:
            runner.kill()
        if kernel is not None and _alive(kernel):
            os.kill(kernel, signal.SIGKILL)
        if connection is not None:
            connection.unlink(missing_ok=True)
    assert full_records.load_records(out) == {"00_x": old}  # the old record, whole; no new one
    assert sorted(p.name for p in out.iterdir()) == ["00_x.json"]  # no executed copy, no temporary file


# --------------------------------------------------------------------------- what the page shows


def test_stale_and_current_rows_are_marked_and_the_stale_ones_explained():
    records = {"04_training_a_cnn": record({"top1_err": "7.5%", "mnist_acc": "99.2%"}),
               "00_first_cnn": record({"test_top1": "91.6%"})}
    statuses = {"04_training_a_cnn": ("stale", ["the lesson's code changed"]), "00_first_cnn": ("current", [])}
    lines = make_results.render(records, statuses).splitlines()
    assert next(line for line in lines if "SimpleCNN" in line).startswith("| [00](../notebooks/00_first_cnn.ipynb) "
                                                                          "| current | SimpleCNN")
    assert "| **stale** | CNN on Fashion-MNIST" in next(line for line in lines if "| CNN on Fashion-MNIST" in line)
    assert "- lesson [04](../notebooks/04_training_a_cnn.ipynb), run on 2026-12-01: the lesson's code changed" in lines
    assert "| [10](../notebooks/10_cifar10_from_scratch.ipynb) |  | FastCifarNet" in "\n".join(lines)  # no record
    assert "Every record is current." in make_results.render(records, {k: ("current", []) for k in records})


def test_cost_figure_reads_the_points_named_in_the_table_and_shows_the_reference_alone_until_then():
    text, figures = make_results.page({}, {})
    assert "so the figure shows only the reference point" in text
    ((kind, data),) = [v for v in figures.values() if v[0] == "cost"]
    assert data["points"] == [] and data["reference"]["accuracy"] == make_results.REFERENCE.accuracy

    glued = {"test_acc": "93.5%", "train_minutes": "45 min", "train_flops": "0.9 PFLOPs"}
    records = {"10_cifar10_from_scratch": record(glued)}
    text, figures = make_results.page(records, {"10_cifar10_from_scratch": ("stale", ["x"])})
    ((kind, data),) = [v for v in figures.values() if v[0] == "cost"]
    (point,) = data["points"]
    assert (point["accuracy"], point["minutes"], point["flops"], point["stale"]) == (0.935, 45.0, 0.9e15, True)
    assert "only the reference point" not in text and "| 93.5% | 45 min | 9.00e+14 | **stale** |" in text

    from matplotlib.figure import Figure

    fig = results_figures._cost(Figure, data)
    minutes_axis, flops_axis = fig.axes
    offsets = [tuple(c.get_offsets()[0]) for c in minutes_axis.collections]
    assert offsets == [(pytest.approx(3.29 / 60), pytest.approx(94.01)), (45.0, pytest.approx(93.5))]
    assert [tuple(c.get_offsets()[0]) for c in flops_axis.collections][1] == (0.9e15, pytest.approx(93.5))


def test_quantities_are_read_with_their_units():
    q = make_results.quantity
    assert q("3.6e14", make_results.FLOP_UNITS, "flops") == 3.6e14
    assert q("0.36 PFLOPs", make_results.FLOP_UNITS, "flops") == pytest.approx(3.6e14)
    assert q("1,200 GFLOP", make_results.FLOP_UNITS, "flops") == pytest.approx(1.2e12)
    assert q("90 s", make_results.MINUTE_UNITS, "minutes") == 1.5
    assert q("2h", make_results.MINUTE_UNITS, "minutes") == 120
    for bad in ("fast", "3 parsecs", "-2", "0"):
        with pytest.raises(ValueError, match="minutes must be"):
            q(bad, make_results.MINUTE_UNITS, "minutes")


def test_every_curve_of_every_record_is_read_and_drawn(tmp_path):
    records = {
        "00_first_cnn": record({"test_top1": "91.6%", "train_acc_curve": "[0.855, 0.899, 0.914]",
                                "val_acc_curve": "[0.8286000015258789, 0.83, 0.87]"}),
        "10_cifar10_from_scratch": record({"val_loss_curve": json.dumps([1.5, 1.1, 0.9, 0.8])}),
    }
    statuses = {"00_first_cnn": ("current", []), "10_cifar10_from_scratch": ("stale", ["x"])}
    found = make_results.curves(records, statuses)
    assert [(c.lesson[:2], c.series, c.quantity, c.values, c.stale) for c in found] == [
        ("00", "train", "acc", (0.855, 0.899, 0.914), False), ("00", "val", "acc", (0.8286000015258789, 0.83, 0.87), False),
        ("10", "val", "loss", (1.5, 1.1, 0.9, 0.8), True)]
    text, figures = make_results.page(records, statuses)
    ((name, (kind, data)),) = [(n, v) for n, v in figures.items() if v[0] == "curves"]
    assert f"results_figures/{name}" in text and "lesson 10's val_loss_curve (4 epochs)" in text
    assert [p["title"] for p in data["panels"]] == ["lesson 00: acc", "lesson 10: loss (stale record)"]

    from matplotlib.figure import Figure

    fig = results_figures._curves(Figure, data)
    acc, loss = fig.axes[:2]
    assert [list(line.get_ydata()) for line in acc.lines] == [
        pytest.approx([85.5, 89.9, 91.4]), pytest.approx([82.86000015258789, 83.0, 87.0])]
    assert list(loss.lines[0].get_xdata()) == [1, 2, 3, 4] and loss.lines[0].get_linestyle() == "--"
    results_figures.draw(kind, data, tmp_path / name)
    assert (tmp_path / name).read_text().count("<svg") == 1


def test_a_malformed_curve_is_an_error_naming_the_lesson_and_the_value():
    for bad in ("'not a list'", "[]", "[1, 'two']", "[1, NaN]", "{'x': 1}"):
        with pytest.raises(ValueError, match=r"lesson 00_first_cnn's glued val_acc_curve must be a non-empty list"):
            make_results.curves({"00_first_cnn": record({"val_acc_curve": bad})}, {})


def test_figure_names_change_with_their_data():
    a = results_figures.figure_name("curves", {"panels": [{"lines": [{"values": [1, 2]}]}]})
    b = results_figures.figure_name("curves", {"panels": [{"lines": [{"values": [1, 3]}]}]})
    assert a != b and a.startswith("curves-") and a.endswith(".svg")
    with pytest.raises(ValueError, match="kind must be one of"):
        results_figures.figure_name("pie", {})


@pytest.mark.parametrize("flags, kind", [
    ("fpu sse avx2 avx512f avx512_bf16 amx_bf16", "AMX"),
    ("fpu sse avx2 avx512f avx512_bf16", "AVX-512 with bf16"),
    ("fpu sse avx2 avx512f", "AVX-512"),
    ("fpu sse avx2", "AVX2"),
])
def test_a_record_names_the_cpu_and_its_widest_vector_unit(flags, kind):
    info = f"processor\t: 0\nmodel name\t: Some CPU 9000\nflags\t\t: {flags}\n\nprocessor\t: 1\n"
    assert run_full_profile.cpu_kind(info) == f"Some CPU 9000, {kind}"
    assert run_full_profile.cpu_kind("processor\t: 0\nmodel name\t: Old CPU\nflags\t: fpu sse\n") == "Old CPU"
