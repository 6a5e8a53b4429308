"""`npnet inspect RUN`: redraw and summarise the backprop statistics of a run trained with `--inspect`.

npnet inspect runs/<name>     # gradients.png, updates.png, activations.png; the findings; report.md's section

Works on finished and interrupted runs (an interrupted run has no report.md: only the plots are redrawn).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from npnet import runs
from npnet.callbacks.backprop_monitor import OUTPUT, read_csv
from npnet.errors import RunError
from npnet.reports import backprop_report, run_report
from npnet.runs import CONFIG_JSON

COMMAND = "inspect"
# The statistics the summary table shows at the last recorded step, by the kind of row.
_PARAMETER_COLUMNS = ("grad_norm", "grad_max", "weight_norm", "update_ratio")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        COMMAND,
        help="redraw and summarise the backprop statistics of a run trained with --inspect",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "run_dir", type=Path, metavar="RUN", help="a run folder made by `npnet train --inspect`"
    )
    parser.set_defaults(run=run_inspect)


def run_inspect(args: argparse.Namespace) -> int:
    return _inspect(args.run_dir)  # a RunError ends as `npnet inspect: error: ...` (npnet.cli.errors)


def _inspect(run_dir: Path) -> int:
    if not run_dir.is_dir():
        raise RunError(f"no run folder at {run_dir}: pass runs/<name> of a run made by `npnet train`")
    path = run_dir / backprop_report.BACKPROP_CSV
    if not (run_dir / CONFIG_JSON).is_file():
        raise RunError(
            f"{run_dir} is not a run folder (it has no {CONFIG_JSON}): pass runs/<name> of a run made by "
            "`npnet train --inspect`"
        )
    if not path.exists():
        raise RunError(
            f"{run_dir} has no backprop statistics ({path.name} is missing): it was trained without "
            f"--inspect; train a run with `npnet train --inspect`"
        )
    try:
        rows = read_csv(path)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise RunError(f"cannot read {path} ({e})") from None
    if not rows:
        raise RunError(f"{path} holds no statistics yet: the run stopped before its first recorded step")
    written = backprop_report.write_backprop_report(run_dir, rows, run_report.REPORT_MD, run=_title(run_dir))
    last = max(r.step for r in rows)
    print(f"Backprop statistics of {run_dir}: {len({r.step for r in rows})} recorded steps, the last {last}")
    table: dict[str, dict[str, float]] = {}
    for r in rows:
        if r.step == last:
            name = f"{r.layer}/{r.parameter}" if r.parameter != OUTPUT else f"{r.layer} output"
            table.setdefault(name, {})[r.statistic] = r.value
    print(f"\nAt step {last}:")
    for name, stats in table.items():
        shown = [k for k in _PARAMETER_COLUMNS if k in stats] or sorted(stats)
        print(f"  {name:<28} " + "  ".join(f"{k} {stats[k]:.3g}" for k in shown))
    print("\nFindings:")
    for sentence in backprop_report.findings(rows):
        print(f"- {sentence}")
    print("\nWrote: " + ", ".join(str(p) for p in written))
    return 0


def _title(run_dir: Path) -> str | None:
    """The run as its plots name it ("run <name>, preset <preset>"), the same as `npnet train --inspect`
    drew; None (the folder name alone) for statistics whose run settings cannot be read."""
    try:
        settings = runs.read_json(run_dir / runs.CONFIG_JSON, "run config")
    except RunError:
        return None
    config = settings.get("config") if isinstance(settings, dict) else None
    return run_report.run_title(run_dir.name, config if isinstance(config, dict) else {})
