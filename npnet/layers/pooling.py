"""GlobalAveragePooling1D: (batch, T, D) -> (batch, D), the mean over the time axis (mask-aware)."""

from __future__ import annotations

import numpy as np

from npnet.layers.base import Layer, Shape


def mask_counts(mask: np.ndarray) -> np.ndarray:
    """(B,) integers: the unmasked positions of each row of `mask` (B, T), at least 1.

    The mean of a row is its masked sum over this count. A row with no unmasked position (an all-padding
    review) has masked sum 0, so dividing by 1 defines its mean as the zero vector and its gradient as
    zero, where Keras divides 0 by 0 and gets NaN. The fused path (`npnet.fast.embedding_pool`) uses the
    same counts."""
    return np.maximum(np.count_nonzero(mask, axis=1), 1)


class GlobalAveragePooling1D(Layer):
    """Mean over axis 1.

    Without a mask every position counts, padding included (divide by the full length T), as in Keras. With a
    mask (from `Embedding(mask_zero=True)`) the mean is over unmasked positions only: sum(x * m) / sum(m). A
    row with no unmasked position (an all-padding review) is defined as the zero vector with zero gradient,
    where Keras would produce NaN.
    """

    def check_input(self, x: np.ndarray) -> None:
        if x.ndim != 3:
            raise ValueError(
                f"GlobalAveragePooling1D {self.name!r} expects a 3-D input (batch, steps, features), "
                f"got shape {x.shape}; put it after an Embedding layer"
            )

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        self.check_input(x)
        self._shape = x.shape
        if mask is None:
            self._mask = None
            return x.mean(axis=1)
        if mask.shape != x.shape[:2]:
            raise ValueError(
                f"GlobalAveragePooling1D {self.name!r}: mask shape {mask.shape} != input {x.shape[:2]}"
            )
        self._mask = mask.astype(x.dtype)
        self._counts = mask_counts(mask).astype(x.dtype)[:, None]
        return np.einsum("bt,btd->bd", self._mask, x) / self._counts

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """Each position gets its row's gradient share: grad_out / T, or grad_out * m[b, t] / count[b]."""
        if self._mask is None:
            # A read-only broadcast view: the same (batch, 1, D) slice for every t, no copy.
            return np.broadcast_to(grad_out[:, None, :] / self._shape[1], self._shape)
        return self._mask[:, :, None] * (grad_out / self._counts)[:, None, :]

    def compute_mask(self, x: np.ndarray, mask: np.ndarray | None) -> None:
        return None  # the time axis is gone, and with it the mask

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], input_shape[2])
