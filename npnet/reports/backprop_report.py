"""The Backprop part of a run's report: plots and plain-language findings from a `BackpropMonitor`'s records.

Files (in the run folder, beside `npnet.reports.run_report`'s):
- `backprop.csv`     the records (written by the monitor itself, see `npnet.callbacks.backprop_monitor`)
- `gradients.png`    per layer and parameter, the gradient norm over the steps (log scale)
- `updates.png`      per layer and parameter, the update/weight ratio over the steps, with the 1e-3 line
- `activations.png`  per activation layer, on the probe batch: its zero/dead/saturated fractions (0-1) above,
                     the mean and std of its output below
- a "## Backprop" section in `report.md` (added, or replaced when redrawn) with the plots and the findings

This module only writes files; it never prints.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from npnet.atomic import atomic_write
from npnet.callbacks.backprop_monitor import OUTPUT, Record
from npnet.reports.run_report import _pyplot, _save_figure, _title

BACKPROP_CSV = "backprop.csv"
GRADIENTS_PNG = "gradients.png"
UPDATES_PNG = "updates.png"
ACTIVATIONS_PNG = "activations.png"
SECTION = "## Backprop"
RULE_OF_THUMB = 1e-3  # cs231n: the update of a step is ~1e-3 of the weights when the learning rate suits

# (layer, parameter, statistic) -> (steps, values)
Series = dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]]


def series(rows: Sequence[Record]) -> Series:
    """The records as one (steps, values) pair per (layer, parameter, statistic), in step order."""
    grouped: dict[tuple[str, str, str], list[tuple[int, float]]] = {}
    for r in rows:
        grouped.setdefault((r.layer, r.parameter, r.statistic), []).append((r.step, r.value))
    out = {}
    for key, points in grouped.items():
        points.sort()
        out[key] = (np.array([p[0] for p in points]), np.array([p[1] for p in points], dtype=np.float64))
    return out


def _of(data: Series, statistic: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """`layer/parameter` -> (steps, values) of one statistic."""
    return {f"{layer}/{param}": sv for (layer, param, stat), sv in data.items() if stat == statistic}


def _sci(x: float) -> str:
    """1.234e-05 -> "1.2e-5": short enough for a sentence."""
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _late_median(steps: np.ndarray, values: np.ndarray) -> float:
    """Median of the finite values over the second half of the recorded steps (after the first moves)."""
    late = values[steps >= np.median(steps)]
    late = late[np.isfinite(late)]
    return float(np.median(late)) if late.size else math.nan


def update_ratios(rows: Sequence[Record]) -> dict[str, float]:
    """`layer/parameter` -> its typical update/weight ratio: the median over the second half of the recorded
    steps (parameters whose weights stayed zero are left out)."""
    ratios = {name: _late_median(*sv) for name, sv in _of(series(rows), "update_ratio").items()}
    return {name: r for name, r in ratios.items() if math.isfinite(r) and r > 0}


def started_at_zero(rows: Sequence[Record]) -> set[str]:
    """`layer/parameter` names whose weights were all zero at the first recorded step (zero-initialised)."""
    return {name for name, (_, values) in _of(series(rows), "weight_norm").items() if values[0] == 0}


def findings(rows: Sequence[Record]) -> list[str]:
    """One plain sentence per finding: the update size against the 1e-3 rule of thumb, the gradients'
    spread, embedding rows without gradient, dead ReLUs and saturated or undecided sigmoids."""
    data = series(rows)
    sentences: list[str] = []
    ratios = update_ratios(rows)
    # A parameter that starts at zero (a bias) has no scale of its own to compare its steps with: its ratio
    # is huge while it is small. The headline reads the others (kernels, tables), as the rule of thumb does.
    scaled = {name: r for name, r in ratios.items() if name not in started_at_zero(rows)} or ratios
    if scaled:
        overall = float(np.median(list(scaled.values())))
        where = f"(median over {', '.join(sorted(scaled))}, second half of the recorded steps)"
        if overall < RULE_OF_THUMB / 3:
            sentences.append(
                f"Updates are ~{_sci(overall)} of the weights {where}: the learning rate is "
                f"~{RULE_OF_THUMB / overall:.0f}x too small for this model (the rule of thumb is ~1e-3)."
            )
        elif overall > RULE_OF_THUMB * 10:
            sentences.append(
                f"Updates are ~{_sci(overall)} of the weights {where}, ~{overall / RULE_OF_THUMB:.0f}x the "
                "~1e-3 rule of thumb: the learning rate may be too large (watch the loss for jumps)."
            )
        else:
            sentences.append(
                f"Updates are ~{_sci(overall)} of the weights {where}, near the ~1e-3 rule of thumb: the "
                "learning rate suits this model."
            )
        slow, fast = min(scaled, key=scaled.__getitem__), max(scaled, key=scaled.__getitem__)
        if scaled[fast] > 10 * scaled[slow]:
            sentences.append(
                f"The parameters move at different speeds: {slow} by ~{_sci(scaled[slow])} of its norm per "
                f"step, {fast} by ~{_sci(scaled[fast])}."
            )
    for name in sorted(started_at_zero(rows)):
        last = _of(data, "weight_norm")[name][1][-1]
        sentences.append(f"{name} started at zero and has drifted to norm {_sci(last)}.")
    norms = _of(data, "grad_norm")
    if norms:
        first = {name: values[0] for name, (_, values) in norms.items()}
        last = {name: values[-1] for name, (_, values) in norms.items()}
        smallest, largest = min(last, key=last.__getitem__), max(last, key=last.__getitem__)
        sentences.append(
            f"At the last recorded step the gradient norms range from {_sci(last[smallest])} ({smallest}) "
            f"to {_sci(last[largest])} ({largest})."
        )
        shrunk = [n for n in norms if first[n] > 0 and last[n] < first[n] / 100]
        if shrunk:
            sentences.append(
                f"The gradients of {', '.join(shrunk)} shrank over 100x during training: the loss there is "
                "flat (converged, or stuck)."
            )
    for name, (_, values) in _of(data, "zero_grad_rows").items():
        sentences.append(
            f"On average {values.mean():.0%} of the rows of {name} get an exactly zero gradient in a step "
            "(their ids are absent from the batch); Adam still moves them by its momentum."
        )
    for (layer, param, stat), (_, values) in data.items():
        if param != OUTPUT:
            continue
        if stat == "dead_fraction":
            zeros = data[(layer, param, "zero_fraction")][1][-1]
            if values[-1] > 0:
                sentences.append(
                    f"{values[-1]:.0%} of {layer}'s units are dead ReLUs (0 on every probe review) at the "
                    f"last recorded step; {zeros:.0%} of its outputs are 0."
                )
            else:
                sentences.append(f"{layer} has no dead ReLUs; {zeros:.0%} of its outputs are 0 on the probe.")
        if stat == "saturated_fraction":
            mean, std = data[(layer, param, "mean")][1][-1], data[(layer, param, "std")][1][-1]
            if values[-1] > 0.5:
                sentences.append(
                    f"{layer}'s sigmoid is saturated on {values[-1]:.0%} of the probe reviews: little "
                    "gradient flows back through it there."
                )
            elif std < 0.01:
                sentences.append(
                    f"{layer}'s outputs stay near {mean:.2f} (std {std:.3f} over the probe): the model "
                    "barely separates the reviews yet."
                )
            else:
                sentences.append(
                    f"{layer}'s outputs spread with std {std:.3f} around {mean:.2f}; {values[-1]:.0%} are "
                    "saturated."
                )
    return sentences


# ---- plots


def _plot_lines(
    path: Path,
    lines: dict[str, tuple[np.ndarray, np.ndarray]],
    title: str,
    ylabel: str,
    reference: bool,
    run: str | None,
) -> None:
    fig, ax = _pyplot().subplots(figsize=(7, 4.5))
    for name, (steps, values) in sorted(lines.items()):
        keep = np.isfinite(values) & (values > 0)  # a log axis cannot show 0 or NaN
        ax.plot(steps[keep], values[keep], label=name, linewidth=1.2)
    if reference:
        ax.axhline(RULE_OF_THUMB, color="black", linestyle="--", linewidth=1, label="1e-3 rule of thumb")
    ax.set_yscale("log")
    ax.set_title(_title(title, run))
    _step_axis(ax)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    _save_figure(fig, path)


def _step_axis(ax: Any) -> None:
    """The x axis of every plot here: optimizer steps, whole numbers only."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("Step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _is_fraction(statistic: str) -> bool:
    """zero_fraction, dead_fraction, saturated_fraction: shares of the probe outputs, between 0 and 1."""
    return statistic.endswith("_fraction")


