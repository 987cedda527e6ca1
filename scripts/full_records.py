"""Full-profile records: where they live, how they are written, and when they are stale.

``make full-profile`` (scripts/run_full_profile.py) runs a lesson with
``LESSONKIT_PROFILE=full`` and keeps what it measured in
``results/full/<lesson>.json``; ``make results`` (scripts/make_results.py)
turns the records into the book's results page. A record is only worth showing
as long as it describes the code that is in the repository now, so each one
carries a *fingerprint* of everything that can change the lesson's numbers, and
a record whose fingerprint differs from the current one is *stale*.

What the fingerprint covers, and why
------------------------------------
``code``
    The source of the lesson's code cells, in order, with the cell tags that
    change what runs (``skip-execution``, ``raises-exception``). Markdown is
    left out: a record holds only what the code computed (glued values, printed
    text), and prose cannot change any of it. A markdown cell that shows a
    glued value reads it by name; if it names a value the code no longer
    glues, the book's build fails, and the results rows are checked against the
    lesson's code by tests/test_project.py. Outputs are left out too, so
    re-executing a lesson in the fast profile does not make its record stale.
``lessonkit``
    One hash per lessonkit module the lesson can reach: the modules that
    define the public names the lesson uses as ``lk.<name>`` (read from each
    module's ``__all__``), and every lessonkit module those import, anywhere
    in their source (function-level imports included), transitively; plus the
    package's ``__init__.py``, which every lesson executes. Fingerprinting all
    of lessonkit would make every record stale at every edit of any module
    (lesson 13's app, say), and on a CPU the records take hours to remake;
    fingerprinting what a lesson reaches keeps the rule honest (an edit that
    can change a lesson's numbers makes its record stale) without that cost.
    ``__init__.py``'s own imports are not followed: it imports every module
    only to re-export names, and importing a lessonkit module changes no
    state (tests/test_results.py checks that no module runs code at import
    time beyond defining its names). A name the lesson uses that no module
    exports (``lk.MODULES``, say) makes the whole package part of the
    fingerprint.
``inputs``
    The glued values of other lessons' notebooks the lesson reads (a lesson
    that compares itself with another names its notebook, e.g.
    ``Path("12_transfer_learning.ipynb")``, and reads it with
    ``lk.glued_values``): when those change, what the lesson printed from them
    is out of date.

Not covered, on purpose: the versions of Python and PyTorch, the device and the
thread count. They change the last digits of a trained figure, not what the
experiment is; each record states them, and the results page shows them in
every row.

Records are written atomically (a temporary file in the same directory, then a
rename): a run that is killed leaves the previous record or none, never half of
one.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "results" / "full"
PACKAGE = ROOT / "lessonkit"
NOTEBOOKS = ROOT / "notebooks"

#: In a module's imports: it may reach any module of the package (``import lessonkit``).
EVERYTHING = "*"

#: Cell tags that change what a notebook executes (nbclient reads them).
EXECUTION_TAGS = frozenset({"skip-execution", "raises-exception"})


# --------------------------------------------------------------------------- writing


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that ``path`` is never half-written.

    The text goes to a temporary file in the same directory, is flushed to
    disk, and then replaces ``path`` in one rename. If anything fails on the
    way, the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a record is an ordinary file
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_leftovers(directory: Path) -> list[Path]:
    """Remove the temporary files a killed writer left in ``directory``; return them."""
    leftovers = sorted(p for p in Path(directory).iterdir() if p.name.endswith(".part"))
    for p in leftovers:
        p.unlink(missing_ok=True)
    return leftovers


def save_record(record: dict[str, Any], path: Path) -> None:
    write_atomically(path, json.dumps(record, indent=1, ensure_ascii=False) + "\n")


def load_records(directory: Path = RECORDS) -> dict[str, dict]:
    """Every record in ``directory``, by lesson (notebook stem)."""
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(Path(directory).glob("*.json"))}


# --------------------------------------------------------------------------- the lesson's code


def _read(notebook: Path | nbformat.NotebookNode) -> dict:
    """A notebook's JSON (no schema validation: only its cells are read)."""
    if isinstance(notebook, (str, Path)):
        return json.loads(Path(notebook).read_text(encoding="utf-8"))
    return notebook


def _source(cell) -> str:
    source = cell.get("source", "")
    source = "".join(source) if isinstance(source, list) else source
    return source.replace("\r\n", "\n")


