"""Trainer: compile, fit, evaluate, predict, train/test_on_batch and gradients, for `Sequential`.

Who owns which `fit` argument (as in Keras's `trainers/epoch_iterator.py`):

- the batch source (`npnet.fast.batches`): `x`, how a batch is cut from it and on which thread, and the
  `prefetch()` hook between a step's backward and its optimizer update;
- this loop: `y`, `batch_size` and `shuffle` (the row selectors of each epoch, drawn from `model.fit_rng`),
  `epochs`, `initial_epoch`, `seed`, `callbacks`, `verbose`, `validation_data` and `validation_split`;
- the layer stack: the forward and backward passes (`npnet.layers.base.forward_through` / `backward_through`),
  with each layer's mask handed to the next;
- the optimizer, loss and metrics (`compile`): the update, the loss and its gradient, the logged values.

One loop for every model. Each `fit`/`evaluate`/`predict` call picks a `(layer stack, batch source)` pair
once (`_route`) and never asks what kind of batch it holds:

- readable: `model.layers` on `ArrayBatches(x)`, rows of `x` itself;
- fused (the default for a model with a pair that has a fused twin, `npnet.fast.fusions`): each
  Conv1D(activation="relu") -> GlobalMaxPooling1D pair replaced by one `FusedConvMaxPool` (on
  `ArrayBatches(x)`), and, for a model that starts with exactly Embedding -> GlobalAveragePooling1D,
  `[FusedEmbeddingPool(embedding), *layers[2:]]` on the fused layer's `BagBatches`, the bag of words of `x`
  counted once and kept in the model's `bag_cache` (`npnet.fast.BagCache`, keyed by the ids' content), so
  a later call on the same data counts nothing. The fused layer shares the Embedding's `params`/`grads`
  arrays, so the optimizer, callbacks and checkpoints see the same weights and gradients (equal to the
  readable path's up to rounding: the sums run in another order). Its threads
  (`npnet.config.num_threads()`) belong to it and to its batch source, never to this loop; every thread
  count gives bitwise the same numbers.

Row-sparse gradients, for an optimizer that asks for a table's gradient as the rows a batch looked up
(`takes_sparse_rows(param)`: `Adam(lazy=True)`, and fused dense Adam for a large table): the protocol
carries them, not this loop. For the step's backward `_sparse_grads_asked` sets `emit_sparse_grads` on each
layer of the stack that holds such a parameter; a
layer that can (the Embedding, the fused layer) then leaves a `SparseRows` in `sparse_grads` instead of
filling its dense (V, D) gradient, and the optimizer gets every layer's `step_grad(key)` (the sparse one
where there is one, else `grads[key]`). After the step the flags are off again, so `gradients`, `backward`
and a later dense optimizer see filled dense gradients.

So a breakpoint in `Embedding.backward` (or `GlobalAveragePooling1D.forward`, `GlobalMaxPooling1D.backward`,
the Conv1D's ReLU) fires during `fit`, `evaluate` and `predict` only with `Sequential(..., fused=False)`: by
default the fused layer computes that pair's output and gradient without calling them. `train_on_batch`,
`test_on_batch`, `gradients`, `forward`, `backward` and `layer_outputs` always run the readable layers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from npnet import losses, optimizers
from npnet import metrics as metrics_lib
from npnet.callbacks import Callback, CallbackList, History, ProgbarLogger, progress_line
from npnet.checks import positive_int
from npnet.config import num_threads
from npnet.fast.bag_cache import BagCache
from npnet.fast.batches import ArrayBatches, BatchSource, batch_rows
from npnet.fast.fused_layer import FusedEmbeddingPool
from npnet.fast.fusions import fused_stack, has_pair_twin, starts_with_embedding_pool
from npnet.layers.base import Layer, backward_through, forward_through
from npnet.layers.embedding import Embedding
from npnet.sparse import SparseRows
from npnet.threads import blas_threads

if TYPE_CHECKING:
    from npnet.model import Sequential


class Trainer:
    """Keras's training API over `self.layers` (a `Sequential` provides them and its structure)."""

    if TYPE_CHECKING:  # what the model provides
        layers: list[Layer]
        fused: bool | None
        fit_rng: np.random.Generator

        @property
        def dtype(self) -> np.dtype: ...
        def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray: ...
        def backward(self, grad_out: np.ndarray) -> np.ndarray | None: ...
        def _params(self) -> list[np.ndarray]: ...
        def _grads(self) -> list[np.ndarray]: ...
        def _step_grads(self) -> list[np.ndarray | SparseRows]: ...
        def _prepare_x(self, x: Any, what: str = "x") -> np.ndarray: ...

    def __init__(self) -> None:
        self.optimizer: optimizers.Optimizer | None = None
        self.loss: losses.Loss | None = None
        self.metrics: list[metrics_lib.Metric] = []
        self.stop_training = False  # a callback sets this to end fit after the current batch
        self.history: History | None = None
        # Bags of words of the inputs fit/evaluate/predict saw last, by content (`BagCache.max_entries = 0`
        # turns it off).
        self.bag_cache = BagCache()

    # ---- compile -------------------------------------------------------------------------------------------

    def compile(
        self,
        optimizer: str | optimizers.Optimizer = "adam",
        loss: str | losses.Loss = "binary_crossentropy",
        metrics: Sequence[str | metrics_lib.Metric] | None = None,
    ) -> None:
        """Choose optimizer, loss and metrics (names or instances). A named accuracy follows the loss's
        `from_logits`, so it thresholds logits at 0 and probabilities at 0.5."""
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss)
        resolved = [metrics_lib.get(m, self.loss.from_logits, self.loss.name) for m in metrics or []]
        names = ["loss", *(m.name for m in resolved)]
        if len(set(names)) != len(names):
            raise ValueError(f"metric names must be unique and not 'loss', got {names[1:]}")
        self.metrics = resolved

    @property
    def metrics_names(self) -> list[str]:
        """Names of the values `evaluate` and `train_on_batch` return: ["loss", "accuracy", ...]."""
        return ["loss", *(m.name for m in self.metrics)]

    # ---- the (layer stack, batch source) pair --------------------------------------------------------------

    def uses_fused_path(self) -> bool:
        """Whether fit/evaluate/predict run fused twins in place of some readable layers
        (`npnet.fast.fusions`): `FusedEmbeddingPool` for a model that starts with Embedding ->
        GlobalAveragePooling1D, `FusedConvMaxPool` for each Conv1D(activation="relu") ->
        GlobalMaxPooling1D.

        Automatic (`fused=None`) when the layers are exactly those classes (a subclass may change their
        computation, so it keeps the readable path); `fused=True` on a model with no such pair is an error.
        """
        fits = starts_with_embedding_pool(self.layers) or has_pair_twin(self.layers)
        if self.fused and not fits:
            first_two = [type(layer).__name__ for layer in self.layers[:2]]
            raise ValueError(
                "fused=True needs a model that starts with Embedding -> GlobalAveragePooling1D or holds "
                f"Conv1D(activation='relu') -> GlobalMaxPooling1D; this one starts with {first_two} and "
                "holds no such pair; use fused=None (automatic) or False"
            )
        return fits and self.fused is not False

    @contextmanager
    def _route(self) -> Iterator[tuple[list[Layer], Callable[[np.ndarray], BatchSource]]]:
        """(the layer stack, a function from inputs to their batch source) for one fit/evaluate/predict call.

        BLAS runs on one thread inside: the products are small, and one thread is faster and robust on a
        busy machine (`npnet.threads`)."""
        with blas_threads(1):
            if not self.uses_fused_path():
                yield self.layers, ArrayBatches
                return
            stack = fused_stack(self.layers)
            if not starts_with_embedding_pool(self.layers):
                yield stack, ArrayBatches
                return
            embedding = self.layers[0]
            assert isinstance(embedding, Embedding)
            with FusedEmbeddingPool(embedding, threads=num_threads(), bags=self.bag_cache) as fused:
                yield [fused, *stack[2:]], fused.batches

    # ---- training ------------------------------------------------------------------------------------------

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        epochs: int = 1,
        batch_size: int | None = 32,
        validation_data: tuple[np.ndarray, np.ndarray] | None = None,
        shuffle: bool = True,
        verbose: int = 1,
        callbacks: Sequence[Callback] | None = None,
        initial_epoch: int = 0,
        seed: int | None = None,
        validation_split: float = 0.0,
    ) -> History:
        """Train for epochs `initial_epoch .. epochs-1`, Keras-style.

        Batches of `batch_size` in (per-epoch shuffled, if `shuffle`) order, the last one partial. Epoch
        loss/metrics are the batch-size-weighted means of each batch's value computed *before* its update;
        validation runs on the end-of-epoch weights at the same batch size. `validation_split` in [0, 1)
        holds out the *last* fraction of x and y (before any shuffling, as Keras) as validation data;
        `validation_data` wins over it. `seed` re-seeds `fit_rng` first.
        verbose: 0 silent, 1 progress bar (in place on a terminal), 2 one line per epoch.
        A non-finite loss raises FloatingPointError naming the epoch and batch, before that batch's update.
        History keys are Keras's: loss, metrics, and val_ of each with validation.
        """
        self._require_compiled("fit")
        assert self.optimizer is not None
        batch_size = positive_int(32 if batch_size is None else batch_size, "batch_size")
        epochs = positive_int(epochs, "epochs")
        if (
            isinstance(initial_epoch, bool)
            or not isinstance(initial_epoch, int)
            or not 0 <= initial_epoch <= epochs
        ):
            raise ValueError(
                f"initial_epoch must be an integer in [0, epochs={epochs}], got {initial_epoch!r}"
            )
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
        x = self._prepare_x(x)
        y = self._prepare_y(y, len(x))
        validation = self._prepare_validation(validation_data)
        if validation is None and validation_split:
            (x, y), validation = _split_off_validation(x, y, validation_split)
        if seed is not None:  # in place: the layers drawing dropout noise from fit_rng keep the same object
            self.fit_rng.bit_generator.state = np.random.default_rng(seed).bit_generator.state

        n, steps = len(x), math.ceil(len(x) / batch_size)
        history = History()
        extra = [ProgbarLogger()] if verbose else []
        cbs = CallbackList([*(callbacks or []), history, *extra])
        cbs.set_model(cast("Sequential", self))
        cbs.set_params(
            {"epochs": epochs, "steps": steps, "samples": n, "batch_size": batch_size, "verbose": verbose}
        )
        self.history = history
        self.stop_training = False
        with self._route() as (stack, batches_of):
            source = batches_of(x)
            val_source = None if validation is None else batches_of(validation[0])
            cbs.on_train_begin()
            for epoch in range(initial_epoch, epochs):
                cbs.on_epoch_begin(epoch)
                order = self.fit_rng.permutation(n) if shuffle else None
                totals: dict[str, float] = {}
                seen = 0
                for batch, (rows, xb) in enumerate(source.epoch(batch_rows(n, batch_size, order))):
                    yb = y[rows]
                    cbs.on_batch_begin(batch, {"batch": batch, "size": len(xb)})
                    where = f"epoch {epoch + 1}/{epochs}, batch {batch + 1}/{steps}"
                    logs = self._train_step(stack, source, xb, yb, where)
                    seen += len(xb)
                    for key, value in logs.items():
                        totals[key] = totals.get(key, 0.0) + value * len(xb)
                    cbs.on_batch_end(batch, {"batch": batch, "size": len(xb), **logs})
                    if self.stop_training:
                        break
                epoch_logs = {key: total / seen for key, total in totals.items()}
                if val_source is not None and validation is not None:
                    val_logs = self._evaluate_source(stack, val_source, validation[1], batch_size)
                    epoch_logs.update({f"val_{key}": value for key, value in val_logs.items()})
                cbs.on_epoch_end(epoch, epoch_logs)
                if self.stop_training:
                    break
            cbs.on_train_end()
        return history

    def _train_step(
        self, stack: Sequence[Layer], source: BatchSource, x: Any, y: np.ndarray, where: str
    ) -> dict[str, float]:
        """Forward, loss and metrics (pre-update values), backward, `source.prefetch()`, optimizer step."""
        assert self.loss is not None and self.optimizer is not None
        y_pred = forward_through(stack, x, training=True)
        loss = self.loss(y, y_pred)
        if not math.isfinite(loss):
            raise FloatingPointError(
                f"loss became {loss} at {where}; training stopped before that update, so the weights are "
                "those from before it. Lower the learning rate or check the inputs"
            )
        logs = {"loss": loss, **{m.name: m(y, y_pred) for m in self.metrics}}
        params = self._params()
        # The forward has read the tables: the optimizer may begin the gradient-free part of its step.
        self.optimizer.begin_step(params, _looked_up_rows(stack[0], x, params))
        try:
            with _sparse_grads_asked(stack, self.optimizer):
                backward_through(stack, self.loss.gradient(y, y_pred))
            source.prefetch()
        except BaseException:
            self.optimizer.abandon_step()
            raise
        self.optimizer.apply_gradients(zip(self._step_grads(), params, strict=True))
        return logs

    def train_on_batch(self, x: np.ndarray, y: np.ndarray) -> list[float]:
        """One optimizer step on (x, y). Returns [loss, *metrics] computed before the update (as Keras)."""
        self._require_compiled("train_on_batch")
        x = self._prepare_x(x)
        y = self._prepare_y(y, len(x))
        logs = self._train_step(self.layers, ArrayBatches(x), x, y, where="this batch (train_on_batch)")
        return list(logs.values())

    def gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        """(loss, gradients) for one batch; gradients are copies in `get_weights()` order. No update."""
        self._require_compiled("gradients")
        assert self.loss is not None
        x = self._prepare_x(x)
        y = self._prepare_y(y, len(x))
        y_pred = self.forward(x, training=True)
        loss = self.loss(y, y_pred)
        self.backward(self.loss.gradient(y, y_pred))
        return loss, [g.copy() for g in self._grads()]

    # ---- inference -----------------------------------------------------------------------------------------

    def evaluate(
        self, x: np.ndarray, y: np.ndarray, batch_size: int | None = 32, verbose: int = 0
    ) -> list[float]:
        """[loss, *metrics] over (x, y): batch-size-weighted means of per-batch values. `verbose=1` or 2
        prints one Keras-like line, e.g. `782/782 - 1s 2ms/step - loss: 0.3120 - accuracy: 0.8740`."""
        self._require_compiled("evaluate")
        batch_size = positive_int(32 if batch_size is None else batch_size, "batch_size")
        _check_verbose(verbose)
        x = self._prepare_x(x)
        y = self._prepare_y(y, len(x))
        start = time.perf_counter()
        with self._route() as (stack, batches_of):
            logs = self._evaluate_source(stack, batches_of(x), y, batch_size)
        if verbose:
            steps = math.ceil(len(x) / batch_size)
            print(progress_line(steps, steps, time.perf_counter() - start, logs, bar=False))
        return list(logs.values())

    def test_on_batch(self, x: np.ndarray, y: np.ndarray) -> list[float]:
        """[loss, *metrics] on one batch, no update."""
        self._require_compiled("test_on_batch")
        x = self._prepare_x(x)
        y = self._prepare_y(y, len(x))
        return list(self._evaluate_source(self.layers, ArrayBatches(x), y, len(x)).values())

    def _evaluate_source(
        self, stack: Sequence[Layer], source: BatchSource, y: np.ndarray, batch_size: int
    ) -> dict[str, float]:
        assert self.loss is not None
        totals = dict.fromkeys(self.metrics_names, 0.0)
        for rows, y_pred in self._predict_source(stack, source, batch_size):
            size = len(y_pred)
            totals["loss"] += self.loss(y[rows], y_pred) * size
            for m in self.metrics:
                totals[m.name] += m(y[rows], y_pred) * size
        return {key: total / len(y) for key, total in totals.items()}

    def predict(self, x: np.ndarray, batch_size: int | None = 32, verbose: int = 0) -> np.ndarray:
        """Model outputs for x, shape (n, 1) for the IMDB model (probabilities after a sigmoid).
        `verbose=1` or 2 prints one Keras-like line, e.g. `782/782 - 1s 2ms/step`."""
        batch_size = positive_int(32 if batch_size is None else batch_size, "batch_size")
        _check_verbose(verbose)
        x = self._prepare_x(x)
        start = time.perf_counter()
        with self._route() as (stack, batches_of):
            outputs = np.concatenate(
                [y_pred for _, y_pred in self._predict_source(stack, batches_of(x), batch_size)]
            )
        if verbose:
            steps = math.ceil(len(x) / batch_size)
            print(progress_line(steps, steps, time.perf_counter() - start, {}, bar=False))
        return outputs

    @staticmethod
    def _predict_source(
        stack: Sequence[Layer], source: BatchSource, batch_size: int
    ) -> Iterator[tuple[slice, np.ndarray]]:
        """(rows, outputs) of consecutive batches, inference mode."""
        for rows, xb in source.in_order(batch_size):
            yield rows, forward_through(stack, xb, training=False)

    # ---- input checks --------------------------------------------------------------------------------------

    def _require_compiled(self, what: str) -> None:
        if self.optimizer is None or self.loss is None:
            raise RuntimeError(
                f"compile the model before {what}: "
                "model.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy'])"
            )

    def _prepare_y(self, y: Any, n: int, what: str = "y") -> np.ndarray:
        """Labels as the compiled loss takes them (`Loss.prepare_labels`: a (n, 1) 0/1 column for BCE)."""
        assert self.loss is not None
        return self.loss.prepare_labels(y, n, self.dtype, what)

    def _prepare_validation(self, data: Any) -> tuple[np.ndarray, np.ndarray] | None:
        if data is None:
            return None
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise ValueError("validation_data must be a pair (x_val, y_val)")
        xv = self._prepare_x(data[0], "validation x")
        return xv, self._prepare_y(data[1], len(xv), "validation y")


