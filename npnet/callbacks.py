"""Callbacks: hooks that `Sequential.fit` calls around epochs and batches.

During `on_batch_end` a callback sees the model right after the step: `self.model.layers[i].params` hold
the updated weights and `self.model.layers[i].grads` the gradients that produced the update (computed with
the weights before it). `self.model.layer_outputs(x)` gives every layer's activations for a probe batch.

Logs: `on_batch_end(batch, logs)` gets this batch's own pre-update values {"batch", "size", "loss",
"accuracy"}; `on_epoch_end(epoch, logs)` gets the epoch values {"loss", "accuracy", "val_loss",
"val_accuracy", "learning_rate"} (learning_rate: the rate the next step will use). Epochs and batches are
0-based, as in Keras.
"""

from __future__ import annotations

import sys
import time
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
        done = self._steps_done
        filled = self.width * done // max(steps, 1)
        bar = "=" * filled + (">" if filled < self.width else "") + "." * (self.width - filled - 1)
        parts = [f"{done}/{steps} [{bar}]", _format_duration(elapsed, done)]
        parts += [f"{key}: {_format_value(value)}" for key, value in values.items()]
        return " - ".join(parts)

    def _write(self, text: str) -> None:
        out = self._out()
        out.write(text)
        out.flush()


# Re-exported here, where Keras users look for callbacks; defined in its own module (one concept per module).
# Imported last: npnet.monitor builds on Callback above.
from npnet.monitor import BackpropMonitor  # noqa: E402

__all__ = ["BackpropMonitor", "Callback", "CallbackList", "History", "ProgbarLogger"]
