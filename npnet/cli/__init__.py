"""The `npnet` command. Each subcommand lives in its own module with a `register(subparsers)` function."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module

# Modules under npnet.cli, each registering one or more subcommands.
_COMMAND_MODULES: tuple[str, ...] = (
    "data",
    "gradcheck",
    "bench",
    "train",
    "evaluate",
    "predict",
    "inspect",
    "sweep",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="npnet",
        description="npnet: the Keras IMDB sentiment model in pure NumPy, every gradient written by hand.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        import_module(f"npnet.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