def code_cells(notebook: Path | nbformat.NotebookNode) -> list[str]:
    """The source of every code cell, in order."""
    return [_source(c) for c in _read(notebook)["cells"] if c.get("cell_type") == "code"]


def code_fingerprint(notebook: Path | nbformat.NotebookNode) -> str:
    """A hash of the code cells' source and of their tags that change what runs."""
    h = hashlib.sha256()
    for cell in _read(notebook)["cells"]:
        if cell.get("cell_type") != "code":
            continue
        tags = sorted(EXECUTION_TAGS.intersection(cell.get("metadata", {}).get("tags", [])))
        h.update(json.dumps([_source(cell), tags]).encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


# --------------------------------------------------------------------------- lessonkit


@dataclass(frozen=True)
class Package:
    """lessonkit's modules as read from their source, never imported."""

    name: str  # "lessonkit"
    files: dict[str, Path]  # dotted module name -> file ("lessonkit", "lessonkit.data", ...)
    exports: dict[str, frozenset[str]]  # public name -> the modules whose __all__ lists it
    imports: dict[str, frozenset[str]]  # module -> package modules its source imports
    complete_exports: bool  # False when some module's __all__ is not a literal list

    def closure(self, modules: set[str]) -> set[str]:
        """``modules`` and every package module they import, transitively."""
        seen, todo = set(), list(modules)
        while todo:
            m = todo.pop()
            if m in seen:
                continue
            seen.add(m)
            todo.extend(self.imports.get(m, ()))
        return set(self.files) if EVERYTHING in seen else seen


def _module_name(path: Path, root: Path, name: str) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([name, *parts])


def _imported_modules(tree: ast.Module, module: str, is_package: bool, files: dict[str, Path], name: str) -> set[str]:
    """The package modules a module's source imports (every ``import`` statement, at any depth)."""
    found = set()
    here = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = here.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base != name and not base.startswith(name + "."):
                continue
            found |= _with_parents(base, files)
            for alias in node.names:  # `from . import data` imports a module
                if f"{base}.{alias.name}" in files:
                    found.add(f"{base}.{alias.name}")
                elif base == name:  # a name the package re-exports, from wherever: anything
                    found.add(EVERYTHING)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == name:  # `import lessonkit`: lessonkit.<anything> may follow
                    found.add(EVERYTHING)
                found |= _with_parents(alias.name, files)
    found.discard(module)
    return found


def _with_parents(dotted: str, files: dict[str, Path]) -> set[str]:
    """``dotted`` and the packages above it that are in ``files`` (importing a module runs them all)."""
    parts = dotted.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & set(files)


def _literal_all(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            try:
                return list(ast.literal_eval(node.value))
            except (ValueError, TypeError, SyntaxError):
                return None
    return []


def read_package(root: Path = PACKAGE) -> Package:
    """Parse every ``.py`` file of the package at ``root``."""
    root = Path(root)
    name = root.name
    paths = sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)
    files = {_module_name(p, root, name): p for p in paths}
    exports: dict[str, set[str]] = {}
    imports: dict[str, frozenset[str]] = {}
    complete = True
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        # The top-level __init__ imports every module only to re-export its names.
        imports[module] = frozenset() if module == name else frozenset(
            _imported_modules(tree, module, is_package, files, name))
        if module == name:
            continue
        names = _literal_all(tree)
        if names is None:
            complete = False
            continue
        for public in names:  # a name re-exported by a second module counts for both
            exports.setdefault(public, set()).add(module)
    return Package(name, files, {k: frozenset(v) for k, v in exports.items()}, imports, complete)


def lessonkit_uses(code: list[str], package: Package) -> set[str]:
    """The package modules a lesson's code reaches (see the module docstring)."""
    text = "\n".join(code)
    name = package.name
    if not re.search(rf"\b{name}\b", text):
        return set()
    aliases = {name} | set(re.findall(rf"^\s*import {name} as (\w+)", text, flags=re.M))
    direct: set[str] = {name}
    unknown = False
    used_names: set[str] = set()
    for alias in aliases:
        used_names |= set(re.findall(rf"(?<![\w.]){re.escape(alias)}\.(\w+)", text))
    for match in re.finditer(rf"^\s*from {name}((?:\.\w+)*) import ([^\n#]+)", text, flags=re.M):
        if match.group(1):
            direct.add(name + match.group(1))
        else:
            names = match.group(2).strip().strip("()").split(",")
            used_names |= {part.split()[0] for part in names if part.strip()}
    for match in re.finditer(rf"^\s*import ({name}(?:\.\w+)+)", text, flags=re.M):
        direct.add(match.group(1))
    for used in used_names:
        if used in package.exports:
            direct |= package.exports[used]
        elif f"{name}.{used}" in package.files:
            direct.add(f"{name}.{used}")
        else:
            unknown = True
    if unknown or not package.complete_exports:
        return set(package.files)
    return package.closure(direct & set(package.files))


def file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --------------------------------------------------------------------------- other lessons' outputs


_NOTEBOOK_NAME = re.compile(r"""["'](?:[\w./]*/)?(\d\d_\w+\.ipynb)["']""")


def notebook_inputs(code: list[str], notebooks: Path = NOTEBOOKS, own: str | None = None) -> list[Path]:
    """Other lessons' notebooks the code names (and so may read), that exist."""
    names = sorted(set(_NOTEBOOK_NAME.findall("\n".join(code))))
    return [notebooks / n for n in names if n != own and (notebooks / n).exists()]


def glued_hash(notebook: Path) -> str:
    """A hash of the values a notebook glued, as its stored outputs hold them."""
    from lessonkit import glued_values  # the one reader of glued values

    return hashlib.sha256(json.dumps(glued_values(notebook), sort_keys=True).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- fingerprint and staleness


def fingerprint(notebook: Path, package_root: Path = PACKAGE, notebooks: Path | None = None) -> dict[str, Any]:
    """Everything that can change what ``notebook`` measures, hashed (see the module docstring)."""
    notebook = Path(notebook)
    nb = _read(notebook)
    code = [_source(c) for c in nb["cells"] if c.get("cell_type") == "code"]
    package = _cached_package(Path(package_root), _tree_stamp(Path(package_root)))
    modules = sorted(lessonkit_uses(code, package))
    notebooks = notebook.parent if notebooks is None else Path(notebooks)
    root = package_root.parent
    return {
        "code": code_fingerprint(nb),
        "lessonkit": {m: file_hash(package.files[m]) for m in modules},
        "inputs": {_relative(p, root): glued_hash(p) for p in notebook_inputs(code, notebooks, notebook.name)},
    }


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _tree_stamp(root: Path) -> tuple:
    """Changes whenever a .py file under ``root`` is added, removed or modified (by content, not time)."""
    return tuple((str(p), file_hash(p)) for p in sorted(root.rglob("*.py")) if "__pycache__" not in p.parts)


@lru_cache(maxsize=8)
def _cached_package(root: Path, stamp: tuple) -> Package:
    return read_package(root)


def stale_reasons(record: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Why ``record`` no longer describes the code whose fingerprint is ``current`` (empty: it does)."""
    recorded = record.get("fingerprint")
    if not recorded:
        return ["recorded before records carried a fingerprint"]
    reasons = []
    if recorded.get("code") != current["code"]:
        reasons.append("the lesson's code changed")
    old, new = recorded.get("lessonkit", {}), current["lessonkit"]
    changed = sorted(m for m in set(old) | set(new) if old.get(m) != new.get(m))
    if changed:
        reasons.append("lessonkit changed: " + ", ".join(changed))
    old, new = recorded.get("inputs", {}), current["inputs"]
    changed = sorted(p for p in set(old) | set(new) if old.get(p) != new.get(p))
    if changed:
        reasons.append("the values it reads from other lessons changed: " + ", ".join(changed))
    return reasons


def status(lesson: str, records: dict[str, dict], notebooks: Path = NOTEBOOKS,
           package_root: Path = PACKAGE) -> tuple[str, list[str]]:
    """``("missing", [])``, ``("current", [])`` or ``("stale", reasons)`` for one lesson."""
    record = records.get(lesson)
    if record is None:
        return "missing", []
    path = Path(notebooks) / f"{lesson}.ipynb"
    if not path.exists():
        return "stale", [f"its notebook, {path.name}, no longer exists"]
    reasons = stale_reasons(record, fingerprint(path, package_root, notebooks))
    return ("stale", reasons) if reasons else ("current", [])
