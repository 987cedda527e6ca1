"""The homework (book/homework.md): its reference solutions pass their self-checks, and the
starter notebook runs as it is, reporting every milestone as still to do.

The reference solutions are the task page's own code blocks, executed here, so the page cannot
show a solution that does not work; the starter is executed in a fresh kernel with nbclient.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

import lessonkit as lk

ROOT = Path(__file__).parents[1]
PAGE = ROOT / "book" / "homework.md"
STARTER = ROOT / "homework" / "similarity_app_starter.ipynb"
MILESTONES = {"hw-13-features": "embed", "hw-13-index": "search", "hw-13-app": "make_find", "hw-13-eval": "evaluate"}


def solution_blocks() -> list[str]:
    """The Python code blocks inside the page's "Reference solution" dropdowns."""
    dropdowns = re.findall(r":::\{admonition\} Reference solution\n:class: dropdown\n(.*?)\n:::", PAGE.read_text(), re.S)
    return [code for body in dropdowns for code in re.findall(r"```python\n(.*?)```", body, re.S)]


def test_every_milestone_has_a_check_and_a_hidden_solution():
    text = PAGE.read_text()
    for exercise, name in MILESTONES.items():
        assert f'lk.check("{exercise}", {name})' in text
    assert len(re.findall(r":::\{admonition\} Reference solution\n:class: dropdown", text)) == len(MILESTONES)
    assert len(re.findall(r"^## Milestone \d · .*\(about [^)]*hours?\)|^## Milestone \d · .*\(about [^)]*minutes\)",
                          text, re.M)) == len(MILESTONES)  # each with a time estimate


def test_the_reference_solutions_on_the_page_pass_their_checks(capsys):
    import tempfile

    namespace = {"lk": lk, "tempfile": tempfile}
    for code in solution_blocks():
        exec(compile(code, str(PAGE), "exec"), namespace)  # noqa: S102 - the page's own code
    for exercise, name in MILESTONES.items():
        assert lk.check(exercise, namespace[name]) is True, capsys.readouterr().out


def test_the_starter_runs_and_says_what_is_missing(real_mirror):
    from nbclient import NotebookClient

    nb = nbformat.read(STARTER, as_version=4)
    sources = "".join(c.source for c in nb.cells)
    assert sources.count("TODO milestone") >= 4 and all(f'lk.check("{e}"' in sources for e in MILESTONES)
    # no solution in the starter: none of the functions the reference solutions call
    assert not re.search(r"extract_features|SearchIndex|SimilarityFinder|build_demo|leave_one_out|precision_at_k", sources)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    for exercise in MILESTONES:
        assert f"✗ {exercise}: not yet: your function raised NotImplementedError: TODO milestone" in text, text
    assert "Waiting for milestone 1." in text and "The page starts once milestone 3's check passes." in text


@pytest.mark.parametrize("exercise", list(MILESTONES))
def test_a_wrong_solution_on_the_page_would_fail_its_check(capsys, exercise):
    # The test above can fail: a solution block with a mistake does not pass.
    import tempfile

    namespace = {"lk": lk, "tempfile": tempfile}
    for code in solution_blocks():
        exec(compile(code, str(PAGE), "exec"), namespace)  # noqa: S102
    right = namespace[MILESTONES[exercise]]
    wrong = {
        "hw-13-features": lambda b, x: 2 * right(b, x),
        "hw-13-index": lambda r, q, k: tuple(a.flip(1) for a in right(r, q, k)),
        "hw-13-app": lambda pm, folder: (lambda find: lambda upload, k: (find(upload, k)[0][::-1], "ok"))(right(pm, folder)),
        "hw-13-eval": lambda f, y, k: (right(f, y, k)[1], right(f, y, k)[0]),
    }[exercise]
    assert lk.check(exercise, wrong) is False
