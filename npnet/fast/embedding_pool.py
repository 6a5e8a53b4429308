"""Fused Embedding -> GlobalAveragePooling1D, computed as a bag-of-words product.

Embedding followed by an average over time is linear in the embedding table, so for a batch of reviews

    pooled = diag(scale) @ C @ E        (B, D)
    dE     = C.T @ diag(scale) @ grad   (V, D)

where C (B, V) counts how often each id occurs in each review and `scale` is 1/T (Keras without a mask:
padding id 0 is a real row, counted like any other) or 1/(non-zero ids) with `mask_zero=True` (id 0 left
out; a review made only of padding has no counts, i.e. zero output and zero gradient, as
`GlobalAveragePooling1D` defines it; the count is `npnet.layers.pooling.mask_counts`).

C is very sparse (a review of 256 tokens holds ~100-150 distinct ids out of 10,000) but its first columns are
not: word ids follow Zipf's law, so a few thousand frequent ids make up most (review, id) pairs. C is split:

- head: the ids that occur in at least `dense_min_df` of the reviews, as a dense (B, K) block for BLAS
  (one gemm forward, one backward; a dense column costs BLAS far less per review than a sparse pair costs
  the gathers: benchmarks/HISTORY.md, "The bag-of-words kernels and their cache");
- tail: every other token, one entry per occurrence (so no weights to multiply), as CSR rows: the forward is a
  row gather plus a segment sum (`np.add.reduceat`), the backward a one-dimensional unbuffered scatter
  (`np.add.at` on the flattened table, fast since NumPy 1.25, unlike 2-D row scatter).

`BagOfWords.from_ids` does the sorting and counting once per dataset; `BagOfWords.take(indices)` cuts a
batch (batches change every epoch with shuffling) with a handful of vectorized gathers; `forward` and
`backward` then touch each distinct (review, id) pair about once. The readable per-position version is the
`Embedding` and `GlobalAveragePooling1D` layers themselves; the tests hold these kernels equal to them, and
`npnet.fast.FusedEmbeddingPool` is the layer that runs them.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass

import numpy as np

from npnet import validation
from npnet.fast.threads import SERIAL, Workers
from npnet.layers.pooling import mask_counts
from npnet.sparse import SparseRows

# Ids present in at least this fraction of the reviews go to the dense (BLAS) block. The time of take +
# forward + backward per batch is flat from about 0.02 to 0.1 and rises below it and without a dense block
# (benchmarks/HISTORY.md, "Dense/sparse split of the fast kernel", from `python -m benchmarks.run`); 0.02
# sits on that flat bottom with half the dense block's memory of 0.01.
DEFAULT_DENSE_MIN_DF = 0.02


def _check_ids(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.ndim != 2:
        raise ValueError(
            f"ids must be a 2-D array (samples, length); got shape {ids.shape}: pad the sequences first"
        )
    if ids.shape[0] == 0 or ids.shape[1] == 0:
        raise ValueError(f"ids is empty (shape {ids.shape}): pass at least one sample of length >= 1")
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(
            f"ids must hold integers, got dtype {ids.dtype}: cast token ids with .astype('int32')"
        )
    validation.positive_int(vocab_size, "vocab_size")
    low, high = int(ids.min()), int(ids.max())
    if low < 0 or high >= vocab_size:
        bad = low if low < 0 else high
        raise ValueError(
            f"token id {bad} is outside [0, {vocab_size}): raise vocab_size (input_dim) or map rare ids "
            "to an out-of-vocabulary id"
        )
    return ids


def _index_for(ids: np.ndarray) -> slice | np.ndarray:
    """A slice when the ids form one contiguous range (common: ids ranked by frequency), else the ids."""
    if ids.size and ids[-1] - ids[0] + 1 == ids.size:
        return slice(int(ids[0]), int(ids[-1]) + 1)
    return ids


@dataclass(frozen=True, eq=False)
class BagBatch:
    """One batch cut from a `BagOfWords`, ready for `forward` and `backward`.

    head (B, K) float: counts of the dense ids; head_index selects those K rows of E (a slice if it can).
    tail_ids (n,) intp: one entry per tail token, grouped by review; tail_rows (n,) intp: its batch row.
    tail_starts (R,) intp: where each non-empty group starts; tail_nonempty (R,) intp: its batch row.
    scale (B,) float: the factor of the mean (1/T; with a mask 1/non-zero ids, 1 for all-padding).
    """

    vocab_size: int
    head: np.ndarray
    head_index: slice | np.ndarray
    tail_ids: np.ndarray
    tail_rows: np.ndarray
    tail_starts: np.ndarray
    tail_nonempty: np.ndarray
    scale: np.ndarray

    def __len__(self) -> int:
        return self.head.shape[0]

    @property
    def dtype(self) -> np.dtype:
        return self.head.dtype


# Rows sorted at a time by `BagOfWords.from_ids`: 2,048 x 256 ids keep its temporaries near 10 MB.
_BLOCK_ROWS = 2048


def _runs(ids: np.ndarray, first_row: int, mask_zero: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(id, row, count) of every distinct (review, id) pair of the rows `ids` (numbered from `first_row`),
    row by row and ids ascending within a row; with `mask_zero` id 0 is left out."""
    rows, length = ids.shape
    # int32 rows sort several times faster than int64 (vectorized sort); ids were checked < vocab_size.
    sorted_ids = np.sort(ids.astype(np.int32 if ids.max() <= np.iinfo(np.int32).max else np.int64), axis=1)
    first = np.ones(sorted_ids.shape, dtype=bool)  # first occurrence of an id within its review
    np.not_equal(sorted_ids[:, 1:], sorted_ids[:, :-1], out=first[:, 1:])
    starts = np.flatnonzero(first)  # rows break every run
    run_ids = sorted_ids.reshape(-1)[starts]
    run_rows = (starts // length + first_row).astype(np.int32 if first_row + rows <= 2**31 else np.intp)
    run_counts = np.diff(starts, append=rows * length).astype(np.int32)  # a count is at most T
    if mask_zero:
        kept = run_ids != 0
        return run_ids[kept], run_rows[kept], run_counts[kept]
    return run_ids, run_rows, run_counts


@dataclass(frozen=True, eq=False)
class BagOfWords:
    """Per-dataset precomputation for the fused kernels; build with `BagOfWords.from_ids`.

    head_ids (K,) intp: ascending ids kept dense; head_counts (N, K) unsigned ints: their count per review.
    tail_ptr (N+1,) intp and tail_ids (n,) intp: CSR of the other tokens, one entry per occurrence.
    scale (N,) float64: the factor of each review's mean (1/T, or 1/`mask_counts` with a mask).
    """

    vocab_size: int
    length: int
    mask_zero: bool
    head_ids: np.ndarray
    head_counts: np.ndarray
    tail_ptr: np.ndarray
    tail_ids: np.ndarray
    scale: np.ndarray

    @classmethod
    def from_ids(
        cls,
        ids: np.ndarray,
        vocab_size: int,
        mask_zero: bool = False,
        dense_min_df: float = DEFAULT_DENSE_MIN_DF,
    ) -> BagOfWords:
        """Count the ids of padded sequences `ids` (N, T), once per dataset.

        `dense_min_df` in [0, 1]: ids found in at least this fraction of the reviews form the dense block
        (0 puts every id that occurs there, above 1 none: pure CSR).
        """
        ids = _check_ids(ids, vocab_size)
        validation.non_negative_float(dense_min_df, "dense_min_df")
        n, length = ids.shape
        # Runs of equal ids after sorting each review: one per distinct (review, id) pair, row-major. Built
        # and consumed in blocks of rows, never joined: the sort's temporaries stay a few MB, and the runs'
        # per-pair temporaries (~40 bytes a pair) exist for one block at a time instead of the whole
        # dataset, which made `npnet train`'s peak memory (benchmarks.rss).
        blocks = [
            _runs(ids[start : start + _BLOCK_ROWS], start, mask_zero) for start in range(0, n, _BLOCK_ROWS)
        ]
        doc_freq = np.zeros(vocab_size, dtype=np.intp)
        for run_ids, _, _ in blocks:
            doc_freq += np.bincount(run_ids, minlength=vocab_size)
        is_head = (doc_freq > 0) & (doc_freq >= dense_min_df * n)
        head_ids = np.flatnonzero(is_head)
        column = np.full(vocab_size, -1, dtype=np.intp)
        column[head_ids] = np.arange(head_ids.size)

        max_count = max(int(counts[is_head[run_ids]].max(initial=0)) for run_ids, _, counts in blocks)
        count_dtype = np.min_scalar_type(max_count) if max_count else np.uint8
        head_counts = np.zeros((n, head_ids.size), dtype=count_dtype)
        # The tail, one entry per occurrence: each tail run repeated by its count, rows in order.
        tail_parts = []
        tail_sizes = np.zeros(n)
        while blocks:
            run_ids, run_rows, run_counts = blocks.pop(0)  # each block is freed once used
            in_head = is_head[run_ids]
            head_counts[run_rows[in_head], column[run_ids[in_head]]] = run_counts[in_head]
            in_tail = ~in_head
            tail_parts.append(np.repeat(run_ids[in_tail].astype(np.intp), run_counts[in_tail]))
            tail_sizes += np.bincount(run_rows[in_tail], weights=run_counts[in_tail], minlength=n)
        tail_ids = np.concatenate(tail_parts)
        tail_ptr = np.zeros(n + 1, dtype=np.intp)
        np.cumsum(tail_sizes.astype(np.intp), out=tail_ptr[1:])

        # The factor of each review's mean; with a mask an all-padding review counts 1 position (its
        # counts are all zero, so its output and gradient are zero, as the readable layers define).
        scale = 1.0 / mask_counts(ids != 0) if mask_zero else np.full(n, 1.0 / length)
        return cls(vocab_size, length, mask_zero, head_ids, head_counts, tail_ptr, tail_ids, scale)

    def __len__(self) -> int:
        return self.head_counts.shape[0]

    def take(self, indices: np.ndarray, dtype: np.dtype | str = "float32") -> BagBatch:
        """The batch of reviews `indices` (1-D, any order, repeats allowed), with float counts of `dtype`."""
        indices = np.asarray(indices)
        if indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer):
            raise ValueError(
                f"indices must be a 1-D integer array; got shape {indices.shape}, dtype {indices.dtype}"
            )
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise ValueError(f"indices must lie in [0, {len(self)}), the number of reviews in this bag")
        starts = self.tail_ptr[indices]
        sizes = self.tail_ptr[indices + 1] - starts
        offsets = np.zeros(indices.size + 1, dtype=np.intp)
        np.cumsum(sizes, out=offsets[1:])
        # Position j of the batch's tail comes from position j + (start of its review - start of its group).
        source = np.repeat(starts - offsets[:-1], sizes)
        source += np.arange(offsets[-1])
        return self._batch(self.head_counts[indices], self.tail_ids[source], sizes, offsets, indices, dtype)

    def slice(self, start: int, stop: int, dtype: np.dtype | str = "float32") -> BagBatch:
        """Reviews start..stop-1 in order (validation, prediction): views, no gathers, cheaper than take."""
        if not 0 <= start < stop <= len(self):
            raise ValueError(f"need 0 <= start < stop <= {len(self)}; got start={start}, stop={stop}")
        ptr = self.tail_ptr[start : stop + 1]
        sizes = np.diff(ptr)
        tail = self.tail_ids[ptr[0] : ptr[-1]]
        return self._batch(self.head_counts[start:stop], tail, sizes, ptr - ptr[0], slice(start, stop), dtype)

    def _batch(
        self,
        head_counts: np.ndarray,
        tail_ids: np.ndarray,
        sizes: np.ndarray,
        offsets: np.ndarray,
        rows: np.ndarray | builtins.slice,
        dtype: np.dtype | str,
    ) -> BagBatch:
        dtype = np.dtype(dtype)
        nonempty = np.flatnonzero(sizes)
        return BagBatch(
            vocab_size=self.vocab_size,
            head=head_counts.astype(dtype),  # small integer counts (1 byte each) -> floats for BLAS
            head_index=_index_for(self.head_ids),
            tail_ids=tail_ids,
            tail_rows=np.repeat(np.arange(sizes.size), sizes),
            tail_starts=offsets[nonempty],
            tail_nonempty=nonempty,
            scale=self.scale[rows].astype(dtype),
        )


