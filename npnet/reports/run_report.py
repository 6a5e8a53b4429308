"""The files a training run leaves behind: history CSV, plots, metrics JSON and a short Markdown report.

This module only writes files; it never prints. Every file is written atomically (a temp file in the same
folder, then `os.replace`), so a reader never sees half a plot or half a CSV, even if the run is killed while
writing.

Files (names are the constants below):
- `history.csv`   one row per epoch: epoch, loss, accuracy, val_loss, val_accuracy, lr, seconds
- `loss.png`      training vs validation (or test) loss per epoch, as the notebook drew it
- `accuracy.png`  training vs validation (or test) accuracy per epoch
- `confusion.png` the confusion matrix as a seaborn heatmap with counts
- `metrics.json`  the final numbers (loss, accuracy, confusion matrix, per-class precision/recall/F1)
- `report.md`     the numbers and the three plots in one page (and, for a model that attends, the attention
                  maps of a few test reviews: `attention_report`, drawn by the caller)
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from npnet.atomic import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure

HISTORY_CSV = "history.csv"
LOSS_PNG = "loss.png"
ACCURACY_PNG = "accuracy.png"
CONFUSION_PNG = "confusion.png"
LEARNING_RATE_PNG = "learning_rate.png"
METRICS_JSON = "metrics.json"
REPORT_MD = "report.md"
# Every file `write_run_report` writes, in the order it writes them (report.md last: its presence means all).
RUN_REPORT_FILES = (
    HISTORY_CSV,
    LOSS_PNG,
    ACCURACY_PNG,
    LEARNING_RATE_PNG,
    CONFUSION_PNG,
    METRICS_JSON,
    REPORT_MD,
)

# Column order of history.csv; "epoch" (1-based) comes first.
HISTORY_COLUMNS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")
CLASS_NAMES = ("negative", "positive")

_DPI = 100  # with the 6x4-inch figures below: 600x400 pixel PNGs of a few tens of KB


def _pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, imported on first use: matplotlib, seaborn and the scipy and
    pandas they pull in stay resident once imported, and would otherwise sit beside the data all through
    training (`npnet train`'s peak RSS, benchmarks.rss; benchmarks/HISTORY.md, "Memory of the plotting and
    table imports")."""
    import matplotlib

    matplotlib.use("Agg")  # files only: never open a window, work on machines without a display
    import matplotlib.pyplot as plt

    return plt


def write_history_csv(path: str | Path, history: Mapping[str, Sequence[float]]) -> None:
    """Write one row per epoch with the columns of `HISTORY_COLUMNS` (a missing column is left empty)."""
    n_epochs = _n_epochs(history)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("epoch", *HISTORY_COLUMNS))
    for i in range(n_epochs):
        row = [str(i + 1)]
        for column in HISTORY_COLUMNS:
            values = history.get(column)
            row.append("" if values is None else repr(float(values[i])))
        writer.writerow(row)
    _write_bytes(path, buffer.getvalue().encode("utf-8"))


