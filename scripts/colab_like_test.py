"""The Colab-like test (``make colab-like``): every colab/ notebook, as a student in Colab runs it.

1. A fresh virtualenv with Colab's preinstalled versions of what lessonkit
   touches (``COLAB_PREINSTALLED`` below; at least ipywidgets 7.7.1,
   widgetsnbextension 3.6.10 and numpy 2.1.x), and PyTorch (``TORCH_SPEC``, by
   default the release on this machine's disk).
2. lessonkit from a wheel built from this checkout, installed as the notebooks'
   install cell does (pip resolves its requirements against what is there). The
   install must not change the version of any preinstalled package: a kernel
   that has imported the old one would break. No jupyter-book, no myst-nb.
3. tests/test_interactive.py under ipywidgets 7.
4. Every ``colab/*.ipynb`` top to bottom in a fresh kernel of that venv (fast
   profile), with no ``LESSONKIT_MIRROR`` and an empty data cache: datasets come
   from their official URLs, served by ``scripts/serve_official.py`` (a local
   stand-in for the official hosts, ``LESSONKIT_DOWNLOAD_BASE``). The install
   cell runs with its ``%pip`` line replaced (the wheel is installed already)
   and with a stand-in ``google.colab`` module, so Colab's branch of the cell and
   of lessonkit runs too.

Usage::

    .venv/bin/python scripts/colab_like_test.py                 # everything
    .venv/bin/python scripts/colab_like_test.py colab/01_image_convolution.ipynb
    .venv/bin/python scripts/colab_like_test.py --reuse-venv    # keep the venv of the last run

It prints the time of each step and notebook, and exits 1 if anything failed.
Executed copies go to ``$COLAB_LIKE_DIR/executed`` (default
``/tmp/lessonkit-colab-like``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = Path(os.environ.get("COLAB_LIKE_DIR", "/tmp/lessonkit-colab-like"))
VENV = WORK / "venv"
VPY = VENV / "bin" / "python"
KERNEL = "colab-like"
# The venv's interpreter: Colab's is 3.12, but the PyTorch wheels on this machine's disk are for 3.11.
BASE_PYTHON = os.environ.get("COLAB_LIKE_PYTHON", "python3.11")
TORCH_SPEC = os.environ.get("TORCH_SPEC", "torch==2.14.1 torchvision==0.29.1").split()
# Colab's preinstalled versions (2025 runtime) of the packages lessonkit touches, and of its
# Jupyter kernel stack (IPython 7, ipykernel 6.17 and jupyter-client 6, which ipywidgets 7 talks to).
COLAB_PREINSTALLED = [
    "ipywidgets==7.7.1",
    "widgetsnbextension==3.6.10",
    "numpy==2.1.3",
    "ipython==7.34.0",
    "ipykernel==6.17.1",
    "jupyter-client==6.1.12",
    "notebook==6.5.7",
    "matplotlib==3.10.0",
    "pillow==11.3.0",
    "scikit-image==0.25.2",
    "scipy==1.16.1",
    "tqdm==4.67.1",
    "pandas==2.2.2",  # not lessonkit's, but lessons import them and Colab has them
    "scikit-learn==1.6.1",
]
# Not on Colab, but needed to run notebooks and the widget tests from outside.
RUNNER = ["nbclient==0.10.2", "nbformat", "pytest"]
ABSENT = ["myst_nb", "jupyter_book", "sphinx"]  # the install cell must not need them


def log(msg: str) -> None:
    print(f"[colab-like {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd: list[str], **kw) -> None:
    log("$ " + " ".join(str(c) for c in cmd))
    subprocess.run([str(c) for c in cmd], check=True, **kw)


def freeze() -> dict[str, str]:
    out = subprocess.run([str(VPY), "-m", "pip", "list", "--format=json"], check=True, capture_output=True, text=True).stdout
    return {d["name"].lower().replace("_", "-"): d["version"] for d in json.loads(out)}


def make_venv(reuse: bool) -> None:
    stamp = VENV / ".colab-preinstalled"
    wanted = "\n".join(TORCH_SPEC + COLAB_PREINSTALLED + RUNNER)
    if reuse and stamp.exists():  # quicker, for debugging: lessonkit's requirements stay from the last run
        log(f"reusing {VENV}")
        run([VPY, "-m", "pip", "uninstall", "-y", "-q", "lessonkit"])
        if stamp.read_text() != wanted:
            run([VPY, "-m", "pip", "install", "-q", *TORCH_SPEC, *COLAB_PREINSTALLED, *RUNNER])
            stamp.write_text(wanted)
        return
    shutil.rmtree(VENV, ignore_errors=True)
    run([BASE_PYTHON, "-m", "venv", VENV])
    run([VPY, "-m", "pip", "install", "-q", "--upgrade", "pip"])
    run([VPY, "-m", "pip", "install", "-q", *TORCH_SPEC])
    run([VPY, "-m", "pip", "install", "-q", *TORCH_SPEC, *COLAB_PREINSTALLED, *RUNNER])
    run([VPY, "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL, "--display-name", "Colab-like"])
    stamp.write_text(wanted)


def build_wheel() -> Path:
    """lessonkit's wheel, built from a copy of the package sources (the checkout stays clean)."""
    src, dist = WORK / "src", WORK / "dist"
    shutil.rmtree(src, ignore_errors=True)
    shutil.rmtree(dist, ignore_errors=True)
    src.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "lessonkit", src / "lessonkit", ignore=shutil.ignore_patterns("__pycache__"))
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", dist, src])
    (wheel,) = dist.glob("lessonkit-*.whl")
    return wheel


