"""`BagBatches`: the batch source of the fused Embedding + GlobalAveragePooling1D layer
(`FusedEmbeddingPool`), batches cut from one bag of words (`npnet.fast.embedding_pool.BagOfWords`) instead of
rows of ids.

It cuts each next batch on the fused layer's second thread while the step before it finishes (the layer
calls `prefetch` at the end of its backward, just before the optimizer update: nothing in a batch depends
on the weights), and splits evaluate/predict into one run of batches per thread. Every batch is cut and
computed exactly as on one thread, so the thread count changes no bit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from npnet.batches import Rows, batch_rows
from npnet.fast.embedding_pool import BagBatch, BagOfWords
from npnet.fast.threads import Workers


@dataclass(frozen=True, eq=False)
class Pooled:
    """A batch whose fused forward another thread already ran (evaluate/predict): its output (B, D)."""

    output: np.ndarray

    def __len__(self) -> int:
        return len(self.output)


class BagBatches:
    """Batches cut from the bag of words of one input, for `FusedEmbeddingPool`.

    `workers` are the fused layer's threads; `forward(batch)` is its forward pass for one batch on the
    calling thread (used to run other threads' shares of evaluate/predict). Every batch is cut and
    computed exactly as on one thread, so the thread count changes no bit.
    """

    def __init__(
        self,
        bag: BagOfWords,
        dtype: np.dtype,
        workers: Workers,
        forward: Callable[[BagBatch], np.ndarray],
        on_epoch: Callable[[BagBatches], None] | None = None,
    ) -> None:
        self.bag, self.dtype, self._workers, self._forward = bag, dtype, workers, forward
        self._on_epoch = on_epoch  # tells the fused layer which source's next batch to prefetch
        self._selectors: Sequence[Rows] = []
        self._next = 0
        self._pending: Callable[[], BagBatch] | None = None

    def __len__(self) -> int:
        return len(self.bag)

    def cut(self, rows: Rows) -> BagBatch:
        """The batch of `rows`: views of the bag for consecutive rows (cheaper than a gather), else a take."""
        if isinstance(rows, slice):
            return self.bag.slice(rows.start, min(rows.stop, len(self.bag)), self.dtype)
        return self.bag.take(rows, self.dtype)

    def epoch(self, selectors: Sequence[Rows]) -> Iterator[tuple[Rows, BagBatch]]:
        """Each batch is cut on the other thread while the step before it runs (see `prefetch`)."""
        self._selectors, self._next, self._pending = selectors, 0, None
        if self._on_epoch is not None:
            self._on_epoch(self)
        while self._next < len(self._selectors):
            batch = self._collect()
            self._next += 1
            yield self._selectors[self._next - 1], batch

    def _collect(self) -> BagBatch:
        """The next batch: the cut `prefetch` started, or one started now."""
        self.prefetch()
        pending, self._pending = self._pending, None
        assert pending is not None  # prefetch starts one while batches remain
        return pending()

    def prefetch(self) -> None:
        """Begin cutting the next batch of the epoch (if not begun) on the other thread. The fused layer
        calls it at the end of its backward, so the cut runs beside this thread's optimizer update, once the
        step's own work on the other thread (the tail scatter) is done."""
        if self._pending is None and self._next < len(self._selectors):
            self._pending = self._workers.start(self.cut, self._selectors[self._next])

    def in_order(self, batch_size: int) -> Iterator[tuple[slice, BagBatch | Pooled]]:
        """Consecutive batches cut into one contiguous run per thread (one hand-off per call: waking a
        thread costs more than a tenth of a batch's fused forward). This thread yields its run's batches
        while the others compute their runs' fused outputs, which follow as `Pooled` batches; the layers
        after the fused one run on this thread only (they keep caches), batch by batch in order."""
        batches = [rows for rows in batch_rows(len(self.bag), batch_size) if isinstance(rows, slice)]
        count, threads = len(batches), self._workers.threads
        runs = [batches[count * i // threads : count * (i + 1) // threads] for i in range(threads)]
        waits = [self._workers.start(self._pooled_run, run) for run in runs[1:]]
        for rows in runs[0]:
            yield rows, self.cut(rows)
        for run, wait in zip(runs[1:], waits, strict=True):
            for rows, output in zip(run, wait(), strict=True):
                yield rows, Pooled(output)

    def _pooled_run(self, run: list[slice]) -> list[np.ndarray]:
        return [self._forward(self.cut(rows)) for rows in run]
