"""LambdaCallback: a callback made of plain functions, as Keras's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from npnet.callbacks.base import Callback, Logs


class LambdaCallback(Callback):
    """Calls the functions given for each hook, with Keras's arguments: `on_epoch_begin(epoch, logs)`,
    `on_epoch_end(epoch, logs)`, `on_batch_begin(batch, logs)`, `on_batch_end(batch, logs)`,
    `on_train_begin(logs)`, `on_train_end(logs)`; Keras's `on_train_batch_begin`/`_end` are the batch ones.
    A hook not given does nothing."""

    def __init__(
        self,
        on_epoch_begin: Callable[[int, Logs | None], Any] | None = None,
        on_epoch_end: Callable[[int, Logs | None], Any] | None = None,
        on_batch_begin: Callable[[int, Logs | None], Any] | None = None,
        on_batch_end: Callable[[int, Logs | None], Any] | None = None,
        on_train_begin: Callable[[Logs | None], Any] | None = None,
        on_train_end: Callable[[Logs | None], Any] | None = None,
        on_train_batch_begin: Callable[[int, Logs | None], Any] | None = None,
        on_train_batch_end: Callable[[int, Logs | None], Any] | None = None,
    ) -> None:
        super().__init__()
        for name, function in {**locals()}.items():
            if name not in ("self", "__class__") and function is not None and not callable(function):
                raise ValueError(f"LambdaCallback {name} must be a function, got {function!r:.100}")
        self._epoch_begin, self._epoch_end = on_epoch_begin, on_epoch_end
        self._batch_begin = on_train_batch_begin or on_batch_begin
        self._batch_end = on_train_batch_end or on_batch_end
        self._train_begin, self._train_end = on_train_begin, on_train_end

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        if self._epoch_begin is not None:
            self._epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self._epoch_end is not None:
            self._epoch_end(epoch, logs)

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        if self._batch_begin is not None:
            self._batch_begin(batch, logs)

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self._batch_end is not None:
            self._batch_end(batch, logs)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        if self._train_begin is not None:
            self._train_begin(logs)

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self._train_end is not None:
            self._train_end(logs)
