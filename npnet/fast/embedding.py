"""`FastEmbedding`, the twin of `Embedding` that fit runs: the same scatter-add, through a faster loop, and
optionally the table's gradient as only the rows the batch looked up (`SparseRows`).

- `scatter_add_rows` is `np.add.at(table, ids, rows)` through one 1-D `np.add.at` on the flat element indices
  ids[i] * D + d: NumPy's unbuffered scatter has a fast loop for 1-D indices only. The same additions in the
  same order, so the result is bitwise the readable layer's.
- With `emit_rows` (the plan sets it when the optimizer takes the table's gradient row-sparse: lazy Adam,
  or dense Adam on a large table), `backward` puts the distinct looked-up rows' sums in
  `row_grads["embeddings"]` and leaves the (V, D) `grads["embeddings"]` untouched: for fastText's 1.19M x 50
  table that array is never zero-filled, scattered into or read.
"""

from __future__ import annotations

import numpy as np

from npnet.layers.embedding import Embedding
from npnet.sparse import SparseRows


def scatter_add_rows(table: np.ndarray, ids: np.ndarray, rows: np.ndarray) -> None:
    """table[ids[i]] += rows[i] for every i, repeated ids accumulating: `np.add.at(table, ids, rows)`.

    table (V, D), ids (N,) ints, rows (N, D). The same additions in the same order as that readable call,
    through one 1-D `np.add.at` on the flat element indices ids[i] * D + d (benchmarks/HISTORY.md, "cnn",
    measures the two forms; tests/layers/test_layers.py holds them equal)."""
    if not table.flags.c_contiguous:  # its flat reshape would be a copy, and the adds would be lost
        np.add.at(table, ids, rows)
        return
    width = table.shape[1]
    flat = (ids.astype(np.intp, copy=False)[:, None] * width + np.arange(width)).ravel()
    np.add.at(table.reshape(-1), flat, rows.reshape(-1))


class FastEmbedding(Embedding):
    """Embedding with the flat-index scatter and, with `emit_rows`, row-sparse gradients."""

    emit_rows = False  # set by the plan for a step whose optimizer takes this table's rows
    row_grads: dict[str, SparseRows]  # with emit_rows: the last backward's rows

    def backward(self, grad_out: np.ndarray) -> None:
        """grad_out (B, T, D) -> None (ids have no gradient); fills grads["embeddings"] (V, D).

        With `emit_rows`, row_grads["embeddings"] (the looked-up rows' sums) instead."""
        rows = grad_out.reshape(-1, self.output_dim)
        if self.emit_rows:
            self.row_grads = {"embeddings": self._looked_up_rows(rows)}
            return None
        grad = self.grads["embeddings"]
        grad.fill(0)
        scatter_add_rows(grad, self._ids.ravel(), rows)
        return None

    def _looked_up_rows(self, rows: np.ndarray) -> SparseRows:
        """The same sums as the dense scatter (each row adds its positions in the same order), into the
        distinct looked-up ids only (`table_ids`), so the rows equal the readable plan's gathered ones."""
        ids, position = np.unique(self._ids.ravel(), return_inverse=True)
        values = np.zeros((ids.size, self.output_dim), dtype=self.grads["embeddings"].dtype)
        scatter_add_rows(values, position.reshape(-1), rows)
        return SparseRows(ids.astype(np.intp, copy=False), values, (self.input_dim, self.output_dim))
