"""Embedding: token ids (batch, T) -> vectors (batch, T, D) by a table lookup."""

from __future__ import annotations

from typing import Any

import numpy as np

from npnet import initializers, validation
from npnet.layers.base import Layer, Shape
from npnet.sparse import SparseRows


def scatter_add_rows(table: np.ndarray, ids: np.ndarray, rows: np.ndarray) -> None:
    """table[ids[i]] += rows[i] for every i, repeated ids accumulating: `np.add.at(table, ids, rows)`.

    table (V, D), ids (N,) ints, rows (N, D). The same additions in the same order as that readable call,
    through one 1-D `np.add.at` on the flat element indices ids[i] * D + d: NumPy's unbuffered scatter
    has a fast loop for 1-D indices only, and takes ~5x longer on the (V, D) row form (8.6 vs 1.5 ms for
    the cnn preset's 12,800 ids x 50; tests/test_layers.py holds the two equal)."""
    if not table.flags.c_contiguous:  # its flat reshape would be a copy, and the adds would be lost
        np.add.at(table, ids, rows)
        return
    width = table.shape[1]
    flat = (ids.astype(np.intp, copy=False)[:, None] * width + np.arange(width)).ravel()
    np.add.at(table.reshape(-1), flat, rows.reshape(-1))


class Embedding(Layer):
    """Row lookup in a trainable table `params["embeddings"]` of shape (input_dim, output_dim).

    Keras defaults: U(-0.05, 0.05) initializer, `mask_zero=False` (id 0 is then an ordinary, trainable row
    that enters the average). With `mask_zero=True` the layer emits the mask `ids != 0` for the next layer.
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: str | initializers.Initializer = "uniform",
        mask_zero: bool = False,
        input_length: int | None = None,
        name: str | None = None,
        dtype: str | np.dtype | None = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        self.input_dim = validation.positive_int(input_dim, "Embedding input_dim")
        self.output_dim = validation.positive_int(output_dim, "Embedding output_dim")
        if input_length is not None:
            validation.positive_int(input_length, "Embedding input_length")
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.mask_zero = mask_zero
        self.input_length = input_length

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "mask_zero": self.mask_zero,
            "input_length": self.input_length,
        }

    def build(
        self,
        input_shape: Shape,
        rng: np.random.Generator | None = None,
        dtype: str | np.dtype | None = None,
    ) -> None:
        super().build(input_shape, rng, dtype)
        rng = rng if rng is not None else np.random.default_rng(0)
        shape = (self.input_dim, self.output_dim)
        self.add_param("embeddings", self.embeddings_initializer(shape, rng, self.dtype))

    def check_input(self, ids: np.ndarray) -> None:
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(
                f"Embedding {self.name!r} expects integer token ids, got dtype {ids.dtype}; "
                "pad/convert them first, e.g. pad_sequences(...) or x.astype('int32')"
            )
        if ids.ndim != 2:
            raise ValueError(
                f"Embedding {self.name!r} expects a 2-D array of token ids (batch, sequence_length), "
                f"got shape {ids.shape}; pad the sequences to one length first"
            )
        if ids.shape[1] == 0:
            raise ValueError(f"Embedding {self.name!r} got sequences of length 0; pad them to length >= 1")
        if ids.size == 0:
            return
        for bad in (ids.min(), ids.max()):
            if not 0 <= bad < self.input_dim:
                where = tuple(int(i) for i in np.argwhere(ids == bad)[0])
                raise ValueError(
                    f"token id {int(bad)} at position {where} is outside [0, {self.input_dim}) for Embedding "
                    f"{self.name!r} (input_dim={self.input_dim}); raise input_dim or limit the vocabulary "
                    f"(e.g. load_data(num_words={self.input_dim}))"
                )

    def forward(self, ids: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        self.check_input(ids)
        self._ids = ids  # backward scatters into the rows these ids selected
        return np.take(self.params["embeddings"], ids, axis=0)

    def backward(self, grad_out: np.ndarray) -> None:
        """dL/dE[r] = sum of grad_out over every position whose id is r. Returns None: ids have no gradient.

        The scatter must be unbuffered: `E_grad[ids] += g` applies only the *last* write for an id that occurs
        several times, silently dropping the rest. `np.add.at` accumulates every occurrence.
        """
        rows = grad_out.reshape(-1, self.output_dim)
        if self.emit_sparse_grads:  # only the looked-up rows (npnet.sparse); grads["embeddings"] untouched
            self.sparse_grads["embeddings"] = self._sparse_grad(rows)
            return None
        self.sparse_grads.pop("embeddings", None)
        grad = self.grads["embeddings"]
        grad.fill(0)
        scatter_add_rows(grad, self._ids.ravel(), rows)
        return None

    def _sparse_grad(self, rows: np.ndarray) -> SparseRows:
        """The same sums as the dense scatter (each row adds its positions in the same order), into the
        distinct looked-up ids only. With `mask_zero` id 0 is left out, as the fused path does: a masked
        position's gradient is zero (the pooling gave it none), so that row is all zeros anyway."""
        ids, position = np.unique(self._ids.ravel(), return_inverse=True)
        values = np.zeros((ids.size, self.output_dim), dtype=self.grads["embeddings"].dtype)
        scatter_add_rows(values, position.reshape(-1), rows)
        if self.mask_zero and ids.size and ids[0] == 0:
            ids, values = ids[1:], values[1:]
        shape = (self.input_dim, self.output_dim)
        return SparseRows(ids.astype(np.intp, copy=False), values, shape)

    def table_ids(self, key: str, x: np.ndarray) -> np.ndarray | None:
        return x if key == "embeddings" else None

    def compute_mask(self, ids: np.ndarray, mask: np.ndarray | None) -> np.ndarray | None:
        return ids != 0 if self.mask_zero else None

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) == 2 and input_shape[1] is None and self.input_length is not None:
            input_shape = (input_shape[0], self.input_length)
        return (*input_shape, self.output_dim)
