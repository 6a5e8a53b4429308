"""Masking: marks the time steps whose features all equal `mask_value` as padding, for the layers after it."""

from __future__ import annotations

from typing import Any

import numpy as np

from npnet.layers.base import Layer


class Masking(Layer):
    """Keras 3's Masking on (batch, steps, features): a step is kept when any of its features differs from
    `mask_value`; the output zeroes the steps that are not kept, and their mask goes to the next layer (an
    LSTM then skips them, a pooling leaves them out). Any incoming mask is replaced, as in Keras.

    y = x * keep[..., None] with keep = any(x != mask_value, axis=-1), so dL/dx = dL/dy * keep[..., None]:
    the comparison is piecewise constant, its derivative zero wherever it is defined.
    """

    def __init__(self, mask_value: float = 0.0, name: str | None = None, dtype: str | None = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.mask_value = float(mask_value)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mask_value": self.mask_value}

    def check_input(self, x: np.ndarray) -> None:
        if x.ndim < 2 or not np.issubdtype(x.dtype, np.number):
            raise ValueError(
                f"Masking {self.name!r} takes numeric features (batch, steps, features), got {x.dtype} "
                f"{x.shape}; token ids are masked by Embedding(mask_zero=True) instead"
            )

    def keep(self, x: np.ndarray) -> np.ndarray:
        """x (B, T, F) -> the mask (B, T): True where some feature of the step differs from `mask_value`."""
        return np.any(x != self.mask_value, axis=-1)

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        """x (B, T, F) -> y (B, T, F): x with the masked steps zeroed."""
        self._keep = self.keep(x)[..., None].astype(x.dtype)
        return x * self._keep

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """grad_out (B, T, F) -> dL/dx (B, T, F): zero on the masked steps."""
        return grad_out * self._keep

    def kink_pattern(self) -> np.ndarray:
        """Which steps the last forward kept: a step all at `mask_value` is a jump (any nudge unmasks it)."""
        return self._keep.ravel() > 0

    def compute_mask(self, x: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        return self.keep(x)