def forward(batch: BagBatch, E: np.ndarray, workers: Workers = SERIAL) -> np.ndarray:
    """batch (B reviews), E (V, D) -> pooled (B, D): the mean embedding row of each review.

    E has the batch's dtype. `workers` may sum the tail on a second thread while this one runs the head's
    gemm."""
    _check_table(batch, E)
    tail_sums = workers.start(_tail_sums, batch, E)
    pooled = batch.head @ E[batch.head_index]
    if batch.tail_ids.size:
        _as_pairs(pooled)[batch.tail_nonempty] += tail_sums()
    pooled *= batch.scale[:, None]
    return pooled


def _tail_sums(batch: BagBatch, E: np.ndarray) -> np.ndarray | None:
    """(R, D) sums of the tail rows of E for each non-empty group (as pairs, see `_as_pairs`)."""
    if not batch.tail_ids.size:
        return None
    rows = _as_pairs(np.take(E, batch.tail_ids, axis=0))
    # reduceat sums each group up to the next start; empty groups were left out of tail_starts since
    # reduceat would return the element at their start instead of zero.
    return np.add.reduceat(rows, batch.tail_starts, axis=0)


def backward(
    batch: BagBatch, grad_pooled: np.ndarray, out: np.ndarray | None = None, workers: Workers = SERIAL
) -> np.ndarray:
    """grad_pooled (B, D) -> dE (V, D) for `forward`: dense, every row written (zero where no id points).

    `out`, if given, is a (V, D) array of the batch's dtype that is overwritten and returned (no allocation).
    `workers` may scatter the tail on a second thread while this one runs the head's gemm: head and tail
    ids are disjoint, so the two write different rows of `out`.
    """
    if grad_pooled.ndim != 2 or grad_pooled.shape[0] != len(batch):
        raise ValueError(
            f"grad_pooled must have shape ({len(batch)}, D) to match the batch; got {grad_pooled.shape}"
        )
    shape = (batch.vocab_size, grad_pooled.shape[1])
    if out is None:
        out = np.zeros(shape, dtype=batch.dtype)
    elif out.shape != shape or out.dtype != batch.dtype or not out.flags.c_contiguous:
        raise ValueError(
            f"out must be a C-contiguous {batch.dtype} array of shape {shape}; got {out.dtype} {out.shape}"
        )
    else:
        out.fill(0)
    scaled = grad_pooled.astype(batch.dtype, copy=False) * batch.scale[:, None]
    tail_done = workers.start(_scatter_tail, batch, scaled, out)
    out[batch.head_index] = batch.head.T @ scaled
    tail_done()
    return out


