"""Shared fixtures: every test gets its own empty cache and no mirror by default."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The mirror the Makefile exported (../shared/data when it exists), read before
# any fixture unsets it.
_MIRROR_AT_START = os.environ.get("LESSONKIT_MIRROR")


@pytest.fixture(autouse=True)
def isolated_data_env(tmp_path, monkeypatch):
    """Point LESSONKIT_DATA at a fresh directory and unset the mirror.

    Tests that need the real offline mirror use the ``real_mirror`` fixture.
    """
    monkeypatch.setenv("LESSONKIT_DATA", str(tmp_path / "cache"))
    monkeypatch.delenv("LESSONKIT_MIRROR", raising=False)
    monkeypatch.setenv("LESSONKIT_PROGRESS", "0")
    yield


@pytest.fixture
def real_mirror(monkeypatch):
    """The course's offline mirror (../shared/data), or skip when absent."""
    candidates = [_MIRROR_AT_START, str(Path(__file__).resolve().parents[2] / "shared" / "data")]
    for c in candidates:
        if c and Path(c).is_dir():
            monkeypatch.setenv("LESSONKIT_MIRROR", c)
            return Path(c)
    pytest.skip("the offline data mirror (../shared/data) is not present")
