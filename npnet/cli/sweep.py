"""`npnet sweep`: a grid of settings x seeds, every cell an ordinary run folder, trained in parallel.

npnet sweep --preset notebook --seeds 0-9                        # one setting, ten seeds
npnet sweep --preset tuned --seeds 0-4 --set lr=1e-3,3e-4 --set maxlen=256,512 --set validation_split=0.2 \\
    --select-on validation                                      # pick on validation, report test apart
npnet sweep ... --scheduler tcp://host:8786                     # on a Dask cluster (the dask extra)

Rerunning the same command resumes the sweep: finished runs are kept, interrupted ones continue. Rerunning
it with other --seeds (the same preset, --set and data) grows the sweep: it trains the seeds it lacks and
reports every seed it has, old and new.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from npnet import runs, sweep
from npnet.cli._show import run_progress
from npnet.cli.argtypes import path, positive_int
from npnet.cli.errors import error
from npnet.datasets.files import DATA_DIR_HELP, resolve_data_dir
from npnet.errors import RunError

COMMAND = "sweep"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        COMMAND,
        help="train a grid of settings x seeds in parallel; results as distributions over seeds",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--preset", choices=tuple(runs.PRESETS), default="notebook", help="base settings")
    parser.add_argument("--seeds", default="0-4", help="seeds: a range 0-9 or a list 0,3,7 (default: 0-4)")
    parser.add_argument(
        "--set",
        dest="grid",
        action="append",
        default=[],
        metavar="SETTING=V1[,V2...]",
        help="a setting and its values (e.g. lr=1e-3,3e-4 or maxlen=256,512; any `npnet train` setting); "
        "repeat for a grid: every combination is trained",
    )
    parser.add_argument(
        "--workers", type=positive_int, help="local runs at a time (default: the machine's cores)"
    )
    parser.add_argument(
        "--scheduler", metavar="ADDRESS", help="a Dask scheduler, e.g. tcp://host:8786 (the dask extra)"
    )
    parser.add_argument(
        "--name",
        help="the sweep folder's name under --sweeps-dir (default: <preset>-<time>); name an existing "
        "sweep to resume it or to add seeds",
    )
    parser.add_argument("--sweeps-dir", type=path, default=Path("sweeps"), help="default: sweeps")
    parser.add_argument("--data-dir", type=Path, help=f"folder with imdb.npz ({DATA_DIR_HELP})")
    parser.add_argument(
        "--select-on",
        choices=("validation",),
        help="pick the best setting on validation accuracy only and report its test accuracy apart "
        "(needs --set validation_split=...)",
    )
    parser.set_defaults(run=run_sweep)


def run_sweep(args: argparse.Namespace) -> int:
    """Refusals (RunError, DataError) end as `npnet sweep: error: ...` through npnet.cli.errors."""
    if args.scheduler is not None:
        sweep.check_scheduler(args.scheduler)
    grid: dict[str, list[Any]] = {}
    for text in args.grid:
        name, values = sweep.parse_set(text)
        if name in grid:
            raise RunError(f"--set {name} is given twice; list all its values in one --set")
        grid[name] = values
    data_dir = resolve_data_dir(args.data_dir).resolve()
    runs.data_files(data_dir)  # present, or fetched, before any worker starts
    plan = sweep.Plan(
        preset=args.preset,
        grid=grid,
        seeds=sweep.parse_seeds(args.seeds),
        data_dir=str(data_dir),
        select_on=args.select_on,
    )
    name = args.name or f"{args.preset}-{time.strftime('%Y%m%d-%H%M%S')}"
    if Path(name).name != name or name in ("", ".", ".."):
        raise RunError(f"--name must be a plain folder name, got {name!r}")
    sweep_dir = args.sweeps_dir / name
    asked = plan.seeds
    plan = sweep.effective_plan(sweep_dir, plan)
    total = len(plan.cells()) * len(plan.seeds)
    engine = (
        f"Dask at {args.scheduler}" if args.scheduler else f"{args.workers or os.cpu_count()} local processes"
    )
    print(
        f"Sweep {sweep_dir}: {len(plan.cells())} setting(s) x {len(plan.seeds)} seeds = {total} runs "
        f"on {engine}"
    )
    if set(plan.seeds) != set(asked):
        kept = sorted(set(plan.seeds) - set(asked))
        print(f"The folder's sweep also has seeds {kept}: this run covers seeds {plan.seeds}")
    show = run_progress(
        total,
        lambda result: (
            f"{result['run']}: test accuracy {result['test_accuracy']:.4f}, "
            f"validation {result['final_val_accuracy']:.4f}"
        ),
    )
    rows, failures = sweep.sweep(
        sweep_dir, plan, workers=args.workers, scheduler=args.scheduler, on_done=show
    )
    if rows:
        print(f"\n{sweep.render_summary(plan, rows)}")
        print(
            "Results: "
            + ", ".join(str(sweep_dir / f) for f in (sweep.RESULTS_CSV, sweep.SUMMARY_MD, sweep.SWEEP_PNG))
        )
    if failures:
        return error(
            COMMAND,
            f"{len(failures)} of {total} runs failed (the others are kept); rerun the same command to retry "
            f"them. First: {failures[0]}",
        )
    return 0
