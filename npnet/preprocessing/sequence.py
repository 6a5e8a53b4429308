"""Sequence preprocessing: `pad_sequences`, with Keras's semantics."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from itertools import chain

import numpy as np
from numpy.typing import DTypeLike


def pad_sequences(
    sequences: Sequence[Sequence],
    maxlen: int | None = None,
    dtype: DTypeLike = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: float | str = 0.0,
) -> np.ndarray:
    """Pad or cut `n` sequences to one length: (n, maxlen) (+ the shape of one step, if steps are arrays).

    Keras's rules: `maxlen` None means the longest length; the output starts as `np.full(..., value, dtype)`;
    truncating "pre" keeps the *last* `maxlen` items, "post" the first; padding "post" puts the items at the
    start of the row, "pre" at its end. Items are cast to `dtype`. An empty sequence gives a row of `value`.

    Vectorized: the items of all sequences are read into one flat array, and one boolean-mask assignment
    moves the kept items to their places (`pad_flat`); no Python loop over items or sequences.
    """
    _check_sides(padding, truncating)
    if not hasattr(sequences, "__len__"):
        raise ValueError(f"`sequences` must be a list of sequences, got {type(sequences).__name__}")
    n = len(sequences)
    try:
        lengths = np.fromiter(map(len, sequences), dtype=np.intp, count=n)
    except TypeError:
        bad = next(s for s in sequences if not hasattr(s, "__len__"))
        raise ValueError(f"`sequences` must be a list of iterables; found non-iterable: {bad!r}") from None

    if maxlen is None:
        if n == 0:
            raise ValueError(
                "pad_sequences got no sequences and no maxlen: give at least one sequence or maxlen"
            )
        maxlen = int(lengths.max())
    maxlen = _check_maxlen(maxlen, lengths, truncating)

    nonempty = np.flatnonzero(lengths)
    sample_shape = np.asarray(sequences[nonempty[0]]).shape[1:] if nonempty.size else ()
    if isinstance(value, str) and dtype is not object and not np.issubdtype(dtype, np.str_):
        raise ValueError(
            f"dtype {dtype} cannot hold the string value {value!r}; "
            "use dtype=object for variable-length strings"
        )
    out = np.full((n, maxlen, *sample_shape), value, dtype=dtype)

    if maxlen == 0 or not lengths.any():
        return out
    items = _flat_items(sequences, nonempty, int(lengths.sum()), sample_shape, out.dtype)
    _place(out, items, lengths, padding, truncating)
    return out


def pad_flat(
    values: np.ndarray,
    lengths: np.ndarray,
    maxlen: int,
    dtype: DTypeLike = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: float = 0.0,
) -> np.ndarray:
    """`pad_sequences` for sequences stored flat: sequence i is the next `lengths[i]` items of `values`.

    Equal to `pad_sequences([values[o_i : o_i + lengths[i]] ...], maxlen, dtype, padding, truncating, value)`
    (here maxlen is required), without one Python object per sequence or item: for data already in arrays,
    e.g. `npnet.datasets.imdb.load_padded`.
    """
    _check_sides(padding, truncating)
    values, lengths = np.asarray(values), np.asarray(lengths)
    if lengths.ndim != 1 or lengths.dtype.kind not in "iu" or (lengths < 0).any():
        raise ValueError("lengths must be a 1-D array of non-negative integers")
    if values.ndim < 1 or len(values) != int(lengths.sum()):
        raise ValueError(f"values holds {len(values)} items but the lengths add up to {int(lengths.sum())}")
    maxlen = _check_maxlen(operator.index(maxlen), lengths, truncating)
    out = np.full((len(lengths), maxlen, *values.shape[1:]), value, dtype=dtype)
    if maxlen and lengths.any():
        _place(out, values, lengths, padding, truncating)
    return out


def _check_sides(padding: str, truncating: str) -> None:
    if padding not in ("pre", "post"):
        raise ValueError(f'padding must be "pre" or "post", got {padding!r}')
    if truncating not in ("pre", "post"):
        raise ValueError(f'truncating must be "pre" or "post", got {truncating!r}')


def _check_maxlen(maxlen: int, lengths: np.ndarray, truncating: str) -> int:
    if maxlen < 0:
        raise ValueError(f"maxlen must be >= 0, got {maxlen}")
    if maxlen == 0 and truncating == "pre" and (lengths > 1).any():
        # Keras's `s[-0:]` is the whole sequence, which no zero-width row can hold (one item broadcasts).
        raise ValueError(
            "maxlen=0 with truncating='pre' keeps whole sequences; use truncating='post' or maxlen >= 1"
        )
    return maxlen


def _place(out: np.ndarray, items: np.ndarray, lengths: np.ndarray, padding: str, truncating: str) -> None:
    """Copy each sequence's kept items (its last maxlen for "pre" truncating, else its first) into its row of
    `out` (at the row's end for "pre" padding, else at its start), in one boolean-mask assignment: the kept
    items in order fill the selected cells in row-major order. Temporaries: two masks of 1 byte per item
    and per cell (a few MB for IMDB) and the kept items."""
    n, maxlen = out.shape[:2]
    kept = np.minimum(lengths, maxlen)
    ends = np.cumsum(lengths)
    first = ends - lengths + (lengths - kept if truncating == "pre" else 0)  # first kept item of each row
    # keep[j]: item j is kept. +1 where a kept run starts, -1 where it ends, then a running sum; a run may
    # end where the next starts, hence the unbuffered np.add.at.
    delta = np.zeros(len(items) + 1, dtype=np.int8)
    np.add.at(delta, first, 1)
    np.add.at(delta, first + kept, -1)
    keep = np.cumsum(delta[:-1], dtype=np.int8).view(bool)
    start = maxlen - kept if padding == "pre" else np.zeros(n, dtype=kept.dtype)
    columns = np.arange(maxlen)
    cells = (columns >= start[:, None]) & (columns < (start + kept)[:, None])
    out[cells] = items[keep]


def _flat_items(
    sequences: Sequence[Sequence],
    nonempty: np.ndarray,
    total: int,
    sample_shape: tuple[int, ...],
    dtype: np.dtype,
) -> np.ndarray:
    """All items of all sequences in order, cast to `dtype`: (total, *sample_shape)."""
    try:
        if not sample_shape:
            # Item by item in C, cast as `np.asarray(sequence, dtype)` would cast each item.
            return np.fromiter(chain.from_iterable(sequences), dtype=dtype, count=total)
        arrays = [np.asarray(sequences[i], dtype=dtype) for i in nonempty]
    except (TypeError, ValueError) as e:
        raise ValueError(f"cannot read the sequences as items of {dtype} with one shape: {e}") from None
    for array in arrays:
        if array.shape[1:] != sample_shape:
            raise ValueError(
                f"every step must have the shape {sample_shape} of the first non-empty sequence's steps, "
                f"found {array.shape[1:]}"
            )
    return np.concatenate(arrays)
