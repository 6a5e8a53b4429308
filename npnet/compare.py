"""Comparisons: every preset (or a chosen few) trained over seeds, as one sweep per preset, summarised in one
table and one plot of test accuracy against training time.

The comparison folder (`comparison/`, `comparison-quick/` for `quick`):
- `compare.json`     the plan: presets, seeds, systems, the data folder, quick or not; a rerun with other
  presets, seeds or systems grows the comparison to both sets (`effective_comparison`)
- `sweeps/<preset>/` an ordinary sweep folder per preset (`npnet.sweep`: its run folders, `results.csv`,
  `summary.md`, `sweep.png`); `npnet sweep --sweeps-dir comparison/sweeps --name <preset>` reads the same
- `keras/<preset>/`  with the keras-jax system: the same, one Keras-JAX twin run per seed
  (benchmarks/keras_cell.py: the preset's layers in Keras 3 on JAX, `npnet.keras_export`)
- `quick-data/`      with `quick`: the IMDB subset the quick runs read (`QUICK_REVIEWS` of each split)
- `comparison.csv`   one row per run of every sweep, copied from their rows
- `comparison.md`    per preset and system: test accuracy median and range, epochs, training seconds per
  epoch, parameters, peak RSS
- `comparison.png`   test accuracy against training time, one point per run, the medians marked

Every run of every preset and system goes to one pool (`npnet.sweep.run_local`, or `run_dask` with a
scheduler), seed by seed, so the first results cover every preset. Resuming and growing are the sweeps':
a run with a `sweep_row.json` is never trained again. Nothing here prints: `npnet.cli.compare` does.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from npnet import sweep
from npnet.atomic import atomic_write
from npnet.errors import RunError

COMPARE_JSON = "compare.json"
COMPARISON_CSV = "comparison.csv"
COMPARISON_MD = "comparison.md"
COMPARISON_PNG = "comparison.png"
SWEEPS = "sweeps"
QUICK_DATA = "quick-data"
NPNET, KERAS = "npnet", "keras-jax"
SYSTEMS = (NPNET, KERAS)
SYSTEM_FOLDERS = {NPNET: SWEEPS, KERAS: "keras"}
KERAS_WORKER = "benchmarks.keras_cell"  # a checkout's module: Keras stays out of npnet
# --quick: a first look in about ten minutes on two cores (all presets, five seeds): this many reviews of
# each split (drawn once, seeded) and at most this many epochs. The accuracies are then not the presets'.
QUICK_REVIEWS = 2000
QUICK_EPOCHS = 2
QUICK_SEED = 0
COLUMNS = (
    "system",
    "preset",
    "seed",
    "epochs",
    "test_accuracy",
    "test_loss",
    "seconds",
    "seconds_per_epoch",
    "parameters",
    "peak_rss_mb",
    "run",
)


@dataclass(frozen=True)
class Comparison:
    """What a comparison trains: `presets` x `seeds` for each of `systems`, on the data in `data_dir` (the
    full data; `quick` runs read a subset of it, made in the comparison folder)."""

    presets: list[str]
    seeds: list[int]
    data_dir: str
    quick: bool = False
    systems: list[str] = dataclasses.field(default_factory=lambda: [NPNET])

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def plan(self, preset: str, data_dir: str) -> sweep.Plan:
        """The sweep of one preset: its own settings (quick: at most QUICK_EPOCHS) over the seeds."""
        from npnet.runs import preset_config

        grid: dict[str, list[Any]] = {}
        if self.quick:
            grid["epochs"] = [min(preset_config(preset).epochs, QUICK_EPOCHS)]
        return sweep.Plan(preset=preset, grid=grid, seeds=list(self.seeds), data_dir=data_dir)


def check_presets(names: Sequence[str]) -> list[str]:
    """`names` in the order of `npnet.runs.PRESETS`; RunError naming the valid presets for an unknown one."""
    from npnet.runs import PRESETS

    if unknown := [name for name in names if name not in PRESETS]:
        raise RunError(f"unknown preset {unknown[0]!r}: valid presets are {', '.join(PRESETS)}")
    return [name for name in PRESETS if name in names]


def check_systems(systems: Sequence[str]) -> None:
    """RunError unless every system can run here: keras-jax needs Keras and JAX, and a checkout's
    benchmarks/ (its runs are benchmarks.keras_cell's), never part of npnet itself."""
    if KERAS not in systems:
        return
    missing = [name for name in ("keras", "jax") if importlib.util.find_spec(name) is None]
    if missing:
        raise RunError(
            f"--with keras needs Keras 3 on JAX, but {' and '.join(missing)} is not installed: "
            "pip install 'npnet[bench]' (or drop --with keras)"
        )
    if importlib.util.find_spec(KERAS_WORKER.partition(".")[0]) is None:
        raise RunError(
            "--with keras runs benchmarks/keras_cell.py from an npnet checkout: run npnet from the "
            "checkout's folder (PYTHONPATH=. python -m npnet compare ...)"
        )


def effective_comparison(out_dir: Path, comparison: Comparison) -> Comparison:
    """What running `comparison` in `out_dir` carries out: itself in a new folder; in a folder holding a
    comparison of the same data and mode, the union of both presets, seeds and systems, so a rerun with
    more grows it and a rerun with fewer still reports everything it has. RunError for another kind of
    comparison or an unreadable plan."""
    path = out_dir / COMPARE_JSON
    if not path.exists():
        return comparison
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        presets, seeds, systems = list(saved["presets"]), [int(s) for s in saved["seeds"]], saved["systems"]
        same = saved["data_dir"] == comparison.data_dir and saved["quick"] == comparison.quick
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise RunError(f"cannot read {path} ({e}); pick another --out") from None
    if not same:
        mode = "quick" if saved["quick"] else "full"
        raise RunError(
            f"{out_dir} holds a {mode} comparison on the data in {saved['data_dir']}; rerun it with the same "
            "--quick and --data-dir, or pick another --out"
        )
    return dataclasses.replace(
        comparison,
        presets=check_presets([*presets, *comparison.presets]),
        seeds=sorted({*seeds, *comparison.seeds}),
        systems=[s for s in SYSTEMS if s in {*systems, *comparison.systems}],
    )


def quick_data(out_dir: Path, data_dir: Path) -> Path:
    """The quick runs' data folder: QUICK_REVIEWS reviews of each split of `data_dir`'s imdb.npz, drawn
    once (seeded) and kept in `out_dir`, with the same word index."""
    from npnet.datasets.build import write_npz
    from npnet.datasets.files import NPZ_NAME, WORD_INDEX_NAME
    from npnet.datasets.ragged import object_array
    from npnet.datasets.safe_npz import load_imdb_npz

    target = out_dir / QUICK_DATA
    if (target / NPZ_NAME).exists() and (target / WORD_INDEX_NAME).exists():
        return target
    full = load_imdb_npz(data_dir / NPZ_NAME)
    rng = np.random.default_rng(QUICK_SEED)
    arrays = {}
    for split, x, y in (("train", full.x_train, full.y_train), ("test", full.x_test, full.y_test)):
        kept = np.sort(rng.permutation(len(x))[: min(QUICK_REVIEWS, len(x))])
        arrays[f"x_{split}"] = object_array(x.take(kept).to_lists())
        arrays[f"y_{split}"] = y[kept]
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(data_dir / WORD_INDEX_NAME, target / WORD_INDEX_NAME)
    atomic_write(target / NPZ_NAME, lambda f: write_npz(f, {k: arrays[k] for k in sorted(arrays)}))
    return target


def sweep_dir(out_dir: Path, system: str, preset: str) -> Path:
    return out_dir / SYSTEM_FOLDERS[system] / preset


def compare(
    out_dir: Path,
    comparison: Comparison,
    *,
    workers: int | None = None,
    scheduler: Any = None,
    on_done: Callable[[dict[str, Any] | str], None] = lambda result: None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Run (or resume, or grow: `effective_comparison`) `comparison` in `out_dir` and write its results;
    (rows of comparison.csv, failures)."""
    check_presets(comparison.presets)
    check_systems(comparison.systems)
    comparison = effective_comparison(out_dir, comparison)
    out_dir.mkdir(parents=True, exist_ok=True)
    data_dir = Path(comparison.data_dir)
    runs_data = quick_data(out_dir, data_dir) if comparison.quick else data_dir
    plans = {
        (system, preset): comparison.plan(preset, str(runs_data.resolve()))
        for system in comparison.systems
        for preset in comparison.presets
    }
    for plan in plans.values():
        sweep.check_plan(plan)  # every preset's settings, before any folder changes
    _write_text(out_dir / COMPARE_JSON, json.dumps(comparison.to_dict(), indent=2) + "\n")
    specs: list[dict[str, Any]] = []
    for (system, preset), plan in plans.items():
        folder = sweep_dir(out_dir, system, preset)
        plans[system, preset] = plan = sweep.open_sweep(folder, plan)
        for spec in plan.specs(folder):
            specs.append({**spec, "worker": KERAS_WORKER} if system == KERAS else spec)
    specs.sort(key=lambda spec: spec["seed"])  # seed by seed: the first results cover every preset
    if scheduler is not None:
        results = sweep.run_dask(specs, scheduler, on_done)
    else:
        results = sweep.run_local(specs, workers or os.cpu_count() or 1, on_done)
    failures = [r for r in results if isinstance(r, str)]
    rows: list[dict[str, Any]] = []
    for (system, preset), plan in plans.items():
        folder = sweep_dir(out_dir, system, preset)
        mine = [
            r
            for r, spec in zip(results, specs, strict=True)
            if isinstance(r, dict) and Path(spec["run_dir"]).parent.parent == folder.resolve()
        ]
        if mine:
            sweep.write_results(folder, plan, mine)
        rows += [comparison_row(system, preset, r, folder / sweep.RUNS / r["run"], out_dir) for r in mine]
    if rows:
        write_comparison(out_dir, comparison, rows)
    return rows, failures


def comparison_row(
    system: str, preset: str, row: Mapping[str, Any], run_dir: Path, out_dir: Path
) -> dict[str, Any]:
    """A sweep row as a row of comparison.csv (seconds per epoch = training seconds / epochs)."""
    return {
        "system": system,
        "preset": preset,
        "seed": row["seed"],
        "epochs": row["epochs"],
        "test_accuracy": row["test_accuracy"],
        "test_loss": row["test_loss"],
        "seconds": row["seconds"],
        "seconds_per_epoch": row["seconds"] / row["epochs"],
        "parameters": row.get("parameters", ""),
        "peak_rss_mb": row.get("peak_rss_mb", ""),
        "run": str(run_dir.relative_to(out_dir)),
    }


def groups(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    """The rows by (preset, system), presets in PRESETS order, npnet before its Keras twin."""
    from npnet.runs import PRESETS

    grouped: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    order = {name: i for i, name in enumerate(PRESETS)}
    for row in sorted(rows, key=lambda r: (order[r["preset"]], SYSTEMS.index(r["system"]), r["seed"])):
        grouped.setdefault((row["preset"], row["system"]), []).append(row)
    return grouped


def write_comparison(out_dir: Path, comparison: Comparison, rows: Sequence[Mapping[str, Any]]) -> list[Path]:
    """comparison.csv, comparison.md and comparison.png of `rows`; returns their paths."""
    import csv
    import io

    from npnet.reports.comparison_plot import plot_comparison

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for group in groups(rows).values():
        for row in group:
            writer.writerow([repr(row[c]) if isinstance(row[c], float) else row[c] for c in COLUMNS])
    _write_text(out_dir / COMPARISON_CSV, buffer.getvalue())
    _write_text(out_dir / COMPARISON_MD, render_comparison(comparison, rows))
    plot_comparison(out_dir / COMPARISON_PNG, groups(rows), title=plot_title(comparison))
    return [out_dir / name for name in (COMPARISON_CSV, COMPARISON_MD, COMPARISON_PNG)]


def plot_title(comparison: Comparison) -> str:
    if not comparison.quick:
        return "IMDB test accuracy against training time"
    return (
        f"QUICK LOOK ({QUICK_REVIEWS} reviews per split, at most {QUICK_EPOCHS} epochs): "
        "test accuracy against training time"
    )


def _median(values: Sequence[Any]) -> float | None:
    numbers = [float(v) for v in values if v != ""]
    return float(np.median(numbers)) if numbers else None


def render_comparison(comparison: Comparison, rows: Sequence[Mapping[str, Any]]) -> str:
    """comparison.md: one line per preset and system, medians over the seeds."""
    lines = ["# Presets compared", ""]
    if comparison.quick:
        lines += [
            f"**Quick mode**: at most {QUICK_REVIEWS} training and {QUICK_REVIEWS} test reviews (drawn once, "
            f"seed {QUICK_SEED}) and at most {QUICK_EPOCHS} epochs per preset: a first look at the pipeline "
            "and the times, not the presets' accuracies. Drop `--quick` for those.",
            "",
        ]
    lines += [
        f"Presets {', '.join(comparison.presets)}; systems {', '.join(comparison.systems)}; seeds "
        f"{comparison.seeds}. Each run in its own single-threaded process (one BLAS thread), several at a "
        f"time on this machine ({os.cpu_count()} cores): times are of a shared machine.",
        "",
        "| preset | system | runs | test accuracy: median [min, max] | epochs | training s/epoch (median) | "
        "parameters | peak RSS MiB (median) |",
        "|---|---|---:|---|---:|---:|---:|---:|",
    ]
    for (preset, system), group in groups(rows).items():
        accuracy = [float(r["test_accuracy"]) for r in group]
        epochs = sorted({int(r["epochs"]) for r in group})
        params = sorted({int(r["parameters"]) for r in group if r["parameters"] != ""})
        rss = _median([r["peak_rss_mb"] for r in group])
        lines.append(
            f"| {preset} | {system} | {len(group)} | {np.median(accuracy):.4f} [{min(accuracy):.4f}, "
            f"{max(accuracy):.4f}] | {', '.join(map(str, epochs))} | "
            f"{_median([r['seconds_per_epoch'] for r in group]):.3g} | "
            f"{', '.join(f'{p:,}' for p in params) or '-'} | {'-' if rss is None else f'{rss:.0f}'} |"
        )
    lines += [
        "",
        "Training seconds are `fit`'s epochs (validation included), without loading data, evaluating or "
        "writing the report. Peak RSS is the run's process's (npnet.sweep.peak_rss_mb).",
        "",
        f"Every run: [{COMPARISON_CSV}]({COMPARISON_CSV}); each preset's sweep: "
        f"`{SWEEPS}/<preset>/summary.md`.",
        "",
        f"![test accuracy against training time]({COMPARISON_PNG})",
        "",
    ]
    return "\n".join(lines)


def _write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
