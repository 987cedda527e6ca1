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


@pytest.mark.parametrize("hide_myst_nb", [False, True])
def test_glued_values_reads_back_what_glue_wrote(hide_myst_nb, tmp_path, monkeypatch):
    """A notebook whose outputs are what lk.glue really displayed: each value comes back as the book shows it."""
    import nbformat

    if not hide_myst_nb:
        pytest.importorskip("myst_nb")
    outputs = []
    for value, display in (("87.1%", False), (42, True), ("text with 'quotes'", False)):
        outputs += [nbformat.v4.new_output("display_data", data=data, metadata=metadata)
                    for data, metadata in _glued(value, display, hide_myst_nb=hide_myst_nb, monkeypatch=monkeypatch)]
    cell = nbformat.v4.new_code_cell("", outputs=outputs + [nbformat.v4.new_output("stream", text="not glued\n")])
    path = tmp_path / "lesson.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 11 · x"), cell]), path)
    # _glued glues every value under the name "answer": the last one wins, as in myst-nb's registry
    assert lk.glued_values(path) == {"answer": "text with 'quotes'"}
    outputs[1].metadata["scrapbook"]["name"] = "count"
    outputs[0].metadata["scrapbook"]["name"] = "acc"
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), path)
    assert lk.glued_values(str(path)) == {"acc": "87.1%", "count": "42", "answer": "text with 'quotes'"}


def test_glued_values_rejects_what_is_not_a_notebook(tmp_path):
    with pytest.raises(TypeError, match="notebook must be"):
        lk.glued_values(11)
    with pytest.raises(ValueError, match=r"notebook must be a \.ipynb file, got '.*lesson\.txt'"):
        lk.glued_values(tmp_path / "lesson.txt")
    with pytest.raises(FileNotFoundError):
        lk.glued_values(tmp_path / "missing.ipynb")
    (tmp_path / "broken.ipynb").write_text("{not json")
    with pytest.raises(ValueError, match="executed notebook"):
        lk.glued_values(tmp_path / "broken.ipynb")
