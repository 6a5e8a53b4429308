"""Every ```python block of README.md and docs/**/*.md runs, and the files and paths the pages name exist.

Each block runs on its own, in a fresh namespace, in a temporary working folder, so a page's example is
exactly what a reader can paste. A block whose only line includes a file (`--8<-- "examples/x.py"`,
pymdownx.snippets) is that file, which has its own test. A block that loads the real IMDB data reads it
from a folder built from the Stanford reviews (the `imdb_data_dir` fixture) and is marked slow. Bash blocks
are not run.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
PYTHON = {"python", "py", "python3"}
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)\n"  # the opening line
    r"(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",  # the code, up to the same fence at the same indent
    re.MULTILINE | re.DOTALL,
)
INCLUDE = re.compile(r'^--8<--\s+"(?P<path>[^"]+)"\s*$')
NEEDS_IMDB = "load_data("


@dataclass(frozen=True)
class Snippet:
    page: Path
    line: int  # of the opening fence, 1-based
    code: str

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def included_file(self) -> str | None:
        match = INCLUDE.match(self.code.strip())
        return match.group("path") if match else None


def python_blocks(text: str, page: Path) -> list[Snippet]:
    """The page's fenced Python blocks (at any indent: inside lists and admonitions too)."""
    blocks = []
    for match in FENCE.finditer(text):
        info = match.group("info").split()
        if info and info[0].lower() in PYTHON:
            line = text.count("\n", 0, match.start()) + 1
            blocks.append(Snippet(page, line, textwrap.dedent(match.group("body"))))
    return blocks


SNIPPETS = [s for page in PAGES for s in python_blocks(page.read_text(encoding="utf-8"), page)]
RUN = [s for s in SNIPPETS if s.included_file is None]
INCLUDED = [s for s in SNIPPETS if s.included_file is not None]


def _param(snippet: Snippet) -> object:
    marks = [pytest.mark.slow] if NEEDS_IMDB in snippet.code else []
    return pytest.param(snippet, id=snippet.name, marks=marks)


@pytest.mark.parametrize("snippet", [_param(s) for s in RUN])
def test_the_snippet_runs(
    snippet: Snippet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    if NEEDS_IMDB in snippet.code:
        monkeypatch.setenv("NPNET_DATA_DIR", str(request.getfixturevalue("imdb_data_dir")))
    code = compile(snippet.code, snippet.name, "exec")  # tracebacks name the page and line
    exec(code, {"__name__": "__docs_snippet__"})


def test_the_collector_sees_every_python_fence() -> None:
    """Guards the fence pattern: every line that opens a Python block is collected (or the pages' examples
    would silently stop running)."""
    opening = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*(python3?|py)\b", re.MULTILINE | re.IGNORECASE)
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        collected = [s for s in SNIPPETS if s.page == page]
        assert len(collected) == len(opening.findall(text)), page
    assert len(RUN) >= 5 and any(s.page.name == "README.md" for s in RUN)


@pytest.mark.parametrize("snippet", INCLUDED, ids=[s.name for s in INCLUDED])
def test_an_included_file_exists_and_has_a_test_of_its_own(snippet: Snippet) -> None:
    path = ROOT / str(snippet.included_file)
    assert path.is_file(), f"{snippet.name} includes {path}, which does not exist"
    tests = [p for p in (ROOT / "tests").rglob("test_*.py") if p.name != Path(__file__).name]
    assert any(path.name in p.read_text(encoding="utf-8") for p in tests), (
        f"{snippet.name} includes {path.name}, which no test runs"
    )


# A repository path in a page's text: npnet/layers/dense.py, tests/layers/test_conv.py, examples/x.py, ...
# (not a link target: `](benchmarks/index.md)` is a page of the site, checked by `mkdocs build --strict`).
REPO_PATH = re.compile(r"(?<![\w/.])((?:npnet|tests|examples|benchmarks|parity)/[\w./-]*\w)")
LINK_TARGET = re.compile(r"\]\([^)]*\)")


def test_every_repository_path_a_page_names_exists() -> None:
    missing = []
    for page in PAGES:
        for path in REPO_PATH.findall(LINK_TARGET.sub("]", page.read_text(encoding="utf-8"))):
            if not (ROOT / path).exists():
                missing.append(f"{page.relative_to(ROOT)}: {path}")
    assert not missing, "pages name files that do not exist:\n" + "\n".join(missing)
