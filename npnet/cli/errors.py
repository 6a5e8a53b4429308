"""How every `npnet` command ends when something goes wrong: one format, one place.

`run_command` is what `npnet.cli.main` wraps around each subcommand's function, so a new command gets it by
registering `run=` with `set_defaults` and raising `NpnetError` for what it refuses:

- `NpnetError` -> `npnet <command>: error: <message>` on stderr, exit 1 (argparse's own usage errors exit 2);
- Ctrl-C -> `npnet <command>: interrupted` on stderr, exit 130 (the shell's status for SIGINT);
- a closed stdout (`npnet predict ... | head -2`) -> quiet, exit 141 (the shell's status for SIGPIPE);
- any other OSError (a full disk, `ulimit -f`, a read-only folder) -> the file and the OS's reason, exit 1.

Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from npnet.errors import NpnetError

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE


def error(command: str, message: str) -> int:
    """Print `npnet <command>: error: message` on stderr (argparse's style) and return exit status 1."""
    print(f"npnet {command}: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def command_name(args: argparse.Namespace) -> str:
    """The subcommand as typed: `train`, `data fetch`."""
    return " ".join(str(part) for part in (args.command, getattr(args, "data_action", None)) if part)


def run_command(command: str, run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """`run(args)` with npnet's endings for refused input, Ctrl-C and a closed stdout (module docstring)."""
    try:
        code = int(run(args) or 0)
        sys.stdout.flush()  # a pipe closed early shows here, while this function can still answer for it
        return code
    except NpnetError as e:
        return error(command, str(e))
    except KeyboardInterrupt:
        print(f"\nnpnet {command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as e:  # a full disk or `ulimit -f` while writing a report or plot: the OS's words suffice
        where = f"{e.filename}: " if e.filename else ""
        return error(command, f"{where}{e.strerror or e}; free some space or choose a writable folder")


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (captured by a test)
        pass
