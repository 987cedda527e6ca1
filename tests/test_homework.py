"""The homework (book/homework.md): its reference solutions pass their self-checks, its write-up check
tells a complete write-up from an unfinished one, and the starter notebook runs as it is, reporting every
milestone as still to do.

The reference solutions are the task page's own code blocks, executed here, so the page cannot
show a solution that does not work; the starter is executed in a fresh kernel with nbclient.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

import lessonkit as lk
from lessonkit import _homework_checks

ROOT = Path(__file__).parents[1]
PAGE = ROOT / "book" / "homework.md"
STARTER = ROOT / "homework" / "similarity_app_starter.ipynb"
TEMPLATE = ROOT / "homework" / "writeup_template.md"
# the milestones whose answer is a function, and that function's name on the page and in the starter
MILESTONES = {"hw-13-features": "embed", "hw-13-index": "search", "hw-13-app": "make_find", "hw-13-eval": "evaluate",
              "hw-13-accuracy": "classify", "hw-13-compare": "compare"}
WRITEUP = "hw-13-writeup"  # the last milestone's answer is the write-up itself


def solution_blocks() -> list[str]:
    """The Python code blocks inside the page's "Reference solution" dropdowns."""
    dropdowns = re.findall(r":::\{admonition\} Reference solution\n:class: dropdown\n(.*?)\n:::", PAGE.read_text(), re.S)
    return [code for body in dropdowns for code in re.findall(r"```python\n(.*?)```", body, re.S)]


def page_solutions() -> dict:
    import tempfile

    namespace = {"lk": lk, "tempfile": tempfile}
    for code in solution_blocks():
        exec(compile(code, str(PAGE), "exec"), namespace)  # noqa: S102 - the page's own code
    return namespace


def test_every_milestone_has_a_check_a_time_and_a_hidden_solution():
    text = PAGE.read_text()
    for exercise, name in MILESTONES.items():
        assert f'lk.check("{exercise}", {name})' in text
    assert f'lk.check("{WRITEUP}", "writeup.md")' in text
    assert len(re.findall(r":::\{admonition\} Reference solution\n:class: dropdown", text)) == len(MILESTONES)
    headings = re.findall(r"^## Milestone (\d) · .*\(about [^)]*(?:hours?|minutes)\)$", text, re.M)
    assert headings == [str(i) for i in range(1, len(MILESTONES) + 2)]  # in order, each with a time estimate


def test_the_rubric_grades_every_milestone_and_adds_up_to_100():
    text = PAGE.read_text()
    rubric = text[text.index("## Grading rubric"):]
    rows = re.findall(r"^\| (\d) · [^|]+\| (\d+) \|", rubric, re.M)
    assert [int(part) for part, _ in rows] == list(range(1, len(MILESTONES) + 2))
    assert sum(int(points) for _, points in rows) == int(re.search(r"^(\d+) points\.", rubric, re.M).group(1)) == 100
    for exercise in [*MILESTONES, WRITEUP]:  # each row names its milestone's check
        assert f"`{exercise}` passes" in rubric


@pytest.mark.parametrize("exercise", list(MILESTONES))
def test_the_reference_solutions_on_the_page_pass_their_checks(capsys, exercise):
    assert lk.check(exercise, page_solutions()[MILESTONES[exercise]]) is True, capsys.readouterr().out


@pytest.mark.parametrize("exercise", list(MILESTONES))
def test_a_wrong_solution_on_the_page_would_fail_its_check(capsys, exercise):
    # The test above can fail: a solution block with a mistake does not pass.
    right = page_solutions()[MILESTONES[exercise]]
    wrong = {
        "hw-13-features": lambda b, x: 2 * right(b, x),
        "hw-13-index": lambda r, q, k: tuple(a.flip(1) for a in right(r, q, k)),
        "hw-13-app": lambda pm, folder: (lambda find: lambda upload, k: (find(upload, k)[0][::-1], "ok"))(right(pm, folder)),
        "hw-13-eval": lambda f, y, k: (right(f, y, k)[1], right(f, y, k)[0]),
        "hw-13-accuracy": lambda f, y, k: right(f, y, k).roll(1),
        "hw-13-compare": lambda fa, fb, y, k: right(fb, fa, y, k),
    }[exercise]
    assert lk.check(exercise, wrong) is False


