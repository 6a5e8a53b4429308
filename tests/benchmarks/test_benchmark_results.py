"""benchmarks/RESULTS.md, the front page of the benchmarks: its speed table and chart come from
benchmarks/figures.json (benchmarks.charts), every figure there is copied from the logbook
(benchmarks/HISTORY.md, in the section its run names), and both pages link only to files that exist, with no
machine's own paths."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmarks import charts

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
RESULTS = BENCHMARKS / "RESULTS.md"
HISTORY = BENCHMARKS / "HISTORY.md"


def _section(text: str, heading: str) -> str:
    """The logbook's section whose heading starts with `heading`, up to the next heading of its level or
    above (a `#` line inside a fenced code block is a shell comment, not a heading)."""
    headings: list[tuple[int, int, str]] = []  # (line number, level, title)
    fenced = False
    lines = text.splitlines()
    for number, line in enumerate(lines):
        fenced ^= line.startswith("```")
        if not fenced and (match := re.match(r"(#+) (.*)", line)):
            headings.append((number, len(match[1]), match[2]))
    found = [i for i, (_, _, title) in enumerate(headings) if title.startswith(heading)]
    assert len(found) == 1, f"HISTORY.md has {len(found)} sections named {heading!r}"
    start, level, _ = headings[found[0]]
    end = next((number for number, lvl, _ in headings[found[0] + 1 :] if lvl <= level), len(lines))
    return "\n".join(lines[start:end])


def _printed(figure: str, text: str) -> bool:
    """`figure` (e.g. "0.83") appears in `text` as a number of its own, not inside a longer one."""
    return re.search(rf"(?<![\d.]){re.escape(figure)}(?![\d])", text) is not None


def test_the_speed_table_is_the_one_drawn_from_the_figures():
    figures = charts.load()
    results = RESULTS.read_text(encoding="utf-8")
    assert charts.speed_table(figures) in results, "regenerate the table: python -m benchmarks.charts"
    for key, run in figures["runs"].items():
        assert f"| {key} | {run['what']} | `{run['command']}` |" in results, f"run {key} is not in RESULTS.md"


def test_every_figure_was_copied_from_its_runs_section_of_the_logbook():
    figures = charts.load()
    history = HISTORY.read_text(encoding="utf-8")
    for row in figures["speed"]:
        section = _section(history, figures["runs"][row["run"]]["history"])
        # a ratio the logbook printed the other way round is checked as printed; its inverse is arithmetic
        ratios = re.findall(r"\d+\.\d+", row["derived_from"]) if "derived_from" in row else [
            row["npnet_over_peer"], *(row["range"].split("-") if row["range"] else [])
        ]  # fmt: skip
        for figure in (row["npnet"], row["peer_time"], *ratios):
            assert _printed(figure, section), (
                f"{figure} ({row['preset']} vs {row['peer']}) is not in its run's section"
            )
        if "derived_from" in row:
            assert float(row["npnet_over_peer"]) == pytest.approx(1 / float(ratios[0]), abs=0.006)


@pytest.mark.parametrize("page", [RESULTS, HISTORY], ids=lambda page: page.name)
def test_the_pages_link_files_that_exist_and_no_machine_paths(page: Path):
    text = page.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)\)", text)
    assert targets
    for target in targets:
        assert not target.startswith(("http", "/")), f"{page.name}: {target} is not a relative link"
        assert (page.parent / target).is_file(), f"{page.name} links {target}, which does not exist"
    assert not re.search(r"/work/|/tmp/|/root/|/home/", text), f"{page.name} names a machine's own path"


def test_the_chart_is_drawn_with_a_bar_per_charted_comparison(tmp_path: Path, capsys):
    out = tmp_path / "chart.png"
    assert charts.main(["--out", str(out)]) == 0
    assert out.read_bytes().startswith(b"\x89PNG") and out.stat().st_size > 10_000
    assert charts.speed_table(charts.load()) in capsys.readouterr().out
