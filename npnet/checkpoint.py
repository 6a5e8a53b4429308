"""Epoch checkpoints that let a run continue exactly where it stopped.

A checkpoint is one `.npz` file (written by `npnet.io.save_arrays`: atomic, no pickle) holding everything the
next epoch depends on:
- the weights, in `get_weights()` order               arrays `weights/<i>`
- the optimizer state (Adam's m, v, iterations)       arrays `optimizer/<key>` (`Optimizer.get_state()`)
- the state of the shuffle generator `model.fit_rng`  JSON (`bit_generator.state`; big ints are fine in JSON)
- the per-epoch history and the number of epochs done  JSON
- the run's config                                     JSON

Restoring all of it into a freshly built model and calling `fit(..., initial_epoch=epochs_done)` replays the
rest of the run bit for bit: the same shuffles, the same updates, the same final weights as a run never
interrupted.

One file, one `os.replace`: a crash (even SIGKILL) leaves either the previous checkpoint or the new one, never
a mix. A Ctrl-C that lands while the file is written is held back until the write is done.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from npnet import io
from npnet.callbacks import Callback, Logs
from npnet.model import Sequential

KIND = "checkpoint"

# Epoch log keys -> history columns. "learning_rate" (the rate the next step will use) is logged by
# callbacks.LearningRateLogger, which runs.fit_run places before this checkpoint callback.
_LOG_KEYS = {
    "loss": "loss",
    "accuracy": "accuracy",
    "val_loss": "val_loss",
    "val_accuracy": "val_accuracy",
    "learning_rate": "lr",
}


@dataclass
class Checkpoint:
    """The state of a run after `epochs_done` complete epochs."""

    epochs_done: int
    weights: list[np.ndarray]
    optimizer_state: dict[str, np.ndarray]
    rng_state: dict[str, Any]
    history: dict[str, list[float]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)


def capture(
    model: Sequential, epochs_done: int, history: Mapping[str, list[float]], config: Mapping[str, Any]
) -> Checkpoint:
    """The model's current state as a checkpoint (arrays are copies)."""
    if model.optimizer is None:
        raise ValueError(
            "compile the model before checkpointing it: the optimizer state is part of a checkpoint"
        )
    return Checkpoint(
        epochs_done=epochs_done,
        weights=model.get_weights(),
        optimizer_state=model.optimizer.get_state(),
        rng_state=model.fit_rng.bit_generator.state,
        history={key: list(values) for key, values in history.items()},
        config=dict(config),
    )


def save(path: str | Path, checkpoint: Checkpoint) -> None:
    """Write `checkpoint` to `path` atomically (a Ctrl-C during the write takes effect after it)."""
    arrays = {f"weights/{i}": w for i, w in enumerate(checkpoint.weights)}
    arrays |= {f"optimizer/{key}": value for key, value in checkpoint.optimizer_state.items()}
    meta = {
        "epochs_done": checkpoint.epochs_done,
        "n_weights": len(checkpoint.weights),
        "rng_state": checkpoint.rng_state,
        "history": checkpoint.history,
        "config": checkpoint.config,
    }
    with deferred_sigint():
        io.save_arrays(path, arrays, kind=KIND, meta=meta)


def load(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by `save`; a missing, corrupt or foreign file is a clear ValueError."""
    arrays, meta = io.load_arrays(path, kind=KIND)
    try:
        n_weights = int(meta["n_weights"])
        weights = [arrays.pop(f"weights/{i}") for i in range(n_weights)]
        optimizer_state = {key.removeprefix("optimizer/"): value for key, value in arrays.items()}
        return Checkpoint(
            epochs_done=int(meta["epochs_done"]),
            weights=weights,
            optimizer_state=optimizer_state,
            rng_state=meta["rng_state"],
            history={key: [float(v) for v in values] for key, values in meta["history"].items()},
            config=meta["config"],
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(
            f"{path} is an incomplete checkpoint ({type(e).__name__}: {e}); start the run again"
        ) from e


def restore(model: Sequential, checkpoint: Checkpoint) -> None:
    """Put weights, optimizer state and shuffle-generator state back into a compiled model of the same
    shape."""
    if model.optimizer is None:
        raise ValueError("compile the model before restoring a checkpoint into it")
    model.set_weights(checkpoint.weights)
    model.optimizer.set_state(checkpoint.optimizer_state)
    try:
        model.fit_rng.bit_generator.state = checkpoint.rng_state
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(
            f"the checkpoint's shuffle-generator state does not fit this model's generator: {e}"
        ) from e


class EpochCheckpoint(Callback):
    """Saves a checkpoint to `path` at the end of every epoch, and keeps the run's full history.

    `history` holds one value per epoch of loss, accuracy, val_loss, val_accuracy, lr (the learning rate the
    next step uses) and seconds (wall time of the epoch, validation included). Pass the history of a
    checkpoint when resuming, so that `self.history` covers the whole run.
    """

    def __init__(
        self,
        path: str | Path,
        config: Mapping[str, Any],
        history: Mapping[str, list[float]] | None = None,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.config = dict(config)
        self.history: dict[str, list[float]] = {key: list(values) for key, values in (history or {}).items()}
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        seconds = time.perf_counter() - self._started
        for key, column in _LOG_KEYS.items():
            if logs and key in logs:
                self.history.setdefault(column, []).append(float(logs[key]))
        self.history.setdefault("seconds", []).append(seconds)
        save(self.path, capture(self.model, epoch + 1, self.history, self.config))


@contextlib.contextmanager
def deferred_sigint() -> Iterator[None]:
    """Hold back SIGINT (Ctrl-C) inside the block and raise KeyboardInterrupt after it, so the block
    completes.

    Only the main thread can install signal handlers; elsewhere the block runs unprotected.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt
