"""Browser test of the built site: every page, as a student's browser sees it.

Runs after the book is built (``make site`` then ``make browser``; both are part
of ``make test``). It serves ``_build/html`` on localhost and drives Debian's
headless Chromium through Playwright (the browser is never downloaded).
Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse

import pytest
import yaml

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    if not (HTML / "index.html").is_file():
        pytest.fail("_build/html/index.html is missing: build the site first (make site)")
    handler = functools.partial(QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("Chromium is not installed: run scripts/ensure_chromium.sh (make browser does)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


def toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    return [f + ".html" for f in files]


def lesson_pages() -> list[str]:
    return [p for p in toc_pages() if p.startswith("notebooks/")]


class Visit:
    """Open one page, recording console errors and failed local requests."""

    def __init__(self, browser, base: str, path: str):
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.errors: list[str] = []
        self.failed: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self._local(r.url) and self.failed.append(f"{r.url} ({r.failure})"))
        self.page.on("response", lambda r: self._local(r.url) and r.status >= 400 and self.failed.append(f"{r.url} ({r.status})"))
        self.base = base
        self.external: list[str] = []
        # The site is tested offline: a request to another host (a CDN's MathJax, say)
        # is answered empty here and listed, rather than left to time out.
        self.page.route(lambda url: not self._local(url), self._stub_external)
        self.page.goto(urljoin(base, path), wait_until="load")

    def _stub_external(self, route):
        self.external.append(route.request.url)
        route.fulfill(status=200, body="", content_type="text/plain")

    def _local(self, url: str) -> bool:
        return url.startswith(self.base)


# The only request a page may make to another host: MathJax, which Jupyter Book loads from a CDN to
# typeset formulas. Widgets never load from one (no require.js, no @jupyter-widgets bundle): on the
# site a demo is its static fallback.
EXTERNAL_ALLOWED = ("https://cdn.jsdelivr.net/npm/mathjax@3/",)


def test_every_page_loads_cleanly_with_images_and_links(server, browser):
    pages = toc_pages() + ["genindex.html", "search.html"]
    problems: list[str] = []
    links: dict[str, set[str]] = {}
    for path in pages:
        v = Visit(browser, server, path)
        page = v.page
        assert page.title(), f"{path} has no title"
        # Scroll through the page so that lazily loaded images load, then check each.
        page.evaluate("async () => { for (let y = 0; y < document.body.scrollHeight; y += 600) { window.scrollTo(0, y); await new Promise(r => setTimeout(r, 20)); } }")
        page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=15_000)
        broken = page.evaluate("() => [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
        problems += [f"{path}: image did not load: {src}" for src in broken]
        problems += [f"{path}: console error: {e}" for e in v.errors]
        problems += [f"{path}: failed request: {f}" for f in v.failed]
        problems += [f"{path}: request to another host: {u}" for u in v.external if not u.startswith(EXTERNAL_ALLOWED)]
        hrefs = page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.href)")
        links[path] = {h for h in hrefs if h.startswith(server)}
        page.close()

    # Every internal link resolves to a page that exists, and its #fragment to an element on it.
    ids_cache: dict[str, set[str]] = {}
    checker = browser.new_page()
    for path, hrefs in links.items():
        for href in sorted(hrefs):
            url, fragment = urldefrag(href)
            target = HTML / urlparse(url).path.lstrip("/")
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                problems.append(f"{path}: link to a missing page: {href}")
                continue
            if fragment and target.suffix == ".html":
                if url not in ids_cache:
                    checker.goto(url)
                    ids_cache[url] = set(checker.evaluate("() => [...document.querySelectorAll('[id]')].map(e => e.id)"))
                if fragment not in ids_cache[url]:
                    problems.append(f"{path}: link to a missing anchor: {href}")
    checker.close()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("term", ["Grad-CAM", "receptive field"])
def test_search_finds(server, browser, term):
    v = Visit(browser, server, f"search.html?q={term.replace(' ', '+')}")
    v.page.wait_for_selector("#search-results ul.search li", timeout=30_000)
    hits = v.page.locator("#search-results ul.search li").count()
    assert hits > 0
    v.page.close()


@pytest.mark.parametrize("path", lesson_pages())
def test_lesson_page_launch_links_solutions_and_demos(server, browser, path):
    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    slug = urlparse(repo).path.strip("/")
    notebook = "colab/" + path.rsplit("/", 1)[-1].replace(".html", ".ipynb")  # the generated Colab copy (make colab)
    v = Visit(browser, server, path)
    page = v.page

    # The Colab launch link opens this lesson's generated Colab copy in the repository.
    colab = page.evaluate("() => [...document.querySelectorAll('a[href*=\"colab.research.google.com\"]')].map(a => a.href)")
    assert colab, f"{path}: no Colab launch link"
    assert all(h == f"https://colab.research.google.com/github/{slug}/blob/main/{notebook}" for h in colab), colab

    # Executed outputs are on the page: at least one figure and one text output.
    assert page.locator(".cell_output img").count() > 0, f"{path}: no figure output"
    assert page.locator(".cell_output .output").count() > 0, f"{path}: no text output"
    # The hidden Colab install cell is not shown.
    assert "google.colab" not in page.inner_text("main")

    # Static fallbacks of interactive demos are visible (images or an animation).
    for fallback in page.locator(".lessonkit-static").all():
        fallback.scroll_into_view_if_needed()
        assert fallback.is_visible(), f"{path}: a static fallback is not visible"

    # Hidden solutions and answers: hidden until clicked, then shown.
    dropdowns = page.locator("div.dropdown.admonition")
    assert dropdowns.count() > 0, f"{path}: no hidden solutions or answers"
    for i in range(dropdowns.count()):
        box = dropdowns.nth(i)
        body = box.locator(":scope > :not(.admonition-title):not(.toggle-button)").first
        box.scroll_into_view_if_needed()
        assert not body.is_visible(), f"{path}: dropdown {i} is visible before clicking"
        # Click the toggle button that sphinx-togglebutton adds (a solution's title also
        # holds a link back to its exercise, which a click on the title would follow).
        button = box.locator("button.toggle-button")
        if button.count():
            button.first.click()
        else:
            box.locator(".admonition-title").first.click(position={"x": 4, "y": 4})
        body.wait_for(state="visible", timeout=5_000)
    assert not v.errors and not v.failed, v.errors + v.failed
    page.close()


def test_screenshots_are_saved(server, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    targets = {"intro": toc_pages()[0]}
    if lesson_pages():
        targets["lesson"] = lesson_pages()[0]
    for name, path in targets.items():
        v = Visit(browser, server, path)
        out = ARTIFACTS / f"{name}.png"
        v.page.screenshot(path=str(out), full_page=False)
        v.page.close()
        assert out.stat().st_size > 10_000
