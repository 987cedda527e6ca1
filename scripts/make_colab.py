"""Generate the Colab/Jupyter copies of the lessons: ``colab/NN_name.ipynb``.

The book's lessons (``notebooks/*.ipynb``) are written in MyST for Jupyter Book:
glued numbers (``{glue:text}`name```), dropdown admonitions, sphinx-exercise
exercises and solutions, ``{footcite}`` citations. Google Colab and plain
Jupyter render none of it, so the site's launch buttons open a generated copy
instead (``book/_ext/course_site.py`` rewrites the Colab link), in which

- the first cell installs the course's companion package pinned to the course
  version (``pyproject.toml``) from ``repository.url`` of ``_config.yml``, and in
  Colab enables the custom widget manager that the interactive demos need;
- every glued value is replaced by the value the book's run recorded (the
  committed outputs of the source notebook), with a note saying so;
- answers and solutions are folded in ``<details>``, exercises are bold-titled
  paragraphs, citations are plain author-year text and the reference list is
  plain Markdown; no MyST syntax is left (``tests/test_colab.py`` checks it);
- hidden check cells (tag ``remove-cell``) are dropped, unless a later cell uses
  a name they define; outputs are cleared.

Usage (from the repository root, in the book's venv: it needs pybtex, which
jupyter-book brings)::

    python scripts/make_colab.py            # (re)write colab/*.ipynb
    python scripts/make_colab.py --check    # exit 1 if a committed copy is stale

``tests/test_colab.py`` regenerates every copy in memory and compares.
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIR = ROOT / "notebooks"
OUT_DIR = ROOT / "colab"
BIB = ROOT / "book" / "references.bib"
NBFORMAT_MINOR = 5

GLUE_PREFIX = "application/papermill.record/"

NOTE = (
    "> *This is the Jupyter/Colab version of a lesson of the course site. Numbers quoted in the text "
    "come from the book's run (fast profile); when you run the cells, they print your own, which may "
    "differ slightly.*"
)

INSTALL_CELL = '''\
# Install the course's companion package, pinned to the version this notebook was made with.
# In Colab, also switch on the widget manager that the interactive demos need.
import importlib.util
import sys

IN_COLAB = "google.colab" in sys.modules
if IN_COLAB or importlib.util.find_spec("lessonkit") is None:
    %pip install -q "lessonkit @ git+{url}@v{version}"
if IN_COLAB:
    from google.colab import output
    output.enable_custom_widget_manager()'''

ADMONITIONS = {
    "note": "Note", "tip": "Tip", "hint": "Hint", "important": "Important", "warning": "Warning",
    "caution": "Caution", "attention": "Attention", "danger": "Danger", "error": "Error",
    "seealso": "See also", "admonition": "",
}
FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:.+-]+)\}[ \t]*(?P<arg>.*?)[ \t]*$")
CODE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
ROLE = re.compile(r"\{(?P<name>[A-Za-z][\w:.+-]*)\}`(?P<content>[^`]+)`")
OPTION = re.compile(r"^:(?P<key>[\w-]+):[ \t]*(?P<value>.*)$")
LABEL_LINE = re.compile(r"^\((?P<label>[^()\s]+)\)=[ \t]*$")
SOLUTION_START = "\x00solution-start\x00"
SOLUTION_END = "\x00solution-end\x00"


# ---------------------------------------------------------------------------
# project facts


def course_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def repository_url() -> str:
    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"].rstrip("/")


def install_source() -> str:
    return INSTALL_CELL.format(url=repository_url(), version=course_version())


# ---------------------------------------------------------------------------
# bibliography


class Bibliography:
    """Author-year citations and a plain reference list from ``book/references.bib`` (pybtex)."""

    def __init__(self, path: Path = BIB):
        from pybtex.database import parse_file
        from pybtex.plugin import find_plugin

        self.db = parse_file(str(path))
        self.style = find_plugin("pybtex.style.formatting", "unsrt")()

    def _entry(self, key: str):
        if key not in self.db.entries:
            raise KeyError(f"citation {key!r} is not in {BIB.relative_to(ROOT)}")
        return self.db.entries[key]

    def _names(self, key: str) -> list[str]:
        from pybtex.richtext import Text

        entry = self._entry(key)
        persons = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [Text.from_latex(" ".join(p.prelast_names + p.last_names)).render_as("text") for p in persons]
        return names or [Text.from_latex(entry.fields.get("title", key)).render_as("text")]

    def author_year(self, key: str) -> tuple[str, str]:
        names = self._names(key)
        if len(names) == 1:
            authors = names[0]
        elif len(names) == 2:
            authors = f"{names[0]} and {names[1]}"
        else:
            authors = f"{names[0]} et al."
        return authors, self._entry(key).fields.get("year", "n.d.")

    def cite(self, keys: list[str], textual: bool) -> str:
        parts = [self.author_year(k) for k in keys]
        if textual:  # {cite:t}: "LeCun et al. (1998)"
            return "; ".join(f"{a} ({y})" for a, y in parts)
        return "(" + "; ".join(f"{a}, {y}" for a, y in parts) + ")"

    def reference_list(self, keys: list[str]) -> str:
        if not keys:
            return ""
        entries = self.style.format_entries([self._entry(k) for k in keys])
        return "\n".join("- " + " ".join(e.text.render_as("markdown").split("\n")) for e in entries)


# ---------------------------------------------------------------------------
# glued values


def format_plain_text(text: str, fmt_spec: str) -> str:
    """What myst-nb's ``{glue:text}`` shows for a ``text/plain`` value (myst_nb.core.variables)."""
    try:
        value: Any = ast.literal_eval(text)
    except (SyntaxError, ValueError):
        value = text
    if fmt_spec == "":
        return str(value)
    kind = fmt_spec[-1]
    if kind == "s":
        value = str(value)
    elif kind in "bcdoxX":
        value = int(value)
    elif kind in "eEfFgGn%":
        value = float(value)
    return format(value, fmt_spec)


