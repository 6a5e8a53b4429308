"""ReduceLROnPlateau and LearningRateScheduler: callbacks that set the optimizer's learning rate between
epochs, with Keras 3.15's rules. The rate they read and set is `optimizer.learning_rate`, which the next
step uses (with a Keras 2 `decay`, the base rate the decay divides); both add the rate to the epoch's logs
as "learning_rate", as Keras's do, for the callbacks after them and `History`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from npnet import validation
from npnet.callbacks.base import Callback, Logs
from npnet.callbacks.monitored import MonitorCallback, _monitored


def _log_learning_rate(callback: Callback, logs: Logs | None) -> None:
    optimizer = callback.attached_model().optimizer
    if logs is not None and optimizer is not None:
        logs["learning_rate"] = float(optimizer.learning_rate)


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by `factor` when `monitor` has not improved (by more than `min_delta`)
    for `patience` epochs, never below `min_lr`; then wait `cooldown` epochs, during which no epoch counts
    towards the patience (Keras 3.15's rules: an epoch improves when it beats the best so far; a rate
    already at or below min_lr is left as it is and does not start a cooldown)."""

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__(monitor, mode, min_delta=min_delta)
        if not factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0, got factor={factor}")
        self.factor = validation.non_negative_float(factor, "ReduceLROnPlateau factor")
        self.patience = validation.non_negative_int(patience, "ReduceLROnPlateau patience")
        self.cooldown = validation.non_negative_int(cooldown, "ReduceLROnPlateau cooldown")
        self.min_lr = validation.non_negative_float(min_lr, "ReduceLROnPlateau min_lr")
        self.verbose = verbose
        self.wait = self.cooldown_counter = 0

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        _log_learning_rate(self, logs)
        current = _monitored(self, logs, "Learning rate reduction")
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best, self.wait = current, 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and self._reduce(epoch):
                self.cooldown_counter, self.wait = self.cooldown, 0

    def _reduce(self, epoch: int) -> bool:
        """Lower the rate (Keras compares it with min_lr in float32); whether it was lowered."""
        optimizer = self.attached_model().optimizer
        assert optimizer is not None  # fit runs compiled models only
        old = float(optimizer.learning_rate)
        if not old > np.float32(self.min_lr):
            return False
        optimizer.learning_rate = max(old * self.factor, self.min_lr)
        if self.verbose > 0:
            print(
                f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {optimizer.learning_rate}."
            )
        return True


class LearningRateScheduler(Callback):
    """At the beginning of each epoch, set the learning rate to `schedule(epoch, learning_rate)` (epoch
    0-based, the current rate; a `schedule(epoch)` of one argument is called so, as Keras allows). The
    schedule must return a float."""

    def __init__(self, schedule: Callable[..., Any], verbose: int = 0) -> None:
        super().__init__()
        if not callable(schedule):
            raise ValueError(
                f"LearningRateScheduler needs a function schedule(epoch, lr), got {schedule!r:.100}"
            )
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        optimizer = self.attached_model().optimizer
        assert optimizer is not None  # fit runs compiled models only
        try:
            rate = self.schedule(epoch, float(optimizer.learning_rate))
        except TypeError:  # Keras's fallback for the old one-argument schedules
            rate = self.schedule(epoch)
        if not isinstance(rate, (float, np.floating)) or not math.isfinite(rate) or rate < 0:
            raise ValueError(
                f"the LearningRateScheduler schedule must return a float >= 0, got {rate!r:.100} at epoch "
                f"{epoch}"
            )
        optimizer.learning_rate = float(rate)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {rate}.")

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        _log_learning_rate(self, logs)
