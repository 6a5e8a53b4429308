"""Checkpoints: the file round trip, and resuming after Ctrl-C or SIGKILL gives the final weights of a run
never interrupted, bit for bit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from npnet import callbacks, runs
from npnet.cli import main
from npnet.saving import archive, checkpoints
from tests.training_helpers import build_data

REPO = Path(__file__).resolve().parents[2]
# Small settings; decay > 0 so that the optimizer's step count matters to the result.
CONFIG = runs.TrainConfig(
    num_words=60, maxlen=32, learning_rate=0.01, decay=0.01, batch_size=8, epochs=5, seed=3
)
CLI_SETTINGS = ["--num-words", "60", "--maxlen", "32", "--lr", "0.01", "--decay", "0.01", "--batch-size", "8"]
CLI_SETTINGS += ["--seed", "3", "--verbose", "2"]
LONG = 200  # epochs of the CLI runs interrupted from outside: ~2 s, long enough to catch them training


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_data(tmp_path_factory.mktemp("imdb"))


@pytest.fixture(scope="module")
def data(data_dir: Path) -> runs.IMDBData:
    return runs.load_imdb(CONFIG, data_dir)


def new_run(path: Path, data_dir: Path, config: runs.TrainConfig = CONFIG) -> runs.Run:
    runs.create_run(path, config, data_dir)
    return runs.open_run(path)


def weights_of(run_dir: Path) -> dict[str, np.ndarray]:
    return archive.load_arrays(run_dir / runs.WEIGHTS_NPZ, kind="weights")[0]


def assert_bitwise_equal(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype
        assert a[key].tobytes() == b[key].tobytes(), key


def without_seconds(history: dict[str, list[float]]) -> dict[str, list[float]]:
    return {k: v for k, v in history.items() if k != "seconds"}


@pytest.fixture(scope="module")
def reference(data_dir: Path, data: runs.IMDBData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same run, never interrupted."""
    run = new_run(tmp_path_factory.mktemp("ref") / "run", data_dir)
    runs.fit_run(run, runs.build_model(run.config), data, verbose=0)
    return run.path


class StopAt(callbacks.Callback):
    """Raise `error` in the middle of epoch `epoch` (0-based), after batch `batch`."""

    def __init__(self, epoch: int, batch: int, error: BaseException) -> None:
        super().__init__()
        self.stop_epoch, self.stop_batch, self.error = epoch, batch, error
        self.epoch = -1

    def on_epoch_begin(self, epoch: int, logs: callbacks.Logs | None = None) -> None:
        self.epoch = epoch

    def on_batch_end(self, batch: int, logs: callbacks.Logs | None = None) -> None:
        if (self.epoch, batch) == (self.stop_epoch, self.stop_batch):
            raise self.error