def plot_activations(path: Path, data: Series, run: str | None = None) -> bool:
    """One column per activation layer, over the steps: above, the fractions of its probe outputs that are
    zero, dead or saturated (0-1); below, their mean and std (the output's own scale): two kinds of number,
    never on one axis. Returns False (and draws nothing) when no activation was recorded."""
    layers = sorted({layer for layer, param, _ in data if param == OUTPUT})
    if not layers:
        return False
    fig, axes = _pyplot().subplots(2, len(layers), figsize=(4.5 * len(layers), 7), squeeze=False)
    for column, layer in enumerate(layers):
        fractions, magnitudes = axes[0][column], axes[1][column]
        for (name, param, stat), (steps, values) in sorted(data.items()):
            if name == layer and param == OUTPUT:
                ax = fractions if _is_fraction(stat) else magnitudes
                ax.plot(steps, values, label=stat.replace("_", " "), linewidth=1.2)
        fractions.set_title(f"{layer}: fractions of its outputs")
        fractions.set_ylabel("Fraction of probe outputs")
        fractions.set_ylim(-0.02, 1.02)
        magnitudes.set_title(f"{layer}: output mean and std")
        magnitudes.set_ylabel("Output value")
        for ax in (fractions, magnitudes):
            _step_axis(ax)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.suptitle(_title("Activations on the probe batch", run))
    fig.tight_layout()
    _save_figure(fig, path)
    return True


