"""The report files: history CSV round trip, plots (real PNGs, right labels), metrics JSON, report.md."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from npnet.reports import run_report

HISTORY = {
    "loss": [0.69, 0.5, 0.4],
    "accuracy": [0.5, 0.75, 0.8],
    "val_loss": [0.68, 0.55, 0.45],
    "val_accuracy": [0.52, 0.7, 0.78],
    "lr": [1e-3, 9.9e-4, 9.8e-4],
    "seconds": [1.5, 1.25, 1.0],
}
METRICS = {
    "loss": 0.45,
    "accuracy": 0.75,
    "samples": 8,
    "confusion_matrix": [[3, 1], [1, 3]],
    "per_class": {
        "negative": {"precision": 0.75, "recall": 0.75, "f1": 0.75, "support": 4},
        "positive": {"precision": 0.75, "recall": 0.75, "f1": 0.75, "support": 4},
    },
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_backend_is_agg_so_no_window_ever_opens() -> None:
    assert matplotlib.get_backend().lower() == "agg"


def test_history_csv_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    run_report.write_history_csv(path, HISTORY)
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds"
    assert lines[1].startswith("1,0.69,0.5,0.68,0.52,0.001,1.5")
    assert len(lines) == 4
    assert run_report.read_history_csv(path) == HISTORY


def test_history_csv_leaves_missing_columns_empty(tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    run_report.write_history_csv(path, {"loss": [0.5], "accuracy": [0.75]})
    assert path.read_text().splitlines()[1] == "1,0.5,0.75,,,,"
    assert run_report.read_history_csv(path) == {"loss": [0.5], "accuracy": [0.75]}


def test_history_with_ragged_columns_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'accuracy' has 1 values but 'loss' has 2"):
        run_report.write_history_csv(tmp_path / "h.csv", {"loss": [0.5, 0.4], "accuracy": [0.5]})
    with pytest.raises(ValueError, match="no 'loss' column"):
        run_report.write_history_csv(tmp_path / "h.csv", {"accuracy": [0.5]})
    assert not (tmp_path / "h.csv").exists()


@pytest.mark.slow
@pytest.mark.parametrize(("metric", "ylabel"), [("loss", "Loss"), ("accuracy", "Accuracy")])
def test_metric_plot_draws_training_and_validation_with_axis_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, metric: str, ylabel: str
) -> None:
    drawn = {}
    real_save = run_report._save_figure

    def spy(fig, path):  # read the axes back before the figure is closed
        ax = fig.axes[0]
        drawn["xlabel"], drawn["ylabel"], drawn["title"] = ax.get_xlabel(), ax.get_ylabel(), ax.get_title()
        drawn["lines"] = {line.get_label(): line.get_ydata().tolist() for line in ax.get_lines()}
        real_save(fig, path)

    monkeypatch.setattr(run_report, "_save_figure", spy)
    path = tmp_path / f"{metric}.png"
    run_report.plot_metric(path, HISTORY, metric, val_name="Test")
    assert path.read_bytes().startswith(PNG_MAGIC)
    assert (drawn["xlabel"], drawn["ylabel"]) == ("Epoch", ylabel)
    assert drawn["title"] == f"Training and test {metric}"
    assert drawn["lines"] == {
        f"Training {metric}": HISTORY[metric],
        f"Test {metric}": HISTORY[f"val_{metric}"],
    }


def test_confusion_heatmap_shows_the_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = []
    real_save = run_report._save_figure

    def spy(fig, path):
        texts.extend(t.get_text() for t in fig.axes[0].texts)
        texts.extend([fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()])
        real_save(fig, path)

    monkeypatch.setattr(run_report, "_save_figure", spy)
    path = tmp_path / "confusion.png"
    run_report.plot_confusion(path, np.array([[11, 2], [3, 14]]))
    assert path.read_bytes().startswith(PNG_MAGIC)
    assert texts == ["11", "2", "3", "14", "Predicted label", "True label"]


@pytest.mark.slow
def test_run_report_writes_every_file_and_embeds_plots_and_numbers(tmp_path: Path) -> None:
    paths = run_report.write_run_report(
        tmp_path, run_name="r1", config={"learning_rate": 1e-3}, metrics=METRICS, history=HISTORY
    )
    names = {p.name for p in paths}
    plots = {"loss.png", "accuracy.png", "learning_rate.png", "confusion.png"}
    assert names == {"history.csv", *plots, "metrics.json", "report.md"}
    assert all(p.exists() for p in paths)
    for png in ("loss.png", "accuracy.png", "confusion.png"):
        size = (tmp_path / png).stat().st_size
        assert 1_000 < size < 100_000  # small enough to commit, big enough to hold a plot
    assert json.loads((tmp_path / "metrics.json").read_text()) == METRICS
    md = (tmp_path / "report.md").read_text()
    for needle in (
        "](loss.png)",
        "](accuracy.png)",
        "](confusion.png)",
        "](learning_rate.png)",
        "**0.7500**",
        "| negative | 3 | 1 |",
    ):
        assert needle in md
    assert "training time: 3.8 s" in md  # 1.5 + 1.25 + 1.0
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temp files behind


def test_metrics_json_turns_numpy_values_into_plain_json(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    run_report.write_metrics_json(path, {"a": np.float32(0.5), "m": np.array([[1, 2], [3, 4]]), "t": (1, 2)})
    assert json.loads(path.read_text()) == {"a": 0.5, "m": [[1, 2], [3, 4]], "t": [1, 2]}


def _drawn_axes(monkeypatch: pytest.MonkeyPatch) -> list:
    """Each saved figure's first axes, read back before the figure is closed."""
    seen = []
    real_save = run_report._save_figure

    def spy(fig, path):
        ax = fig.axes[0]
        seen.append(
            {
                "title": ax.get_title(),
                "xticks": ax.get_xticks().tolist(),
                "lines": {
                    line.get_label(): (line.get_marker(), line.get_ydata().tolist())
                    for line in ax.get_lines()
                },
            }
        )
        real_save(fig, path)

    monkeypatch.setattr(run_report, "_save_figure", spy)
    return seen


def test_a_one_epoch_run_plots_a_visible_point_on_whole_epoch_ticks(tmp_path, monkeypatch):
    seen = _drawn_axes(monkeypatch)
    one = {key: values[:1] for key, values in HISTORY.items()}
    run_report.plot_metric(
        tmp_path / "a.png", one, "accuracy", val_name="Test", run="run r1, preset notebook"
    )
    (drawn,) = seen
    assert drawn["xticks"] == [1.0]  # no 0.8, 0.9, 1.1 ... for a single epoch
    marker, values = drawn["lines"]["Test accuracy"]
    assert marker not in ("None", "", None) and values == [0.52]  # a lone point is drawn as a marker
    assert drawn["title"] == "Training and test accuracy\nrun r1, preset notebook"


@pytest.mark.slow
def test_the_learning_rate_curve_is_drawn_and_titles_name_the_run(tmp_path, monkeypatch):
    seen = _drawn_axes(monkeypatch)
    run_report.write_run_report(
        tmp_path, run_name="r1", config={"preset": "tuned"}, metrics=METRICS, history=HISTORY
    )
    titles = [drawn["title"] for drawn in seen]
    assert all(title.endswith("run r1, preset tuned") for title in titles)
    (rate,) = [drawn for drawn in seen if drawn["title"].startswith("Learning rate")]
    assert next(iter(rate["lines"].values()))[1] == HISTORY["lr"]
    assert seen[0]["xticks"] == [1.0, 2.0, 3.0]
