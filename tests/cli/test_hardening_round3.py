"""Issue 29's hostile command lines and process events: each ends in one line (exit 1, 2 for usage, 130/143
for signals) saying the problem and only the fix that applies. Each test failed on the code before its fix
(checked by running this file against that code)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from npnet import runs, sweep
from npnet.errors import RunError
from tests.training_helpers import SMALL, build_data, run_cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_data(tmp_path_factory.mktemp("imdb"))


@pytest.fixture(scope="module")
def run_dir(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs_dir = tmp_path_factory.mktemp("runs")
    code, _, err = run_cli(
        "train", "--data-dir", data_dir, "--runs-dir", runs_dir, "--run-name", "r", "--epochs", "1",
        "--verbose", "0", *SMALL,
    )  # fmt: skip
    assert code == 0, err
    return runs_dir / "r"


def one_line(code: int, err: str, expected_code: int = 1) -> str:
    lines = err.strip().splitlines()
    assert code == expected_code and len(lines) == 1, (code, err)
    assert "Traceback" not in err and "free some space or choose a writable folder" not in err
    return lines[0]


def train(data_dir: Path, runs_dir: Path, *flags: str) -> tuple[int, str, str]:
    return run_cli(
        "train", "--data-dir", data_dir, "--runs-dir", runs_dir, "--run-name", "x", "--epochs", "1",
        "--verbose", "0", *SMALL, *flags,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--maxlen", "1000000000"], "maxlen must be at most 10000, got 1000000000"),
        (["--hidden-units", "1000000000"], "hidden_units must be at most 4096"),
        (["--embedding-dim", "10000000"], "embedding_dim must be at most 4096"),
        (["--preset", "cnn", "--maxlen", "1"], "use --maxlen 3 or more"),
        (["--preset", "cnn-lstm", "--maxlen", "4"], "use --maxlen 8 or more"),
    ],
    ids=["maxlen 1e9", "hidden-units 1e9", "embedding-dim 1e7", "cnn maxlen 1", "cnn-lstm maxlen 4"],
)
def test_sizes_and_shapes_are_refused_before_training(data_dir, tmp_path, flags, message):
    code, _, err = train(data_dir, tmp_path / "runs", *flags)
    assert message in one_line(code, err)
    assert not (tmp_path / "runs" / "x").exists()


def test_a_run_over_the_memory_limit_is_refused_with_the_limit_and_the_fixes(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("NPNET_MAX_MODEL_BYTES", "1M")
    line = one_line(*train(data_dir, tmp_path / "runs", "--embedding-dim", "256")[::2])
    assert "more than the limit of 1.0 MiB; lower --maxlen, --batch-size or the layer sizes" in line
    assert "NPNET_MAX_MODEL_BYTES=" in line and "trust the file" not in line


def test_sigterm_ends_a_run_like_ctrl_c(data_dir, tmp_path, monkeypatch):
    """SIGTERM during the first epoch: `terminated`, exit 143, and no run folder left (none finished)."""

    def terminated_in_fit(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
        raise AssertionError("SIGTERM was not handled")

    monkeypatch.setattr(runs, "fit_run", terminated_in_fit)
    code, _, err = train(data_dir, tmp_path / "runs")
    assert one_line(code, err, 143) == "npnet train: terminated"
    assert not (tmp_path / "runs" / "x").exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or callable(signal.getsignal(signal.SIGTERM))


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--tensorboard", ""], "argument --tensorboard: must be a path, got an empty value"),
        (["--runs-dir", ""], "argument --runs-dir: must be a path, got an empty value"),
    ],
)
def test_empty_paths_are_refused(data_dir, tmp_path, monkeypatch, flags, message):
    monkeypatch.chdir(tmp_path)  # where an empty path would have written
    code, _, err = run_cli("train", "--data-dir", data_dir, *flags)
    assert code == 2 and message in err.strip().splitlines()[-1]  # argparse's usage, then the error
    assert not list(tmp_path.iterdir())


def test_inspect_of_a_folder_that_is_no_run_says_so(tmp_path):
    line = one_line(*run_cli("inspect", tmp_path)[::2])
    assert "is not a run folder (it has no config.json)" in line and "without --inspect" not in line


def test_an_os_error_gets_only_the_fix_that_applies(tmp_path):
    from npnet.cli.errors import os_error_fix

    too_long = OSError(36, "File name too long", str(tmp_path / ("n" * 300)))
    assert os_error_fix(too_long) == "choose a shorter name"
    assert "space" not in os_error_fix(FileExistsError(17, "File exists"))
    assert os_error_fix(OSError(28, "No space left on device")) == "free some space"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--seeds", "0-99999999"], "at most 10000 seeds a sweep"),
        (["--seeds", "0-5000000000"], "seeds from 0 to 4294967295"),
        (["--scheduler", "::::"], "'::::' is not a Dask scheduler address"),
        (["--scheduler", "http://127.0.0.1:8786"], "'http://127.0.0.1:8786' is not a Dask scheduler address"),
    ],
)
def test_sweep_seeds_and_scheduler_are_checked(data_dir, tmp_path, flags, message):
    code, _, err = run_cli("sweep", "--data-dir", data_dir, "--sweeps-dir", tmp_path, *flags)
    assert message in one_line(code, err)


def test_a_second_sweep_on_the_same_folder_is_refused_in_words(tmp_path):
    plan = sweep.Plan(
        preset="tuned",
        grid={"validation_split": [0.2]},
        seeds=[0],
        data_dir=str(tmp_path),
        select_on="validation",
    )
    busy = "{pid} holds it"
    held = sweep.holding_lock(tmp_path / "s" / sweep.LOCK, busy)
    with held, pytest.raises(RunError, match=f"in use by another npnet sweep \\(pid {os.getpid()}\\)"):
        sweep.sweep(tmp_path / "s", plan)


def test_a_run_already_being_trained_is_not_trained_again(tmp_path):
    run_dir = tmp_path / "runs" / "a"
    held = sweep.holding_lock(run_dir.with_name("a" + sweep.LOCK), "{pid}")
    with held, pytest.raises(RunError, match="a is being trained by another process"):
        sweep.run_cell({"run_dir": str(run_dir)})


def test_a_sweep_worker_dies_with_its_sweep(tmp_path):
    """The sweep (its own process group) killed with SIGKILL: its worker ends within seconds."""
    pid_file = tmp_path / "worker.pid"
    worker = (
        "import os, sys, time; from npnet import sweep; sweep.die_with_parent(os.getppid()); "
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    )
    parent = (
        f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {worker!r}]); time.sleep(60)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    sweep_process = subprocess.Popen([sys.executable, "-c", parent], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "the worker never started"
            time.sleep(0.05)
        worker_pid = int(pid_file.read_text())
        sweep_process.kill()  # SIGKILL to the sweep alone, not its group: the worker must end by itself
        sweep_process.wait(10)
        deadline = time.monotonic() + 5
        while _alive(worker_pid):
            assert time.monotonic() < deadline, "the worker outlived its sweep"
            time.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sweep_process.pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split(") ")[-1].startswith("Z"))  # a zombie is gone


def _predict(run_dir: Path, *args: str, **options) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "npnet", "predict", "--run", str(run_dir), *args],
        env=env, stderr=subprocess.PIPE, text=True, timeout=60, **options,
    )  # fmt: skip
    return done.returncode, done.stderr


@pytest.mark.slow
def test_predict_with_closed_or_full_streams_ends_in_one_line(run_dir):
    code, err = _predict(run_dir, "--file", "-", stdout=subprocess.DEVNULL, preexec_fn=lambda: os.close(0))
    assert "--file - reads standard input, which is closed; pipe the reviews in" in one_line(code, err)
    code, err = _predict(run_dir, "great film", stdin=subprocess.DEVNULL, preexec_fn=lambda: os.close(1))
    assert "standard output is closed" in one_line(code, err)
    with open("/dev/full", "w") as full:
        code, err = _predict(run_dir, "great film", stdout=full)
    assert "standard output: No space left on device; free some space, or write elsewhere" in one_line(
        code, err
    )
    code, err = _predict(run_dir, "--file", "/dev/zero", stdout=subprocess.DEVNULL)
    assert "--file /dev/zero holds more than 256 MiB of reviews" in one_line(code, err)
