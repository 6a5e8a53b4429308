"""Sequential: a stack of layers trained with Keras's compile/fit/evaluate/predict semantics.

The forward pass is a loop over the layers (each gets the previous output and mask); the backward pass is
the same loop reversed, each layer turning dL/doutput into dL/dinput and filling its own `grads`. For study:
`model.forward(x)` / `model.backward(grad)` run one pass by hand, `model.layer_outputs(x)` returns every
layer's activations, and after any step `layer.grads` holds that step's gradients.

The fused path. When the model starts with Embedding -> GlobalAveragePooling1D, `fit`, `evaluate` and
`predict` run that pair as one bag-of-words product (`npnet.fast.embedding_pool`): the ids of the whole
input are counted once per call, and each batch's pooled output and embedding gradient come from those
counts, without materializing the (batch, T, D) Embedding output (~20x faster per batch; see "Per
operation" in `python -m benchmarks.run`). The other layers run their own forward/backward as usual, and
the Embedding's `grads["embeddings"]` is still filled every step, so callbacks see the same gradients and
weights (equal to the readable path up to rounding: the sums run in another order). `train_on_batch`,
`test_on_batch`, `gradients`, `forward`, `backward` and `layer_outputs` always run the readable layers.
`Sequential(..., fused=False)` makes fit/evaluate/predict run them too, for anyone studying the Embedding
and pooling layers' caches during training.

On the fused path fit/evaluate/predict use `npnet.config.num_threads()` threads (`npnet.fast.Workers`):
in a step the other thread runs the sparse tail (forward sums, backward scatter) beside this thread's
dense gemm, then cuts the next batch during the optimizer update; validation/predict split the batches
into one run per thread. Every thread count gives bitwise the same numbers.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from npnet import io, losses, optimizers, saving
from npnet import metrics as metrics_lib
from npnet.callbacks import Callback, CallbackList, History, ProgbarLogger
from npnet.config import num_threads, resolve_dtype
from npnet.fast import embedding_pool as fused_pair
from npnet.fast.threads import SERIAL, Workers, blas_threads
from npnet.layers.base import Layer, Shape
from npnet.layers.embedding import Embedding
from npnet.layers.pooling import GlobalAveragePooling1D

# What a step consumes: padded ids (the readable path) or a batch of the fused pair's bag of words.
Batch = np.ndarray | fused_pair.BagBatch


class Sequential:
    """A linear stack of layers.

    `seed` makes runs repeatable: the same seed gives bitwise-identical initial weights, and fit's per-epoch
    shuffle draws from `self.fit_rng`, a `numpy.random.Generator` derived from the same seed (never global RNG
    state). Save `fit_rng.bit_generator.state` to resume a run exactly. `dtype` (float32/float64) defaults to
    `npnet.config.floatx()` at build time.

    `fused`: None (default) runs fit/evaluate/predict through the fused Embedding + pooling kernels when the
    model starts with Embedding -> GlobalAveragePooling1D (see the module docstring); False always runs the
    readable layers (their per-position caches are then filled during fit, e.g. for callbacks that study
    them); True insists on the fused path and refuses a model it does not fit.
    """

    def __init__(
        self,
        layers: Sequence[Layer] | None = None,
        seed: int | None = 0,
        dtype: str | np.dtype | None = None,
        name: str = "sequential",
        fused: bool | None = None,
    ) -> None:
        if fused not in (None, True, False):
            raise ValueError(f"fused must be None (automatic), True or False, got {fused!r}")
        self.name = name
        self.fused = fused
        self.layers: list[Layer] = []
        seeds = np.random.SeedSequence(seed)
        self.seed: int = seeds.entropy  # the actual seed, also when None asked for fresh entropy
        self._init_seeds, fit_seeds = seeds.spawn(2)
        self.fit_rng: np.random.Generator = np.random.default_rng(fit_seeds)
        self._requested_dtype = dtype
        self._dtype: np.dtype | None = None
        self.built = False
        self.input_shape: Shape | None = None
        self.output_shape: Shape | None = None
        self.optimizer: optimizers.Optimizer | None = None
        self.loss: losses.BinaryCrossentropy | None = None
        self.metrics: list[metrics_lib.BinaryAccuracy] = []
        self.stop_training = False  # a callback sets this to end fit after the current batch
        self.history: History | None = None
        for layer in layers or []:
            self.add(layer)

    # ---- structure -----------------------------------------------------------------------------------------

    def add(self, layer: Layer) -> None:
        """Append a layer; an auto-named layer whose name is taken becomes `name_1`, `name_2`, ..."""
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential takes npnet layers, got {type(layer).__name__}")
        if self.built:
            raise ValueError("add layers before the model is built (before its first data or build())")
        taken = {existing.name for existing in self.layers}
        if layer.name in taken:
            if not layer.auto_named:
                raise ValueError(
                    f"two layers are named {layer.name!r}; layer names must be unique in a model"
                )
            base, i = layer.name, 1
            while f"{base}_{i}" in taken:
                i += 1
            layer.name = f"{base}_{i}"
        self.layers.append(layer)

    @property
    def dtype(self) -> np.dtype:
        """The float dtype of the parameters (fixed at build)."""
        return self._dtype if self._dtype is not None else resolve_dtype(self._requested_dtype)

    def build(self, input_shape: Shape = (None, None)) -> None:
        """Create every layer's parameters from the seed. The batch axis is ignored; (None, None) suits an
        Embedding-first model of any sequence length."""
        if not self.layers:
            raise ValueError("the model has no layers: pass them as Sequential([...]) or call add()")
        self._dtype = resolve_dtype(self._requested_dtype)
        rng = np.random.default_rng(self._init_seeds)  # a fresh generator: the same seed, the same weights
        shape: Shape = (None, *tuple(input_shape)[1:])
        self.input_shape = shape
        for layer in self.layers:
            if not layer.built:
                layer.build(shape, rng, self._dtype)
            for part in [layer, *layer.sublayers()]:
                if part.noise_rng is None:
                    part.noise_rng = self.fit_rng
            shape = layer.compute_output_shape(shape)
        self.output_shape = shape
        self.built = True

    def _ensure_built(self, x: np.ndarray | None = None) -> None:
        if not self.built:
            self.build(x.shape if x is not None else (None, None))

    def count_params(self) -> int:
        self._ensure_built()
        return sum(layer.count_params() for layer in self.layers)

    # ---- the passes ----------------------------------------------------------------------------------------

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Run the layers in order and return the output. Each layer caches what its backward will need."""
        return self._forward_from(x, 0, training)

    def _forward_from(self, x: np.ndarray, start: int, training: bool) -> np.ndarray:
        """The layers from index `start` on (the mask restarts there: none survives a pooling layer)."""
        mask = None
        for layer in self.layers[start:]:
            out = layer.forward(x, mask=mask, training=training)
            mask = layer.compute_mask(x, mask)
            x = out
        return x

    def backward(self, grad_out: np.ndarray) -> np.ndarray | None:
        """Back-propagate dLoss/doutput of the last `forward`, filling every layer's `grads`. Returns
        dLoss/dinput (None when the first layer is an Embedding: token ids have no gradient)."""
        return self._backward_to(grad_out, 0)

    def _backward_to(self, grad_out: np.ndarray, stop: int) -> np.ndarray | None:
        """Back-propagate through the layers from the last down to index `stop`; dLoss/d(input of `stop`)."""
        grad: np.ndarray | None = grad_out
        for i in reversed(range(stop, len(self.layers))):
            grad = self.layers[i].backward(grad)
            if grad is None and i > stop:
                raise RuntimeError(
                    f"layer {self.layers[i].name!r} returns no input gradient, but layers before it need "
                    "one: an Embedding must be the first layer"
                )
        return grad

    # ---- the fused Embedding + pooling path (see the module docstring) ----------------------------------

    def uses_fused_path(self) -> bool:
        """Whether fit/evaluate/predict run Embedding -> GlobalAveragePooling1D as one fused product.

        Automatic (`fused=None`) when the first two layers are exactly those classes (a subclass may change
        their computation, so it keeps the readable path); `fused=True` on another model is an error.
        """
        first_two = [type(layer) for layer in self.layers[:2]]
        fits = first_two == [Embedding, GlobalAveragePooling1D]
        if self.fused and not fits:
            raise ValueError(
                "fused=True needs a model that starts with Embedding -> GlobalAveragePooling1D, this one "
                f"starts with {[t.__name__ for t in first_two]}; use fused=None (automatic) or False"
            )
        return fits and self.fused is not False

    def _feed(self, x: np.ndarray) -> _Feed:
        """What fit/evaluate/predict draw batches from: x's bag of words (counted once here) or x itself."""
        if not self.uses_fused_path():
            return _Feed(x)
        embedding = self.layers[0]
        assert isinstance(embedding, Embedding)
        bag = fused_pair.BagOfWords.from_ids(x, embedding.input_dim, mask_zero=embedding.mask_zero)
        return _Feed(x, bag, embedding.params["embeddings"].dtype)

    def _step_forward(self, batch: Batch, training: bool, workers: Workers = SERIAL) -> np.ndarray:
        if isinstance(batch, fused_pair.BagBatch):
            pooled = fused_pair.forward(batch, self.layers[0].params["embeddings"], workers)
            return self._forward_from(pooled, 2, training)
        return self.forward(batch, training)

    def _step_backward(self, batch: Batch, grad_out: np.ndarray, workers: Workers = SERIAL) -> None:
        if isinstance(batch, fused_pair.BagBatch):
            grad_pooled = self._backward_to(grad_out, 2)
            assert grad_pooled is not None
            # Written into the Embedding's own gradient array, so callbacks and the optimizer see it there.
            embedding_grad = self.layers[0].grads["embeddings"]
            fused_pair.backward(batch, grad_pooled, out=embedding_grad, workers=workers)
        else:
            self.backward(grad_out)

    def layer_outputs(self, x: np.ndarray) -> list[np.ndarray]:
        """Every layer's output (inference mode) for input `x`, for inspecting activations."""
        x = self._prepare_x(x)
        outputs, mask = [], None
        for layer in self.layers:
            out = layer.forward(x, mask=mask)
            mask = layer.compute_mask(x, mask)
            outputs.append(out)
            x = out
        return outputs

    def _params(self) -> list[np.ndarray]:
        return [value for layer in self.layers for value in layer.params.values()]

    def _grads(self) -> list[np.ndarray]:
        return [layer.grads[key] for layer in self.layers for key in layer.params]

    # ---- compile and training ------------------------------------------------------------------------------

    def compile(
        self,
        optimizer: str | optimizers.Optimizer = "adam",
        loss: str | losses.BinaryCrossentropy = "binary_crossentropy",
        metrics: Sequence[str | metrics_lib.BinaryAccuracy] | None = None,
    ) -> None:
        """Choose optimizer, loss and metrics (names or instances). A named accuracy follows the loss's
        `from_logits`, so it thresholds logits at 0 and probabilities at 0.5."""
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss)
        resolved = [metrics_lib.get(m, from_logits=self.loss.from_logits) for m in metrics or []]
        names = ["loss", *(m.name for m in resolved)]
        if len(set(names)) != len(names):
            raise ValueError(f"metric names must be unique and not 'loss', got {names[1:]}")
        self.metrics = resolved

    @property
    def metrics_names(self) -> list[str]:
        """Names of the values `evaluate` and `train_on_batch` return: ["loss", "accuracy", ...]."""
        return ["loss", *(m.name for m in self.metrics)]

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
    ) -> History:
        """Train for epochs `initial_epoch .. epochs-1`, Keras-style.

        Batches of `batch_size` in (per-epoch shuffled, if `shuffle`) order, the last one partial. Epoch
        loss/metrics are the batch-size-weighted means of each batch's value computed *before* its update;
        validation runs on the end-of-epoch weights at the same batch size. `seed` re-seeds `fit_rng` first.
        verbose: 0 silent, 1 progress bar (in place on a terminal), 2 one line per epoch.
        A non-finite loss raises FloatingPointError naming the epoch and batch, before that batch's update.
        """
        self._require_compiled("fit")
        batch_size = _positive_int(32 if batch_size is None else batch_size, "batch_size")
        epochs = _positive_int(epochs, "epochs")
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
        if seed is not None:  # in place: the layers drawing dropout noise from fit_rng keep the same object
            self.fit_rng.bit_generator.state = np.random.default_rng(seed).bit_generator.state

        n, steps = len(x), math.ceil(len(x) / batch_size)
        history = History()
        extra = [ProgbarLogger()] if verbose else []
        cbs = CallbackList([*(callbacks or []), history, *extra])
        cbs.set_model(self)
        cbs.set_params(
            {"epochs": epochs, "steps": steps, "samples": n, "batch_size": batch_size, "verbose": verbose}
        )
        self.history = history
        self.stop_training = False
        # Small products: one BLAS thread is faster and robust on a busy machine; our own threads run the
        # independent parts of each step instead (npnet.config.num_threads()).
        with blas_threads(1), Workers(num_threads()) as workers:
            feed = self._feed(x)
            val_feed = None if validation is None else (self._feed(validation[0]), validation[1])
            cbs.on_train_begin()
            for epoch in range(initial_epoch, epochs):
                cbs.on_epoch_begin(epoch)
                order = self.fit_rng.permutation(n) if shuffle else None
                totals: dict[str, float] = {}
                seen = 0
                ahead = _CutAhead(feed, list(_batches(n, batch_size, order)), workers)
                for batch, (rows, xb) in enumerate(ahead):
                    yb = y[rows]
                    cbs.on_batch_begin(batch, {"batch": batch, "size": len(xb)})
                    where = f"epoch {epoch + 1}/{epochs}, batch {batch + 1}/{steps}"
                    logs = self._train_step(xb, yb, where, workers, before_update=ahead.start_next)
                    seen += len(xb)
                    for key, value in logs.items():
                        totals[key] = totals.get(key, 0.0) + value * len(xb)
                    cbs.on_batch_end(batch, {"batch": batch, "size": len(xb), **logs})
                    if self.stop_training:
                        break
                epoch_logs = {key: total / seen for key, total in totals.items()}
                if val_feed is not None:
                    val_logs = self._evaluate_arrays(*val_feed, batch_size, workers)
                    epoch_logs.update({f"val_{key}": value for key, value in val_logs.items()})
                epoch_logs["learning_rate"] = self.optimizer.current_learning_rate
                cbs.on_epoch_end(epoch, epoch_logs)
                if self.stop_training:
                    break
            cbs.on_train_end()
        return history

    def _train_step(
        self,
        x: Batch,
        y: np.ndarray,
        where: str,
        workers: Workers = SERIAL,
        before_update: Callable[[], None] | None = None,
    ) -> dict[str, float]:
        """Forward, loss and metrics (pre-update values), backward, `before_update()`, optimizer step."""
        y_pred = self._step_forward(x, training=True, workers=workers)
        loss = self.loss(y, y_pred)
        if not math.isfinite(loss):
            raise FloatingPointError(
                f"loss became {loss} at {where}; training stopped before that update, so the weights are "
                "those from before it. Lower the learning rate or check the inputs"
            )
        logs = {"loss": loss, **{m.name: m(y, y_pred) for m in self.metrics}}
        self._step_backward(x, self.loss.gradient(y, y_pred), workers)
        if before_update is not None:
            before_update()
        self.optimizer.apply_gradients(zip(self._grads(), self._params(), strict=True))
        return logs

    def train_on_batch(self, x: np.ndarray, y: np.ndarray) -> list[float]:
        """One optimizer step on (x, y). Returns [loss, *metrics] computed before the update (as Keras)."""
        self._require_compiled("train_on_batch")
        x = self._prepare_x(x)
        logs = self._train_step(x, self._prepare_y(y, len(x)), where="this batch (train_on_batch)")
        return list(logs.values())

    def gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        """(loss, gradients) for one batch; gradients are copies in `get_weights()` order. No update."""
        self._require_compiled("gradients")
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
        """[loss, *metrics] over (x, y): batch-size-weighted means of per-batch values."""
        self._require_compiled("evaluate")
        batch_size = _positive_int(32 if batch_size is None else batch_size, "batch_size")
        x = self._prepare_x(x)
        y = self._prepare_y(y, len(x))
        with blas_threads(1), Workers(num_threads()) as workers:
            logs = self._evaluate_arrays(self._feed(x), y, batch_size, workers)
        if verbose:
            print(" - ".join(f"{key}: {value:.4f}" for key, value in logs.items()))
        return list(logs.values())

    def test_on_batch(self, x: np.ndarray, y: np.ndarray) -> list[float]:
        """[loss, *metrics] on one batch, no update."""
        self._require_compiled("test_on_batch")
        x = self._prepare_x(x)
        return list(self._evaluate_arrays(_Feed(x), self._prepare_y(y, len(x)), len(x)).values())

    def _evaluate_arrays(
        self, feed: _Feed, y: np.ndarray, batch_size: int, workers: Workers = SERIAL
    ) -> dict[str, float]:
        totals = dict.fromkeys(self.metrics_names, 0.0)
        for rows, y_pred in self._predict_batches(feed, batch_size, workers):
            size = len(y_pred)
            totals["loss"] += self.loss(y[rows], y_pred) * size
            for m in self.metrics:
                totals[m.name] += m(y[rows], y_pred) * size
        return {key: total / len(y) for key, total in totals.items()}

    def predict(self, x: np.ndarray, batch_size: int | None = 32) -> np.ndarray:
        """Model outputs for x, shape (n, 1) for the IMDB model (probabilities after a sigmoid)."""
        batch_size = _positive_int(32 if batch_size is None else batch_size, "batch_size")
        x = self._prepare_x(x)
        with blas_threads(1), Workers(num_threads()) as workers:
            batches = self._predict_batches(self._feed(x), batch_size, workers)
            return np.concatenate([y_pred for _, y_pred in batches])

    def _predict_batches(
        self, feed: _Feed, batch_size: int, workers: Workers
    ) -> Iterator[tuple[slice, np.ndarray]]:
        """(rows, outputs) of consecutive batches, inference mode.

        On the fused path the batches are cut into one contiguous run per thread (one hand-off per call:
        waking a thread costs ~45 us, a batch's fused forward ~0.4 ms). This thread works through the
        first run while the others compute their runs' pooled outputs; the layers after the pooling run
        on this thread only (they keep caches), batch by batch in order. Each batch is computed exactly as
        on one thread. (A smaller first run, to leave this thread time for the others' layers, measured
        no better.)
        """
        batches = list(_batches(len(feed), batch_size))
        if feed.bag is None:
            for rows in batches:
                yield rows, self.forward(feed(rows))
            return
        E = self.layers[0].params["embeddings"]

        def pooled_of(part: list[slice]) -> list[np.ndarray]:
            return [fused_pair.forward(feed(rows), E) for rows in part]

        count, threads = len(batches), workers.threads
        runs = [batches[count * i // threads : count * (i + 1) // threads] for i in range(threads)]
        waits = [workers.start(pooled_of, run) for run in runs[1:]]
        for rows in runs[0]:  # this thread's run, while the others compute theirs
            yield rows, self._step_forward(feed(rows), training=False)
        for run, wait in zip(runs[1:], waits, strict=True):
            for rows, pooled in zip(run, wait(), strict=True):
                yield rows, self._forward_from(pooled, 2, training=False)

    # ---- weights -------------------------------------------------------------------------------------------

    def get_weights(self) -> list[np.ndarray]:
        """Copies of all parameters in Keras order: layer by layer; within a layer e.g. kernel then bias."""
        self._ensure_built()
        return [p.copy() for p in self._params()]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Replace all parameters (validated first: on any mismatch nothing changes)."""
        self._ensure_built()
        params = self._params()
        arrays = [np.asarray(w) for w in weights]
        names = [f"{layer.name}.{key}" for layer in self.layers for key in layer.params]
        if len(arrays) != len(params):
            raise ValueError(
                f"set_weights needs {len(params)} arrays ({', '.join(names)}), got {len(arrays)}; "
                "pass a list like model.get_weights()"
            )
        for name, p, w in zip(names, params, arrays, strict=True):
            if w.shape != p.shape:
                raise ValueError(f"set_weights: {name} must have shape {p.shape}, got {w.shape}")
            if not (np.issubdtype(w.dtype, np.floating) or np.issubdtype(w.dtype, np.integer)):
                raise ValueError(f"set_weights: {name} must be numeric, got dtype {w.dtype}")
        for p, w in zip(params, arrays, strict=True):
            p[...] = w

    def save_weights(self, path: str | os.PathLike) -> None:
        """Write all parameters to `path` (an .npz archive, atomically, no pickle)."""
        self._ensure_built()
        io.save_weights(path, self.layers)

    def save(self, path: str | os.PathLike) -> None:
        """Write the whole model to one safe file: architecture, weights and optimizer state
        (`npnet.saving`; read back with `npnet.models.load_model`)."""
        saving.save_model(self, path)

    def load_weights(self, path: str | os.PathLike) -> None:
        """Load parameters saved by `save_weights` from a model with the same layers and shapes."""
        self._ensure_built()
        io.load_weights(path, self.layers)

    def summary(self, print_fn: Any = print) -> str:
        """A Keras-like table of layers, output shapes and parameter counts; printed with `print_fn`
        (None: not printed) and returned."""
        self._ensure_built()
        rows, shape = [], self.input_shape
        for layer in self.layers:
            shape = layer.compute_output_shape(shape)
            rows.append((f"{layer.name} ({type(layer).__name__})", str(shape), f"{layer.count_params():,}"))
        widths = [max(29, *(len(r[0]) + 1 for r in rows)), 26, 10]
        rule = "_" * sum(widths)

        def line(cells: Sequence[str]) -> str:
            return "".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

        body = [
            f'Model: "{self.name}"',
            rule,
            line(("Layer (type)", "Output Shape", "Param #")),
            "=" * sum(widths),
        ]
        for i, row in enumerate(rows):
            body += [line(row), "=" * sum(widths) if i == len(rows) - 1 else rule]
        total = self.count_params()
        body += [f"Total params: {total:,}", f"Trainable params: {total:,}", "Non-trainable params: 0", rule]
        text = "\n".join(body)
        if print_fn is not None:
            print_fn(text)
        return text

    # ---- input checks --------------------------------------------------------------------------------------

    def _require_compiled(self, what: str) -> None:
        if self.optimizer is None or self.loss is None:
            raise RuntimeError(
                f"compile the model before {what}: "
                "model.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy'])"
            )

    def _prepare_x(self, x: Any, what: str = "x") -> np.ndarray:
        try:
            x = np.asarray(x)
        except ValueError as exc:  # numpy refuses ragged nested lists
            raise ValueError(f"{what} is ragged ({exc}); pad the sequences to one length first") from None
        if x.dtype == object:
            raise ValueError(f"{what} is an object array (ragged sequences?); pad them to one length first")
        if x.ndim == 0 or len(x) == 0:
            raise ValueError(f"{what} is empty (shape {x.shape}); pass at least one sample")
        self._ensure_built(x)
        self.layers[0].check_input(x)
        return x

    def _prepare_y(self, y: Any, n: int, what: str = "y") -> np.ndarray:
        """Labels as a (n, 1) float column of 0/1."""
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise ValueError(f"{what} must have shape (n,) or (n, 1), got {y.shape}")
        if len(y) != n:
            raise ValueError(f"x and {what} differ in length: {n} samples but {len(y)} labels")
        if not (np.issubdtype(y.dtype, np.number) or y.dtype == bool):
            raise ValueError(f"{what} must be numeric 0/1 labels, got dtype {y.dtype}")
        bad = ~((y == 0) | (y == 1))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"{what} must hold binary labels 0 or 1, found {y[i].item()!r} at index {i}; "
                "map the classes to 0/1"
            )
        return y.astype(self.dtype).reshape(-1, 1)

    def _prepare_validation(self, data: Any) -> tuple[np.ndarray, np.ndarray] | None:
        if data is None:
            return None
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise ValueError("validation_data must be a pair (x_val, y_val)")
        xv = self._prepare_x(data[0], "validation x")
        return xv, self._prepare_y(data[1], len(xv), "validation y")


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class _Feed:
    """Batches of one input: rows of the ids themselves, or of their bag of words (the fused path)."""

    def __init__(
        self, x: np.ndarray, bag: fused_pair.BagOfWords | None = None, dtype: np.dtype | None = None
    ) -> None:
        self.x, self.bag, self.dtype = x, bag, dtype

    def __len__(self) -> int:
        return len(self.x)

    def __call__(self, rows: slice | np.ndarray) -> Batch:
        if self.bag is None:
            return self.x[rows]
        if isinstance(rows, slice):  # in order: views of the bag, cheaper than a gather
            return self.bag.slice(rows.start, min(rows.stop, len(self.bag)), self.dtype)
        return self.bag.take(rows, self.dtype)


class _CutAhead:
    """fit's batches, (rows, batch) in order, each cut from `feed` on another thread while the step before
    it runs: a cut does not depend on the weights. `start_next()` begins the next cut; the step calls it
    once its own work on the other thread is queued (the tail scatter), so the cut runs beside this
    thread's gemm and optimizer update. Without a bag (the readable path) a cut is a cheap row selection,
    not worth a hand-off, and happens here."""

    def __init__(self, feed: _Feed, selectors: list[slice | np.ndarray], workers: Workers) -> None:
        self._feed, self._selectors = feed, selectors
        self._workers = workers if feed.bag is not None else SERIAL
        self._next = 0
        self._pending: Callable[[], Batch] | None = None

    def start_next(self) -> None:
        if self._pending is None and self._next < len(self._selectors):
            self._pending = self._workers.start(self._feed, self._selectors[self._next])

    def __iter__(self) -> Iterator[tuple[slice | np.ndarray, Batch]]:
        while self._next < len(self._selectors):
            self.start_next()
            assert self._pending is not None
            batch, self._pending = self._pending(), None
            self._next += 1
            yield self._selectors[self._next - 1], batch


def _batches(n: int, batch_size: int, order: np.ndarray | None = None) -> Iterator[slice | np.ndarray]:
    """Row selectors for consecutive batches; the last batch keeps the remainder (Keras)."""
    for start in range(0, n, batch_size):
        yield slice(start, start + batch_size) if order is None else order[start : start + batch_size]
