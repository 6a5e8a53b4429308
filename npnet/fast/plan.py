"""`fast_plan`: the plan `fit`, `evaluate` and `predict` run by default (`npnet.plan` says what a plan is).

Starting from the model's layers, for one call:
1. fused pairs (`npnet.fast.fusions`), unless the model says `fused=False`: a model that starts with
   Embedding -> GlobalAveragePooling1D runs `FusedEmbeddingPool` on bags of words (its `BagBatches` are the
   call's batch source, its bags kept per model in `bag_cache(model)`); Conv1D(relu) -> GlobalMaxPooling1D
   runs `FusedConvMaxPool`;
2. threaded twins of the remaining readable layers (`npnet.fast.twin`): `FastEmbedding`, `SplitConv1D`,
   `ThreadedBidirectional`, and the attention's (`npnet.fast.attention`);
3. row-sparse gradients (in training): a table the optimizer `takes_sparse_rows` of (lazy Adam), or whose
   dense Adam step runs from its rows (`background_adam.takes_rows_step`), comes from its embedding twin as
   `SparseRows`; for the latter the plan's optimizer is a `BackgroundAdam` around the model's, its g = 0
   pass begun at `after_forward`; so it is too for another large parameter, whose dense step it runs in
   two halves, one per thread (`background_adam.takes_split_step`);
4. BLAS held to one thread for the call (`threads.blas_threads`: the products are small, and one thread is
   faster and robust on a busy machine).

With `fused=False`, and for a functional model (`npnet.functional`, whose graph is no chain of pairs), the
model runs its readable layers (`npnet.plan.readable_plan`), which is also what `train_on_batch` and
`test_on_batch` run.
"""

from __future__ import annotations

import weakref
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import numpy as np

from npnet.batches import BatchSource
from npnet.config import num_threads
from npnet.fast.attention import (
    FastMultiHeadAttention,
    FastTokenAndPositionEmbedding,
    FastTransformerBlock,
)
from npnet.fast.background_adam import BackgroundAdam, takes_rows_step, takes_split_step
from npnet.fast.bag_cache import BagCache
from npnet.fast.bidirectional import ThreadedBidirectional
from npnet.fast.conv import SplitConv1D
from npnet.fast.embedding import FastEmbedding
from npnet.fast.fused_layer import FusedEmbeddingPool
from npnet.fast.fusions import fused_stack, has_pair_twin, starts_with_embedding_pool
from npnet.fast.threads import blas_threads
from npnet.fast.twin import twin
from npnet.layers.attention import MultiHeadAttention
from npnet.layers.base import Layer
from npnet.layers.convolutional import Conv1D
from npnet.layers.embedding import Embedding
from npnet.layers.transformer import TokenAndPositionEmbedding, TransformerBlock
from npnet.layers.wrappers import Bidirectional
from npnet.optimizers import Adam, Optimizer
from npnet.plan import Gradient, Plan, readable_plan, trainable_params

if TYPE_CHECKING:
    from npnet.model import Sequential

# The fast class of each readable layer class that has one (exact classes: a subclass may compute otherwise).
TWINS: dict[type[Layer], type[Layer]] = {
    Embedding: FastEmbedding,
    Conv1D: SplitConv1D,
    Bidirectional: ThreadedBidirectional,
    MultiHeadAttention: FastMultiHeadAttention,
    TransformerBlock: FastTransformerBlock,
    TokenAndPositionEmbedding: FastTokenAndPositionEmbedding,
}

_BAG_CACHES: weakref.WeakKeyDictionary[Sequential, BagCache] = weakref.WeakKeyDictionary()


def bag_cache(model: Sequential) -> BagCache:
    """The bags of words of the inputs the model's fit/evaluate/predict saw last, by content
    (`BagCache.max_entries = 0` turns it off; `clear()` frees them)."""
    cache = _BAG_CACHES.get(model)
    if cache is None:
        cache = _BAG_CACHES[model] = BagCache()
    return cache


