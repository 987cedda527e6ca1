"""Numbers in the prose, and the checks behind them.

Introduced in lesson 00 ("Your first CNN"). A lesson never types a measured
number into its text: it *glues* the value from the cell that computed it
(:func:`glue`) and the text refers to it by name. Jupyter Book substitutes
the value when it builds the site; the course's Colab notebooks have it
substituted when they are generated (``make colab``).

Training results differ in their last digits from one CPU, thread count or GPU
to the next, so the regression checks compare them with a stated tolerance
(:func:`check_close`) instead of digit by digit; what the prose claims about
them ("A beats B") is checked by plain ``assert`` statements in hidden check
cells. CONTRIBUTING.md explains the scheme.
"""

from __future__ import annotations

import ast
import json
import math
import numbers
from pathlib import Path
from typing import Any

__all__ = ["check_close", "glue", "glued_values"]

# The MIME prefix and metadata key myst-nb reads glued values from.
_GLUE_PREFIX = "application/papermill.record/"


def glue(name: str, value: Any, display: bool = True) -> None:
    """Make ``value`` available to the lesson's prose as ``{glue:text}`name```.

    With myst-nb installed (the book's build) this is :func:`myst_nb.glue`.
    Without it (a plain ``pip install lessonkit``, Google Colab) the value is
    displayed in exactly the form myst-nb would have produced, so the notebook
    is the same either way.

    Introduced in lesson 00.

    Parameters
    ----------
    name : str
        The key the prose uses, a non-empty identifier such as ``"val_acc"``.
    value : object
        What to show; usually a formatted string such as ``f"{acc:.1%}"``.
    display : bool, default True
        Also show the value below the cell. ``False`` records it silently
        (for figures that only the results page or the prose uses).

    Examples
    --------
    >>> glue("answer", "42", display=False)   # recorded for the prose, nothing shown
    >>> glue("answer", "42")                  # outside a notebook: shown as IPython shows it
    '42'
    """
    if not isinstance(name, str):
        raise TypeError(f"glue name must be a str, got {type(name).__name__}")
    if not name.isidentifier():
        raise ValueError(f"glue name must be an identifier such as 'val_acc', got {name!r}")
    if not isinstance(display, bool):
        raise TypeError(f"display must be a bool, got {type(display).__name__}")
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        _glue_without_myst_nb(name, value, display)
    else:
        myst_glue(name, value, display=display)


def _glue_without_myst_nb(name: str, value: Any, display: bool) -> None:
    """myst-nb's wire format: the display data, tagged with the glue name."""
    from IPython.core.formatters import format_display_data
    from IPython.display import display as ipy_display

    mimebundle, metadata = format_display_data(value)
    prefix = "" if display else _GLUE_PREFIX
    metadata["scrapbook"] = {"name": name, "mime_prefix": prefix}
    ipy_display({prefix + key: data for key, data in mimebundle.items()}, raw=True, metadata=metadata)


def check_close(name: str, value: float, expected: float, tol: float, *, profile: str = "fast") -> bool:
    """Check that a training result lies within ``tol`` of what the book measured.

    Training is deterministic on one machine but not across instruction sets,
    thread counts and GPUs, so a notebook's regression check of a trained
    figure states the value the book's run measured and how far another
    machine may land from it. The tolerance is wide enough for honest
    machine-to-machine differences and narrow enough to catch a broken
    experiment (a learning rate ten times too large, a missing layer).

    The expected value belongs to one profile (the book's, ``"fast"``); in
    another profile the check does nothing and returns ``False``.

    Introduced in lesson 00.

    Parameters
    ----------
    name : str
        What the value is, for the error message.
    value, expected : float
        The measured value and the book's.
    tol : float
        The largest accepted ``abs(value - expected)``; positive.
    profile : str, default "fast"
        The profile ``expected`` was measured in.

    Returns
    -------
    bool
        ``True`` when the check ran (and passed), ``False`` in another profile.

    Raises
    ------
    AssertionError
        When ``value`` is further than ``tol`` from ``expected``.

    Examples
    --------
    >>> import os; os.environ["LESSONKIT_PROFILE"] = "fast"
    >>> check_close("validation accuracy", 0.874, expected=0.871, tol=0.02)
    True
    >>> check_close("validation accuracy", 0.52, expected=0.871, tol=0.02)
    Traceback (most recent call last):
    ...
    AssertionError: validation accuracy = 0.52 is outside its tolerance: expected 0.871 ± 0.02 (fast profile)
    """
    from .profile import PROFILES, current_profile

    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    for label, number in (("value", value), ("expected", expected), ("tol", tol)):
        if isinstance(number, bool) or not isinstance(number, numbers.Real):
            raise TypeError(f"{label} must be a real number, got {type(number).__name__}")
        if not math.isfinite(float(number)):
            raise ValueError(f"{label} must be finite, got {number!r}")
    if tol <= 0:
        raise ValueError(f"tol must be positive, got {tol!r}")
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    if current_profile().name != profile:
        return False
    if abs(float(value) - float(expected)) > float(tol):
        raise AssertionError(
            f"{name} = {float(value):.4g} is outside its tolerance: "
            f"expected {float(expected):.4g} ± {float(tol):.4g} ({profile} profile)"
        )
    return True


def glued_values(notebook: str | Path) -> dict[str, str]:
    """The values another lesson glued, as its committed outputs record them.

    A lesson that compares its result with another lesson's reads the other
    lesson's glued numbers instead of typing them: each value is the text its
    ``{glue:text}`name``` shows in the book (the string itself for a glued
    string such as ``"95.5%"``).

    Introduced in lesson 11.

    Parameters
    ----------
    notebook : str or Path
        An executed lesson notebook (``.ipynb``).

    Returns
    -------
    dict of str to str
        Glue name -> text, in the order the notebook glued them.

    Raises
    ------
    FileNotFoundError
        When ``notebook`` does not exist.
    ValueError
        When it is not a notebook (``.ipynb`` JSON with cells).

    Examples
    --------
    >>> import tempfile
    >>> out = {"output_type": "display_data", "metadata": {"scrapbook": {"name": "acc", "mime_prefix": ""}},
    ...        "data": {"text/plain": "'95.5%'"}}
    >>> nb = {"cells": [{"cell_type": "code", "source": "", "metadata": {}, "outputs": [out]}]}
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = Path(d) / "lesson.ipynb"
    ...     _ = path.write_text(json.dumps(nb))
    ...     glued_values(path)
    {'acc': '95.5%'}
    """
    from ._utils import check_type

    path = Path(check_type("notebook", notebook, (str, Path)))
    if path.suffix != ".ipynb":
        raise ValueError(f"notebook must be a .ipynb file, got {str(path)!r}")
    try:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"notebook must be an executed notebook (JSON with cells), got {str(path)!r}") from err
    values: dict[str, str] = {}
    for cell in cells:
        for out in cell.get("outputs", []):
            name = (out.get("metadata") or {}).get("scrapbook", {}).get("name")
            if name is None:
                continue
            data = out.get("data") or {}
            text = data.get(_GLUE_PREFIX + "text/plain", data.get("text/plain"))
            if text is None:
                continue
            text = "".join(text) if isinstance(text, list) else text
            try:  # myst-nb shows a glued str without its quotes
                value = ast.literal_eval(text)
            except (SyntaxError, ValueError):
                value = text
            values[name] = str(value)
    return values
