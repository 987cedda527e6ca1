"""Small Sphinx fixes for the course site (loaded through ``sphinx.local_extensions``).

Under jupyter-book 1.0 some inline scripts (sphinx-thebe's configuration,
sphinx-togglebutton's selector) are registered twice, and a page that declares
``const THEBE_JS_URL`` twice logs a JavaScript error. Identical inline scripts
are dropped here, keeping the first; the browser test checks that every page
loads without console errors.

The Colab launch button of a lesson opens the lesson's generated Colab copy,
``colab/NN_name.ipynb`` (``make colab``, ``scripts/make_colab.py``), instead of
the book's MyST source, which Colab would show with raw roles and directives.
"""

from __future__ import annotations

import re

# sphinx-book-theme's Colab link: {colab_url}/github/{org}/{repo}/blob/{branch}/{path_rel_repo}
_COLAB_NOTEBOOK = re.compile(r"^(?P<head>https://colab\.research\.google\.com/github/[^/]+/[^/]+/blob/[^/]+/(?:.+/)?)notebooks/(?P<name>[^/]+\.ipynb)$")


def colab_url(url: str) -> str:
    """The launch URL of a lesson's generated Colab copy; other URLs unchanged.

    >>> colab_url("https://colab.research.google.com/github/o/r/blob/main/notebooks/00_x.ipynb")
    'https://colab.research.google.com/github/o/r/blob/main/colab/00_x.ipynb'
    """
    m = _COLAB_NOTEBOOK.match(url)
    return f"{m['head']}colab/{m['name']}" if m else url


def _rewrite_buttons(buttons) -> int:
    n = 0
    for button in buttons or []:
        if isinstance(button, dict):
            if isinstance(button.get("url"), str) and button["url"] != colab_url(button["url"]):
                button["url"] = colab_url(button["url"])
                n += 1
            n += _rewrite_buttons(button.get("buttons"))
    return n


def _colab_launch_links(app, pagename, templatename, context, doctree):
    _rewrite_buttons(context.get("header_buttons"))


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        attrs = getattr(js, "attributes", {}) or {}
        # an inline script has filename None or "" depending on who added it
        key = (getattr(js, "filename", None) or None, attrs.get("body"), attrs.get("src"))
        if key in seen:
            continue
        seen.add(key)
        unique.append(js)
    context["script_files"] = unique


def setup(app):
    # run after the extensions that add per-page scripts
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    # after sphinx-book-theme has built the launch buttons (priority 501)
    app.connect("html-page-context", _colab_launch_links, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
