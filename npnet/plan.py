"""The plan of one `fit`, `evaluate` or `predict` call: everything the trainer's loop runs, chosen once.

A plan holds
- `layers`: the layer stack forward and backward go through (`forward_through` / `backward_through`);
- `batches(x)`: the batch source of an input (`npnet.batches`);
- `optimizer`: what takes each step, and `gradients_and_params()`: what it steps with, in `model.weights`
  order (a lookup table's gradient as `SparseRows` where the optimizer `takes_sparse_rows` of it), the
  trainable parameters only (`Layer.trainable_params`: not a frozen layer's, not BatchNormalization's
  moving statistics), so the optimizer's slot i belongs to the i-th trainable parameter;
- two events of a training step: `after_forward(x)` (the forward is done and its loss finite: no layer reads
  a lookup table again before the update) and `after_backward()` (every gradient is ready);
- `close(failed)`, run when the call ends (`with plan: ...`), `failed` when it ends in an exception.

`Plan` itself is the readable plan: `model.layers` on `ArrayBatches`, dense gradients (a lazy optimizer's
table rows gathered from them), the model's optimizer, no events. Speed lives in `npnet.fast`, whose
planner (`npnet.fast.plan.fast_plan`: fused pairs, threaded twins, row-sparse gradients, a background
Adam pass) `npnet/__init__.py` installs with `use_planner`; the trainer asks `make_plan` and never learns
which planner answered. `use_planner(readable_plan)` runs every model on its readable layers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from npnet.batches import ArrayBatches, BatchSource
from npnet.layers.base import Layer
from npnet.sparse import SparseRows

if TYPE_CHECKING:
    from npnet.model import Sequential
    from npnet.optimizers import Optimizer

Gradient = np.ndarray | SparseRows


class Plan:
    """The readable plan: `layers` as they are, rows of the input as batches, dense gradients."""

    def __init__(
        self,
        layers: Sequence[Layer],
        optimizer: Optimizer | None = None,
        weighted: Sequence[Layer] | None = None,
    ) -> None:
        self.layers = list(layers)
        self.optimizer = optimizer
        # The layers whose parameters the optimizer steps, in `model.weights` order: `layers` themselves, or
        # a functional model's layers when `layers` is its whole graph run as one step.
        self.weighted = self.layers if weighted is None else list(weighted)
        self._batch: Any = None  # the training batch of the current step, for its looked-up rows

    def batches(self, x: np.ndarray) -> BatchSource:
        return ArrayBatches(x)

    def after_forward(self, x: Any) -> None:
        """The step's forward ran on batch `x` and its loss is finite."""
        self._batch = x

    def after_backward(self) -> None:
        """Every layer of the step holds its gradients."""

    def gradients_and_params(self) -> list[tuple[Gradient, np.ndarray]]:
        """(gradient, parameter) of every trainable parameter of the `weighted` layers, in order
        (`gradient`)."""
        return [
            (self.gradient(layer, key), param)
            for layer in self.weighted
            for key, param in trainable_params(layer)
        ]

    def gradient(self, layer: Layer, key: str) -> Gradient:
        """The gradient the optimizer takes for `layer.params[key]`: `grads[key]`, except a lookup table of
        the stack's first layer (the one that sees the batch) that the optimizer wants row-sparse (lazy
        Adam): the rows this step's batch looked up (`Layer.table_ids`), gathered from the dense gradient."""
        dense = layer.grads[key]
        if self._batch is None or self.optimizer is None or not self.layers or layer is not self.layers[0]:
            return dense
        ids = layer.table_ids(key, self._batch)
        if ids is None or not self.optimizer.takes_sparse_rows(layer.params[key]):
            return dense
        return SparseRows.gather(dense, np.unique(ids))

    def close(self, failed: bool = False) -> None:
        """The call is over (`failed`: by an exception); a plan releases what it holds here."""

    def __enter__(self) -> Plan:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self.close(failed=kind is not None)


def trainable_params(layer: Layer) -> list[tuple[str, np.ndarray]]:
    """(key, parameter) of the layer's parameters an optimizer steps (`Layer.trainable_params`), in order."""
    return list(layer.trainable_params().items())


Planner = Callable[["Sequential", "Optimizer | None"], Plan]


def readable_plan(model: Sequential, optimizer: Optimizer | None = None) -> Plan:
    """The model's own layers, as written: what `train_on_batch` and `test_on_batch` always run."""
    return Plan(model.loop_stack(), optimizer, model.layers)


_planner: list[Planner] = [readable_plan]


def use_planner(planner: Planner) -> None:
    """Make `planner` the one `make_plan` asks (`npnet/__init__.py` installs `npnet.fast`'s)."""
    _planner[0] = planner


def make_plan(model: Sequential, optimizer: Optimizer | None = None) -> Plan:
    """The plan of one fit (with its `optimizer`), evaluate or predict call (`optimizer=None`)."""
    return _planner[0](model, optimizer)
