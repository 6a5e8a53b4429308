"""Variable-length integer sequences as one flat array plus lengths, so that IMDB's per-review edits
(reorder, prepend a marker, shift, drop or replace ids) are array operations instead of loops over tokens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np


@dataclass(frozen=True)
class Ragged:
    """`n` sequences: sequence i is `values[offsets[i] : offsets[i] + lengths[i]]`.

    values: integers (total,) — int64 from `from_lists`; the operations keep their dtype (the training path
    uses int32 to halve the memory); lengths: int64 (n,).
    """

    values: np.ndarray
    lengths: np.ndarray

    @classmethod
    def from_lists(cls, sequences: Sequence[Sequence[int]]) -> Ragged:
        """From sequences of Python ints (an object array of lists, or a list of lists)."""
        lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
        values = np.fromiter(chain.from_iterable(sequences), dtype=np.int64, count=int(lengths.sum()))
        return cls(values, lengths)

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def offsets(self) -> np.ndarray:
        """Start of each sequence in `values`, (n,)."""
        return np.cumsum(self.lengths) - self.lengths

    def row_ids(self) -> np.ndarray:
        """For each value, the index of its sequence, (total,)."""
        return np.repeat(np.arange(len(self)), self.lengths)

    def take(self, indices: np.ndarray) -> Ragged:
        """The sequences at `indices`, in that order (a reorder, a selection, or both)."""
        lengths = self.lengths[indices]
        shift = self.offsets[indices] - (np.cumsum(lengths) - lengths)
        # One index array of `total` entries (int32 when positions fit: IMDB's are ~6M), built in place.
        index_type = np.int32 if len(self.values) <= np.iinfo(np.int32).max else np.intp
        gather = np.repeat(shift.astype(index_type), lengths)
        gather += np.arange(len(gather), dtype=index_type)
        return Ragged(self.values[gather], lengths)

    def prepend(self, value: int) -> Ragged:
        """Every sequence with `value` put in front."""
        lengths = self.lengths + 1
        starts = np.cumsum(lengths) - lengths
        values = np.empty(int(lengths.sum()), dtype=np.result_type(self.values, np.min_scalar_type(value)))
        is_start = np.zeros(len(values), dtype=bool)
        is_start[starts] = True
        values[is_start] = value
        values[~is_start] = self.values
        return Ragged(values, lengths)

    def with_values(self, values: np.ndarray) -> Ragged:
        """Same lengths, new values (e.g. shifted or replaced ids)."""
        return Ragged(values, self.lengths)

    def keep(self, mask: np.ndarray) -> Ragged:
        """Drop the values where `mask` (total,) is False; sequences shrink, none disappear."""
        lengths = np.bincount(self.row_ids()[mask], minlength=len(self)).astype(np.int64)
        return Ragged(self.values[mask], lengths)

    def to_lists(self) -> list[list[int]]:
        """A list of lists of Python ints (the form Keras returns)."""
        values = self.values.tolist()
        ends = np.cumsum(self.lengths).tolist()
        starts = [0, *ends[:-1]]
        return [values[a:b] for a, b in zip(starts, ends, strict=True)]


def object_array(items: Sequence[object]) -> np.ndarray:
    """A 1-D object array holding `items` as they are.

    `np.array(list_of_lists, dtype=object)` makes a 2-D array when all lists have the same length (the trap
    in Keras's load_data); filling a 1-D array never does.
    """
    return np.fromiter(items, dtype=object, count=len(items))