def glued_values(nb: nbformat.NotebookNode) -> dict[str, dict[str, str]]:
    """name -> mime bundle of every value glued in the notebook's committed outputs."""
    values: dict[str, dict[str, str]] = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            name = (out.get("metadata") or {}).get("scrapbook", {}).get("name")
            if name is None:
                continue
            bundle = {}
            for mime, data in (out.get("data") or {}).items():
                mime = mime[len(GLUE_PREFIX):] if mime.startswith(GLUE_PREFIX) else mime
                bundle[mime] = "".join(data) if isinstance(data, list) else data
            values[name] = bundle
    return values


# ---------------------------------------------------------------------------
# MyST -> Markdown


@dataclass
class Context:
    path: Path
    glue: dict[str, dict[str, str]]
    bib: Bibliography
    exercises: dict[str, int] = field(default_factory=dict)
    cited: list[str] = field(default_factory=list)
    solution: str | None = None  # label of the open gated solution, across cells

    def fail(self, msg: str, hint: str = "extend scripts/make_colab.py to support it") -> None:
        raise ValueError(f"{self.path.name}: {msg} ({hint})")

    def exercise_title(self, label: str) -> str:
        if label not in self.exercises:
            self.fail(f"solution or reference to unknown exercise {label!r}")
        return f"Exercise {self.exercises[label]}"


def _split_target(content: str) -> tuple[str | None, str]:
    """``text <target>`` -> (text, target); ``target`` -> (None, target)."""
    m = re.fullmatch(r"(?s)(.*?)\s*<([^<>]+)>", content.strip())
    if m and m.group(1):
        return m.group(1), m.group(2)
    return None, content.strip()


