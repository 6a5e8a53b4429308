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
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from npnet.errors import NpnetError, os_error_fix

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE
EXIT_TERMINATED = 143  # 128 + SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so it unwinds the same way: partial files and unstarted run folders
    are removed, the last complete checkpoint kept."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside the block SIGTERM ends the command as Ctrl-C does (only the main thread can install a
    handler; the previous one is put back after)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def error(command: str, message: str) -> int:
    """Print `npnet <command>: error: message` on stderr (argparse's style) and return exit status 1."""
    print(f"npnet {command}: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def command_name(args: argparse.Namespace) -> str:
    """The subcommand as typed: `train`, `data fetch`."""
    return " ".join(str(part) for part in (args.command, getattr(args, "data_action", None)) if part)


def run_command(command: str, run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """`run(args)` with npnet's endings for refused input, Ctrl-C and a closed stdout (module docstring)."""
    if sys.stdout is None:  # started with stdout closed (`>&-`): nothing could be shown
        return error(command, "standard output is closed; redirect it instead, e.g. >/dev/null or >out.txt")
    watched = sys.stdout = _WatchedStream(sys.stdout)
    try:
        code = int(run(args) or 0)
        sys.stdout.flush()  # a pipe closed early, or a full device, shows here while this function can answer
        return code
    except NpnetError as e:
        return error(command, str(e))
    except Terminated:
        print(f"\nnpnet {command}: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print(f"\nnpnet {command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as e:  # a full disk or `ulimit -f` while writing a report or plot: the OS's words suffice
        if watched.failed:  # the output itself could not be written (`> /dev/full`)
            _silence_stdout()
            return error(
                command, f"standard output: {e.strerror or e}; {os_error_fix(e)}, or write elsewhere"
            )
        where = f"{e.filename}: " if e.filename else ""
        return error(command, f"{where}{e.strerror or e}; {os_error_fix(e)}")
    finally:
        if sys.stdout is watched:
            sys.stdout = watched.stream


class _WatchedStream:
    """Standard output, remembering whether a write to it failed: a full device's OSError names no file, and
    the message must say that the output, not some file, could not be written."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.failed = False

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except OSError:
            self.failed = True
            raise

    def flush(self) -> None:
        try:
            self.stream.flush()
        except OSError:
            self.failed = True
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (captured by a test)
        pass
