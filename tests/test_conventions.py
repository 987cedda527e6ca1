"""The mechanical conventions of CONTRIBUTING.md, checked.

- lessonkit's public surface is the union of its modules' ``__all__`` lists, each
  name defined once, in the module that lists it;
- every public function and class has a docstring with a runnable example and a
  lesson tag ("Introduced in lesson NN") no later than the first lesson that uses it;
- lessons use ``lk.<name>`` only: no import from a submodule, no ``lk.<module>.<name>``.

The examples themselves run as doctests in ``make unit`` (``--doctest-modules lessonkit``).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from functools import lru_cache
from pathlib import Path

import nbformat
import pytest

import lessonkit as lk

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TAG = re.compile(r"Introduced in lessons? (\d{2})\b")


def public_modules() -> list:
    """Every lessonkit module that is not private (``_name``)."""
    return [
        importlib.import_module(f"lessonkit.{m.name}")
        for m in pkgutil.iter_modules(lk.__path__)
        if not m.name.startswith("_") and m.name != "__main__"
    ]


def public_definitions() -> list[tuple[str, object]]:
    """The public functions and classes (constants cannot carry a docstring)."""
    return [
        (name, getattr(lk, name))
        for name in lk.__all__
        if inspect.isfunction(getattr(lk, name)) or inspect.isclass(getattr(lk, name))
    ]


@lru_cache(maxsize=None)
def lesson_code(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def first_use(name: str) -> int | None:
    """The number of the first lesson whose code uses ``lk.<name>``."""
    pattern = re.compile(rf"\blk\.{re.escape(name)}\b")
    for path in NOTEBOOKS:
        if pattern.search(lesson_code(path)):
            return int(path.name[:2])
    return None


def test_the_public_surface_is_the_union_of_the_modules_all():
    modules = public_modules()
    assert {m.__name__ for m in modules} == {m.__name__ for m in lk.MODULES}, (
        "every public module must be listed in lessonkit.MODULES (and no private one)"
    )
    union = [name for m in lk.MODULES for name in m.__all__]
    assert lk.__all__ == union
    duplicates = sorted({n for n in union if union.count(n) > 1})
    assert not duplicates, f"names exported by two modules: {duplicates}"
    for m in modules:
        for name in m.__all__:
            assert getattr(lk, name) is getattr(m, name), f"lk.{name} is not {m.__name__}.{name}"


@pytest.mark.parametrize("module", public_modules(), ids=lambda m: m.__name__)
def test_each_definition_lives_in_the_module_that_exports_it(module):
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert obj.__module__ == module.__name__, (
                f"{module.__name__}.__all__ lists {name}, defined in {obj.__module__}: "
                "one home per concept, exported from where it is defined"
            )


@pytest.mark.parametrize("module", public_modules(), ids=lambda m: m.__name__)
def test_each_module_docstring_names_its_lesson(module):
    assert TAG.search(module.__doc__ or ""), f"{module.__name__}'s docstring names no lesson"


@pytest.mark.parametrize("name, obj", public_definitions(), ids=[n for n, _ in public_definitions()])
def test_public_definition_has_an_example_and_a_lesson_tag(name, obj):
    doc = inspect.getdoc(obj) or ""
    assert "\nExamples\n--------" in f"\n{doc}" and ">>>" in doc, f"lk.{name} has no Examples section"
    tag = TAG.search(doc)
    assert tag, f'lk.{name}\'s docstring has no "Introduced in lesson NN" tag'
    used = first_use(name)
    if used is not None:
        assert int(tag.group(1)) <= used, (
            f"lk.{name} is tagged lesson {tag.group(1)} but lesson {used:02d} already uses it: "
            "tag it with the first lesson that uses it (and move it to that lesson's module)"
        )


# The patterns a lesson must not contain: the submodules are lessonkit's inside.
SUBMODULE_USE = [
    (re.compile(r"^\s*from\s+lessonkit\.\w+\s+import", re.M), "from lessonkit.<module> import ..."),
    (re.compile(r"^\s*from\s+lessonkit\s+import\s+(?!\*)(\w+)", re.M), "from lessonkit import <name>"),
    (re.compile(r"^\s*import\s+lessonkit\.\w+", re.M), "import lessonkit.<module>"),
    (re.compile(r"\blessonkit\.\w+\.\w+"), "lessonkit.<module>.<name>"),
    (re.compile(r"\blk\.(" + "|".join(m.__name__.split(".")[-1] for m in lk.MODULES) + r")\.\w+"), "lk.<module>.<name>"),
]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_lessons_use_the_public_surface_only(path):
    code = lesson_code(path)
    found = [f"{what}: {m.group(0).strip()!r}" for pattern, what in SUBMODULE_USE for m in pattern.finditer(code)]
    assert not found, f"{path.name} reaches into lessonkit's modules: " + "; ".join(found)
    unknown = sorted({n for n in re.findall(r"\blk\.(\w+)", code) if n not in lk.__all__ and n != "__version__"})
    assert not unknown, f"{path.name} uses names lessonkit does not export: {unknown}"


def test_the_checks_above_can_fail():
    """Each pattern and the tag rule catch what they are meant to catch."""
    bad = "from lessonkit.data import IMAGENET_MEAN\nx = lk.augment.Compose([])\nimport lessonkit.plot\n"
    hits = [what for pattern, what in SUBMODULE_USE if pattern.search(bad)]
    assert {"from lessonkit.<module> import ...", "lk.<module>.<name>", "import lessonkit.<module>"} <= set(hits)
    assert not [what for pattern, what in SUBMODULE_USE if pattern.search("import lessonkit as lk\nlk.fit(m, x)\n")]
    assert TAG.search("Introduced in lesson 04.").group(1) == "04"
    assert TAG.search("Introduced in lesson 4.") is None  # two digits, as the lessons are numbered
    assert first_use("setup") == 0  # every lesson starts with lk.setup
