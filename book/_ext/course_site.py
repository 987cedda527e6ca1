"""Small Sphinx fixes for the course site (loaded through ``sphinx.local_extensions``).

Under jupyter-book 1.0 some inline scripts (sphinx-thebe's configuration,
sphinx-togglebutton's selector) are registered twice, and a page that declares
``const THEBE_JS_URL`` twice logs a JavaScript error. Identical inline scripts
are dropped here, keeping the first; the browser test checks that every page
loads without console errors.
"""

from __future__ import annotations


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
    return {"parallel_read_safe": True, "parallel_write_safe": True}