def test_milestone_3s_two_solutions_on_the_page_work_together(tmp_path):
    # The starter builds its page as build_interface(make_find(pm, REFERENCE_FOLDER)): with the page's two reference
    # solutions that must give a Gradio page (an earlier build_interface passed find to lk.build_demo, which takes
    # SimilarityFinder objects only, and raised TypeError). Built on a tiny backbone and four images, never launched.
    import gradio as gr

    from lessonkit.app import _example

    solutions = page_solutions()
    pm, folder = _example(tmp_path)
    demo = solutions["build_interface"](solutions["make_find"](pm, folder))
    assert isinstance(demo, gr.Blocks)  # gr.Interface is a gr.Blocks


def test_the_template_on_the_page_is_the_one_lessonkit_writes(tmp_path):
    # homework/writeup_template.md is what the page shows (literalinclude) and what lk.start_writeup creates
    assert TEMPLATE.read_text() == lk.start_writeup(tmp_path / "writeup.md").read_text() == _homework_checks.WRITEUP_TEMPLATE
    assert "```{literalinclude} ../homework/writeup_template.md" in PAGE.read_text()
    for title in _homework_checks.WRITEUP_SECTIONS:  # the page names every section
        assert f"**{title}**" in PAGE.read_text()


def test_a_complete_writeup_passes_and_an_unfinished_one_does_not(capsys, tmp_path):
    path = lk.start_writeup(tmp_path / "writeup.md")
    assert lk.check(WRITEUP, path) is False  # the template as it comes
    assert "'Design choices' still holds the template's TODO text" in capsys.readouterr().out
    text = path.read_text()
    answers = {
        "Design choices": "EfficientNet-Lite0 and SqueezeNet, the two backbones available offline; images resized to "
                          "224 pixels, centre-cropped and normalised with ImageNet's mean and deviation, uploads alike.",
        "Backbone comparison": "At k = 5 EfficientNet-Lite0 votes right more often; the paired test's interval and "
                               "p-value decide whether that is more than noise, and I quote its sentence.",
        "Failure cases": "![Wrong matches](wrong_matches.png)\n\nBees on dark leaves are matched with ants on dark "
                         "soil: the background weighs more than the small insect in the middle.",
        "Limitations": "Similar means similar to an ImageNet classifier; global pooling forgets where the insect is, "
                       "and a cosine score is no probability. Features trained on pairs would help.",
    }
    for title, answer in answers.items():
        text = re.sub(rf"(## {title}\n\n)TODO:.*?(?=\n\n|\n*\Z)", lambda m: m.group(1) + answer, text, flags=re.S)
    path.write_text(text)
    (tmp_path / "wrong_matches.png").write_bytes(b"the starter's figure")
    assert lk.check(WRITEUP, path) is True and lk.check(WRITEUP, str(path)) is True and lk.check(WRITEUP, text) is True
    capsys.readouterr()
    for title in answers:  # one section missing, or left as the template has it
        without = re.sub(rf"## {title}\n\n.*?(?=\n## |\Z)", "", text, flags=re.S)
        assert lk.check(WRITEUP, without) is False and f"the section '## {title}' is missing" in capsys.readouterr().out
        template = _homework_checks.WRITEUP_TEMPLATE
        untouched = text.replace(answers[title], re.search(rf"## {title}\n\n(TODO:.*?)(?=\n\n|\n*\Z)", template, re.S).group(1))
        assert lk.check(WRITEUP, untouched) is False
        assert f"the section '{title}' still holds the template's TODO text" in capsys.readouterr().out
    (tmp_path / "wrong_matches.png").unlink()
    assert lk.check(WRITEUP, path) is False and "is not in the write-up's folder" in capsys.readouterr().out