def render_role(name: str, content: str, ctx: Context) -> str:
    if name in ("glue", "glue:", "glue:any", "glue:text", "glue:md"):
        key, fmt = (content.rsplit(":", 1) + [""])[:2] if name == "glue:text" and ":" in content else (content, "")
        key = key.strip()
        if "::" in key:
            ctx.fail(f"glue from another document ({content!r})")
        if key not in ctx.glue:
            ctx.fail(f"{{{name}}}`{content}` has no glued value in the committed outputs", "execute the notebook, then run make colab")
        bundle = ctx.glue[key]
        if name == "glue:md" and "text/markdown" in bundle:
            return bundle["text/markdown"].strip()
        if "text/plain" not in bundle:
            ctx.fail(f"glued value {key!r} has no text/plain form")
        return format_plain_text(bundle["text/plain"], fmt)
    if name.startswith(("footcite", "cite")):
        keys = [k.strip() for k in content.split(",") if k.strip()]
        for k in keys:
            if k not in ctx.cited:
                ctx.cited.append(k)
        return ctx.bib.cite(keys, textual=name.endswith((":t", ":ts")))
    text, target = _split_target(content)
    if name in ("ref", "numref", "any", "doc", "download", "term", "prf:ref"):
        if text:
            return text
        if target in ctx.exercises:
            return ctx.exercise_title(target)
        return target.rsplit("/", 1)[-1].replace("-", " ").replace("_", " ")
    if name in ("math", "eq"):
        return f"${target}$" if name == "math" else f"({target})"
    if name in ("code", "kbd", "file", "samp", "command", "program", "envvar", "option", "literal") or ":" in name or name in ("func", "class", "meth", "mod", "attr", "obj", "data", "exc"):
        return f"`{text or target}`"
    if name in ("sub", "sup"):
        return f"<{name}>{content}</{name}>"
    if name == "abbr":
        return re.sub(r"\s*\(.*\)\s*$", "", content)
    return text or target


def render_inline(text: str, ctx: Context) -> str:
    return ROLE.sub(lambda m: render_role(m.group("name"), m.group("content"), ctx), text)


def _parse_options(body: list[str]) -> tuple[dict[str, str], list[str]]:
    options: dict[str, str] = {}
    i = 0
    if body and body[0].strip() == "---":  # YAML option block
        end = next((j for j in range(1, len(body)) if body[j].strip() == "---"), None)
        if end is not None:
            options = {str(k): str(v) for k, v in (yaml.safe_load("\n".join(body[1:end])) or {}).items()}
            i = end + 1
    while i < len(body) and (m := OPTION.match(body[i].strip())):
        options[m.group("key")] = m.group("value")
        i += 1
    while i < len(body) and not body[i].strip():
        i += 1
    return options, body[i:]


def _quote(lines: list[str]) -> list[str]:
    return [("> " + line).rstrip() for line in lines]


def _details(summary: str, lines: list[str]) -> list[str]:
    return [f"<details><summary>{summary}</summary>", ""] + lines + ["", "</details>"]


def render_directive(name: str, arg: str, body: list[str], ctx: Context) -> list[str]:
    options, content = _parse_options(body)
    inner = convert_lines(content, ctx)
    arg = render_inline(arg, ctx)
    dropdown = "dropdown" in options.get("class", "").split()
    if name in ADMONITIONS:
        title = arg if name == "admonition" else (ADMONITIONS[name] + (f": {arg}" if arg else ""))
        if dropdown:
            return _details(title or "Details", inner)
        return _quote([f"**{title}**", ""] + inner) if title else _quote(inner)
    if name == "exercise":
        label = options.get("label") or f"exercise-{len(ctx.exercises) + 1}"
        ctx.exercises[label] = len(ctx.exercises) + 1
        title = f"Exercise {ctx.exercises[label]}" + (f" ({arg})" if arg else "")
        return [f"**{title}.**", ""] + inner
    if name in ("solution", "solution-start"):
        label = arg.split()[0] if arg else ctx.fail(f"{{{name}}} without the exercise label")
        title = "Solution to " + ctx.exercise_title(label)
        if name == "solution":
            return _details(title, inner)
        if ctx.solution is not None:
            ctx.fail(f"{{solution-start}} {label} inside the open solution of {ctx.solution}")
        ctx.solution = label
        return [f"**{title}** (below: try the exercise first)", SOLUTION_START + label] + inner
    if name == "solution-end":
        if ctx.solution is None:
            ctx.fail("{solution-end} without {solution-start}", "fix the lesson: sphinx-exercise needs the pair")
        label, ctx.solution = ctx.solution, None
        return [SOLUTION_END + label]
    if name in ("footbibliography", "bibliography"):
        return [ctx.bib.reference_list(ctx.cited)] if ctx.cited else []
    if name == "math":
        return ["$$"] + content + ["$$"]
    if name in ("code", "code-block", "sourcecode"):
        return ["```" + arg.split()[0] if arg else "```"] + content + ["```"]
    if name in ("epigraph", "pull-quote", "highlights", "margin", "sidebar", "topic", "rubric"):
        return _quote(([f"**{arg}**", ""] if arg else []) + inner)
    if name in ("figure", "image"):
        alt = options.get("alt") or " ".join(inner).strip() or arg
        url = arg if re.match(r"https?://", arg) else f"{repository_url().replace('github.com', 'raw.githubusercontent.com')}/main/notebooks/{arg}"
        return [f"![{alt}]({url})"] + ([""] + inner if name == "figure" and inner else [])
    ctx.fail(f"directive {{{name}}} is not supported")
    return []


