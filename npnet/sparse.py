"""`SparseRows`: a lookup table's gradient as the rows a batch looked up (TensorFlow's IndexedSlices).

An embedding table's gradient is zero except on the rows the batch looked up: for fastText's 1.19M x 50
table a batch of 32 reviews touches ~10-20k rows. `SparseRows` holds only those rows (ids + values). Lazy
Adam (`optimizers.Adam(lazy=True)`, TF Addons' LazyAdam, PyTorch's SparseAdam) needs this form, because it
moves only those rows:

    for each touched row r:  m[r] = b1 m[r] + (1 - b1) g[r];   v[r] = b2 v[r] + (1 - b2) g[r]^2
                             p[r] = p[r] - lr_t m[r] / (sqrt(v[r]) + eps)       (amsgrad: vhat[r])
    untouched rows: m, v, vhat and p are left exactly as they are

with lr_t the step's bias-corrected rate from the *global* step count, as LazyAdam does. Dense Adam would
also decay the untouched rows' moments and move their values by lr_t m / (sqrt(v) + eps); the difference is
derived in docs/derivations/losses-optimizers.md ("Lazy Adam"). On a row that every step touches the two are
the same recursion.

The readable plan (`npnet.plan`) gathers a table's rows from its dense gradient (`SparseRows.gather`); the
fast plan's embedding twins compute them without the dense (V, D) array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class SparseRows:
    """A (V, D) gradient, zero outside rows `ids`: ids (k,) ints, distinct, in [0, V); values (k, D)."""

    ids: np.ndarray
    values: np.ndarray
    shape: tuple[int, int]

    def __post_init__(self) -> None:
        if self.ids.ndim != 1 or self.values.shape != (self.ids.size, self.shape[1]):
            raise ValueError(
                f"SparseRows needs ids (k,) and values (k, {self.shape[1]}); got ids {self.ids.shape}, "
                f"values {self.values.shape}"
            )
        if not np.issubdtype(self.ids.dtype, np.integer):
            raise ValueError(f"SparseRows ids must be integers, got {self.ids.dtype}")

    @property
    def dtype(self) -> np.dtype:
        return self.values.dtype

    @classmethod
    def gather(cls, dense: np.ndarray, ids: np.ndarray) -> SparseRows:
        """The rows `ids` (distinct) of a dense gradient (the readable path, which has it dense anyway)."""
        ids = np.asarray(ids, dtype=np.intp)
        return cls(ids, dense[ids], dense.shape)

    def to_dense(self) -> np.ndarray:
        """The (V, D) array (zeros elsewhere); for an optimizer that updates every row, and for tests."""
        out = np.zeros(self.shape, dtype=self.values.dtype)
        out[self.ids] = self.values
        return out
