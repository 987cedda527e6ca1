"""The syllabus keeps every word of each learning objective, wrapped lines included."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("make_syllabus", ROOT / "scripts" / "make_syllabus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_wrapped_bullets_are_joined():
    block = "By the end you can:\n\n- compute a thing with zero padding, stride and\n  dilation, and predict its size;\n- say why.\n\nMore text.\n"
    assert _script()._bullets(block) == ["compute a thing with zero padding, stride and dilation, and predict its size;", "say why."]


def test_every_objective_word_reaches_the_syllabus():
    """Independent of the parser: every word of each lesson's objectives block is in the syllabus."""
    syllabus = (ROOT / "book" / "syllabus.md").read_text()
    words_in_syllabus = set(re.findall(r"\S+", syllabus))
    for entry in _script().lesson_entries():
        nb = json.loads((ROOT / f"{entry[0]}.ipynb").read_text())
        md = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
        block = re.search(r"^## Learning objectives\s*\n(.*?)(?=^#|\Z)", md, re.M | re.S).group(1)
        bullets = block[block.index("\n- "):]
        missing = [w for w in re.findall(r"\S+", bullets) if w != "-" and w not in words_in_syllabus]
        assert not missing, f"{entry[0]}: {missing[:5]}"
