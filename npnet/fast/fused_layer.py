"""FusedEmbeddingPool: an Embedding followed by GlobalAveragePooling1D, run as one bag-of-words layer.

The pair is linear in the embedding table, so a batch's pooled output and the table's gradient come from
the batch's id counts (`npnet.fast.embedding_pool`, derived in docs/derivations/embedding-pooling.md) without
materializing
the (batch, T, D) Embedding output. The trainer runs `[FusedEmbeddingPool(embedding), *layers[2:]]` in
place of the model's layers when a model starts with that pair (see `npnet.trainer`); the readable
`Embedding` and `GlobalAveragePooling1D` are the reference it is tested equal to.

The layer shares the Embedding's `params` and `grads` dictionaries (the same arrays): the optimizer,
callbacks, checkpoints and `get_weights` see the table and its gradient where they always are, on the
Embedding, whichever path ran. With `emit_rows` (the plan sets it when the optimizer takes the table's
gradient row-sparse: lazy Adam, or dense Adam on a large table), `backward` computes only the looked-up rows
(`embedding_pool.backward_rows`, a `SparseRows` in `row_grads`) and leaves the (V, D) `grads["embeddings"]`
unwritten, so the fastText table's 240 MB gradient is never touched. Under `mask_zero` those rows leave out
the padding id, whose gradient through the masked average is always zero: its m and v stay zero, so lazy
Adam leaves that row exactly as the readable plan (which hands it over, zero) does.

Its input is not ids but batches of a `BagBatches` source, made by `batches(ids)`; the layer owns the
threads (`npnet.fast.threads.Workers`) that source and its kernels use, and at the end of each backward
it starts cutting the training source's next batch (`BagBatches.prefetch`), beside the optimizer update.
"""

from __future__ import annotations

import numpy as np

from npnet.fast import embedding_pool
from npnet.fast.bag_cache import BagCache
from npnet.fast.batches import BagBatches, Pooled
from npnet.fast.embedding_pool import BagBatch, BagOfWords
from npnet.fast.threads import SERIAL, Workers
from npnet.layers.base import Layer, Shape
from npnet.layers.embedding import Embedding
from npnet.sparse import SparseRows

# A batch's tail (forward sums, backward scatter) goes to the second thread only from this many tokens:
# the caller waits for it, and waking a thread costs as much as the whole tail of a small batch (IMDB-like,
# ~34 tail tokens a review: batch 32 ~1,100 tokens, batch 512 ~18,000). In paired fit runs batch 32 to 256
# were faster keeping the tail on one thread and batch 512 faster handing it over, so the threshold sits
# between (benchmarks/HISTORY.md, "speed at every batch size", "Levers measured"). The next batch's cut
# (`BagBatches.prefetch`) is not waited for, so it keeps the thread at every size.
MIN_TAIL_TOKENS_FOR_THREAD = 12_000


class FusedEmbeddingPool(Layer):
    """`GlobalAveragePooling1D()(embedding(ids))` on bag-of-words batches: (B, T) ids -> (B, D) means.

    `threads`: how many threads the kernels and the batch source use (1: everything on the caller's
    thread). Every thread count gives bitwise the same numbers. `bags`: a `BagCache` that keeps the bags
    of words of inputs across calls (the model's own, so a repeated fit on the same data counts nothing);
    None builds every input's bag afresh. Use as a context manager, or `close()`,
    to stop the threads.
    """

    def __init__(self, embedding: Embedding, threads: int = 1, bags: BagCache | None = None) -> None:
        super().__init__(name=embedding.name, dtype=embedding.dtype)
        if not embedding.built:
            raise ValueError(f"build Embedding {embedding.name!r} before fusing it with its pooling")
        self.embedding = embedding
        self.params = embedding.params  # the same dictionaries: updates and gradients land on the Embedding
        self.grads = embedding.grads
        self.trainable = embedding.trainable  # a frozen table stays frozen on this path too
        self.emit_rows = False
        self.row_grads: dict[str, SparseRows] = {}
        self._epoch_source: BagBatches | None = None  # the source fit is drawing batches from
        self.dtype = embedding.dtype
        self.built = True
        self.workers = Workers(threads)
        self.bags = bags
        self._batch: BagBatch | None = None

    def batches(self, ids: np.ndarray) -> BagBatches:
        """The batch source for `ids` (N, T): their bag of words, counted once here for every epoch (or
        found in `bags`, if these ids were seen before)."""
        vocab_size, mask_zero = self.embedding.input_dim, self.embedding.mask_zero
        if self.bags is None:
            bag = BagOfWords.from_ids(ids, vocab_size, mask_zero=mask_zero)
        else:
            bag = self.bags.get(ids, vocab_size, mask_zero=mask_zero, workers=self.workers)
        return BagBatches(bag, self.params["embeddings"].dtype, self.workers, self._pooled, self._epoch_began)

    def _epoch_began(self, source: BagBatches) -> None:
        self._epoch_source = source

    def _pooled(self, batch: BagBatch) -> np.ndarray:
        return embedding_pool.forward(batch, self.params["embeddings"])

    def forward(  # type: ignore[override]  # takes a bag-of-words batch where Layer takes an array
        self, batch: BagBatch | Pooled, mask: np.ndarray | None = None, training: bool = False
    ) -> np.ndarray:
        """batch (a `BagBatch` of B reviews, or a `Pooled` one) -> pooled (B, D).

        A `Pooled` batch was computed ahead on another thread (evaluate/predict)."""
        if isinstance(batch, Pooled):
            return batch.output
        self._batch = batch
        # In training the second thread sums the tail beside this thread's gemm; in inference it is busy
        # with its own run of batches (`BagBatches.in_order`), so this thread computes alone.
        workers = self.workers if training else SERIAL
        return embedding_pool.forward(batch, self.params["embeddings"], self._for_tail(batch, workers))

    def backward(self, grad_pooled: np.ndarray) -> None:
        """grad_pooled (B, D) -> None (ids have no gradient). Overwrites `grads["embeddings"]` (the
        Embedding's own array) with dE = Cᵀ diag(scale) grad_pooled; with `emit_rows`, puts its looked-up
        rows in `row_grads["embeddings"]` instead. Then starts cutting the epoch's next batch."""
        if self._batch is None:
            raise RuntimeError("FusedEmbeddingPool.backward needs a training forward first")
        workers = self._for_tail(self._batch, self.workers)
        if self.emit_rows:
            self.row_grads["embeddings"] = embedding_pool.backward_rows(
                self._batch, grad_pooled, workers=workers
            )
        else:
            embedding_pool.backward(self._batch, grad_pooled, out=self.grads["embeddings"], workers=workers)
        if self._epoch_source is not None:
            self._epoch_source.prefetch()
        return None

    @staticmethod
    def _for_tail(batch: BagBatch, workers: Workers) -> Workers:
        """`workers` if the batch's tail is worth a hand-off, else this thread alone (the same numbers)."""
        return workers if batch.tail_ids.size >= MIN_TAIL_TOKENS_FOR_THREAD else SERIAL

    def compute_mask(self, x: object, mask: np.ndarray | None) -> None:
        return None  # the pooling consumed the Embedding's mask

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], self.embedding.output_dim)

    def close(self) -> None:
        self.workers.close()

    def __enter__(self) -> FusedEmbeddingPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