def install_lessonkit(wheel: Path) -> list[str]:
    """Install the wheel as the install cell does; return what went wrong."""
    before = freeze()
    run([VPY, "-m", "pip", "install", "-q", wheel])
    after = freeze()
    problems = [f"installing lessonkit changed {name} {before[name]} -> {after.get(name)} (Colab's kernel has imported it)"
                for name in before if after.get(name) != before[name]]
    for module in ABSENT:
        found = subprocess.run([str(VPY), "-c", f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is not None)"]).returncode
        if found:
            problems.append(f"{module} is installed in the Colab-like venv")
    added = sorted(set(after) - set(before))
    log(f"lessonkit's install added: {', '.join(f'{n}=={after[n]}' for n in added)}")
    return problems


STUB_COLAB = '''\
# The Colab-like test: a stand-in for Colab's google.colab module (records the widget-manager call).
import sys, types
_google = sys.modules.setdefault("google", types.ModuleType("google"))
_colab = types.ModuleType("google.colab")
_colab.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: _colab.__dict__.setdefault("widget_manager", []).append(1))
_google.colab = _colab
sys.modules["google.colab"] = _colab
'''


def prepare(nb_path: Path):
    import nbformat

    nb = nbformat.read(nb_path, as_version=4)
    first = nb.cells[0]
    if "%pip install" not in first.source:
        raise ValueError(f"{nb_path.name}: the first cell is not the install cell")
    first.source = STUB_COLAB + first.source.replace("%pip install", "pass  # installed from the wheel already: %pip install")
    return nb


def run_notebook(nb_path: Path, out_dir: Path, env: dict[str, str]) -> tuple[bool, float, str]:
    """Execute one notebook in the Colab-like venv's kernel; (ok, seconds, note)."""
    code = f"""
import sys, nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
nb = nbformat.read({str(out_dir / nb_path.name)!r}, as_version=4)
client = NotebookClient(nb, timeout=900, kernel_name={KERNEL!r}, resources={{"metadata": {{"path": {str(out_dir)!r}}}}})
try:
    client.execute()
    ok = True
except CellExecutionError as exc:
    print(str(exc)[-3000:])
    ok = False
nbformat.write(nb, {str(out_dir / nb_path.name)!r})
views = sum("application/vnd.jupyter.widget-view+json" in o.get("data", {{}}) for c in nb.cells for o in c.get("outputs", []))
fallbacks = sum("cannot be shown here" in "".join(o.get("text", "")) for c in nb.cells for o in c.get("outputs", []))
print(f"widget views: {{views}}, static fallbacks without controls: {{fallbacks}}")
sys.exit(0 if ok else 1)
"""
    import nbformat

    nbformat.write(prepare(nb_path), out_dir / nb_path.name)
    start = time.monotonic()
    proc = subprocess.run([str(VPY), "-c", code], env=env, capture_output=True, text=True)
    seconds = time.monotonic() - start
    note = (proc.stdout + proc.stderr).strip()
    return proc.returncode == 0, seconds, note


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: colab/*.ipynb")
    parser.add_argument("--reuse-venv", action="store_true", help="keep the venv of the last run if its package set is the same")
    parser.add_argument("--skip-unit", action="store_true", help="do not run tests/test_interactive.py")
    args = parser.parse_args(argv)
    notebooks = [p.resolve() for p in args.notebooks] or sorted((ROOT / "colab").glob("*.ipynb"))
    if not notebooks:
        parser.error("no notebooks (run make colab first)")

    WORK.mkdir(parents=True, exist_ok=True)
    timings: list[tuple[str, float]] = []
    failures: list[str] = []

    t = time.monotonic()
    make_venv(args.reuse_venv)
    timings.append(("venv with Colab's packages", time.monotonic() - t))
    t = time.monotonic()
    failures += install_lessonkit(build_wheel())
    timings.append(("lessonkit wheel: build and install", time.monotonic() - t))
    versions = freeze()
    log("versions: " + ", ".join(f"{n} {versions.get(n)}" for n in ("ipywidgets", "widgetsnbextension", "numpy", "ipython", "ipykernel", "torch", "torchvision", "lessonkit")))

    # A student's environment: no mirror, an empty cache, a fresh torch hub, the fast profile.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LESSONKIT_")}
    home = WORK / "home"
    shutil.rmtree(home, ignore_errors=True)
    (home / "cache").mkdir(parents=True)
    env.update(LESSONKIT_PROFILE="fast", LESSONKIT_PROGRESS="0", PYTHONHASHSEED="0", LESSONKIT_DATA=str(home / "cache" / "lessonkit"),
               TORCH_HOME=str(home / "torch"), MPLCONFIGDIR=str(home / "mpl"), XDG_CACHE_HOME=str(home / "cache"))
    env.pop("MPLBACKEND", None)
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # debugpy's note about frozen modules, on every kernel start

    if not args.skip_unit:
        t = time.monotonic()
        proc = subprocess.run([str(VPY), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(WORK), "-c", os.devnull,
                               str(ROOT / "tests" / "test_interactive.py")], env={**env, "PYTHONPATH": ""}, cwd=WORK, capture_output=True, text=True)
        timings.append(("tests/test_interactive.py under ipywidgets 7", time.monotonic() - t))
        log(proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-2000:])
        if proc.returncode:
            failures.append("tests/test_interactive.py failed under ipywidgets 7:\n" + proc.stdout[-3000:])

    spec = importlib.util.spec_from_file_location("serve_official", ROOT / "scripts" / "serve_official.py")
    serve_official = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve_official)
    mirror = Path(os.environ.get("COLAB_LIKE_MIRROR", ROOT.parent / "shared" / "data"))  # what the stand-in serves from
    out_dir = WORK / "executed"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir()
    with serve_official.serving(mirror) as standin:
        log(f"stand-in for the official hosts at {standin.base}")
        nb_env = {**env, **standin.env}
        for nb_path in notebooks:
            ok, seconds, note = run_notebook(nb_path, out_dir, nb_env)
            timings.append((nb_path.name, seconds))
            summary = next((line for line in reversed(note.splitlines()) if line.startswith("widget views")), "")
            log(f"{nb_path.name}: {'ok' if ok else 'FAILED'} in {seconds:.0f} s; {summary}")
            if not ok:
                failures.append(f"{nb_path.name}:\n{note}")

    print("\nColab-like test: what ran and how long it took")
    for what, seconds in timings:
        print(f"  {seconds:7.0f} s  {what}")
    print(f"  {sum(s for _, s in timings):7.0f} s  total")
    if failures:
        print("\nFAILED:\n" + "\n\n".join(failures))
        return 1
    print("\nAll passed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
