"""Trainer: compile, fit, evaluate, predict, train/test_on_batch and gradients, for `Sequential`.

Who owns which `fit` argument (as in Keras's `trainers/epoch_iterator.py`):

- the plan of the call (`npnet.plan`): the layer stack, the batch source of `x` (how a batch is cut from
  it), the optimizer that takes each step and the gradients it takes;
- this loop: `y`, `batch_size` and `shuffle` (the row selectors of each epoch, drawn from `model.fit_rng`),
  `epochs`, `initial_epoch`, `seed`, `callbacks`, `verbose`, `validation_data` and `validation_split`;
- the layers: the forward and backward passes (`npnet.layers.base.forward_through` / `backward_through`),
  with each layer's mask handed to the next;
- `compile`: the optimizer, the loss and its gradient, the logged metrics.

Metrics come in two kinds. `BinaryAccuracy` is a value per batch; an epoch's (and evaluate's) is the
batch-size-weighted mean of its batches' values. A `StatefulMetric` (Precision, Recall, AUC) is Keras's
protocol: `reset_state()` when an epoch or an evaluate call begins, `update_state(y, y_pred)` after each
batch's forward, `result()` logged: after a batch the running value, at the end the whole epoch's.

Sample weights (`fit(sample_weight=..., class_weight=...)`) weigh each sample's loss, Keras 3's
"sum_over_batch_size": a batch's loss is sum(w * loss) / batch size, and its gradient is that loss's. As
in Keras, the metrics are not weighted.

One loop for every model. Each `fit`/`evaluate`/`predict` call asks `make_plan` once and runs its
`layers` on its `batches`: a training step is forward, loss, backward, optimizer step, as
`examples/train_by_hand.py` writes it out, with the plan's two events between them. Which plan answers is
not this module's business: by default `npnet.fast`'s, which runs fused pairs and threaded twins of the
readable layers (each tested equal to them), so a breakpoint in `Embedding.backward` fires in `fit` only
with `Sequential(..., fused=False)`. `train_on_batch`, `test_on_batch`, `gradients`, `forward`, `backward`
and `layer_outputs` always run the readable layers (`readable_plan`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast, overload

import numpy as np

from npnet import losses, optimizers
from npnet import metrics as metrics_lib
from npnet.batches import ArrayBatches, BatchSource, batch_rows
from npnet.callbacks import Callback, CallbackList, History, ProgbarLogger, progress_line
from npnet.layers.base import Layer, backward_through, forward_through
from npnet.plan import Gradient, Plan, make_plan, readable_plan
from npnet.validation import fraction, int_in, optional_seed, positive_int

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
        def _prepare_x(self, x: Any, what: str = "x") -> np.ndarray: ...
        def loop_stack(self) -> list[Layer]: ...

    def __init__(self) -> None:
        self.optimizer: optimizers.Optimizer | None = None
        self.loss: losses.Loss | None = None
        self.metrics: list[metrics_lib.CompiledMetric] = []
        self.stop_training = False  # a callback sets this to end fit after the current batch
        self.history: History | None = None
        # The gradients of the last training step, by parameter (id of the array): what the optimizer took.
        self._step_gradients: dict[int, Gradient] = {}
        # The trainable weights ("layer.key") the optimizer's slots were made for: slot i belongs to the i-th.
        self._trained_weights: list[str] | None = None

    # ---- compile -------------------------------------------------------------------------------------------

    def compile(
        self,
        optimizer: str | optimizers.Optimizer = "adam",
        loss: str | losses.Loss = "binary_crossentropy",
        metrics: Sequence[str | metrics_lib.CompiledMetric] | None = None,
    ) -> None:
        """Choose optimizer, loss and metrics (names or instances: "accuracy", "precision", "recall",
        "auc"). A named accuracy (and AUC) follows the loss's `from_logits`, so it thresholds logits at 0
        and probabilities at 0.5."""
        self.optimizer = optimizers.get(optimizer)
        self._trained_weights = None
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
        class_weight: dict[int, float] | None = None,
        sample_weight: np.ndarray | None = None,
    ) -> History:
        """Train for epochs `initial_epoch .. epochs-1`, Keras-style.

        Batches of `batch_size` in (per-epoch shuffled, if `shuffle`) order, the last one partial. Epoch
        loss/metrics are the batch-size-weighted means of each batch's value computed *before* its update;
        validation runs on the end-of-epoch weights at the same batch size. `validation_split` in [0, 1)
        holds out the *last* fraction of x and y (before any shuffling, as Keras) as validation data;
        `validation_data` wins over it; it may be (x, y, sample_weight). `seed` re-seeds `fit_rng` first.
        `sample_weight` (n,): each sample's loss weight; `class_weight` {0: w0, 1: w1}: the weight of every
        sample of a class (one or the other, as Keras; see the module on how weights enter the loss). The
        validation split takes its share of `sample_weight`, never `class_weight` (Keras's rule).
        verbose: 0 silent, 1 progress bar (in place on a terminal), 2 one line per epoch.
        A non-finite loss raises FloatingPointError naming the epoch and batch, before that batch's update.
        History keys are Keras's: loss, metrics, and val_ of each with validation.
        """
        self._require_compiled("fit")
        assert self.optimizer is not None
        batch_size = positive_int(32 if batch_size is None else batch_size, "batch_size")
        epochs = positive_int(epochs, "epochs")
        initial_epoch = int_in(initial_epoch, "initial_epoch", 0, epochs)
        seed = optional_seed(seed, "fit seed", none="the model's generator as it stands")
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
        x = self._prepare_x(x)
        y = self._prepare_y(y, len(x))
        self._check_trainable_unchanged("fit")
        weights = self._prepare_sample_weight(sample_weight, len(x))
        validation = self._prepare_validation(validation_data)
        if validation is None and validation_split:
            (x, y, weights), validation = _split_off_validation(x, y, weights, validation_split)
        if class_weight is not None:
            if weights is not None:
                raise ValueError("fit: pass class_weight or sample_weight, not both (Keras refuses both too)")
            weights = _class_weights(class_weight, y)
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
        with make_plan(cast("Sequential", self), self.optimizer) as plan:
            source = plan.batches(x)
            val_source = None if validation is None else plan.batches(validation[0])
            cbs.on_train_begin()
            for epoch in range(initial_epoch, epochs):
                cbs.on_epoch_begin(epoch)
                self._reset_stateful_metrics()
                order = self.fit_rng.permutation(n) if shuffle else None
                totals: dict[str, float] = {}
                seen = 0
                for batch, (rows, xb) in enumerate(source.epoch(batch_rows(n, batch_size, order))):
                    yb = y[rows]
                    cbs.on_batch_begin(batch, {"batch": batch, "size": len(xb)})
                    where = f"epoch {epoch + 1}/{epochs}, batch {batch + 1}/{steps}"
                    wb = None if weights is None else weights[rows]
                    logs = self._train_step(plan, xb, yb, where, wb)
                    seen += len(xb)
                    for key, value in logs.items():
                        totals[key] = totals.get(key, 0.0) + value * len(xb)
                    cbs.on_batch_end(batch, {"batch": batch, "size": len(xb), **logs})
                    if self.stop_training:
                        break
                epoch_logs = {key: total / seen for key, total in totals.items()}
                epoch_logs.update(self._stateful_results())  # the epoch's, not a mean of running values
                if val_source is not None and validation is not None:
                    val_logs = self._evaluate_source(
                        plan.layers, val_source, validation[1], batch_size, validation[2]
                    )
                    epoch_logs.update({f"val_{key}": value for key, value in val_logs.items()})
                cbs.on_epoch_end(epoch, epoch_logs)
                if self.stop_training:
                    break
            cbs.on_train_end()
        return history

    def _check_trainable_unchanged(self, what: str) -> None:
        """The optimizer's slots are aligned with the trainable weights it first stepped: refuse to go on
        when `layer.trainable` has changed since (Keras, too, needs `compile` again after such a change)."""
        assert self.optimizer is not None
        trained = [f"{layer.name}.{key}" for layer in self.layers for key in layer.trainable_params()]
        if self._trained_weights is None or self.optimizer.iterations == 0:
            self._trained_weights = trained
        elif trained != self._trained_weights:
            raise ValueError(
                f"{what}: the trainable weights changed after the optimizer took {self.optimizer.iterations} "
                f"steps (now {len(trained)}, were {len(self._trained_weights)}); after setting "
                "layer.trainable, call model.compile(...) again to start a fresh optimizer, as in Keras"
            )

    def _train_step(
        self, plan: Plan, x: Any, y: np.ndarray, where: str, weights: np.ndarray | None = None
    ) -> dict[str, float]:
        """One step on batch (x, y) with sample weights (n, 1) or None: forward, loss and metrics
        (pre-update values), backward, optimizer step."""
        assert self.loss is not None and plan.optimizer is not None
        y_pred = forward_through(plan.layers, x, training=True)
        loss = self._loss(y, y_pred, weights)
        if not math.isfinite(loss):
            raise FloatingPointError(
                f"loss became {loss} at {where}; training stopped before that update, so the weights are "
                "those from before it. Lower the learning rate or check the inputs"
            )
        logs = {"loss": loss, **self._metric_values(y, y_pred)}
        plan.after_forward(x)
        grad = self.loss.gradient(y, y_pred) if weights is None else self.loss.gradient(y, y_pred, weights)
        backward_through(plan.layers, grad)
        plan.after_backward()
        gradients_and_params = plan.gradients_and_params()
        plan.optimizer.apply_gradients(gradients_and_params)
        self._step_gradients = {id(p): g for g, p in gradients_and_params}
        return logs

    def _loss(self, y: np.ndarray, y_pred: np.ndarray, weights: np.ndarray | None) -> float:
        assert self.loss is not None
        return self.loss(y, y_pred) if weights is None else self.loss(y, y_pred, weights)

    def _metric_values(self, y: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
        """Each metric's value after batch (y, y_pred): a batch metric's own, a stateful one's running
        result (updated with this batch first)."""
        values = {}
        for m in self.metrics:
            if isinstance(m, metrics_lib.StatefulMetric):
                m.update_state(y, y_pred)
                values[m.name] = m.result()
            else:
                values[m.name] = m(y, y_pred)
        return values

    def _reset_stateful_metrics(self) -> None:
        for m in self.metrics:
            if isinstance(m, metrics_lib.StatefulMetric):
                m.reset_state()

    def _stateful_results(self) -> dict[str, float]:
        return {m.name: m.result() for m in self.metrics if isinstance(m, metrics_lib.StatefulMetric)}

    def step_gradient(self, layer: Layer, key: str) -> Gradient:
        """The gradient of `layer.params[key]` the last training step took: `layer.grads[key]`, or the
        `SparseRows` of a lookup table whose gradient went to the optimizer row-sparse (lazy Adam, and a
        large table's dense Adam in fit), in which case `grads[key]` was not written."""
        return self._step_gradients.get(id(layer.params[key]), layer.grads[key])

    def train_on_batch(
        self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> list[float]:
        """One optimizer step on (x, y). Returns [loss, *metrics] computed before the update (as Keras;
        stateful metrics are reset first, so theirs are this batch's)."""
        self._require_compiled("train_on_batch")
        x = self._prepare_x(x)
        y = self._prepare_y(y, len(x))
        weights = self._prepare_sample_weight(sample_weight, len(x))
        self._check_trainable_unchanged("train_on_batch")
        self._reset_stateful_metrics()
        with readable_plan(cast("Sequential", self), self.optimizer) as plan:
            logs = self._train_step(plan, x, y, "this batch (train_on_batch)", weights)
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

    @overload
    def evaluate(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int | None = ...,
        verbose: int = ...,
        sample_weight: np.ndarray | None = ...,
        return_dict: Literal[False] = ...,
    ) -> list[float]: ...

    @overload
    def evaluate(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int | None = ...,
        verbose: int = ...,
        sample_weight: np.ndarray | None = ...,
        *,
        return_dict: Literal[True],
    ) -> dict[str, float]: ...

    def evaluate(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int | None = 32,
        verbose: int = 0,
        sample_weight: np.ndarray | None = None,
        return_dict: bool = False,
    ) -> list[float] | dict[str, float]:
        """[loss, *metrics] over (x, y) ({"loss": ..., "accuracy": ...} with `return_dict`): batch-size-
        weighted means of per-batch values, a stateful metric's value over all of x. `sample_weight` (n,)
        weighs the loss as in `fit`. `verbose=1` or 2 prints one Keras-like line, e.g.
        `782/782 - 1s 2ms/step - loss: 0.3120 - accuracy: 0.8740`."""
        self._require_compiled("evaluate")
        batch_size = positive_int(32 if batch_size is None else batch_size, "batch_size")
        _check_verbose(verbose)
        x = self._prepare_x(x)
        y = self._prepare_y(y, len(x))
        weights = self._prepare_sample_weight(sample_weight, len(x))
        start = time.perf_counter()
        with make_plan(cast("Sequential", self)) as plan:
            logs = self._evaluate_source(plan.layers, plan.batches(x), y, batch_size, weights)
        if verbose:
            steps = math.ceil(len(x) / batch_size)
            print(progress_line(steps, steps, time.perf_counter() - start, logs, bar=False))
        return logs if return_dict else list(logs.values())

    def test_on_batch(self, x: np.ndarray, y: np.ndarray) -> list[float]:
        """[loss, *metrics] on one batch, no update."""
        self._require_compiled("test_on_batch")
        x = self._prepare_x(x)
        y = self._prepare_y(y, len(x))
        return list(self._evaluate_source(self.loop_stack(), ArrayBatches(x), y, len(x)).values())

    def _evaluate_source(
        self,
        stack: Sequence[Layer],
        source: BatchSource,
        y: np.ndarray,
        batch_size: int,
        weights: np.ndarray | None = None,
    ) -> dict[str, float]:
        totals = dict.fromkeys(self.metrics_names, 0.0)
        self._reset_stateful_metrics()
        for rows, y_pred in self._predict_source(stack, source, batch_size):
            size = len(y_pred)
            totals["loss"] += self._loss(y[rows], y_pred, None if weights is None else weights[rows]) * size
            for name, value in self._metric_values(y[rows], y_pred).items():
                totals[name] += value * size
        logs = {key: total / len(y) for key, total in totals.items()}
        return logs | self._stateful_results()

    def predict(self, x: np.ndarray, batch_size: int | None = 32, verbose: int = 0) -> np.ndarray:
        """Model outputs for x, shape (n, 1) for the IMDB model (probabilities after a sigmoid).
        `verbose=1` or 2 prints one Keras-like line, e.g. `782/782 - 1s 2ms/step`."""
        batch_size = positive_int(32 if batch_size is None else batch_size, "batch_size")
        _check_verbose(verbose)
        x = self._prepare_x(x)
        start = time.perf_counter()
        with make_plan(cast("Sequential", self)) as plan:
            outputs = np.concatenate(
                [y_pred for _, y_pred in self._predict_source(plan.layers, plan.batches(x), batch_size)]
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

    def _prepare_sample_weight(self, weights: Any, n: int, what: str = "sample_weight") -> np.ndarray | None:
        """Sample weights as a (n, 1) column of finite numbers >= 0, or None."""
        if weights is None:
            return None
        w = np.asarray(weights)
        if w.ndim == 2 and w.shape[1] == 1:
            w = w[:, 0]
        if w.ndim != 1 or len(w) != n:
            raise ValueError(f"{what} must have shape ({n},), one weight per sample, got {w.shape}")
        if not np.issubdtype(w.dtype, np.number) or not np.isfinite(w).all() or (w < 0).any():
            raise ValueError(f"{what} must hold finite weights >= 0")
        return w.astype(self.dtype).reshape(-1, 1)

    def _prepare_validation(self, data: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
        if data is None:
            return None
        if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
            raise ValueError(
                "validation_data must be a pair (x_val, y_val) or a triple (x_val, y_val, sample_weight_val)"
            )
        xv = self._prepare_x(data[0], "validation x")
        yv = self._prepare_y(data[1], len(xv), "validation y")
        weights = (
            self._prepare_sample_weight(data[2], len(xv), "validation sample_weight")
            if len(data) == 3
            else None
        )
        return xv, yv, weights


Weighted = tuple[np.ndarray, np.ndarray, np.ndarray | None]


def _split_off_validation(
    x: np.ndarray, y: np.ndarray, weights: np.ndarray | None, split: float
) -> tuple[Weighted, Weighted]:
    """((x, y, weights) for training, the same for validation): the last `split` fraction of the samples
    validate, as in Keras (`split_at = floor(n * (1 - split))`)."""
    split = fraction(split, "validation_split")
    split_at = math.floor(len(x) * (1.0 - split))
    if split_at in (0, len(x)):
        raise ValueError(
            f"validation_split={split} leaves no samples on one side of {len(x)}: pass more data or "
            "another fraction"
        )
    if weights is None:
        return (x[:split_at], y[:split_at], None), (x[split_at:], y[split_at:], None)
    return (x[:split_at], y[:split_at], weights[:split_at]), (x[split_at:], y[split_at:], weights[split_at:])


def _class_weights(class_weight: Any, y: np.ndarray) -> np.ndarray:
    """The (n, 1) sample weights of `class_weight` {class: weight} for labels `y` (n, 1), as Keras."""
    if not isinstance(class_weight, dict) or not all(
        isinstance(w, (int, float)) and math.isfinite(w) and w >= 0 for w in class_weight.values()
    ):
        raise ValueError(
            "class_weight must be a dict {class: weight >= 0}, e.g. {0: 1.0, 1: 3.0}, got "
            f"{class_weight!r:.100}"
        )
    missing = {int(c) for c in np.unique(y)} - {int(c) for c in class_weight}
    if missing:
        raise ValueError(f"class_weight has no weight for class {sorted(missing)}; give one for 0 and 1")
    table = np.array([class_weight.get(c, 0.0) for c in (0, 1)], dtype=y.dtype)
    return table[y.astype(np.intp)]


def _check_verbose(verbose: int) -> None:
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0 (silent), 1 or 2 (one summary line), got {verbose!r}")


# Python names a method's class in its argument errors ("Trainer.fit() got an unexpected keyword
# argument ..."); users call these as Keras's `Model.fit`, and npnet's Trainer is no name of theirs.
for _method in ("compile", "fit", "evaluate", "predict", "train_on_batch", "test_on_batch", "gradients"):
    getattr(Trainer, _method).__qualname__ = f"Model.{_method}"
