"""TensorBoard export (the optional `tensorboard` extra: `pip install 'npnet[tensorboard]'`).

`TensorBoardLogger(log_dir, monitor)` is a callback that writes, through tensorboardX:
- per epoch (step = epoch, 1-based): the epoch logs as scalars (`loss`, `accuracy`, `val_loss`,
  `val_accuracy`, `learning_rate`) and a histogram of every parameter's weights (`weights/<layer>/<param>`)
  and of the gradients of the epoch's last step (`gradients/<layer>/<param>`);
- with a `BackpropMonitor`, each of its records as a scalar `<statistic>/<layer>/<param>` at its step.

`TensorBoard(log_dir="logs")` is the same logger under Keras's name (the histograms are always written,
as Keras's `histogram_freq=1`).

tensorboardX is imported only here, when a logger starts, so npnet itself never needs it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from npnet.callbacks.backprop_monitor import BackpropMonitor
from npnet.callbacks.base import Callback, Logs
from npnet.errors import RunError
from npnet.sparse import SparseRows


def require_tensorboardx() -> Any:
    """tensorboardX's SummaryWriter class; a RunError saying how to install the extra when it is missing."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise RunError(
            "--tensorboard needs the tensorboard extra (tensorboardX is not installed): "
            "pip install 'npnet[tensorboard]'"
        ) from None
    return SummaryWriter


class TensorBoardLogger(Callback):
    """Writes the run's scalars and histograms to an event file in `log_dir` (see the module docstring)."""

    def __init__(self, log_dir: str | Path, monitor: BackpropMonitor | None = None) -> None:
        super().__init__()
        self.log_dir = Path(log_dir)
        self.monitor = monitor
        self._writer: Any = None
        self._sent = 0  # monitor records already written

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._writer = require_tensorboardx()(logdir=str(self.log_dir))
        # A resumed run's monitor starts with the records of the steps before: they were sent then.
        self._sent = len(self.monitor.rows) if self.monitor is not None else 0

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self.monitor is None:
            return
        for r in self.monitor.rows[self._sent :]:
            if math.isfinite(r.value):
                self._writer.add_scalar(f"{r.statistic}/{r.layer}/{r.parameter}", r.value, r.step)
        self._sent = len(self.monitor.rows)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        assert self.model is not None
        for key, value in (logs or {}).items():
            self._writer.add_scalar(key, value, epoch + 1)
        for layer in self.model.layers:
            for key, weights in layer.params.items():
                self._writer.add_histogram(f"weights/{layer.name}/{key}", weights, epoch + 1)
                grad = self.model.step_gradient(layer, key)  # a row-sparse table gradient: the looked-up rows
                values = grad.values if isinstance(grad, SparseRows) else grad
                self._writer.add_histogram(f"gradients/{layer.name}/{key}", values, epoch + 1)
        self._writer.flush()

    def on_train_end(self, logs: Logs | None = None) -> None:
        self.close()

    def close(self) -> None:
        """Flush and close the event file (also after an interrupted fit)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class TensorBoard(TensorBoardLogger):
    """Keras's name for `TensorBoardLogger`: `TensorBoard(log_dir="logs")` in `fit(callbacks=[...])`."""

    def __init__(self, log_dir: str | Path = "logs", monitor: BackpropMonitor | None = None) -> None:
        super().__init__(log_dir, monitor)