def convert_lines(lines: list[str], ctx: Context) -> list[str]:
    """MyST block syntax -> Markdown, recursively (directive contents are MyST too)."""
    out: list[str] = []
    plain: list[str] = []

    def flush() -> None:
        if plain:
            out.extend(render_inline("\n".join(plain), ctx).split("\n"))
            plain.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        m = FENCE_OPEN.match(line)
        if m:
            flush()
            fence = m.group("fence")
            close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
            j = i + 1
            while j < len(lines) and not close.match(lines[j]):
                j += 1
            out.extend(render_directive(m.group("name"), m.group("arg"), lines[i + 1:j], ctx))
            i = j + 1
            continue
        m = CODE_OPEN.match(line)
        if m or line.strip() == "$$":  # code and display maths pass through untouched
            flush()
            close = re.compile(rf"^[ \t]*{re.escape(m.group('fence')[0])}{{{len(m.group('fence'))},}}[ \t]*$") if m else re.compile(r"^[ \t]*\$\$[ \t]*$")
            j = i + 1
            while j < len(lines) and not close.match(lines[j]):
                j += 1
            out.extend(lines[i:j + 1])
            i = j + 1
            continue
        if LABEL_LINE.match(line.strip()):
            i += 1
            continue
        plain.append(line)
        i += 1
    flush()
    return out


def _strip_blank(lines: list[str]) -> list[str]:
    text = "\n".join(lines).strip("\n")
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.split("\n") if text else []


def convert_markdown(source: str, ctx: Context) -> str:
    """One markdown cell; the text of a gated solution is folded."""
    current = ctx.solution  # a solution opened in an earlier cell and still open
    lines = convert_lines(source.split("\n"), ctx)
    pieces: list[str] = []
    segment: list[str] = []

    def flush(label: str | None) -> None:
        body = _strip_blank(segment)
        if body:
            pieces.extend(_details(f"Solution to {ctx.exercise_title(label)} (explanation)", body) if label else body)
            pieces.append("")
        segment.clear()

    for line in lines:
        if line.startswith(SOLUTION_START):
            flush(current)
            current = line[len(SOLUTION_START):]
        elif line.startswith(SOLUTION_END):
            flush(current)
            current = None
        else:
            segment.append(line)
    flush(current)
    return "\n".join(_strip_blank(pieces))


# ---------------------------------------------------------------------------
# cells


def _python(source: str) -> str:
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _names(source: str) -> tuple[set[str], set[str]]:
    """(names a cell binds, names it reads)."""
    try:
        tree = ast.parse(_python(source))
    except SyntaxError:
        return set(), set()
    bound, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (bound if isinstance(node.ctx, (ast.Store, ast.Del)) else read).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return bound, read