def test_save_load_round_trip(data_dir: Path, data: runs.IMDBData, tmp_path: Path) -> None:
    run = new_run(tmp_path / "run", data_dir, runs.TrainConfig(**{**CONFIG.to_dict(), "epochs": 1}))
    model = runs.build_model(run.config)
    history = runs.fit_run(run, model, data, verbose=0)
    saved = checkpoints.load(run.path / runs.CHECKPOINT_NPZ)
    assert saved.epochs_done == 1
    assert saved.config == run.config.to_dict()
    assert saved.history == history
    assert set(saved.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"}
    for a, b in zip(saved.weights, model.get_weights(), strict=True):
        assert a.tobytes() == b.tobytes()
    state = model.optimizer.get_state()
    assert saved.optimizer_state.keys() == state.keys()
    assert int(saved.optimizer_state["iterations"]) == 15  # 120 reviews, batches of 8
    assert all(saved.optimizer_state[k].tobytes() == state[k].tobytes() for k in state)
    assert saved.rng_state == model.fit_rng.bit_generator.state

    fresh = runs.build_model(run.config)
    checkpoints.restore(fresh, saved)
    assert fresh.fit_rng.permutation(50).tolist() == model.fit_rng.permutation(50).tolist()


def test_foreign_and_broken_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        checkpoints.load(tmp_path / "none.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable npnet checkpoint file"):
        checkpoints.load(tmp_path / "junk.npz")
    archive.save_arrays(tmp_path / "w.npz", {"a": np.zeros(2)}, kind="weights")
    with pytest.raises(ValueError, match="not a checkpoint file"):
        checkpoints.load(tmp_path / "w.npz")
    archive.save_arrays(
        tmp_path / "half.npz", {"weights/0": np.zeros(2)}, kind="checkpoint", meta={"n_weights": 2}
    )
    with pytest.raises(ValueError, match="not a valid checkpoint: epochs_done is None"):
        checkpoints.load(tmp_path / "half.npz")


def test_resume_after_an_interrupt_mid_epoch_is_bitwise_identical(
    data_dir: Path, data: runs.IMDBData, reference: Path, tmp_path: Path
) -> None:
    run = new_run(tmp_path / "run", data_dir)
    with pytest.raises(KeyboardInterrupt):
        runs.fit_run(
            run,
            runs.build_model(run.config),
            data,
            callbacks=[StopAt(2, 4, KeyboardInterrupt())],
            verbose=0,
        )
    saved = checkpoints.load(run.path / runs.CHECKPOINT_NPZ)
    assert saved.epochs_done == 2  # the broken third epoch left no trace
    assert not (run.path / runs.WEIGHTS_NPZ).exists()

    history = runs.fit_run(run, runs.build_model(run.config), data, resume=saved, verbose=0)
    assert_bitwise_equal(weights_of(run.path), weights_of(reference))
    final = checkpoints.load(run.path / runs.CHECKPOINT_NPZ)
    expected = checkpoints.load(reference / runs.CHECKPOINT_NPZ)
    assert_bitwise_equal(final.optimizer_state, expected.optimizer_state)
    assert final.rng_state == expected.rng_state
    assert without_seconds(history) == without_seconds(expected.history)
    assert len(history["seconds"]) == CONFIG.epochs


def test_a_resumed_run_differs_without_the_saved_shuffle_state(
    data_dir: Path, data: runs.IMDBData, reference: Path, tmp_path: Path
) -> None:
    """The RNG state is load-bearing: resuming with weights and optimizer but a fresh generator diverges."""
    run = new_run(tmp_path / "run", data_dir)
    with pytest.raises(KeyboardInterrupt):
        runs.fit_run(
            run,
            runs.build_model(run.config),
            data,
            callbacks=[StopAt(2, 0, KeyboardInterrupt())],
            verbose=0,
        )
    saved = checkpoints.load(run.path / runs.CHECKPOINT_NPZ)
    saved.rng_state = runs.build_model(run.config).fit_rng.bit_generator.state
    runs.fit_run(run, runs.build_model(run.config), data, resume=saved, verbose=0)
    resumed, expected = weights_of(run.path), weights_of(reference)
    assert any(resumed[k].tobytes() != expected[k].tobytes() for k in expected)


KILL_SCRIPT = """
import os, signal, sys
from npnet import callbacks, runs

class KillMidEpoch(callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == (3, 6):
            os.kill(os.getpid(), signal.SIGKILL)

run = runs.open_run(sys.argv[1])
data = runs.load_imdb(run.config, sys.argv[2])
runs.fit_run(run, runs.build_model(run.config), data, callbacks=[KillMidEpoch()], verbose=2)
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.mark.slow
def test_sigkill_mid_epoch_then_cli_resume_is_bitwise_identical(
    data_dir: Path, reference: Path, tmp_path: Path
) -> None:
    """A real SIGKILL, delivered in the middle of epoch 4 (after its 7th batch) of a training process."""
    run = new_run(tmp_path / "run", data_dir)
    child = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(run.path), str(data_dir)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert checkpoints.load(run.path / runs.CHECKPOINT_NPZ).epochs_done == 3

    assert main(["train", "--resume", str(run.path), "--verbose", "0"]) == 0
    assert_bitwise_equal(weights_of(run.path), weights_of(reference))
    assert (run.path / "report.md").exists()


def _start_cli_run(runs_dir: Path, data_dir: Path, epochs: int) -> subprocess.Popen:
    argv = [sys.executable, "-m", "npnet", "train", "--data-dir", str(data_dir), "--runs-dir", str(runs_dir)]
    argv += ["--run-name", "run", "--epochs", str(epochs), *CLI_SETTINGS]
    return subprocess.Popen(
        argv, env=_env(), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_for_epochs(path: Path, process: subprocess.Popen, at_least: int) -> int:
    """Poll the checkpoint until it records `at_least` epochs; returns the count seen."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, "training ended before it could be interrupted"
        if path.exists():
            done = checkpoints.load(path).epochs_done  # safe mid-write: files are replaced atomically
            if done >= at_least:
                return done
        time.sleep(0.002)
    raise AssertionError("no checkpoint appeared")


@pytest.fixture(scope="module")
def long_reference(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted CLI run long enough to be interrupted from outside while it trains."""
    runs_dir = tmp_path_factory.mktemp("long")
    argv = ["train", "--data-dir", str(data_dir), "--runs-dir", str(runs_dir), "--run-name", "run"]
    assert main([*argv, "--epochs", str(LONG), *CLI_SETTINGS[:-2], "--verbose", "0"]) == 0
    return runs_dir / "run"


@pytest.mark.slow
def test_sigkill_of_the_cli_while_training_then_resume(
    data_dir: Path, long_reference: Path, tmp_path: Path
) -> None:
    """`npnet train` killed from outside at whatever point it has reached after its first epoch."""
    process = _start_cli_run(tmp_path, data_dir, epochs=LONG)
    _wait_for_epochs(tmp_path / "run" / runs.CHECKPOINT_NPZ, process, at_least=1)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    done = checkpoints.load(tmp_path / "run" / runs.CHECKPOINT_NPZ).epochs_done
    assert 1 <= done < LONG

    assert main(["train", "--resume", str(tmp_path / "run"), "--verbose", "0"]) == 0
    assert_bitwise_equal(weights_of(tmp_path / "run"), weights_of(long_reference))


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_after_saving_complete_epochs(
    data_dir: Path, long_reference: Path, tmp_path: Path
) -> None:
    process = _start_cli_run(tmp_path, data_dir, epochs=LONG)
    _wait_for_epochs(tmp_path / "run" / runs.CHECKPOINT_NPZ, process, at_least=2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    run_dir = tmp_path / "run"
    done = checkpoints.load(run_dir / runs.CHECKPOINT_NPZ).epochs_done
    assert f"Interrupted: {done} complete epoch(s) saved" in out
    assert f"npnet train --resume {run_dir}" in out
    # what is complete is saved: the checkpoint, and the history and curves of those epochs
    assert len((run_dir / "history.csv").read_text().splitlines()) == done + 1
    assert (run_dir / "loss.png").exists()
    assert not (run_dir / runs.WEIGHTS_NPZ).exists()

    assert main(["train", "--resume", str(run_dir), "--verbose", "0"]) == 0
    assert_bitwise_equal(weights_of(run_dir), weights_of(long_reference))


def test_sigint_during_a_checkpoint_write_waits_for_the_write(tmp_path: Path) -> None:
    """Ctrl-C while the file is being written: the write completes, then KeyboardInterrupt is raised."""
    with pytest.raises(KeyboardInterrupt), checkpoints.deferred_sigint():
        os.kill(os.getpid(), signal.SIGINT)
        archive.save_arrays(tmp_path / "c.npz", {"a": np.arange(3)}, kind="checkpoint")
    assert archive.load_arrays(tmp_path / "c.npz", kind="checkpoint")[0]["a"].tolist() == [0, 1, 2]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.slow
def test_extending_a_finished_run_equals_training_longer_from_the_start(
    data_dir: Path, data: runs.IMDBData, reference: Path, tmp_path: Path
) -> None:
    """`--resume RUN --epochs N` continues the same shuffles and Adam steps: 3 epochs + 2 more = 5 epochs."""
    short = runs.TrainConfig(**{**CONFIG.to_dict(), "epochs": 3})
    run = new_run(tmp_path / "run", data_dir, short)
    runs.fit_run(run, runs.build_model(run.config), data, verbose=0)
    assert main(["train", "--resume", str(run.path), "--epochs", str(CONFIG.epochs), "--verbose", "0"]) == 0
    assert runs.open_run(run.path).config == CONFIG
    assert_bitwise_equal(weights_of(run.path), weights_of(reference))
    assert len((run.path / "history.csv").read_text().splitlines()) == CONFIG.epochs + 1


@pytest.mark.slow
def test_a_run_saved_before_a_setting_existed_resumes(
    data_dir: Path, data: runs.IMDBData, reference: Path, tmp_path: Path
) -> None:
    """A run started by an older npnet saved no value for settings added since (here `lazy` and `ngrams`):
    both its config.json and its checkpoint lack them, and resume reads them as their defaults."""
    import json

    short = runs.TrainConfig(**{**CONFIG.to_dict(), "epochs": 3})
    run = new_run(tmp_path / "run", data_dir, short)
    runs.fit_run(run, runs.build_model(run.config), data, verbose=0)
    config_json = run.path / runs.CONFIG_JSON
    saved = json.loads(config_json.read_text())
    for key in ("lazy", "ngrams"):
        del saved["config"][key]
    config_json.write_text(json.dumps(saved))
    state = checkpoints.load(run.path / runs.CHECKPOINT_NPZ)
    state.config = {k: v for k, v in state.config.items() if k not in ("lazy", "ngrams")}
    checkpoints.save(run.path / runs.CHECKPOINT_NPZ, state)
    assert main(["train", "--resume", str(run.path), "--epochs", str(CONFIG.epochs), "--verbose", "0"]) == 0
    assert_bitwise_equal(weights_of(run.path), weights_of(reference))
