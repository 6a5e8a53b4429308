"""ScaledEmbedding: an Embedding whose rows are multiplied by fixed per-row factors.

    out[b, t, :] = s[i] * E[i, :]        i = ids[b, t]

E (input_dim, output_dim) is learned; s (input_dim,) is a constant the layer is given (NBSVM's naive-Bayes
log-count ratio, `npnet.preprocessing.nbsvm.log_count_ratio`). With E of width 1 and a sum over the bag, the
output is the linear model w . (s * x) on the scaled features: the weight is learned per row while the
scaling stays fixed, which changes how a gradient method moves it (docs/derivations/nbsvm.md).

In Keras this is two Embeddings multiplied, the factor's frozen: `Multiply()([Embedding(V, D)(ids),
Embedding(V, 1, trainable=False)(ids)])` (tests/parity compare the two). Here the factor is the layer's
parameter "scales", outside `trainable_weights`: saved, loaded and set with the other weights, never
moved by an optimizer. `backward` still fills its gradient, so `grads` holds dLoss/dparam for every
parameter as the protocol says (and the gradient checker can verify it).
"""

from __future__ import annotations

import numpy as np

from npnet.layers.base import Shape
from npnet.layers.embedding import Embedding


class ScaledEmbedding(Embedding):
    """`s[ids, None] * E[ids]`: ids (batch, T) -> (batch, T, output_dim). E is "embeddings" (trainable,
    Keras's uniform initializer), s is "scales" (input_dim,), constant, ones until `set_scales`.

    Every `Embedding` argument applies (mask_zero, ...). A row whose factor is 0 contributes nothing and
    gets no gradient: NBSVM's padding id."""

    def build(
        self,
        input_shape: Shape,
        rng: np.random.Generator | None = None,
        dtype: str | np.dtype | None = None,
    ) -> None:
        super().build(input_shape, rng, dtype)
        self.add_param("scales", np.ones(self.input_dim, dtype=self.dtype))

    non_trainable_keys = frozenset({"scales"})  # constants: saved and loaded, never stepped

    def set_scales(self, scales: np.ndarray) -> None:
        """Copy `scales` (input_dim,) into the layer's constant factors (build it first)."""
        scales = np.asarray(scales)
        if not self.built:
            raise ValueError(f"build ScaledEmbedding {self.name!r} before setting its scales")
        if scales.shape != (self.input_dim,) or not np.all(np.isfinite(scales)):
            raise ValueError(
                f"ScaledEmbedding {self.name!r} scales must be {self.input_dim} finite numbers (one per row "
                f"of the table), got shape {scales.shape}; compute them over the same ids as input_dim"
            )
        self.params["scales"][...] = scales

    def forward(self, ids: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        """(batch, T) ids -> (batch, T, output_dim): the table rows times their factors."""
        rows = super().forward(ids, mask, training)
        self._row_scales = np.take(self.params["scales"], ids)[..., None]  # (batch, T, 1), for backward
        self._rows = rows  # E[ids], for the factors' gradient
        return rows * self._row_scales

    def backward(self, grad_out: np.ndarray) -> None:
        """(batch, T, output_dim) -> None (ids have no gradient). dE[i] = sum over the positions of id i of
        s[i] g[b, t]; ds[i] = sum over the same positions of E[i] . g[b, t]."""
        super().backward(grad_out * self._row_scales)
        per_position = np.einsum("btd,btd->bt", grad_out, self._rows)
        grad_scales = self.grads["scales"]
        grad_scales.fill(0)
        np.add.at(grad_scales, self._ids.ravel(), per_position.ravel())  # unbuffered: repeated ids add up
        return None
