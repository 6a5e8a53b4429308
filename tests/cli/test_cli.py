"""The `npnet` command's own behaviour: one error format, Ctrl-C, a closed pipe, and never running code from
the current folder."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from npnet.cli.errors import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, run_command
from npnet.errors import DataError, RunError
from tests.training_helpers import run_cli

REPO = Path(__file__).resolve().parents[2]


def npnet_process(*argv: str, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "npnet", *argv], cwd=cwd, env=env, capture_output=True, text=True, **kwargs
    )


@pytest.mark.slow
def test_a_benchmarks_folder_in_the_current_directory_is_never_imported(tmp_path: Path) -> None:
    """`python -m npnet` puts the current folder first on sys.path: nothing there may run."""
    marker = tmp_path / "ran"
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "__init__.py").write_text("")
    (tmp_path / "benchmarks" / "run.py").write_text(f"open({str(marker)!r}, 'w').write('pwned')\n")
    assert npnet_process("--help", cwd=tmp_path, timeout=120).returncode == 0
    done = npnet_process("data", "info", "--data-dir", str(tmp_path / "none"), cwd=tmp_path, timeout=120)
    assert done.returncode == 1 and "npnet data info: error: imdb.npz" in done.stderr, done.stderr  # no data
    assert not marker.exists()
    assert npnet_process("bench", cwd=tmp_path, timeout=120).returncode == 2  # no such command any more


@pytest.mark.parametrize("error", [DataError("bad file"), RunError("bad run")])
def test_every_refusal_prints_one_line_in_one_format(error: Exception, capsys) -> None:
    def refuse(args: argparse.Namespace) -> int:
        raise error

    assert run_command("data fetch", refuse, argparse.Namespace()) == 1
    assert capsys.readouterr().err == f"npnet data fetch: error: {error}\n"


def test_ctrl_c_prints_one_line_and_exits_130(capsys) -> None:
    def interrupted(args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    assert run_command("gradcheck", interrupted, argparse.Namespace()) == EXIT_INTERRUPTED
    assert capsys.readouterr().err.strip() == "npnet gradcheck: interrupted"


def test_ctrl_c_while_the_commands_load(monkeypatch, capsys) -> None:
    import npnet.cli

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(npnet.cli, "build_parser", interrupted)
    assert npnet.cli.main(["train"]) == EXIT_INTERRUPTED
    assert capsys.readouterr().err.strip() == "npnet: interrupted"


def test_a_closed_pipe_ends_quietly(capsys) -> None:
    def closed(args: argparse.Namespace) -> int:
        raise BrokenPipeError

    assert run_command("predict", closed, argparse.Namespace()) == EXIT_BROKEN_PIPE
    assert capsys.readouterr().err == ""


def test_a_bug_keeps_its_traceback() -> None:
    """Only NpnetError is refused input; anything else is a bug and must not be dressed up as one."""

    def bug(args: argparse.Namespace) -> int:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        run_command("train", bug, argparse.Namespace())


def test_the_data_commands_use_the_one_format(tmp_path: Path) -> None:
    code, _, err = run_cli("data", "build", "--from", tmp_path / "absent", "--data-dir", tmp_path / "d")
    assert code == 1 and err.startswith("npnet data build: error: ") and err.count("\n") == 1


@pytest.mark.slow
def test_ctrl_c_in_a_real_process(tmp_path: Path) -> None:
    """SIGINT while gradcheck runs: one line on stderr, exit 130, no traceback."""
    import signal
    import time

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from npnet.cli import build_parser, main; build_parser(); "
         "print('ready', flush=True); "
         "sys.exit(main(['gradcheck']))"],  # the default sizes: seconds of work
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == EXIT_INTERRUPTED, err
    assert "Traceback" not in err and err.strip() == "npnet gradcheck: interrupted"
