"""The --inspect plots: each names its run, labels every axis, and activations.png keeps the fractions (0-1)
apart from the output's mean and std."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from npnet.callbacks.backprop_monitor import OUTPUT, Record
from npnet.reports import backprop_report
from npnet.reports.backprop_report import ACTIVATIONS_PNG, GRADIENTS_PNG, UPDATES_PNG


def records() -> list[Record]:
    """Three steps of a Dense kernel, a ReLU (zero and dead fractions) and a sigmoid (saturated fraction)
    whose mean and std are far outside 0-1, so that a shared axis would show."""
    rows = []
    for step in (1, 2, 3):
        rows += [
            Record(step, 1, "dense", "kernel", "grad_norm", 0.1 / step),
            Record(step, 1, "dense", "kernel", "update_ratio", 1e-4 * step),
            Record(step, 1, "dense", "kernel", "weight_norm", 2.0),
            Record(step, 1, "re_lu", OUTPUT, "mean", 40.0 + step),
            Record(step, 1, "re_lu", OUTPUT, "std", 25.0),
            Record(step, 1, "re_lu", OUTPUT, "zero_fraction", 0.4),
            Record(step, 1, "re_lu", OUTPUT, "dead_fraction", 0.1),
            Record(step, 1, "dense_1", OUTPUT, "mean", 0.5),
            Record(step, 1, "dense_1", OUTPUT, "std", 0.01),
            Record(step, 1, "dense_1", OUTPUT, "saturated_fraction", 0.0),
        ]
    return rows


def drawn(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **options: Any) -> dict[str, dict[str, Any]]:
    """file name -> the figure's titles and, per axis, its labels and its lines {label: ydata}."""
    figures: dict[str, dict[str, Any]] = {}
    real_save = backprop_report._save_figure

    def spy(fig, path):  # read the figure back before it is closed
        suptitle = fig._suptitle.get_text() if fig._suptitle is not None else ""
        figures[Path(path).name] = {
            "titles": [suptitle, *(ax.get_title() for ax in fig.axes)],
            "axes": [
                {
                    "xlabel": ax.get_xlabel(),
                    "ylabel": ax.get_ylabel(),
                    "lines": {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()},
                }
                for ax in fig.axes
            ],
        }
        real_save(fig, path)

    monkeypatch.setattr(backprop_report, "_save_figure", spy)
    backprop_report.write_backprop_report(tmp_path, records(), **options)
    return figures


@pytest.mark.slow
def test_every_plot_names_its_run_and_labels_every_axis(monkeypatch, tmp_path) -> None:
    figures = drawn(monkeypatch, tmp_path, run="run small, preset notebook")
    assert set(figures) == {GRADIENTS_PNG, UPDATES_PNG, ACTIVATIONS_PNG}
    for name, figure in figures.items():
        assert any("run small, preset notebook" in title for title in figure["titles"]), name
        for ax in figure["axes"]:
            assert ax["xlabel"] == "Step" and ax["ylabel"], name
    assert all((tmp_path / name).read_bytes().startswith(b"\x89PNG") for name in figures)


@pytest.mark.slow
def test_a_run_unnamed_is_named_by_its_folder(monkeypatch, tmp_path) -> None:
    (tmp_path / "notebook-1").mkdir()
    figures = drawn(monkeypatch, tmp_path / "notebook-1")
    assert all(any("run notebook-1" in t for t in f["titles"]) for f in figures.values())


@pytest.mark.slow
def test_activations_keep_fractions_and_magnitudes_on_separate_axes(monkeypatch, tmp_path) -> None:
    axes = drawn(monkeypatch, tmp_path)[ACTIVATIONS_PNG]["axes"]
    assert len(axes) == 4  # two layers x (fractions, magnitudes)
    fractions = [ax for ax in axes if ax["ylabel"] == "Fraction of probe outputs"]
    magnitudes = [ax for ax in axes if ax["ylabel"] == "Output value"]
    assert len(fractions) == len(magnitudes) == 2
    for ax in fractions:
        assert ax["lines"] and all(label.endswith("fraction") for label in ax["lines"])
        assert all(0 <= v <= 1 for values in ax["lines"].values() for v in values)
    for ax in magnitudes:
        assert set(ax["lines"]) == {"mean", "std"}
    relu = next(ax for ax in magnitudes if max(ax["lines"]["mean"]) > 1)
    assert relu["lines"]["mean"] == [41.0, 42.0, 43.0]
