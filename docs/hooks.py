"""MkDocs hook (mkdocs.yml `hooks:`): serve the files benchmarks/RESULTS.md links beside the page that
includes it.

docs/benchmarks/index.md includes benchmarks/RESULTS.md verbatim (pymdownx.snippets), so the file's relative
image links (`batch_sizes.png`) resolve to `benchmarks/<name>` in the docs. This adds the repository's
benchmarks/*.png, the figures it charts (figures.json) and the logbook it summarizes (HISTORY.md, a page of
its own) under exactly those names, so the page shows them and `mkdocs build --strict` checks them instead of
the file being copied or edited here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]


def on_files(files: Files, config: Any) -> Files:
    linked = [*sorted((ROOT / "benchmarks").glob("*.png")), ROOT / "benchmarks" / "figures.json"]
    for image in [*linked, ROOT / "benchmarks" / "HISTORY.md"]:
        files.append(
            File(
                f"benchmarks/{image.name}",
                src_dir=str(ROOT),
                dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
            )
        )
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """HISTORY.md links the summary as RESULTS.md (its neighbour in the repository); in the site the summary
    is the page that includes it, benchmarks/index.md."""
    if page.file.src_uri == "benchmarks/HISTORY.md":
        return markdown.replace("](RESULTS.md", "](index.md")
    return markdown
