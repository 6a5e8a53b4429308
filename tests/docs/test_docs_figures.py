"""The derivation pages' graphs are what docs/images/graphs.py draws, and are well-formed, labelled SVG."""

from __future__ import annotations

import importlib.util
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "docs" / "images"
SVG = "{http://www.w3.org/2000/svg}"


def _graphs_module():
    spec = importlib.util.spec_from_file_location("docs_graphs", IMAGES / "graphs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_the_committed_figures_are_the_scripts_output(tmp_path: Path) -> None:
    written = _graphs_module().write_all(tmp_path)
    assert {p.name for p in written} == {p.name for p in IMAGES.glob("graph-*.svg")}
    for fresh in written:
        # The same script run again: byte-equal, or the committed file was edited by hand / not redrawn.
        assert fresh.read_bytes() == (IMAGES / fresh.name).read_bytes(), (
            f"docs/images/{fresh.name} differs from graphs.py's output: run python docs/images/graphs.py"
        )


def test_every_figure_is_used_by_a_page_and_has_forward_and_backward_edges() -> None:
    pages = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").rglob("*.md"))
    for path in IMAGES.glob("graph-*.svg"):
        assert f"images/{path.name}" in pages, f"no page shows {path.name}"
        root = ET.parse(path).getroot()
        assert root.find(f"{SVG}title") is not None and root.find(f"{SVG}title").text
        kinds = {line.get("marker-end") for line in root.iter(f"{SVG}line")}
        assert kinds == {"url(#fwd)", "url(#bwd)"}, path.name
        labels = ["".join(text.itertext()) for text in root.iter(f"{SVG}text")]
        assert sum(1 for label in labels if label.strip()) >= 5, path.name
