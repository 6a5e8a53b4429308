"""Callbacks: hooks that `Sequential.fit` calls around epochs and batches.

During `on_batch_end` a callback sees the model right after the step: `self.model.layers[i].params` hold
the updated weights and `self.model.layers[i].step_grad(key)` the gradients that produced the update
(computed with the weights before it): `grads[key]`, except an embedding table's gradient where the optimizer
takes it row-sparse (`Adam(lazy=True)`; fused dense Adam on a table of >= 2^20 elements): that one is the
`npnet.sparse.SparseRows` of the looked-up rows, and `grads[key]` is left unwritten.
`self.model.layer_outputs(x)` gives every layer's activations for a probe batch.

Logs: `on_batch_end(batch, logs)` gets this batch's own pre-update values {"batch", "size", "loss",
"accuracy"}; `on_epoch_end(epoch, logs)` gets the epoch values {"loss", "accuracy", "val_loss",
"val_accuracy"}, the keys of Keras 3's `History`; `LearningRateLogger` adds "learning_rate" (the rate the
next step will use) for the callbacks after it, as Keras's learning-rate callbacks do. Epochs and batches
are 0-based, as in Keras.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from npnet.model import Sequential

Logs = dict[str, float]


class Callback:
    """Base class: override any hook. `self.model` and `self.params` are set before training starts."""

    def __init__(self) -> None:
        self.model: Sequential | None = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Sequential) -> None:
        self.model = model

    def attached_model(self) -> Sequential:
        """`self.model`, for hooks that act on it; an error when the callback is used outside training."""
        if self.model is None:
            raise RuntimeError(
                f"{type(self).__name__} is not attached to a model: pass it to fit(callbacks=)"
            )
        return self.model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: Logs | None = None) -> None: ...
    def on_train_end(self, logs: Logs | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None: ...
    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None: ...


class CallbackList(Callback):
    """Calls each callback's hook in order."""

    def __init__(self, callbacks: list[Callback]) -> None:
        super().__init__()
        self.callbacks = callbacks

    def set_model(self, model: Sequential) -> None:
        for cb in self.callbacks:
            cb.set_model(model)

    def set_params(self, params: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.set_params(params)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_train_end(self, logs: Logs | None = None) -> None:
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        for cb in self.callbacks:
            cb.on_batch_begin(batch, logs)

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        for cb in self.callbacks:
            cb.on_batch_end(batch, logs)


class History(Callback):
    """Records the epoch logs: `history[key]` is one value per epoch; `epoch` lists the epoch indices."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


class LearningRateLogger(Callback):
    """Adds "learning_rate", the optimizer's rate for the next step, to each epoch's logs (so the callbacks
    after it, `History` included, record it; Keras's LearningRateScheduler logs it under the same name)."""

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if logs is not None and self.model is not None and self.model.optimizer is not None:
            logs["learning_rate"] = self.model.optimizer.current_learning_rate


# Metrics whose larger values are better, for mode="auto" (Keras asks each metric's direction; npnet's
# metrics are these). Losses, val_ or not, are minimized.
_MAXIMIZED = {"accuracy", "binary_accuracy"}


class MonitorCallback(Callback):
    """What EarlyStopping and ModelCheckpoint share with Keras's MonitorCallback: a logged quantity
    `monitor`, a direction `mode` ("min", "max", or "auto": loss minimized, accuracy maximized) and
    `min_delta`, the least change that counts as an improvement."""

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        baseline: float | None = None,
        min_delta: float = 0,
    ) -> None:
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(
                f"{type(self).__name__} mode {mode!r} is unknown, fallback to auto mode", stacklevel=3
            )
            mode = "auto"
        self.monitor, self.mode, self.best = monitor, mode, baseline
        self.min_delta = abs(min_delta)
        self._maximize: bool | None = None

    def _set_direction(self) -> None:
        if self.mode != "auto":
            self._maximize = self.mode == "max"
            return
        name = self.monitor.removeprefix("val_")
        if name == "loss":
            self._maximize = False
        elif name in _MAXIMIZED:
            self._maximize = True
        else:
            raise ValueError(
                f"{type(self).__name__} cannot tell whether {self.monitor!r} should go up or down; "
                "pass mode='max' or mode='min'"
            )

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        if self._maximize is None:
            self._set_direction()
        if reference is None:
            return True
        # Keras's rule: the value must beat the reference by more than min_delta, in the monitored direction.
        return value - self.min_delta > reference if self._maximize else value + self.min_delta < reference


class EarlyStopping(MonitorCallback):
    """Stop training when `monitor` has not improved for `patience` epochs (Keras 3.15's semantics).

    An epoch improves when it beats the best value so far by more than `min_delta`. Epochs before
    `start_from_epoch` are not watched. With `baseline`, the wait only resets on epochs that also beat it.
    `restore_best_weights`: at the end of training, put back the weights of the best epoch (Keras restores
    them whenever it watched an epoch, stopped early or not).
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__(monitor, mode, min_delta=min_delta)
        self.patience, self.verbose, self.baseline = patience, verbose, baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch
        self.wait = self.stopped_epoch = self.best_epoch = 0
        self.best_weights: list | None = None

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.wait = self.stopped_epoch = self.best_epoch = 0
        self.best, self.best_weights = None, None

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        current = _monitored(self, logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.attached_model().get_weights(), epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.attached_model().get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.attached_model().stop_training = True

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.attached_model().set_weights(self.best_weights)


class ModelCheckpoint(MonitorCallback):
    """Save the model after every epoch, or only when `monitor` improves (`save_best_only`), Keras-style.

    `filepath` may hold `{epoch}` (1-based) and any logged key, e.g. "model-{epoch:02d}-{val_loss:.2f}.npnet".
    The file is `model.save`'s (npnet.saving: architecture, weights, optimizer state in one safe npz), or
    `model.save_weights`'s with `save_weights_only`. `initial_value_threshold`: the value to beat first.
    """

    def __init__(
        self,
        filepath: str | os.PathLike[str],
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: str = "epoch",
        initial_value_threshold: float | None = None,
    ) -> None:
        super().__init__(monitor, mode, initial_value_threshold)
        if save_freq != "epoch":
            raise ValueError(
                f"ModelCheckpoint saves once per epoch: save_freq must be 'epoch', got {save_freq!r}"
            )
        self.filepath, self.verbose = os.fspath(filepath), verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except KeyError as e:
            raise KeyError(
                f"cannot format the ModelCheckpoint filepath {self.filepath!r}: no {e} in the logs"
            ) from None
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=2)
            elif self._is_improvement(current, self.best):
                if self.verbose > 0:
                    best = "None" if self.best is None else f"{self.best:.5f}"
                    print(
                        f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, "
                        f"saving model to {path}"
                    )
                self.best = current
            else:
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        if self.save_weights_only:
            self.attached_model().save_weights(path)
        else:
            self.attached_model().save(path)


def _monitored(callback: MonitorCallback, logs: Logs | None) -> float | None:
    """The monitored value in `logs`; None, with Keras's warning naming what is there, when absent."""
    value = (logs or {}).get(callback.monitor)
    if value is None:
        warnings.warn(
            f"Early stopping conditioned on metric `{callback.monitor}` which is not available. "
            f"Available metrics are: {','.join(logs or {})}",
            stacklevel=3,
        )
    return value


def _format_value(value: float) -> str:
    return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.4e}"


