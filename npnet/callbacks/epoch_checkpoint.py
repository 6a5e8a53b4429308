"""EpochCheckpoint: the callback that writes a run's checkpoint (`npnet.saving.checkpoints`) after every
epoch."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from npnet.callbacks.base import Callback, Logs
from npnet.saving.checkpoints import capture, save

# Epoch log keys -> history columns. "learning_rate" (the rate the next step will use) is logged by
# callbacks.LearningRateLogger, which runs.fit_run places before this checkpoint callback.
_LOG_KEYS = {
    "loss": "loss",
    "accuracy": "accuracy",
    "val_loss": "val_loss",
    "val_accuracy": "val_accuracy",
    "learning_rate": "lr",
}


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
        assert self.model is not None  # set by the model before training begins
        # Live arrays: `save` is synchronous, so nothing changes them while they are written.
        save(self.path, capture(self.model, epoch + 1, self.history, self.config, copy=False))
