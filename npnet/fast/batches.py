"""Batch sources: what the trainer's loop draws its batches from.

The trainer picks a layer stack and a batch source once per `fit`/`evaluate`/`predict` call (see
`npnet.trainer`) and then runs one loop whatever they are. A source owns how a batch is cut and on which
thread: `epoch(selectors)` yields fit's batches, `in_order(batch_size)` those of evaluate/predict, and
`prefetch()` is the hook the loop calls between a step's backward and its optimizer update, the moment a
source may start preparing the next batch (nothing in a batch depends on the weights).

- `ArrayBatches`: rows of an array, for the readable layers. Cutting is a cheap row selection, so it has
  nothing to prefetch.
- `BagBatches`: rows of a `BagOfWords`, for `npnet.fast.FusedEmbeddingPool`; it cuts the next batch on the
  fused layer's second thread during the optimizer update, and splits evaluate/predict into one run of
  batches per thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from npnet.fast.embedding_pool import BagBatch, BagOfWords
from npnet.threads import Workers

# Which samples form a batch: consecutive rows (a slice) or a shuffled selection of them.
Rows = slice | np.ndarray


def batch_rows(n: int, batch_size: int, order: np.ndarray | None = None) -> list[Rows]:
    """Row selectors of consecutive batches of `n` samples (in `order`, if given); the last batch keeps the
    remainder (Keras)."""
    starts = range(0, n, batch_size)
    if order is None:
        return [slice(start, start + batch_size) for start in starts]
    return [order[start : start + batch_size] for start in starts]


class BatchSource(Protocol):
    """What the trainer's loop needs from a source of batches."""

    def __len__(self) -> int: ...

    def epoch(self, selectors: Sequence[Rows]) -> Iterator[tuple[Rows, Any]]:
        """(rows, batch) for each selector, in order: one epoch of fit."""
        ...

    def in_order(self, batch_size: int) -> Iterator[tuple[slice, Any]]:
        """(rows, batch) of consecutive batches of `batch_size`: evaluate and predict."""
        ...

    def prefetch(self) -> None:
        """Called between a training step's backward and its optimizer update."""
        ...


class ArrayBatches:
    """Batches of the rows of `x` itself (the readable layers' input)."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def epoch(self, selectors: Sequence[Rows]) -> Iterator[tuple[Rows, np.ndarray]]:
        for rows in selectors:
            yield rows, self.x[rows]

    def in_order(self, batch_size: int) -> Iterator[tuple[slice, np.ndarray]]:
        for rows in batch_rows(len(self.x), batch_size):
            assert isinstance(rows, slice)
            yield rows, self.x[rows]

    def prefetch(self) -> None:
        """Nothing to prepare: a row selection costs less than handing it to another thread."""


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
    ) -> None:
        self.bag, self.dtype, self._workers, self._forward = bag, dtype, workers, forward
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
        """Begin cutting the next batch of the epoch (if not begun): it runs beside this thread's optimizer
        update, once the step's own work on the other thread (the tail scatter) is done."""
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
