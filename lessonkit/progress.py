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

# Nothing here is public: lessonkit's own loops use :func:`progress`, lessons
# never call it. (Exported, ``lk.progress`` would hide this module, as a
# function called ``profile`` used to hide ``lessonkit.profile``.)
__all__: list[str] = []

PROGRESS_ENV = "LESSONKIT_PROGRESS"


def progress_enabled() -> bool:
    """False when ``LESSONKIT_PROGRESS`` is ``0``, ``false``, ``no`` or ``off``.

    Examples
    --------
    >>> import os
    >>> os.environ["LESSONKIT_PROGRESS"] = "0"
    >>> progress_enabled()
    False

    Introduced in lesson 00.
    """
    return os.environ.get(PROGRESS_ENV, "1").strip().lower() not in {"0", "false", "no", "off"}


def progress(iterable: Iterable | None = None, **kwargs: Any) -> tqdm:
    """``tqdm.auto.tqdm(iterable, **kwargs)``, disabled when progress is off.

    Examples
    --------
    >>> import os
    >>> os.environ["LESSONKIT_PROGRESS"] = "0"
    >>> [i for i in progress(range(3), desc="demo")]
    [0, 1, 2]

    Introduced in lesson 00.
    """
    kwargs.setdefault("disable", not progress_enabled())
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **kwargs)
