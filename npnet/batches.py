"""Batch sources: what the trainer's loop draws its batches from.

A source owns how a batch is cut from the inputs: `epoch(selectors)` yields fit's batches (one selector
of rows each, in the epoch's order), `in_order(batch_size)` those of evaluate and predict. The plan of a
call (`npnet.plan`) says which source its inputs get; `ArrayBatches`, rows of the input array itself, is
the readable one. (The fast plan's `npnet.fast.batches.BagBatches` cuts bags of words instead.)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np

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


class ArrayBatches:
    """Batches of the rows of `x` itself: x[rows] (batch, ...) for each selector."""

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