def render_section(rows: Sequence[Record], has_activations: bool) -> str:
    """The Markdown "## Backprop" section: findings, then the plots."""
    steps = sorted({r.step for r in rows})
    lines = [SECTION, ""]
    lines.append(
        f"Statistics of {len(steps)} recorded steps (steps {steps[0]}-{steps[-1]}), one row per step x "
        f"layer x statistic in [{BACKPROP_CSV}]({BACKPROP_CSV}); redraw with `npnet inspect RUN`."
    )
    lines.append("")
    lines += [f"- {sentence}" for sentence in findings(rows)]
    lines += ["", f"![gradient norms]({GRADIENTS_PNG})", "", f"![update/weight ratios]({UPDATES_PNG})", ""]
    if has_activations:
        lines += [f"![activations]({ACTIVATIONS_PNG})", ""]
    return "\n".join(lines)


def with_section(report: str, section: str) -> str:
    """`report` (Markdown) with its "## Backprop" section replaced by `section`, or `section` inserted
    before "## Settings" (appended when there is none)."""
    text = report
    if (start := text.find(SECTION + "\n")) >= 0:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + (text[end + 1 :] if end >= 0 else "")
    at = text.find("## Settings")
    body = section.rstrip("\n") + "\n\n"
    return text[:at] + body + text[at:] if at >= 0 else text.rstrip("\n") + "\n\n" + body


def write_backprop_report(
    run_dir: str | Path, rows: Sequence[Record], report_md: str = "report.md", run: str | None = None
) -> list[Path]:
    """Draw the plots into `run_dir` and, when `run_dir/report_md` exists (a finished run), put the Backprop
    section into it. `run` names the run in the plots' titles (default: "run <folder name>"). Returns the
    paths written."""
    if not rows:
        raise ValueError("no backprop records to report: train with a BackpropMonitor first")
    run_dir = Path(run_dir)
    run = run or f"run {run_dir.name}"
    data = series(rows)
    _plot_lines(
        run_dir / GRADIENTS_PNG,
        _of(data, "grad_norm"),
        "Gradient norm per parameter",
        "Gradient norm ||grad||",
        False,
        run,
    )
    _plot_lines(
        run_dir / UPDATES_PNG,
        _of(data, "update_ratio"),
        "Update / weight ratio",
        "||update|| / ||weights||",
        True,
        run,
    )
    written = [run_dir / GRADIENTS_PNG, run_dir / UPDATES_PNG]
    has_activations = plot_activations(run_dir / ACTIVATIONS_PNG, data, run)
    if has_activations:
        written.append(run_dir / ACTIVATIONS_PNG)
    report = run_dir / report_md
    if report.exists():
        text = with_section(report.read_text(encoding="utf-8"), render_section(rows, has_activations))
        atomic_write(report, lambda f: f.write(text.encode("utf-8")))
        written.append(report)
    return written
