"""`npnet bench`: the benchmark harness (benchmarks/run.py), kept in the repository, not the package."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import ModuleType

import npnet

HELP = "time training epochs of npnet against Keras and PyTorch (the benchmarks/ harness)"


def _import_harness() -> ModuleType | None:
    """benchmarks.run from the path, or from the checkout this npnet was installed from; None if neither."""
    try:
        from benchmarks import run
    except ImportError:
        checkout = Path(npnet.__file__).resolve().parent.parent
        if not (checkout / "benchmarks" / "run.py").is_file():
            return None
        sys.path.insert(0, str(checkout))
        from benchmarks import run
    return run


def _missing(args: argparse.Namespace) -> int:
    print(
        "npnet bench needs the benchmarks/ folder of the npnet repository, which an installed npnet does not "
        "carry: clone the repository and run `python -m benchmarks.run` (or `npnet bench`) from its root.",
        file=sys.stderr,
    )
    return 2


def register(subparsers: argparse._SubParsersAction) -> None:
    harness = _import_harness()
    parser = subparsers.add_parser("bench", help=HELP, description=HELP)
    if harness is None:
        parser.add_argument("ignored", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        parser.set_defaults(run=_missing)
        return
    harness.build_parser(parser)
    parser.set_defaults(run=harness.run)
