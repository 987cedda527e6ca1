"""The notebook checks catch regressions: proof by breaking a lesson on purpose.

nbval runs every lesson in lax mode (see CONTRIBUTING.md, "Checks that hold on every
machine"). Three mechanisms guard a lesson, and each must fail when its kind of regression
happens. Each test copies a real lesson, breaks one thing in the copy, runs nbval on the
copy exactly as ``make nbval`` does and reads, from nbval's JUnit report, which cells failed:

1. a deterministic value changes: the cell tagged ``nbval-check-output`` fails;
2. a training result leaves its tolerance (a learning rate ten times too high):
   the hidden ``lk.check_close`` cell fails, and no deterministic cell does;
3. a claim of the prose becomes false: its hidden ``# Check:`` cell fails.

An unbroken copy is run too, so that a failure cannot come from the set-up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"

pytestmark = pytest.mark.slow


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def _find(nb, needle: str) -> int:
    """Index (among code cells, as nbval numbers them) of the one cell containing ``needle``."""
    hits = [i for i, c in enumerate(_code_cells(nb)) if needle in c.source]
    assert len(hits) == 1, f"{needle!r} is in {len(hits)} code cells"
    return hits[0]


def _edit(nb, needle: str, old: str, new: str) -> int:
    index = _find(nb, needle)
    cell = _code_cells(nb)[index]
    assert old in cell.source, (old, cell.source)
    cell.source = cell.source.replace(old, new)
    return index


def _truncate_after(nb, needle: str) -> None:
    """Drop every cell after the code cell containing ``needle`` (keeps the run short)."""
    cut = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and needle in c.source)
    del nb.cells[cut + 1 :]


def _failed_cells(nb, tmp_path: Path, name: str) -> set[int]:
    """Run nbval (as ``make nbval`` does) on ``nb``; return the numbers of the failed cells."""
    path = tmp_path / name
    nbformat.write(nb, path)
    report = tmp_path / f"{name}.xml"
    env = {**os.environ, "LESSONKIT_PROFILE": "fast", "LESSONKIT_PROGRESS": "0", "PYTHONHASHSEED": "0"}
    env.pop("PYTEST_ADDOPTS", None)
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax", "--nbval-current-env",
         "--nbval-sanitize-with", str(ROOT / "tests" / "nbval_sanitize.cfg"), "--rootdir", str(tmp_path),
         f"--junitxml={report}", str(path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800, check=False,
    )
    cases = ET.parse(report).getroot().iter("testcase")
    failed = set()
    for case in cases:
        if case.find("failure") is not None or case.find("error") is not None:
            failed.add(int(case.get("name").split()[-1]))
    return failed


def test_lesson_01_deterministic_change_and_false_claim_fail(tmp_path, real_mirror):
    nb = nbformat.read(NOTEBOOKS / "01_image_convolution.ipynb", as_version=4)
    assert _failed_cells(nb, tmp_path, "unbroken_01.ipynb") == set()

    # 1. A deterministic value changes: one entry of the worked example's input.
    broken = nbformat.read(NOTEBOOKS / "01_image_convolution.ipynb", as_version=4)
    worked = _edit(broken, "x5 = np.array", "[1, 2, 3, 0, 1]", "[1, 2, 4, 0, 1]")
    by_hand = _find(broken, "window = x5[0:3, 0:3]")
    assert "nbval-check-output" in _code_cells(broken)[worked].metadata.get("tags", [])
    # 3. A claim becomes false: the "edge kernel" of the sign-flip demonstration is symmetric.
    demo = _edit(broken, "step_image = np.zeros", 'make_kernel("vertical_edge")', 'make_kernel("laplacian")')
    claim = _find(broken, "# Check: for the (antisymmetric) edge kernel")
    failed = _failed_cells(broken, tmp_path, "broken_01.ipynb")
    assert worked in failed and by_hand in failed, failed
    assert claim in failed, failed
    assert demo in failed, failed
    # Nothing unrelated fails: the sweep, the kernel library and pooling are untouched.
    assert failed <= {worked, by_hand, demo, claim, _find(broken, 'window = x5[1:4, 2:5]')}, failed


def test_lesson_00_training_result_outside_tolerance_fails(tmp_path, real_mirror):
    nb = nbformat.read(NOTEBOOKS / "00_first_cnn.ipynb", as_version=4)
    _truncate_after(nb, "# Check: the training run lands")
    check = _find(nb, "# Check: the training run lands")
    assert _failed_cells(nb, tmp_path, "unbroken_00.ipynb") == set()

    broken = nbformat.read(NOTEBOOKS / "00_first_cnn.ipynb", as_version=4)
    _truncate_after(broken, "# Check: the training run lands")
    _edit(broken, "PROFILE, DEVICE = lk.setup", "LR = 2e-3", "LR = 2e-2")   # ten times too high
    failed = _failed_cells(broken, tmp_path, "broken_00.ipynb")
    assert failed == {check}, failed