def is_install_cell(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and "google.colab" in cell.source and "pip install" in cell.source


def _removed(cell: nbformat.NotebookNode) -> bool:
    return "remove-cell" in cell.get("metadata", {}).get("tags", [])


def kept_cells(cells: list[nbformat.NotebookNode]) -> list[nbformat.NotebookNode]:
    """Drop the hidden (``remove-cell``) cells, except those a later visible cell depends on."""
    keep = [not _removed(c) for c in cells]
    reads_after: set[str] = set()
    for i in range(len(cells) - 1, -1, -1):
        cell = cells[i]
        if cell.cell_type != "code":
            continue
        bound, read = _names(cell.source)
        if not keep[i] and not is_install_cell(cell) and bound & reads_after:
            keep[i] = True
        if keep[i]:  # what a cell reads without binding it itself comes from earlier cells
            reads_after = (reads_after - bound) | (read - bound)
    return [c for c, k in zip(cells, keep) if k]


def convert_notebook(path: Path, bib: Bibliography | None = None) -> nbformat.NotebookNode:
    """The Colab/Jupyter copy of one lesson, in memory."""
    src = nbformat.read(path, as_version=4)
    ctx = Context(path=path, glue=glued_values(src), bib=bib or Bibliography())
    cells = list(src.cells)
    install = next((c for c in cells if is_install_cell(c)), None)
    if install is None:
        ctx.fail("no Colab install cell (a code cell with 'google.colab' and 'pip install')")
    out = [nbformat.v4.new_code_cell(install_source(), id=install.get("id"))]
    noted = False
    for cell in kept_cells([c for c in cells if c is not install]):
        if cell.cell_type == "markdown":
            text = convert_markdown(cell.source, ctx)
            if not noted:
                text = re.sub(r"^(# .*)$", lambda m: m.group(1) + "\n\n" + NOTE, text, count=1, flags=re.M) if re.search(r"^# ", text, re.M) else NOTE + "\n\n" + text
                noted = True
            if text.strip():
                new = nbformat.v4.new_markdown_cell(text, id=cell.get("id"))
                if cell.get("attachments"):
                    new["attachments"] = copy.deepcopy(cell["attachments"])
                out.append(new)
        elif cell.cell_type == "code":
            source = cell.source
            meta: dict[str, Any] = {}
            if ctx.solution is not None:  # the code of a gated solution: runnable, folded
                source = f"# @title Solution to {ctx.exercise_title(ctx.solution)} (double-click to show the code)\n" + source
                meta = {"cellView": "form", "jupyter": {"source_hidden": True}}
            new = nbformat.v4.new_code_cell(source, id=cell.get("id"))
            new.metadata.update(meta)
            out.append(new)
        else:
            out.append(copy.deepcopy(cell))
    if ctx.solution is not None:
        ctx.fail(f"the solution of {ctx.solution} has no {{solution-end}}")
    nb = nbformat.v4.new_notebook(cells=out)
    nb.nbformat_minor = NBFORMAT_MINOR
    nb.metadata = {
        "colab": {"provenance": [], "toc_visible": True},
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def expected_files() -> dict[Path, str]:
    """colab/<name> -> its text, for every lesson."""
    bib = Bibliography()
    return {OUT_DIR / p.name: render(convert_notebook(p, bib)) for p in sorted(SOURCE_DIR.glob("*.ipynb"))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report stale or missing copies (exit 1)")
    args = parser.parse_args(argv)
    bib = Bibliography()
    expected, errors = {}, []
    for lesson in sorted(SOURCE_DIR.glob("*.ipynb")):
        try:  # one lesson that cannot be converted must not hold back the others
            expected[OUT_DIR / lesson.name] = render(convert_notebook(lesson, bib))
        except ValueError as exc:
            errors.append(str(exc))
    stale = [p for p, text in expected.items() if not p.exists() or p.read_text() != text]
    lessons = {OUT_DIR / p.name for p in SOURCE_DIR.glob("*.ipynb")}
    extra = sorted(set(OUT_DIR.glob("*.ipynb")) - lessons)
    if args.check:
        for p in stale + extra:
            print(f"stale: {p.relative_to(ROOT)}")
    else:
        OUT_DIR.mkdir(exist_ok=True)
        for p in stale:
            p.write_text(expected[p])
            print(f"wrote {p.relative_to(ROOT)}")
        for p in extra:
            p.unlink()
            print(f"removed {p.relative_to(ROOT)} (no lesson of that name)")
        print(f"{len(expected)} Colab notebooks, {len(stale) + len(extra)} changed")
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    return 1 if errors or (args.check and (stale or extra)) else 0


if __name__ == "__main__":
    sys.exit(main())