def read_history_csv(path: str | Path) -> dict[str, list[float]]:
    """Read a `history.csv` back into `{column: [value per epoch]}` (empty columns are left out)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    history: dict[str, list[float]] = {}
    for column in HISTORY_COLUMNS:
        if rows and all(row.get(column) for row in rows):
            history[column] = [float(row[column]) for row in rows]
    return history


def plot_metric(
    path: str | Path,
    history: Mapping[str, Sequence[float]],
    metric: str,
    *,
    val_name: str = "Validation",
    run: str | None = None,
) -> None:
    """Plot `metric` and `val_<metric>` per epoch: training as blue dots, validation as a blue line (the
    notebook's "bo" / "b" style) with small markers, so that a one-epoch run's single point shows.
    `val_name` names the held-out data in the legend and title ("Test" when it is the test set); `run`
    (e.g. "mine, preset notebook") heads the title, so two runs' plots can be told apart.
    """
    label = metric.capitalize()
    epochs = np.arange(1, len(history[metric]) + 1)
    fig, ax = _pyplot().subplots(figsize=(6, 4))
    ax.plot(epochs, history[metric], "bo", markersize=3, label=f"Training {metric}")
    if f"val_{metric}" in history:
        ax.plot(
            epochs, history[f"val_{metric}"], "b-", marker="s", markersize=3, label=f"{val_name} {metric}"
        )
    ax.set_title(_title(f"Training and {val_name.lower()} {metric}", run))
    _epoch_axis(ax, len(epochs))
    ax.set_ylabel(label)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _save_figure(fig, path)


def plot_learning_rate(path: str | Path, rates: Sequence[float], *, run: str | None = None) -> None:
    """The learning rate after each epoch (the rate the next step uses), as dots joined by a line."""
    epochs = np.arange(1, len(rates) + 1)
    fig, ax = _pyplot().subplots(figsize=(6, 4))
    ax.plot(epochs, rates, "b-", marker="o", markersize=3)
    ax.set_title(_title("Learning rate", run))
    _epoch_axis(ax, len(epochs))
    ax.set_ylabel("Learning rate")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _save_figure(fig, path)


def _title(what: str, run: str | None) -> str:
    return f"{what}\n{run}" if run else what


def _epoch_axis(ax: Any, n_epochs: int) -> None:
    """Whole epochs only: every epoch labelled when there are few (one epoch gives the single tick 1)."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("Epoch")
    if n_epochs <= 10:
        ax.set_xticks(np.arange(1, n_epochs + 1))
        ax.set_xlim(0.5, n_epochs + 0.5)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_confusion(
    path: str | Path, matrix: np.ndarray, *, title: str = "Confusion matrix (test set)"
) -> None:
    """A seaborn heatmap of a 2x2 confusion matrix (rows: true class, columns: predicted class) with
    counts."""
    import seaborn as sns  # imported here, not at module level: see _pyplot

    matrix = np.asarray(matrix)
    fig, ax = _pyplot().subplots(figsize=(5, 4))
    sns.heatmap(
        matrix,
        annot=True,
        fmt="d",
        cmap="Blues",
        cbar=True,
        xticklabels=CLASS_NAMES,
        yticklabels=CLASS_NAMES,
        ax=ax,
    )
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    ax.set_title(title)
    fig.tight_layout()
    _save_figure(fig, path)


def write_metrics_json(path: str | Path, metrics: Mapping[str, Any]) -> None:
    """Write `metrics` as indented JSON (numpy scalars and arrays become plain numbers and lists)."""
    text = json.dumps(_plain(metrics), indent=2, sort_keys=False) + "\n"
    _write_bytes(path, text.encode("utf-8"))


def render_report_md(
    *,
    run_name: str,
    config: Mapping[str, Any],
    metrics: Mapping[str, Any],
    history: Mapping[str, Sequence[float]],
    val_name: str = "Validation",
    attention_maps: Sequence[tuple[str, str]] = (),
) -> str:
    """The Markdown text of `report.md`: settings, final numbers, per-class metrics and the plots;
    `attention_maps` [(PNG file name in the run folder, caption)] adds a section showing them."""
    lines = [f"# npnet run `{run_name}`", ""]
    n_epochs = _n_epochs(history)
    total_seconds = sum(history.get("seconds", [])) if "seconds" in history else None
    lines += ["## Result", ""]
    lines.append(f"- Test accuracy: **{metrics['accuracy']:.4f}**, test loss: {metrics['loss']:.4f}")
    lines.append(
        f"- Epochs: {n_epochs}" + (f", training time: {total_seconds:.1f} s" if total_seconds else "")
    )
    if "val_accuracy" in history:
        lines.append(
            f"- Last epoch: loss {history['loss'][-1]:.4f}, accuracy {history['accuracy'][-1]:.4f}, "
            f"{val_name.lower()} loss {history['val_loss'][-1]:.4f}, "
            f"{val_name.lower()} accuracy {history['val_accuracy'][-1]:.4f}"
        )
    lines += ["", "## Per-class metrics (test set)", ""]
    lines.append("| class | precision | recall | F1 | support |")
    lines.append("|---|---:|---:|---:|---:|")
    for name in CLASS_NAMES:
        c = metrics["per_class"][name]
        lines.append(
            f"| {name} | {c['precision']:.4f} | {c['recall']:.4f} | {c['f1']:.4f} | {c['support']} |"
        )
    matrix = metrics["confusion_matrix"]
    lines += ["", "## Confusion matrix (test set)", ""]
    lines.append("| true \\ predicted | negative | positive |")
    lines.append("|---|---:|---:|")
    for name, row in zip(CLASS_NAMES, matrix, strict=True):
        lines.append(f"| {name} | {row[0]} | {row[1]} |")
    lines += ["", f"![confusion matrix]({CONFUSION_PNG})", ""]
    lines += ["## Training curves", "", f"![loss]({LOSS_PNG})", "", f"![accuracy]({ACCURACY_PNG})", ""]
    if learning_rates(history) is not None:
        lines += [f"![learning rate]({LEARNING_RATE_PNG})", ""]
    if attention_maps:
        lines += ["## Attention (test reviews)", ""]
        lines += [
            "The first attention layer's weights per head among each review's words, in inference (rows: the "
            "word that attends, columns: the word attended to).",
            "",
        ]
        for name, caption in attention_maps:
            lines += [f"{caption}:", "", f"![attention]({name})", ""]
    lines += ["## Settings", "", "| setting | value |", "|---|---|"]
    for key, value in config.items():
        lines.append(f"| {key} | `{json.dumps(_plain(value))}` |")
    lines += [
        "",
        f"Per-epoch numbers: [{HISTORY_CSV}]({HISTORY_CSV}); all metrics: [{METRICS_JSON}]({METRICS_JSON}).",
        "",
    ]
    return "\n".join(lines)


def write_run_report(
    run_dir: str | Path,
    *,
    run_name: str,
    config: Mapping[str, Any],
    metrics: Mapping[str, Any],
    history: Mapping[str, Sequence[float]],
    val_name: str = "Validation",
    attention_maps: Sequence[tuple[str, str]] = (),
) -> list[Path]:
    """Write every report file of a finished run into `run_dir`; returns their paths. `attention_maps`: the
    attention PNGs already in `run_dir` that report.md shows ([(file name, caption)])."""
    run_dir = Path(run_dir)
    write_history_csv(run_dir / HISTORY_CSV, history)
    run = run_title(run_name, config)
    written = write_curves(run_dir, history, val_name=val_name, run=run)
    plot_confusion(
        run_dir / CONFUSION_PNG,
        np.asarray(metrics["confusion_matrix"]),
        title=f"Confusion matrix (test set)\n{run}",
    )
    write_metrics_json(run_dir / METRICS_JSON, metrics)
    text = render_report_md(
        run_name=run_name,
        config=config,
        metrics=metrics,
        history=history,
        val_name=val_name,
        attention_maps=attention_maps,
    )
    _write_bytes(run_dir / REPORT_MD, text.encode("utf-8"))
    return [run_dir / HISTORY_CSV, *written] + [
        run_dir / name for name in (CONFUSION_PNG, METRICS_JSON, REPORT_MD)
    ]


def run_title(run_name: str, config: Mapping[str, Any]) -> str:
    """What names a run on its plots: "run <name>, preset <preset>"."""
    preset = config.get("preset")
    return f"run {run_name}" + (f", preset {preset}" if preset else "")


def learning_rates(history: Mapping[str, Sequence[float]]) -> Sequence[float] | None:
    """The per-epoch learning rate in `history`, under either name it has had ("lr" in history.csv,
    "learning_rate" in the epoch logs); None when not recorded."""
    return history.get("lr", history.get("learning_rate"))


def write_curves(
    run_dir: Path, history: Mapping[str, Sequence[float]], *, val_name: str, run: str | None
) -> list[Path]:
    """loss.png, accuracy.png and (when recorded) learning_rate.png in `run_dir`; returns their paths."""
    plot_metric(run_dir / LOSS_PNG, history, "loss", val_name=val_name, run=run)
    plot_metric(run_dir / ACCURACY_PNG, history, "accuracy", val_name=val_name, run=run)
    written = [run_dir / LOSS_PNG, run_dir / ACCURACY_PNG]
    rates = learning_rates(history)
    if rates is not None:
        plot_learning_rate(run_dir / LEARNING_RATE_PNG, rates, run=run)
        written.append(run_dir / LEARNING_RATE_PNG)
    return written


def _n_epochs(history: Mapping[str, Sequence[float]]) -> int:
    if "loss" not in history:
        raise ValueError("history has no 'loss' column: pass the History.history dict of a fit")
    n = len(history["loss"])
    for key, values in history.items():
        if len(values) != n:
            raise ValueError(f"history column {key!r} has {len(values)} values but 'loss' has {n}")
    return n


def _write_bytes(path: str | Path, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def _save_figure(fig: Figure, path: str | Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    _pyplot().close(fig)
    _write_bytes(path, buffer.getvalue())


def _plain(value: Any) -> Any:
    """numpy scalars/arrays and tuples -> JSON-ready Python values."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
