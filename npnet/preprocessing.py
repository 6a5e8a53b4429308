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

    Vectorized: the items of all sequences are read into one flat array, and one fancy-indexed assignment
    moves the kept items to their places; no Python loop over items or sequences.
    """
    if padding not in ("pre", "post"):
        raise ValueError(f'padding must be "pre" or "post", got {padding!r}')
    if truncating not in ("pre", "post"):
        raise ValueError(f'truncating must be "pre" or "post", got {truncating!r}')
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
    maxlen = operator.index(maxlen)
    if maxlen < 0:
        raise ValueError(f"maxlen must be >= 0, got {maxlen}")
    if maxlen == 0 and truncating == "pre" and (lengths > 1).any():
        # Keras's `s[-0:]` is the whole sequence, which no zero-width row can hold (one item broadcasts).
        raise ValueError(
            "maxlen=0 with truncating='pre' keeps whole sequences; use truncating='post' or maxlen >= 1"
        )

    nonempty = np.flatnonzero(lengths)
    sample_shape = np.asarray(sequences[nonempty[0]]).shape[1:] if nonempty.size else ()
    if isinstance(value, str) and dtype is not object and not np.issubdtype(dtype, np.str_):
        raise ValueError(
            f"dtype {dtype} cannot hold the string value {value!r}; "
            "use dtype=object for variable-length strings"
        )
    out = np.full((n, maxlen, *sample_shape), value, dtype=dtype)

    kept = np.minimum(lengths, maxlen)
    if maxlen == 0 or not kept.any():
        return out
    items = _flat_items(sequences, nonempty, int(lengths.sum()), sample_shape, out.dtype)
    row = np.repeat(np.arange(n), kept)
    step = np.arange(int(kept.sum())) - np.repeat(np.cumsum(kept) - kept, kept)  # 0.. kept[i]-1 per row
    source = np.cumsum(lengths) - lengths  # where each sequence starts in `items`
    if truncating == "pre":
        source = source + lengths - kept
    column = maxlen - kept if padding == "pre" else np.zeros(n, dtype=np.intp)
    out[row, column[row] + step] = items[source[row] + step]
    return out


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
