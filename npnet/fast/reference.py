"""The readable Embedding -> GlobalAveragePooling1D pair: a gather per position, then a mean over time.

This is the path that teaches, and the one the fast kernels in `npnet.fast.embedding_pool` are tested
equal to. It follows Keras exactly:

- without a mask, padding id 0 is an ordinary trainable row: it enters the mean, which divides by the full
  length T, and row 0 receives gradient;
- with `mask_zero=True`, positions holding id 0 are left out: the mean divides by the number of non-zero ids.
  Keras returns NaN for a row made only of padding (0 / 0); npnet defines that row's output as zeros and its
  gradient as zero (`masked_scale` below), so that an empty review cannot poison a training run.

Shapes: ids (B, T) integers in [0, V); E (V, D); pooled and grad_pooled (B, D); dE (V, D).
"""

from __future__ import annotations

import numpy as np


def masked_scale(ids: np.ndarray, mask_zero: bool, dtype: np.dtype) -> np.ndarray:
    """Per-sample factor of the mean, (B,): 1/T, or with a mask 1/(number of non-zero ids), 0 when none."""
    n, length = ids.shape
    if not mask_zero:
        return np.full(n, 1.0 / length, dtype=dtype)
    kept = np.count_nonzero(ids, axis=1)
    scale = np.zeros(n, dtype=dtype)
    np.divide(1.0, kept, out=scale, where=kept > 0)
    return scale


def forward_reference(ids: np.ndarray, E: np.ndarray, mask_zero: bool = False) -> np.ndarray:
    """pooled[b] = mean over kept positions t of E[ids[b, t]]. Returns (B, D) in E's dtype."""
    gathered = E[ids]  # (B, T, D): one embedding row per position
    if mask_zero:
        gathered = gathered * (ids != 0)[:, :, None]
    return gathered.sum(axis=1) * masked_scale(ids, mask_zero, E.dtype)[:, None]


def backward_reference(
    ids: np.ndarray, grad_pooled: np.ndarray, vocab_size: int, mask_zero: bool = False
) -> np.ndarray:
    """dE for `forward_reference`: each position sends grad_pooled[b] * scale[b] to row ids[b, t].

    `np.add.at` is unbuffered, so an id repeated within a review or across the batch adds once per occurrence
    (a buffered `dE[ids] += ...` would keep only one of them).
    """
    scale = masked_scale(ids, mask_zero, grad_pooled.dtype)
    per_position = np.broadcast_to(
        (grad_pooled * scale[:, None])[:, None, :], (*ids.shape, grad_pooled.shape[1])
    )
    if mask_zero:
        per_position = per_position * (ids != 0)[:, :, None]
    dE = np.zeros((vocab_size, grad_pooled.shape[1]), dtype=grad_pooled.dtype)
    np.add.at(dE, ids, per_position)
    return dE