def _scatter_tail(
    batch: BagBatch, scaled: np.ndarray, out: np.ndarray, rows_of_out: np.ndarray | None = None
) -> None:
    """Add each tail token's row of `scaled` (B, D) into its id's row of `out` (V, D); or, given
    `rows_of_out` (one per tail token), into that row of a compact `out`."""
    if not batch.tail_ids.size:
        return
    targets = batch.tail_ids if rows_of_out is None else rows_of_out
    # ufunc.at is slow on 2-D rows but fast on a 1-D array, so scatter into the flattened table: element
    # k of tail token j goes to flat index id_j * width + k. Built k-major, (width, n), so that index and
    # values come from long contiguous loops; each target still adds its terms in token order.
    columns = np.ascontiguousarray(_as_pairs(scaled).T)  # (width, B)
    width = columns.shape[0]
    flat_index = np.arange(width)[:, None] + targets * width
    values = np.take(columns, batch.tail_rows, axis=1)
    np.add.at(_as_pairs(out).reshape(-1), flat_index.reshape(-1), values.reshape(-1))


# ---- lazy Adam's gradient: only the touched rows (npnet.sparse) ----------------------------------------


def backward_rows(batch: BagBatch, grad_pooled: np.ndarray, workers: Workers = SERIAL) -> SparseRows:
    """grad_pooled (B, D) -> dE on the R rows this batch looks up: SparseRows, ids (R,), values (R, D).

    `backward` kept sparse: never a (V, D) array.

    The touched rows are the head ids with a non-zero count in the batch, then the distinct tail ids
    (ascending); head and tail are disjoint, so the ids are distinct. Each row's value equals `backward`'s
    row (the same sums; the tail adds in token order as there).
    """
    if grad_pooled.ndim != 2 or grad_pooled.shape[0] != len(batch):
        raise ValueError(
            f"grad_pooled must have shape ({len(batch)}, D) to match the batch; got {grad_pooled.shape}"
        )
    width = grad_pooled.shape[1]
    scaled = grad_pooled.astype(batch.dtype, copy=False) * batch.scale[:, None]
    tail_done = workers.start(_tail_rows, batch, scaled)
    index = batch.head_index
    head_ids = np.arange(index.start, index.stop) if isinstance(index, slice) else index
    present = np.flatnonzero(batch.head.any(axis=0))
    head_values = batch.head[:, present].T @ scaled
    tail_ids, tail_values = tail_done()
    ids = np.concatenate([head_ids[present].astype(np.intp, copy=False), tail_ids])
    return SparseRows(ids, np.concatenate([head_values, tail_values]), (batch.vocab_size, width))


