"""`npnet compare`: train presets over seeds (one sweep per preset) and compare them in one table and plot.

npnet compare                                   # every preset, seeds 0-4, into comparison/
npnet compare --quick                           # a first look: fewer reviews and epochs (comparison-quick/)
npnet compare --presets notebook,nbsvm,cnn --seeds 0-9
npnet compare --presets cnn --with keras        # beside each preset its Keras 3 twin on JAX (from a checkout)
npnet compare ... --scheduler tcp://host:8786   # on a Dask cluster (the dask extra), as `npnet sweep`

Writes comparison.csv (every run), comparison.md (per preset: test accuracy median and range, epochs,
training seconds per epoch, parameters, peak RSS) and comparison.png (test accuracy against training time,
one point per run, medians marked), beside sweeps/<preset>/ (ordinary sweeps: run folders, results.csv,
summary.md). Rerunning resumes; rerunning with more presets, seeds or --with keras grows the comparison and
reports everything it holds.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from npnet import compare, runs, sweep
from npnet.cli._show import run_progress
from npnet.cli.argtypes import positive_int
from npnet.cli.errors import error
from npnet.datasets.files import resolve_data_dir
from npnet.errors import RunError

COMMAND = "compare"


def preset_list(text: str) -> list[str]:
    """ "notebook,cnn" -> the presets, in PRESETS order; argparse's error (exit 2) names the valid ones."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"give one or more presets of: {', '.join(runs.PRESETS)}")
    try:
        return compare.check_presets(names)
    except RunError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def seed_list(text: str) -> list[int]:
    try:
        return sweep.parse_seeds(text)
    except RunError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix(f"--seeds {text!r}: ")) from None


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        COMMAND,
        help="train presets over seeds; compare test accuracy, time, size and memory in one table and plot",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--presets",
        type=preset_list,
        default=list(runs.PRESETS),
        metavar="P1,P2,...",
        help=f"the presets to train (default: all: {','.join(runs.PRESETS)})",
    )
    parser.add_argument(
        "--seeds", type=seed_list, default=[0, 1, 2, 3, 4], help="a range 0-4 or a list 0,3,7 (default: 0-4)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a first look in minutes: {compare.QUICK_REVIEWS} reviews of each split and at most "
        f"{compare.QUICK_EPOCHS} epochs per preset (said so in the output and comparison.md)",
    )
    parser.add_argument(
        "--with",
        dest="systems",
        action="append",
        choices=("keras",),
        default=[],
        help="also train each preset's Keras 3 twin on JAX (needs keras and jax: the bench extra, and "
        "an npnet checkout, whose benchmarks/keras_cell.py runs them)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="the comparison folder (default: comparison, or comparison-quick with --quick); name an "
        "existing one to resume or grow it",
    )
    parser.add_argument(
        "--workers", type=positive_int, help="local runs at a time (default: the machine's cores)"
    )
    parser.add_argument(
        "--scheduler", metavar="ADDRESS", help="a Dask scheduler, e.g. tcp://host:8786 (the dask extra)"
    )
    parser.add_argument(
        "--data-dir", type=Path, help="folder with imdb.npz (default: $NPNET_DATA_DIR, else the user cache)"
    )
    parser.set_defaults(run=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    """Refusals (RunError, DataError) end as `npnet compare: error: ...` through npnet.cli.errors."""
    systems = [compare.NPNET] + ([compare.KERAS] if "keras" in args.systems else [])
    compare.check_systems(systems)  # before any data or folder
    data_dir = resolve_data_dir(args.data_dir).resolve()
    runs.data_files(data_dir)  # present, or fetched, before any worker starts
    out_dir = args.out or Path("comparison-quick" if args.quick else "comparison")
    asked = compare.Comparison(
        presets=args.presets, seeds=args.seeds, data_dir=str(data_dir), quick=args.quick, systems=systems
    )
    plan = compare.effective_comparison(out_dir, asked)
    total = len(plan.presets) * len(plan.seeds) * len(plan.systems)
    engine = (
        f"Dask at {args.scheduler}" if args.scheduler else f"{args.workers or os.cpu_count()} local processes"
    )
    print(
        f"Comparison {out_dir}: {len(plan.presets)} preset(s) x {len(plan.seeds)} seeds x "
        f"{' and '.join(plan.systems)} = {total} runs on {engine}"
    )
    if plan != asked:
        print(
            f"The folder's comparison also has other presets, seeds or systems: this run covers presets "
            f"{', '.join(plan.presets)}, seeds {plan.seeds}"
        )
    if plan.quick:
        print(
            f"QUICK mode: {compare.QUICK_REVIEWS} reviews of each split, at most {compare.QUICK_EPOCHS} "
            "epochs per preset: a first look, not the presets' accuracies"
        )
    show = run_progress(
        total,
        lambda result: (
            f"{result.get('preset', '?')} {result['run']}: test accuracy "
            f"{result['test_accuracy']:.4f}, {result['seconds']:.1f} s training"
        ),
    )
    rows, failures = compare.compare(
        out_dir, plan, workers=args.workers, scheduler=args.scheduler, on_done=show
    )
    if rows:
        print(f"\n{compare.render_comparison(plan, rows)}")
        names = (compare.COMPARISON_CSV, compare.COMPARISON_MD, compare.COMPARISON_PNG)
        print("Results: " + ", ".join(str(out_dir / name) for name in names))
    if failures:
        return error(
            COMMAND,
            f"{len(failures)} of {total} runs failed (the others are kept); rerun the same command to retry "
            f"them. First: {failures[0]}",
        )
    return 0
