"""BackpropMonitor: per-layer gradient, update and activation statistics recorded while a model trains.

Every `every`-th optimizer step (steps 1, 1 + every, 1 + 2 every, ... counted by `optimizer.iterations`, so
a resumed run continues the same grid) the monitor records, for each parameter of each layer (the layers'
`params`/`grads` by name, the same arrays the optimizer updates):

- `grad_norm`, `grad_max`: the L2 norm and the largest |value| of the step's gradient
- `weight_norm`: the L2 norm of the weights the gradient was computed at (before the update)
- `update_norm`, `update_ratio`: the L2 norm of the step's change of the weights, and that over
  `weight_norm` (NaN while the weights are all zero, e.g. a zero-initialised bias at step 1). cs231n's rule
  of thumb asks for ~1e-3: far below, the learning rate is too small; far above, too large.
- `zero_grad_rows`: for a lookup-table parameter (one for which the layer's `table_ids` is not None: an
  Embedding's table), the fraction of rows whose gradient is exactly zero (ids absent from the batch)

The gradient is the one the step took (`model.step_gradient(layer, key)`): where the optimizer takes a
table's gradient row-sparse
(`Adam(lazy=True)`; fused dense Adam on a table of >= 2^20 elements) the table's is the `SparseRows` of the
looked-up rows, and the statistics are computed from its rows alone, equal to
those of the dense array it stands for (the absent rows are zero: they add nothing to the norm or the
maximum, and count as zero rows) without building that (V, D) array.

and, with a `probe` batch, for each layer whose `activation_stats` reports any (activation layers, a Dense
ending in one), the statistics of its output on the probe (`mean`, `std`, `zero_fraction` and
`dead_fraction` of a ReLU, `saturated_fraction` of a sigmoid), under parameter "output".

Why a fixed probe batch through `model.layer_outputs`: fit's fused path never materialises the Embedding
and pooling outputs, and each training batch differs, so statistics of "the activations of the step" would
differ between the fused and the readable path and jump from batch to batch. `layer_outputs` runs the
readable layers in inference mode on the same reviews at every recorded step, so the numbers are the same on
both paths and move only because the weights move. Inference mode draws no dropout noise, so monitoring
never changes the training (a test checks the weights are bitwise those of an unmonitored run).

Cost per recorded step: a copy of the parameters before the step (to measure the update), a few norms, and
the probe's forward pass; see benchmarks/HISTORY.md for the measured overhead at the default interval.

`rows` holds one tidy record per step x layer x parameter x statistic; `path` (optional) makes the monitor
append its new rows to a CSV at every epoch end and at the end of training, and on a resumed run keep that
file's rows up to the restored step. Nothing here prints or draws (`npnet.reports.backprop_report` does).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from npnet import validation
from npnet.atomic import atomic_write
from npnet.callbacks.base import Callback, Logs
from npnet.sparse import SparseRows

if TYPE_CHECKING:
    from npnet.model import Sequential

DEFAULT_EVERY = 20
CSV_COLUMNS = ("step", "epoch", "layer", "parameter", "statistic", "value")
OUTPUT = "output"  # the `parameter` of an activation's output statistics


@dataclass(frozen=True)
class Record:
    """One statistic at one step: `epoch` is 1-based, `step` the optimizer step it describes (1-based)."""

    step: int
    epoch: int
    layer: str
    parameter: str
    statistic: str
    value: float


def parameter_stats(
    before: np.ndarray, after: np.ndarray, grad: np.ndarray | SparseRows, table: bool
) -> dict[str, float]:
    """The statistics of one parameter over one step: weights `before` and `after` it, its gradient `grad`
    (dense, or `SparseRows`: the same statistics from the given rows); `table`: the parameter is a lookup
    table whose rows are selected by ids (adds `zero_grad_rows`)."""
    g = (grad.values if isinstance(grad, SparseRows) else grad).astype(np.float64, copy=False)
    w = before.astype(np.float64, copy=False)
    update = after.astype(np.float64) - w
    weight_norm = float(np.linalg.norm(w))
    update_norm = float(np.linalg.norm(update))
    stats = {
        "grad_norm": float(np.linalg.norm(g)),
        "grad_max": float(np.abs(g).max()) if g.size else 0.0,
        "weight_norm": weight_norm,
        "update_norm": update_norm,
        "update_ratio": update_norm / weight_norm if weight_norm > 0 else math.nan,
    }
    if table:
        rows = g.reshape(len(g), -1)
        total = grad.shape[0] if isinstance(grad, SparseRows) else len(g)
        zero_rows = int((rows == 0).all(axis=1).sum()) + total - len(g)  # + the rows a SparseRows omits
        stats["zero_grad_rows"] = zero_rows / total
    return stats


class BackpropMonitor(Callback):
    """Records backprop statistics every `every` steps (see the module docstring).

    Args:
        every: record steps 1, 1 + every, 1 + 2 every, ...
        probe: a fixed input batch (padded ids) whose layer outputs give the activation statistics; None
            records no activation statistics.
        path: a CSV file to keep up to date (appended at every epoch end); None keeps the rows in memory only.
    """

    def __init__(self, every: int = DEFAULT_EVERY, probe: np.ndarray | None = None, path: Path | None = None):
        super().__init__()
        self.every = validation.positive_int(every, "BackpropMonitor every")
        self.probe = probe
        self.path = Path(path) if path is not None else None
        self.rows: list[Record] = []
        self._written = 0  # rows already in the CSV
        self._epoch = 0
        self._before: list[list[np.ndarray]] | None = None

    # ---- hooks

    def on_train_begin(self, logs: Logs | None = None) -> None:
        done = self._steps_done()
        if self.path is not None:
            kept = [r for r in read_csv(self.path) if r.step <= done] if self.path.exists() else []
            self.rows = kept
            write_csv(self.path, kept)  # drops rows of steps after the checkpoint a resume restarts from
            self._written = len(kept)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._epoch = epoch + 1

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        model = self._model()
        if self._steps_done() % self.every == 0:  # the step about to run is 1 + a multiple of `every`
            self._before = [[p.copy() for p in layer.params.values()] for layer in model.layers]

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self._before is None:
            return
        model = self._model()
        step = self._steps_done()
        ids = self.probe if self.probe is not None else np.zeros((1, 1), dtype=np.int64)
        for layer, before in zip(model.layers, self._before, strict=True):
            for (key, after), old in zip(layer.params.items(), before, strict=True):
                table = layer.table_ids(key, ids) is not None
                grad = model.step_gradient(layer, key)
                for statistic, value in parameter_stats(old, after, grad, table).items():
                    self.rows.append(Record(step, self._epoch, layer.name, key, statistic, value))
        self._before = None
        if self.probe is not None:
            for layer, output in zip(model.layers, model.layer_outputs(self.probe), strict=True):
                for statistic, value in layer.activation_stats(output).items():
                    self.rows.append(Record(step, self._epoch, layer.name, OUTPUT, statistic, value))

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self.flush()

    def on_train_end(self, logs: Logs | None = None) -> None:
        self.flush()

    def flush(self) -> None:
        """Append the rows recorded since the last flush to `path` (nothing without a path)."""
        if self.path is None or self._written == len(self.rows):
            return
        new = self.rows[self._written :]
        with open(self.path, "a", encoding="utf-8", newline="") as f:
            f.write(_csv_text(new, header=False))
            f.flush()
        self._written = len(self.rows)

    def _model(self) -> Sequential:
        if self.model is None or self.model.optimizer is None:
            raise RuntimeError("BackpropMonitor runs as a callback of a compiled model's fit")
        return self.model

    def _steps_done(self) -> int:
        """Optimizer steps taken so far (the whole run's, also after a resume)."""
        optimizer = self._model().optimizer
        assert optimizer is not None
        return optimizer.iterations


# ---- the CSV


def _csv_text(rows: list[Record], header: bool) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow((r.step, r.epoch, r.layer, r.parameter, r.statistic, repr(r.value)))
    return buffer.getvalue()


def write_csv(path: str | Path, rows: list[Record]) -> None:
    """Write `rows` (with the header) to `path`, atomically."""
    text = _csv_text(rows, header=True)
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def read_csv(path: str | Path) -> list[Record]:
    """The records of a `backprop.csv`. A last line cut short (a run killed while appending) is dropped;
    any other malformed line is an error (ValueError naming the file and line)."""
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    complete = lines[:-1]  # the text after the last newline is empty, or a torn line
    reader = csv.reader(complete)
    header = next(reader, None)
    if header is None or tuple(header) != CSV_COLUMNS:
        raise ValueError(f"{path} is not a backprop.csv: its header is not {','.join(CSV_COLUMNS)}")
    rows = []
    for number, fields in enumerate(reader, start=2):
        try:
            step, epoch, layer, parameter, statistic, value = fields
            rows.append(Record(int(step), int(epoch), layer, parameter, statistic, float(value)))
        except ValueError:
            raise ValueError(f"{path} line {number} is not a backprop record: {','.join(fields)!r}") from None
    return rows
