"""Write book/syllabus.md from the lessons' own "Learning objectives" sections.

The syllabus is generated so that it can never drift from the lessons:
``make syllabus`` rewrites it and tests/test_project.py checks it is current.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "book" / "syllabus.md"

HEADER = """# Syllabus

The lessons in teaching order, each with the learning objectives it opens with. Every lesson runs
top to bottom in Colab or locally; in the `fast` profile each finishes in a couple of minutes on a
laptop CPU.

"""


def _bullets(block: str) -> list[str]:
    """The items of a Markdown bullet list, each with its wrapped continuation lines joined."""
    items: list[str] = []
    for line in block.splitlines():
        if line.startswith("- "):
            items.append(line[2:].strip())
        elif items and line.startswith((" ", "\t")) and line.strip():
            items[-1] += " " + line.strip()
    return items


def lesson_entries() -> list[tuple[str, str, list[str]]]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"] if c["file"].startswith("notebooks/")]
    entries = []
    for f in files:
        cells = json.loads((ROOT / f"{f}.ipynb").read_text())["cells"]
        md = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        title = re.search(r"^# (.+)$", md, re.M).group(1).strip()
        block = re.search(r"^## Learning objectives\s*\n(.*?)(?=^#|\Z)", md, re.M | re.S).group(1)
        objectives = _bullets(block)
        entries.append((f, title, objectives))
    return entries


def render() -> str:
    parts = [HEADER]
    for f, title, objectives in lesson_entries():
        parts.append(f"## [{title}](../{f}.ipynb)\n\n")
        parts.extend(f"- {o}\n" for o in objectives)
        parts.append("\n")
    return "".join(parts).rstrip() + "\n"


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if OUT.read_text() == text else "book/syllabus.md is out of date: run `make syllabus`")
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
