"""The `npnet` command. Each subcommand lives in its own module with a `register(subparsers)` function."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module

import npnet
from npnet.cli.errors import EXIT_INTERRUPTED, command_name, run_command, sigterm_as_interrupt

# Modules under npnet.cli, each registering one or more subcommands. Only npnet's own modules: the installed
# command never imports from the current folder (the benchmark harness is `python -m benchmarks.run` from a
# checkout, not a subcommand).
_COMMAND_MODULES: tuple[str, ...] = (
    "data",
    "gradcheck",
    "train",
    "evaluate",
    "predict",
    "inspect",
    "sweep",
    "compare",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="npnet",
        description="npnet: the Keras IMDB sentiment model in pure NumPy, every gradient written by hand.",
    )
    parser.add_argument("--version", action="version", version=f"npnet {npnet.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        import_module(f"npnet.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()  # imports every command's modules: a Ctrl-C often lands here
        args = parser.parse_args(argv)
    except KeyboardInterrupt:
        print("\nnpnet: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    with sigterm_as_interrupt():
        return run_command(command_name(args), args.run, args)


if __name__ == "__main__":
    sys.exit(main())
