"""Tests of lessonkit.notebook: glue with and without myst-nb, and check_close."""

from __future__ import annotations

import builtins
import sys

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import lessonkit as lk


def _glued(value, display, *, hide_myst_nb, monkeypatch):
    """The (data, metadata) pairs that ``lk.glue`` displays, with or without myst-nb."""
    InteractiveShell.instance()
    if hide_myst_nb:
        real_import = builtins.__import__

        def no_myst_nb(name, *args, **kwargs):
            if name == "myst_nb" or name.startswith("myst_nb."):
                raise ImportError("No module named 'myst_nb' (hidden by the test)")
            return real_import(name, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", no_myst_nb)
        monkeypatch.delitem(sys.modules, "myst_nb", raising=False)
    with capture_output() as captured:
        lk.glue("answer", value, display=display)
    monkeypatch.undo()
    return [(out.data, out.metadata) for out in captured.outputs]


@pytest.mark.parametrize("display", [True, False])
@pytest.mark.parametrize("value", ["87.1%", 42, 0.5])
def test_glue_without_myst_nb_writes_what_myst_nb_writes(value, display, monkeypatch):
    pytest.importorskip("myst_nb")
    with_myst = _glued(value, display, hide_myst_nb=False, monkeypatch=monkeypatch)
    without = _glued(value, display, hide_myst_nb=True, monkeypatch=monkeypatch)
    assert with_myst == without
    (data, metadata), = without
    assert metadata["scrapbook"]["name"] == "answer"
    key = "text/plain" if display else "application/papermill.record/text/plain"
    assert data[key] == repr(value)


def test_glue_hides_myst_nb_for_real(monkeypatch):
    """The fallback path really runs when myst-nb cannot be imported."""
    calls = []
    monkeypatch.setattr(lk.notebook, "_glue_without_myst_nb", lambda *a: calls.append(a))
    _glued("x", True, hide_myst_nb=True, monkeypatch=monkeypatch)
    assert calls == [("answer", "x", True)]


@pytest.mark.parametrize(
    ("args", "error"),
    [((1, "v"), TypeError), (("not an identifier", "v"), ValueError), (("", "v"), ValueError)],
)
def test_glue_rejects_bad_names(args, error):
    with pytest.raises(error, match="glue name"):
        lk.glue(*args)


def test_glue_rejects_non_bool_display():
    with pytest.raises(TypeError, match="display must be a bool"):
        lk.glue("x", 1, display="yes")


def test_check_close_passes_inside_and_fails_outside(monkeypatch):
    monkeypatch.setenv("LESSONKIT_PROFILE", "fast")
    assert lk.check_close("acc", 0.88, expected=0.87, tol=0.02) is True
    assert lk.check_close("acc", 0.855, expected=0.87, tol=0.02) is True
    with pytest.raises(AssertionError, match=r"acc = 0\.84 is outside its tolerance: expected 0\.87 ± 0\.02"):
        lk.check_close("acc", 0.84, expected=0.87, tol=0.02)
    with pytest.raises(AssertionError):
        lk.check_close("acc", 0.90, expected=0.87, tol=0.02)


def test_check_close_applies_to_its_profile_only(monkeypatch):
    monkeypatch.setenv("LESSONKIT_PROFILE", "full")
    assert lk.check_close("acc", 0.10, expected=0.87, tol=0.02) is False
    with pytest.raises(AssertionError):
        lk.check_close("acc", 0.10, expected=0.87, tol=0.02, profile="full")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(name=1, value=0.5, expected=0.5, tol=0.1), TypeError, "name must be a str"),
        (dict(name="a", value="0.5", expected=0.5, tol=0.1), TypeError, "value must be a real number, got str"),
        (dict(name="a", value=True, expected=0.5, tol=0.1), TypeError, "value must be a real number, got bool"),
        (dict(name="a", value=float("nan"), expected=0.5, tol=0.1), ValueError, "value must be finite"),
        (dict(name="a", value=0.5, expected=0.5, tol=0), ValueError, "tol must be positive"),
        (dict(name="a", value=0.5, expected=0.5, tol=0.1, profile="slow"), ValueError, "profile must be one of"),
    ],
)
def test_check_close_rejects_bad_input(kwargs, error, match, monkeypatch):
    monkeypatch.setenv("LESSONKIT_PROFILE", "fast")
    with pytest.raises(error, match=match):
        lk.check_close(**kwargs)
