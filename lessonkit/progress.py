"""Progress bars that students see and regression checks do not.

Introduced in lesson 00. Every long loop in lessonkit goes through
:func:`progress`, a thin wrapper over ``tqdm.auto`` (a widget in Jupyter, text
in a terminal). Setting ``LESSONKIT_PROGRESS=0`` turns the bars off: the
Makefile does so when it executes the committed notebooks and when nbval
re-runs them, because a progress bar is a moving picture of timing, not a
result, and a frozen copy of one in a static page or a regression check says
nothing useful.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm

__all__ = ["progress", "progress_enabled"]

PROGRESS_ENV = "LESSONKIT_PROGRESS"


def progress_enabled() -> bool:
    """False when ``LESSONKIT_PROGRESS`` is ``0``, ``false``, ``no`` or ``off``."""
    return os.environ.get(PROGRESS_ENV, "1").strip().lower() not in {"0", "false", "no", "off"}


def progress(iterable: Iterable | None = None, **kwargs: Any) -> tqdm:
    """``tqdm.auto.tqdm(iterable, **kwargs)``, disabled when progress is off."""
    kwargs.setdefault("disable", not progress_enabled())
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **kwargs)
