"""The README is the front door: it opens with exactly the two quick-start commands, stays a landing page, and
its links work where it is read — relative ones in the repository, absolute ones (the images, so that the PyPI
page shows them) under the repository URL `pyproject.toml` declares, at paths that exist."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_opens_with_the_two_quick_start_commands():
    first_block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert first_block is not None
    commands = [line for line in first_block.group(1).splitlines() if line and not line.startswith("#")]
    assert commands == [
        "pip install -e . && npnet train",
        'pip install -e ".[dev,parity,notebook,tensorboard,dask,docs]" && python -m pytest',
    ]
    assert README.index("```bash") < README.index("## What it looks like")


def test_the_readme_is_a_landing_page():
    assert len(README.splitlines()) <= 150


def test_relative_links_point_at_files_that_exist():
    links = re.findall(r"\]\(((?!https?://|#)[^)\s]+)\)", README)
    assert links, "the README links nothing"
    missing = [link for link in links if not (ROOT / link.split("#")[0]).exists()]
    assert missing == []


def test_absolute_links_use_the_declared_repository_and_existing_paths():
    source = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Source"]
    owner_repo = source.removeprefix("https://github.com/")
    raw = re.findall(r"https://raw\.githubusercontent\.com/([^/]+/[^/]+)/main/([^)\s]+)", README)
    assert raw, "the README's images must be absolute links, for the PyPI page"
    for repo, path in raw:
        assert repo == owner_repo
        assert (ROOT / path).is_file(), path
