"""The front page of benchmarks/HISTORY.md from benchmarks/figures.json: the chart of npnet against its peers
and the speed table beside it.

    python -m benchmarks.charts            # writes benchmarks/npnet_vs_peers.png, prints the markdown table

The figures are copied from the logbook (benchmarks/HISTORY.md), not measured here: to change one, re-run the
command of its run (figures.json "runs") and edit the file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FIGURES = HERE / "figures.json"
CHART = HERE / "npnet_vs_peers.png"
PEER_COLOURS = {"keras-jax": "#1f77b4", "keras-torch": "#9467bd", "pytorch": "#ff7f0e"}


def load(path: Path = FIGURES) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _label(row: dict[str, Any]) -> str:
    return f"{row['preset']}, batch {row['batch']}"


def speed_table(figures: dict[str, Any]) -> str:
    """The markdown table of every comparison in `figures`, one row each, in the file's order."""
    peers = figures["peers"]
    lines = [
        "| preset | peer | npnet | peer | npnet ÷ peer (paired median, range) | run |",
        "|---|---|---:|---:|---|---|",
    ]
    for row in figures["speed"]:
        ratio = f"**{row['npnet_over_peer']}**" + (f" ({row['range']})" if row["range"] else "")
        if "derived_from" in row:
            ratio += f"; printed as {row['derived_from']}"
        unit = row["unit"]
        lines.append(
            f"| {_label(row)} | {peers[row['peer']]} | {row['npnet']} {unit} | {row['peer_time']} {unit} "
            f"| {ratio} | {row['run']}{'' if row['chart'] else ' (loaded)'} |"
        )
    return "\n".join(lines)


def draw(figures: dict[str, Any], path: Path) -> None:
    """A horizontal bar per charted comparison: npnet's time over the peer's, on a log axis around 1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [row for row in figures["speed"] if row["chart"]][::-1]  # the file's first row on top
    values = [float(row["npnet_over_peer"]) for row in rows]
    fig, ax = plt.subplots(figsize=(8.4, 0.42 * len(rows) + 1.6))
    ax.axvspan(0.02, 1, color="#2ca02c", alpha=0.07)
    ax.axvspan(1, 4, color="#d62728", alpha=0.07)
    # Each bar runs from 1 (the same speed) to the ratio: left of 1 npnet is faster, right of it slower.
    bars = ax.barh(
        range(len(rows)),
        [value - 1 for value in values],
        left=1,
        color=[PEER_COLOURS[row["peer"]] for row in rows],
        height=0.65,
    )
    ax.axvline(1, color="black", linewidth=1)
    for bar, row, value in zip(bars, rows, values, strict=True):
        middle = bar.get_y() + bar.get_height() / 2
        x, align = (value / 1.06, "right") if value < 1 else (value * 1.06, "left")
        ax.text(x, middle, f"{row['npnet_over_peer']}x", va="center", ha=align, fontsize=9)
    ax.set_yticks(
        range(len(rows)), [f"{_label(row)} vs {figures['peers'][row['peer']]} [{row['run']}]" for row in rows]
    )
    ax.set_xscale("log")
    ax.set_xlim(0.02, 4)
    ticks = [0.03, 0.1, 0.3, 0.5, 1, 2]
    ax.set_xticks(ticks, [f"{tick:g}x" for tick in ticks])
    ax.minorticks_off()
    ax.text(0.95, len(rows) - 0.35, "<- npnet faster", color="#2ca02c", fontsize=9, va="bottom", ha="right")
    ax.text(1.05, len(rows) - 0.35, "npnet slower ->", color="#d62728", fontsize=9, va="bottom")
    ax.set_ylim(-0.6, len(rows) + 0.2)
    ax.set_xlabel(
        "npnet's time ÷ the peer's (paired median of epochs; of steps for fasttext, transformer); [run]"
    )
    ax.set_title("npnet against its peers (latest quiet race of each, 2-core VM)", loc="right")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour) for colour in PEER_COLOURS.values()]
    ax.legend(handles, list(figures["peers"].values()), loc="upper left", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.charts", description=__doc__.split("\n")[0])
    parser.add_argument("--figures", type=Path, default=FIGURES, help="the figures (default %(default)s)")
    parser.add_argument("--out", type=Path, default=CHART, help="the chart to write (default %(default)s)")
    args = parser.parse_args(argv)
    figures = load(args.figures)
    draw(figures, args.out)
    print(speed_table(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
