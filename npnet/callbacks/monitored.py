"""EarlyStopping and ModelCheckpoint: callbacks that watch one logged quantity, with Keras 3.15's
`MonitorCallback` rules (mode, min_delta, baseline, best value)."""

from __future__ import annotations

import os
import string
import warnings
from pathlib import Path

from npnet.callbacks.base import Callback, Logs
from npnet.errors import FileWriteError, os_error_fix
from npnet.saving.model_file import check_model_path

# Metrics whose larger values are better, for mode="auto" (Keras asks each compiled metric's direction:
# every npnet metric's is up, so a compiled metric's name counts too). Losses, val_ or not, are minimized.
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
        elif name in _MAXIMIZED or name in {m.name for m in getattr(self.model, "metrics", [])}:
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
    The file is `model.save`'s (npnet.saving: architecture, weights, optimizer state in one safe npz; a
    Keras name, .keras or .h5, is refused), or `model.save_weights`'s with `save_weights_only` (npnet's
    npz whatever the name, e.g. Keras's "best.weights.h5": read it back with `load_weights`).
    `initial_value_threshold`: the value to beat first.
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
        # A template it cannot format and a Keras file name are refused now, not after an epoch of training.
        check_filepath_template(self.filepath)
        if not save_weights_only:
            check_model_path(self.filepath)

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
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            if self.save_weights_only:
                self.attached_model().save_weights(path)
            else:
                self.attached_model().save(path)
        except OSError as e:  # a full disk, `ulimit -f`, a folder made read-only: the write is atomic
            raise FileWriteError(
                f"ModelCheckpoint could not save epoch {epoch + 1} to {path!r} ({e.strerror or e}); nothing "
                f"was written there (a file saved before is intact): {os_error_fix(e)}, or pass "
                "ModelCheckpoint a filepath in another folder",
                e,
                path,
            ) from e


class _EpochEndLogs(dict):
    """The fields a filepath is formatted with at an epoch's end, as sample values: `epoch` an int (1-based),
    every other name a float, as every value of the epoch's logs is (which names the logs will hold is only
    known then)."""

    def __missing__(self, key: str) -> float:
        return 0.5


def check_filepath_template(filepath: str) -> None:
    """ValueError naming the failing field unless `filepath` formats as Keras formats it at each epoch's end,
    `filepath.format(epoch=epoch + 1, **logs)`: named fields only, each spec fitting an int epoch or a float
    logged value (a missing log key can only be told at the epoch's end, and is)."""
    fix = "use named fields such as {epoch:02d} or {val_loss:.4f}, and write a literal brace as {{ or }}"
    try:
        parts = list(string.Formatter().parse(filepath))
    except ValueError as e:  # an unpaired brace
        raise ValueError(
            f"ModelCheckpoint filepath {filepath!r} is not a valid template ({e}); {fix}"
        ) from None
    for _, name, spec, conversion in parts:
        if name is None:  # literal text only
            continue
        field = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        try:
            field.format_map(_EpochEndLogs(epoch=1))
        except (ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
            raise ValueError(
                f"ModelCheckpoint filepath {filepath!r} cannot be formatted with the epoch (an integer from "
                f"1) and the logged values (floats such as val_loss): its field {field} fails ({e}); {fix}"
            ) from None


def _monitored(callback: MonitorCallback, logs: Logs | None, what: str = "Early stopping") -> float | None:
    """The monitored value in `logs`; None, with Keras's warning naming what is there, when absent."""
    value = (logs or {}).get(callback.monitor)
    if value is None:
        warnings.warn(
            f"{what} conditioned on metric `{callback.monitor}` which is not available. "
            f"Available metrics are: {','.join(logs or {})}",
            stacklevel=3,
        )
    return value
