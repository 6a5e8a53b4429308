"""Embedding: token ids (batch, T) -> vectors (batch, T, D) by a table lookup."""

from __future__ import annotations

from typing import Any

import numpy as np

from npnet import initializers, validation
from npnet.layers.base import Layer, Shape, init_rng


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
        rng = init_rng(rng)
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
        """ids (B, T) ints -> vectors (B, T, D): row ids[b, t] of the table."""
        self.check_input(ids)
        self._ids = ids  # backward scatters into the rows these ids selected
        return np.take(self.params["embeddings"], ids, axis=0)

    def backward(self, grad_out: np.ndarray) -> None:
        """grad_out (B, T, D) -> None (ids have no gradient); fills grads["embeddings"] (V, D):
        dL/dE[r] = the sum of grad_out over every position whose id is r.

        The scatter must be unbuffered: `E_grad[ids] += g` applies only the *last* write for an id that occurs
        several times, silently dropping the rest. `np.add.at` accumulates every occurrence.
        """
        grad = self.grads["embeddings"]
        grad.fill(0)
        np.add.at(grad, self._ids.ravel(), grad_out.reshape(-1, self.output_dim))
        return None

    def table_ids(self, key: str, x: np.ndarray) -> np.ndarray | None:
        """The ids of `x`: each looks up its row of the table (the padding id 0 too, masked or not)."""
        return x if key == "embeddings" else None

    def compute_mask(self, ids: np.ndarray, mask: np.ndarray | None) -> np.ndarray | None:
        return ids != 0 if self.mask_zero else None

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) == 2 and input_shape[1] is None and self.input_length is not None:
            input_shape = (input_shape[0], self.input_length)
        return (*input_shape, self.output_dim)
