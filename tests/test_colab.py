"""The Colab copies of the lessons (colab/*.ipynb, ``make colab``): current, and plain Markdown.

The site's Colab buttons open these copies, so a lesson edited without
regenerating them, or MyST that the generator passed through unconverted,
would reach students. The converter's rules are tested on small snippets too.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("*.ipynb"))
COPIES = sorted((ROOT / "colab").glob("*.ipynb"))


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


make_colab = _load("make_colab", ROOT / "scripts" / "make_colab.py")
course_site = _load("course_site", ROOT / "book" / "_ext" / "course_site.py")

# What MyST looks like; none of it may reach a Colab copy's markdown.
RAW_MYST = {
    "directive fence": re.compile(r"^\s*(`{3,}|:{3,})\s*\{[\w:.+-]+\}", re.M),
    "role": re.compile(r"\{[A-Za-z][\w:.+-]*\}`"),
    "directive option": re.compile(r"^\s*:(class|label|name|nosubtitle|hidden|width|align|alt):", re.M),
    "target label": re.compile(r"^\s*\([^()\s]+\)=\s*$", re.M),
    "substitution": re.compile(r"\{\{.*?\}\}"),
    "generator sentinel": re.compile("\x00"),
}


@pytest.fixture(scope="module")
def expected():
    return make_colab.expected_files()


def test_every_lesson_has_a_current_colab_copy(expected):
    assert {p.name for p in expected} == {p.name for p in LESSONS}
    stale = [p.name for p, text in expected.items() if not p.exists() or p.read_text() != text]
    extra = sorted({p.name for p in COPIES} - {p.name for p in expected})
    assert not stale and not extra, f"colab/ is stale ({stale + extra}): run `make colab` and commit colab/"


def test_a_changed_lesson_makes_its_copy_stale(tmp_path):
    # Change one glued value in a lesson's committed outputs: its copy must change with it.
    lesson = next(p for p in LESSONS if "{glue:text}" in p.read_text())
    nb = nbformat.read(lesson, as_version=4)
    name = re.search(r"\{glue:text\}`([^`:]+)`", "".join(c.source for c in nb.cells if c.cell_type == "markdown"))[1]
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if (out.get("metadata") or {}).get("scrapbook", {}).get("name") == name:
                for mime in out["data"]:
                    if mime.endswith("text/plain"):
                        out["data"][mime] = "'glued-value-changed'"
    changed = tmp_path / lesson.name
    nbformat.write(nb, changed)
    before = make_colab.render(make_colab.convert_notebook(lesson))
    after = make_colab.render(make_colab.convert_notebook(changed))
    assert before != after and "glued-value-changed" in after and "glued-value-changed" not in before


def markdown_of(nb):
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


@pytest.mark.parametrize("copy", COPIES, ids=lambda p: p.name)
def test_copy_has_no_raw_myst_and_no_outputs(copy):
    nb = nbformat.read(copy, as_version=4)
    nbformat.validate(nb)
    for text in markdown_of(nb):
        for what, pattern in RAW_MYST.items():
            m = pattern.search(text)
            assert m is None, f"raw MyST ({what}) in {copy.name}: {text[max(0, m.start() - 60):m.end() + 60]!r}"
        assert text.count("<details>") == text.count("</details>")
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
            assert "remove-cell" not in cell.metadata.get("tags", [])
            assert "myst_nb" not in cell.source, f"{copy.name} imports myst_nb, which Colab does not have: use lk.glue"
            assert not cell.source.lstrip().startswith("# Check:"), "hidden check cells are dropped"


@pytest.mark.parametrize("copy", COPIES, ids=lambda p: p.name)
def test_copy_starts_with_the_pinned_install_cell(copy):
    first = nbformat.read(copy, as_version=4).cells[0]
    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert first.cell_type == "code"
    assert f'%pip install -q "lessonkit @ git+{repo}@v{version}"' in first.source
    assert "output.enable_custom_widget_manager()" in first.source
    ast.parse(first.source.replace("%pip", "pass  #"))  # valid Python apart from the magic


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.name)
def test_glued_numbers_citations_and_exercises_are_carried_over(lesson):
    src = nbformat.read(lesson, as_version=4)
    copy = nbformat.read(ROOT / "colab" / lesson.name, as_version=4)
    src_md = "\n".join(markdown_of(src))
    out_md = "\n".join(markdown_of(copy))
    # glued numbers: the text/plain value of the committed glue output (the oracle: its Python repr)
    glued = {}
    for cell in src.cells:
        for out in cell.get("outputs", []):
            name = (out.get("metadata") or {}).get("scrapbook", {}).get("name")
            for mime, data in (out.get("data") or {}).items():
                if name and mime.endswith("text/plain"):
                    glued[name] = str(ast.literal_eval("".join(data)))
    for name in re.findall(r"\{glue:text\}`([^`:]+)`", src_md):
        assert glued[name] in out_md
    assert "book's run" in out_md.split("\n## ")[0], "the note on glued numbers is at the top"
    # citations: one plain reference per cited key, in the list at the end
    keys = {k.strip() for g in re.findall(r"\{footcite\}`([^`]+)`", src_md) for k in g.split(",")}
    references = out_md.rsplit("## References", 1)[1]
    assert len(re.findall(r"^- ", references, re.M)) == len(keys) > 0
    # exercises, answers, solutions
    n_exercises = len(re.findall(r"```\{exercise\}", src_md))
    assert re.findall(r"\*\*Exercise (\d+)", out_md) == [str(i) for i in range(1, n_exercises + 1)]
    n_dropdowns = len(re.findall(r"```\{admonition\}[^\n]*\n:class: dropdown", src_md))
    assert out_md.count("<details><summary>Answer</summary>") == n_dropdowns
    assert out_md.count("**Solution to Exercise") == len(re.findall(r"```\{solution(-start)?\}", src_md))


def test_solution_code_stays_runnable_and_folded():
    copy = nbformat.read(ROOT / "colab" / LESSONS[0].name, as_version=4)
    solutions = [c for c in copy.cells if c.cell_type == "code" and c.source.startswith("# @title Solution to Exercise")]
    assert solutions and all(c.metadata.get("cellView") == "form" for c in solutions)
    for c in solutions:
        compile(c.source, "<solution>", "exec")


# --- the converter on small MyST snippets -------------------------------------------------


@pytest.fixture()
def ctx(tmp_path):
    glue = {"acc": {"text/plain": "'91.2%'"}, "ratio": {"text/plain": "3.14159"}}
    return make_colab.Context(path=tmp_path / "99_x.ipynb", glue=glue, bib=make_colab.Bibliography())


def test_glue_roles_and_format_specs(ctx):
    md = "Accuracy {glue:text}`acc`, ratio {glue:text}`ratio:.2f` and {glue}`ratio`."
    assert make_colab.convert_markdown(md, ctx) == "Accuracy 91.2%, ratio 3.14 and 3.14159."
    with pytest.raises(ValueError, match="no glued value"):
        make_colab.convert_markdown("{glue:text}`missing`", ctx)


def test_directives_become_plain_markdown(ctx):
    md = (
        "(sec-a)=\n## A\n\n"
        "::::{note}\nSee {footcite}`lecun1998gradient`.\n::::\n\n"
        "````{admonition} Answer\n:class: dropdown\nYes:\n```python\nx = 1\n```\n````\n\n"
        "```{exercise} Try\n:label: ex-a\nDo it.\n```\n\n"
        "```{solution} ex-a\n:class: dropdown\nDone, see {ref}`ex-a`.\n```\n\n"
        "```{footbibliography}\n```"
    )
    out = make_colab.convert_markdown(md, ctx)
    assert out.startswith("## A\n\n> **Note**\n>\n> See (LeCun et al., 1998).")
    assert "<details><summary>Answer</summary>\n\nYes:\n```python\nx = 1\n```\n\n</details>" in out
    assert "**Exercise 1 (Try).**\n\nDo it." in out
    assert "<details><summary>Solution to Exercise 1</summary>\n\nDone, see Exercise 1.\n\n</details>" in out
    assert out.endswith("- Yann LeCun, Léon Bottou, Yoshua Bengio, and Patrick Haffner\\. Gradient\\-based learning "
                        "applied to document recognition\\. *Proceedings of the IEEE*, 86\\(11\\):2278–2324, 1998\\. "
                        "[doi:10\\.1109/5\\.726791](https://doi.org/10.1109/5.726791)\\.")
    for pattern in RAW_MYST.values():
        assert not pattern.search(out)


def test_gated_solution_spans_cells(ctx):
    first = make_colab.convert_markdown("```{exercise} E\n:label: ex-b\nQ?\n```\n\n```{solution-start} ex-b\n:class: dropdown\n```", ctx)
    assert first.endswith("**Solution to Exercise 1** (below: try the exercise first)") and ctx.solution == "ex-b"
    last = make_colab.convert_markdown("Because.\n\n```{solution-end}\n```\n\nAfter.", ctx)
    assert last == "<details><summary>Solution to Exercise 1 (explanation)</summary>\n\nBecause.\n\n</details>\n\nAfter."
    assert ctx.solution is None


def test_unknown_directive_fails_loudly(ctx):
    with pytest.raises(ValueError, match=r"directive \{tab-set\} is not supported"):
        make_colab.convert_markdown("```{tab-set}\nx\n```", ctx)


def test_hidden_cells_are_dropped_unless_a_later_cell_needs_them():
    cells = [
        nbformat.v4.new_code_cell("# Check: a claim\nassert True", metadata={"tags": ["remove-cell"]}),
        nbformat.v4.new_code_cell("helper = 2", metadata={"tags": ["remove-cell"]}),
        nbformat.v4.new_code_cell("# Check: loop\nfor k in range(2):\n    assert k < 2", metadata={"tags": ["remove-cell"]}),
        nbformat.v4.new_code_cell("%matplotlib inline\nprint(helper)"),
        nbformat.v4.new_code_cell("for k in range(3):\n    print(k)"),  # binds its own k
    ]
    kept = [c.source for c in make_colab.kept_cells(cells)]
    assert kept == ["helper = 2", "%matplotlib inline\nprint(helper)", "for k in range(3):\n    print(k)"]


# --- the site's Colab button -------------------------------------------------------------


def test_colab_launch_url_points_at_the_generated_copy():
    url = "https://colab.research.google.com/github/cnn-course/cnns-for-computer-vision/blob/main/notebooks/00_first_cnn.ipynb"
    assert course_site.colab_url(url) == url.replace("/notebooks/", "/colab/")
    other = "https://mybinder.org/v2/gh/cnn-course/cnns-for-computer-vision/main?urlpath=tree/notebooks/00_first_cnn.ipynb"
    assert course_site.colab_url(other) == other
    buttons = [{"type": "group", "buttons": [{"type": "link", "url": url}, {"type": "link", "url": other}]}]
    assert course_site._rewrite_buttons(buttons) == 1
    assert buttons[0]["buttons"][0]["url"].endswith("/blob/main/colab/00_first_cnn.ipynb")


@pytest.mark.browser  # runs with the site tests, after `make site` has rebuilt _build/html
def test_built_site_launches_the_colab_copies():
    pages = sorted((ROOT / "_build" / "html" / "notebooks").glob("*.html"))
    if not pages:
        pytest.skip("the site is not built (make site)")
    for page in pages:
        links = re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"', page.read_text())
        assert links, f"{page.name} has no Colab button"
        for link in links:
            assert link.endswith(f"/colab/{page.stem}.ipynb"), link
            assert (ROOT / "colab" / f"{page.stem}.ipynb").exists()