def uses_fused_path(model: Sequential) -> bool:
    """Whether the model's fit/evaluate/predict run fused pairs: automatic (`fused=None`) when it has a
    pair with a fused twin (`npnet.fast.fusions`); `fused=True` on a model with no such pair is an error."""
    fits = starts_with_embedding_pool(model.layers) or has_pair_twin(model.layers)
    if model.fused and not fits:
        first_two = [type(layer).__name__ for layer in model.layers[:2]]
        raise ValueError(
            "fused=True needs a model that starts with Embedding -> GlobalAveragePooling1D or holds "
            f"Conv1D(activation='relu') -> GlobalMaxPooling1D; this one starts with {first_two} and "
            "holds no such pair; use fused=None (automatic) or False"
        )
    return fits and model.fused is not False


def fast_plan(model: Sequential, optimizer: Optimizer | None = None) -> Plan:
    """The plan of one fit (`optimizer` given) or evaluate/predict call of `model` (see the module)."""
    if model.fused is False or model.graph_config() is not None:  # a functional model runs its graph
        return readable_plan(model, optimizer)
    return FastPlan(model, optimizer)


class FastPlan(Plan):
    """Fused pairs, threaded twins, row-sparse gradients and the background Adam pass (see the module)."""

    def __init__(self, model: Sequential, optimizer: Optimizer | None) -> None:
        self._resources = ExitStack()
        self._resources.enter_context(blas_threads(1))
        self._fused_pool: FusedEmbeddingPool | None = None
        layers = list(model.layers)
        if uses_fused_path(model):
            layers = fused_stack(layers)
            if starts_with_embedding_pool(model.layers):
                embedding = model.layers[0]
                assert isinstance(embedding, Embedding)
                pool = FusedEmbeddingPool(embedding, threads=num_threads(), bags=bag_cache(model))
                self._fused_pool = self._resources.enter_context(pool)
                layers = [pool, *layers[2:]]
        layers = [twin(layer, TWINS[type(layer)]) if type(layer) in TWINS else layer for layer in layers]
        super().__init__(layers, optimizer)
        self.params = [p for layer in layers for _, p in trainable_params(layer)]  # the optimizer's order
        rows_step: set[int] = set()
        split_step: set[int] = set()
        if optimizer is not None:
            i = 0
            for layer in layers:
                for _, param in trainable_params(layer):
                    rows = False
                    if isinstance(layer, (FastEmbedding, FusedEmbeddingPool)):
                        rows = takes_rows_step(optimizer, param)
                        if rows or optimizer.takes_sparse_rows(param):
                            layer.emit_rows = True
                    if rows:
                        rows_step.add(i)
                    elif takes_split_step(optimizer, param):
                        split_step.add(i)
                    i += 1
        self._background: BackgroundAdam | None = None
        if rows_step or split_step:
            assert isinstance(optimizer, Adam)
            self._background = BackgroundAdam(optimizer, rows_step, split_step)
            self.optimizer = self._background  # type: ignore[assignment]  # the same apply_gradients

    def batches(self, x: np.ndarray) -> BatchSource:
        return self._fused_pool.batches(x) if self._fused_pool is not None else super().batches(x)

    def after_forward(self, x: Any) -> None:
        """Begin the background Adam pass of each large table the first layer looked up in batch `x`."""
        super().after_forward(x)
        if self._background is None or not self._background.tables:
            return
        first = self.layers[0]
        looked_up = {}
        for i, (key, _) in enumerate(trainable_params(first)):  # the first layer's come first
            ids = first.table_ids(key, x)
            if ids is not None and i in self._background.tables:
                looked_up[i] = ids
        self._background.begin(self.params, looked_up)

    def gradient(self, layer: Layer, key: str) -> Gradient:
        """A row twin's `SparseRows` where the plan asked it for them; else the readable plan's choice."""
        if isinstance(layer, (FastEmbedding, FusedEmbeddingPool)) and layer.emit_rows:
            return layer.row_grads[key]
        return super().gradient(layer, key)

    def close(self, failed: bool = False) -> None:
        """Stop the threads; after a failed step, wait for a begun Adam pass and put its rows back."""
        if self._background is not None:
            self._background.abandon()
        self._resources.close()