def _format_duration(seconds: float, steps: int) -> str:
    per_step = seconds / max(steps, 1)
    unit = f"{per_step * 1e3:.0f}ms/step" if per_step >= 1e-3 else f"{per_step * 1e6:.0f}us/step"
    return f"{seconds:.0f}s {unit}"


class ProgbarLogger(Callback):
    """Keras-like progress: on a terminal, "Epoch i/n" then a bar updated in place with running averages;
    on anything else (a file, a pipe, or `verbose=2`) exactly one line per epoch. Writes to `stream`
    (default: stdout). `in_place` forces either mode.
    """

    def __init__(self, stream: TextIO | None = None, in_place: bool | None = None, width: int = 30) -> None:
        super().__init__()
        self.stream = stream
        self.in_place = in_place  # None: decide from stream.isatty() and verbose
        self.width = width
        self._min_interval = 0.1  # seconds between in-place redraws

    def _out(self) -> TextIO:
        return self.stream if self.stream is not None else sys.stdout

    def on_train_begin(self, logs: Logs | None = None) -> None:
        if self.in_place is None:
            isatty = getattr(self._out(), "isatty", lambda: False)
            self._live = self.params.get("verbose", 1) != 2 and bool(isatty())
        else:
            self._live = self.in_place

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._epoch_label = f"Epoch {epoch + 1}/{self.params.get('epochs', '?')}"
        self._start = time.perf_counter()
        self._last_draw = 0.0
        self._seen = 0
        self._sums: dict[str, float] = {}
        self._steps_done = 0
        if self._live:
            self._write(self._epoch_label + "\n")

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        size = int(logs.get("size", 1))
        self._seen += size
        self._steps_done = batch + 1
        for key, value in logs.items():
            if key not in ("batch", "size"):
                self._sums[key] = self._sums.get(key, 0.0) + value * size
        now = time.perf_counter()
        if self._live and now - self._last_draw >= self._min_interval:
            self._last_draw = now
            running = {key: total / self._seen for key, total in self._sums.items()}
            self._write("\r" + self._line(running, now - self._start) + "\x1b[K")

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        line = self._line(logs or {}, time.perf_counter() - self._start)
        self._write(("\r" + line + "\x1b[K\n") if self._live else f"{self._epoch_label} - {line}\n")

    def _line(self, values: Logs, elapsed: float) -> str:
        steps = self.params.get("steps") or self._steps_done
        return progress_line(self._steps_done, steps, elapsed, values, width=self.width)

    def _write(self, text: str) -> None:
        out = self._out()
        out.write(text)
        out.flush()


def progress_line(
    done: int, steps: int, elapsed: float, values: Logs, width: int = 30, bar: bool = True
) -> str:
    """`done/steps [====>....] - 3s 12ms/step - loss: 0.6931 - ...` (without the bar if `bar` is False)."""
    filled = width * done // max(steps, 1)
    drawn = "=" * filled + (">" if filled < width else "") + "." * (width - filled - 1)
    parts = [f"{done}/{steps}" + (f" [{drawn}]" if bar else ""), _format_duration(elapsed, done)]
    parts += [f"{key}: {_format_value(value)}" for key, value in values.items()]
    return " - ".join(parts)


# Re-exported here, where Keras users look for callbacks; defined in its own module (one concept per module).
# Imported last: npnet.monitor builds on Callback above.
from npnet.monitor import BackpropMonitor  # noqa: E402

__all__ = ["BackpropMonitor", "Callback", "CallbackList", "History", "ProgbarLogger"]
