"""ProgbarLogger: Keras-like progress lines while training; `progress_line`, the one-line summary that
`evaluate` and `predict` print too."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    pass

from npnet.callbacks.base import Callback, Logs


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
