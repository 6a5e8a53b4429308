"""Callbacks: hooks that `Sequential.fit` calls around epochs and batches.

During `on_batch_end` a callback sees the model right after the step: `self.model.layers[i].params` hold
the updated weights and `self.model.step_gradient(layer, key)` the gradients that produced the update
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

from typing import TYPE_CHECKING, Any

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
