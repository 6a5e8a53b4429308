"""`npnet compare`'s plot: test accuracy against training time, one small point per run, each preset's
median (over its seeds) a large marker with the preset's name beside it; colour = preset, shape = system."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from npnet.reports.run_report import _pyplot, _save_figure

MARKERS = {"npnet": "o", "keras-jax": "^"}


def plot_comparison(
    path: Path, groups: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]], title: str
) -> None:
    """groups[(preset, system)] = its runs' rows (test_accuracy, seconds); training seconds on a log axis, as
    the presets' times span orders of magnitude."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 5.5))
    presets = list(dict.fromkeys(preset for preset, _ in groups))
    colours = {preset: plt.get_cmap("tab10")(i % 10) for i, preset in enumerate(presets)}
    for (preset, system), rows in groups.items():
        seconds = np.array([float(r["seconds"]) for r in rows])
        accuracy = np.array([float(r["test_accuracy"]) for r in rows])
        marker, colour = MARKERS.get(system, "s"), colours[preset]
        ax.scatter(seconds, accuracy, s=28, marker=marker, color=colour, alpha=0.45, linewidths=0)
        middle = (float(np.median(seconds)), float(np.median(accuracy)))
        ax.scatter(*middle, s=130, marker=marker, color=colour, edgecolors="black", linewidths=1.2, zorder=3)
        label = preset if system == "npnet" else f"{preset} ({system})"
        ax.annotate(label, middle, xytext=(8, 4), textcoords="offset points", fontsize=9, zorder=4)
    ax.set_xscale("log")
    ax.set_xlabel("training time per run, seconds (log scale)")
    ax.set_ylabel("test accuracy")
    ax.set_title(title, fontsize=11)
    ax.grid(alpha=0.3, which="both")
    systems = list(dict.fromkeys(system for _, system in groups))
    handles = [
        plt.Line2D([], [], marker=MARKERS.get(s, "s"), color="grey", linestyle="", markersize=8, label=s)
        for s in systems
    ]
    handles.append(
        plt.Line2D(
            [],
            [],
            marker="o",
            color="white",
            markeredgecolor="black",
            markersize=10,
            linestyle="",
            label="median over seeds",
        )
    )
    ax.legend(handles=handles, loc="lower right", fontsize=9)
    fig.tight_layout()
    _save_figure(fig, path)
