"""The documentation site builds (`mkdocs build --strict`) and, opened in headless Chromium from 127.0.0.1,
shows typeset math on every derivation page and `Sequential.fit` on the API page.

Needs the `docs` extra and a Chromium (`apt-get install -y chromium`): skipped locally without them, a
failure under CI=1. The pages run their JavaScript before the DOM is read (`--virtual-time-budget`), so
what is checked is what a reader sees, not the Markdown's source.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

ROOT = Path(__file__).resolve().parents[2]
DERIVATIONS = sorted(p.stem for p in (ROOT / "docs" / "derivations").glob("*.md"))
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

pytestmark = pytest.mark.slow


def _required(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built as CI builds it."""
    try:
        import mkdocs  # noqa: F401
    except ImportError:
        _required("mkdocs is not installed (pip install -e '.[docs]')")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    return out


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def base_url(site: Path) -> Iterator[str]:
    """The site served over HTTP from 127.0.0.1 (a free port), as a reader's browser would load it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    _required("no Chromium found (apt-get install -y chromium)")
    raise AssertionError("unreachable")


def rendered_dom(browser: str, url: str, profile: Path) -> str:
    """The page's DOM after its scripts ran, from headless Chromium."""
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",  # CI containers run as root
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "</html>" in done.stdout, done.stderr[-2000:]
    return done.stdout


class _Page(HTMLParser):
    """Counts elements by class and id, and collects the text a reader sees: no scripts or styles, and not
    KaTeX's MathML copy (visually hidden; it keeps the TeX source as an annotation for screen readers)."""

    HIDDEN: ClassVar[set[str]] = {"script", "style", "annotation", "template"}
    VOID: ClassVar[set[str]] = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta"}
    VOID |= {"source", "track", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.classes: dict[str, int] = {}
        self.ids: list[str] = []
        self.visible: list[str] = []
        self._stack: list[bool] = []  # per open element: is it hidden?

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        for name in (attributes.get("class") or "").split():
            self.classes[name] = self.classes.get(name, 0) + 1
        if attributes.get("id"):
            self.ids.append(str(attributes["id"]))
        if tag in self.VOID:
            return
        hidden = tag in self.HIDDEN or "katex-mathml" in (attributes.get("class") or "").split()
        self._stack.append(hidden or (bool(self._stack) and self._stack[-1]))

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self._stack:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if not (self._stack and self._stack[-1]):
            self.visible.append(data)

    def count(self, name: str) -> int:
        return self.classes.get(name, 0)


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


@pytest.mark.parametrize("name", DERIVATIONS)
def test_a_derivation_page_shows_its_math_typeset(
    name: str, base_url: str, browser: str, tmp_path: Path
) -> None:
    page = parse(rendered_dom(browser, f"{base_url}/derivations/{name}/", tmp_path))
    formulas = page.count("arithmatex")  # every $...$ and $$...$$ of the page's Markdown
    if name != "index" or formulas:
        assert formulas > 0, f"{name}: no math found"
    # KaTeX turned every formula into one .katex element, and could parse each of them.
    assert page.count("katex") == formulas, f"{name}: {page.count('katex')} typeset of {formulas} formulas"
    assert page.count("katex-error") == 0, f"{name}: KaTeX could not parse a formula"
    text = "".join(page.visible)
    for raw in ("$$", "\\(", "\\[", "\\begin{", "\\frac"):
        assert raw not in text, f"{name}: raw TeX {raw!r} left in the visible text"


def test_the_math_needs_no_network(site: Path) -> None:
    """The scripts, style sheets and fonts the pages load are all served by the site itself."""
    html = (site / "derivations" / "recurrent" / "index.html").read_text(encoding="utf-8")
    loaded = re.findall(r'<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]+)"', html)
    external = [url for url in loaded if re.match(r"(https?:)?//", url)]
    assert not external, f"the page loads {external}"
    assert any(url.endswith("katex.min.js") for url in loaded)
    css = (site / "stylesheets" / "katex" / "katex.min.css").read_text(encoding="utf-8")
    fonts = re.findall(r"url\((fonts/[^)]+\.woff2)\)", css)
    assert len(fonts) >= 19 and all((site / "stylesheets" / "katex" / f).is_file() for f in fonts)


def test_the_api_page_lists_sequential_fit(base_url: str, browser: str, tmp_path: Path) -> None:
    page = parse(rendered_dom(browser, f"{base_url}/api/model/", tmp_path))
    assert any(anchor.endswith("Sequential.fit") for anchor in page.ids), "no Sequential.fit entry"
    text = "".join(page.visible)
    assert "fit" in text and "validation_split" in text  # its signature and docstring are shown