def test_the_starter_runs_and_says_what_is_missing(real_mirror, tmp_path):
    from nbclient import NotebookClient

    nb = nbformat.read(STARTER, as_version=4)
    sources = "".join(c.source for c in nb.cells)
    assert sources.count("TODO milestone") >= len(MILESTONES) and all(f'lk.check("{e}"' in sources for e in [*MILESTONES, WRITEUP])
    # no solution in the starter: none of the functions the reference solutions call
    assert not re.search(r"extract_features|SearchIndex|SimilarityFinder|build_demo|leave_one_out|precision_at_k|knn_", sources)
    # run where a student would: the write-up and its figure go next to the notebook, here a fresh folder
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    for number, (exercise, name) in enumerate(MILESTONES.items(), start=1):
        assert f"✗ {exercise}: not yet: your function raised NotImplementedError: TODO milestone {number}: {name}" in text, text
    assert f"✗ {WRITEUP}: not yet: the section 'Design choices' still holds the template's TODO text" in text, text
    assert (tmp_path / "writeup.md").read_text() == _homework_checks.WRITEUP_TEMPLATE
    for waiting in ("Waiting for milestone 1.", "The page starts once milestone 3's check passes.",
                    "Waiting for milestones 1, 4, 5 and 6.", "Waiting for milestones 1, 2 and 5."):
        assert waiting in text, text


def test_the_starter_filled_in_with_the_page_solutions_runs_every_milestone(real_mirror, tmp_path):
    # The cells that wait for a milestone also work once it passes: the starter with the page's reference
    # solutions in place of its stubs (build_interface stays a stub, so no server starts), on twelve photos of
    # ants and bees sorted into two folders that mix them, so that the vote surely gets some images wrong.
    import shutil

    from nbclient import NotebookClient

    photos = lk.scan_reference_folder(lk.load_dataset("hymenoptera", "val").root)
    ants, bees = ([p for p, label in zip(photos.paths, photos.labels) if label == name][:6] for name in ("ants", "bees"))
    for folder, chosen in (("first", ants[:3] + bees[:3]), ("second", ants[3:] + bees[3:])):
        (tmp_path / "photos" / folder).mkdir(parents=True)
        for path in chosen:
            shutil.copy(path, tmp_path / "photos" / folder / path.name)
    nb = nbformat.read(STARTER, as_version=4)
    solutions = {name: next(code for code in solution_blocks() if f"def {name}(" in code) for name in MILESTONES.values()}
    setup = next(c for c in nb.cells if "REFERENCE_FOLDER = " in c.source)
    setup.source, n = re.subn(r"REFERENCE_FOLDER = .*", f"REFERENCE_FOLDER = Path({str(tmp_path / 'photos')!r})", setup.source)
    assert n == 1
    for number, name in enumerate(MILESTONES.values(), start=1):
        cell = next(c for c in nb.cells if f"def {name}(" in c.source)
        cell.source, n = re.subn(rf"def {name}\(.*?raise NotImplementedError\(\"TODO milestone {number}: {name}\"\)\n",
                                 lambda m, name=name: solutions[name], cell.source, flags=re.S)
        assert n == 1, name
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    for exercise in MILESTONES:
        assert f"✓ {exercise}: correct" in text, text
    assert "12 reference images, labels ['first', 'second']" in text and "reference features: (12, " in text, text
    assert "each image's best match is itself: True" in text, text
    assert "TODO milestone 3: build_interface" in text, text  # the page waits for its stub, nothing else does
    for k in (1, 5, 10):  # both backbones' precision, recall and accuracy
        assert len(re.findall(rf"k = {k:>2}: precision \d\.\d{{3}}, recall \d\.\d{{3}}, accuracy \d\.\d{{3}}", text)) == 2, text
    assert re.search(r"accuracy at k = 5, .+ minus .+: .*(better|no detectable difference)", text), text
    figure = tmp_path / "wrong_matches.png"
    assert figure.is_file() and figure.read_bytes().startswith(b"\x89PNG")  # the write-up's failure cases
    assert f"✗ {WRITEUP}: not yet: the section 'Design choices' still holds the template's TODO text" in text, text