def _looked_up_rows(first: Layer, x: Any, params: list[np.ndarray]) -> dict[int, np.ndarray]:
    """For `Optimizer.begin_step`: the ids the batch x selects from each lookup table of the stack's first
    layer (the only one that sees the batch itself), keyed by the table's index in `params`."""
    looked_up = {}
    for key, table in first.params.items():
        ids = first.table_ids(key, x)
        if ids is not None:
            looked_up[next(i for i, p in enumerate(params) if p is table)] = ids
    return looked_up


@contextmanager
def _sparse_grads_asked(stack: Sequence[Layer], optimizer: optimizers.Optimizer) -> Iterator[None]:
    """Inside: a layer of `stack` has `emit_sparse_grads` where the optimizer `takes_sparse_rows` of one of
    its parameters (see the module docstring); after: False again, so a later backward fills the dense
    gradients."""
    for layer in stack:
        layer.emit_sparse_grads = any(optimizer.takes_sparse_rows(p) for p in layer.params.values())
    try:
        yield
    finally:
        for layer in stack:
            layer.emit_sparse_grads = False


def _split_off_validation(
    x: np.ndarray, y: np.ndarray, fraction: float
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """((x, y) for training, (x, y) for validation): the last `fraction` of the samples validate, as in
    Keras (`split_at = floor(n * (1 - fraction))`)."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
        raise ValueError(f"validation_split must be a fraction in [0, 1), got {fraction!r}")
    split_at = math.floor(len(x) * (1.0 - fraction))
    if split_at in (0, len(x)):
        raise ValueError(
            f"validation_split={fraction} leaves no samples on one side of {len(x)}: pass more data or "
            "another fraction"
        )
    return (x[:split_at], y[:split_at]), (x[split_at:], y[split_at:])


def _check_verbose(verbose: int) -> None:
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0 (silent), 1 or 2 (one summary line), got {verbose!r}")