def _tail_rows(batch: BagBatch, scaled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct tail ids ascending, their summed rows of `scaled`)."""
    ids, position = np.unique(batch.tail_ids, return_inverse=True)
    values = np.zeros((ids.size, scaled.shape[1]), dtype=scaled.dtype)
    _scatter_tail(batch, scaled, values, position.reshape(-1))
    return ids.astype(np.intp, copy=False), values


def _as_pairs(a: np.ndarray) -> np.ndarray:
    """View (n, D) floats as (n, D/2) complex numbers when D is even: complex addition is the same two
    real additions, but `reduceat` and `ufunc.at` pay their per-element overhead half as often
    (benchmarks/HISTORY.md, "The bag-of-words kernels and their cache")."""
    if a.shape[-1] % 2 or not a.flags.c_contiguous:
        return a
    return a.view(np.complex64 if a.dtype == np.float32 else np.complex128)


def _check_table(batch: BagBatch, E: np.ndarray) -> None:
    if E.ndim != 2 or E.shape[0] != batch.vocab_size:
        raise ValueError(
            f"E must have shape ({batch.vocab_size}, D) for this bag's vocabulary; got {E.shape}"
        )
    if E.dtype != batch.dtype:
        raise ValueError(
            f"E is {E.dtype} but the batch holds {batch.dtype}: take the batch with dtype=E.dtype"
        )
