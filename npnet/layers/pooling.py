"""Pooling over the time axis: GlobalAveragePooling1D (mask-aware mean), GlobalMaxPooling1D, and the
windowed MaxPooling1D and AveragePooling1D. Input (batch, T, D), channels last.

Where a max sends its gradient on ties, as Keras 3.15.1 does on both its JAX and torch backends (measured by
differentiating Keras's layers; tests/parity/test_parity_conv.py rechecks it):

* MaxPooling1D: each window's gradient goes to the *first* maximal element of the window (JAX's
  `select_and_scatter_add` with `>=`, torch's `max_pool1d` indices). An element that wins several
  overlapping windows collects each one's gradient.
* GlobalMaxPooling1D: the gradient is *split equally* among all the maximal elements (`jnp.max` and
  `torch.amax` both differentiate that way).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npnet.layers.base import Layer, Shape
from npnet.layers.windows import drop_mask, output_length, pad_time, padding_amounts, windows
from npnet.validation import positive_int


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
        """x (B, T, D), mask (B, T) or None -> (B, D): the mean over all steps, or over the unmasked ones."""
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
        """grad_out (B, D) -> dL/dx (B, T, D).

        Each position gets its row's gradient share: grad_out / T, or grad_out * m[b, t] / count[b]."""
        if self._mask is None:
            # A read-only broadcast view: the same (batch, 1, D) slice for every t, no copy.
            return np.broadcast_to(grad_out[:, None, :] / self._shape[1], self._shape)
        return self._mask[:, :, None] * (grad_out / self._counts)[:, None, :]

    def compute_mask(self, x: np.ndarray, mask: np.ndarray | None) -> None:
        return None  # the time axis is gone, and with it the mask

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], input_shape[2])


def _check_steps(layer: Layer, x: np.ndarray) -> None:
    if x.ndim != 3:
        raise ValueError(
            f"{type(layer).__name__} {layer.name!r} expects a 3-D input (batch, steps, features), "
            f"got shape {x.shape}"
        )


class GlobalMaxPooling1D(Layer):
    """y[b, d] = max_t x[b, t, d]: (batch, T, D) -> (batch, D), or (batch, 1, D) with keepdims.

    backward: dx[b, t, d] = g[b, d] * [x[b, t, d] is a maximum] / (number of maxima): one maximum takes
    the whole gradient; ties share it equally, as in Keras (module docstring). Masks: not supported, as in
    Keras 3 (a mask reaching the layer is dropped with Keras's warning; padding positions take part).
    """

    def __init__(self, keepdims: bool = False, name: str | None = None, dtype: str | None = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.keepdims = keepdims

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "keepdims": self.keepdims}

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        """x (B, T, D) -> (B, D), or (B, 1, D) with keepdims: the max over time."""
        _check_steps(self, x)
        drop_mask(self.name, "GlobalMaxPooling1D", mask)
        top = x.max(axis=1, keepdims=True)
        # What backward needs, in two passes over x: which elements are maxima (B, T, D) and how many
        # per (b, d) (B, 1, D), counted in x's dtype (exact: T < 2**24). The share they split is formed
        # in backward, on the (B, D) gradient, not as a third (B, T, D) array here.
        self._winners = x == top
        self._counts = self._winners.sum(axis=1, keepdims=True, dtype=x.dtype)
        return top if self.keepdims else top[:, 0]

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """grad_out (B, D), or (B, 1, D) with keepdims -> dL/dx (B, T, D), shared among each row's maxima."""
        g = grad_out if self.keepdims else grad_out[:, None, :]
        return self._winners * (g / self._counts)

    def kink_pattern(self) -> np.ndarray:
        # The first maximum of each (b, d), the same index as x.argmax(axis=1): a step that changes the
        # winner (a tie is one) crosses a kink. Computed only when the gradient checker asks.
        return self._winners.argmax(axis=1).ravel()

    def compute_mask(self, x: np.ndarray, mask: np.ndarray | None) -> None:
        return None

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], 1, input_shape[2]) if self.keepdims else (input_shape[0], input_shape[2])


class _WindowPooling1D(Layer):
    """Shared arguments and shape rules of MaxPooling1D and AveragePooling1D (Keras's `BasePooling`):
    windows of `pool_size` steps every `strides` steps (default: `pool_size`, no overlap), padding "valid"
    or "same" (npnet.layers.windows). Masks: not supported, as in Keras 3 (dropped with its warning)."""

    def __init__(
        self,
        pool_size: int = 2,
        strides: int | None = None,
        padding: str = "valid",
        name: str | None = None,
        dtype: str | None = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        kind = type(self).__name__
        self.pool_size = positive_int(pool_size, f"{kind} pool_size")
        self.strides = self.pool_size if strides is None else positive_int(strides, f"{kind} strides")
        if padding not in ("valid", "same"):
            raise ValueError(f"{kind} padding must be 'valid' or 'same', got {padding!r}")
        self.padding = padding

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "strides": self.strides,
            "padding": self.padding,
        }

    def _windows(self, x: np.ndarray, fill: float) -> np.ndarray:
        """The (B, T_out, pool_size, D) window view of x padded with `fill`; remembers the geometry."""
        _check_steps(self, x)
        before, after, count = padding_amounts(x.shape[1], self.pool_size, self.strides, self.padding)
        if count < 1:
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: {x.shape[1]} steps are fewer than one window of "
                f"{self.pool_size}; use padding='same' or a smaller pool_size"
            )
        self._geometry = (x.shape, before, before + x.shape[1] + after, count)
        return windows(pad_time(x, before, after, fill), self.pool_size, self.strides, 1, count)

    def _scatter(self, per_tap: np.ndarray) -> np.ndarray:
        """dL/dx from each window's gradient by tap, per_tap (B, T_out, pool_size, D): tap j of window t
        sits at padded step t*strides + j. Windows may overlap, so the adds accumulate."""
        shape, before, padded_length, count = self._geometry
        dxp = np.zeros((shape[0], padded_length, shape[2]), dtype=per_tap.dtype)
        for j in range(self.pool_size):  # pool_size taps, each vectorized over samples and steps
            dxp[:, j : j + (count - 1) * self.strides + 1 : self.strides] += per_tap[:, :, j]
        return dxp[:, before : before + shape[1]]

    def compute_mask(self, x: np.ndarray, mask: np.ndarray | None) -> None:
        return None

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        steps = output_length(input_shape[1], self.pool_size, self.strides, self.padding)
        return (input_shape[0], steps, input_shape[2])


class MaxPooling1D(_WindowPooling1D):
    """y[b, t, d] = max_j xp[b, t*strides + j, d], padding with -inf ("same" never fills a whole window).

    backward: each window's gradient goes to its first maximal element (as Keras on JAX and torch; module
    docstring); an element that wins several overlapping windows sums their gradients.
    """

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        """x (B, T, D) -> (B, T_out, D): the max of each window."""
        drop_mask(self.name, "MaxPooling1D", mask)
        # Keeps the window view (x itself, or its padded copy) and the maxima; the winning taps are found
        # in backward, and argmax only for kink_pattern: a max over the strided tap axis is one reduction,
        # where an argmax there must be followed by a gather of the winners (benchmarks/HISTORY.md,
        # "MaxPooling1D: a max over the tap axis instead of argmax + gather").
        self._view = self._windows(x, -np.inf)
        self._top = self._view.max(axis=2)
        return self._top

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """grad_out (B, T_out, D) -> dL/dx (B, T, D), each window's gradient at its first maximum."""
        shape, before, padded_length, count = self._geometry
        batch, _, size, depth = self._view.shape
        if self.strides == size:  # windows tile the axis: each tap's gradient is written in its place
            dxp = np.zeros((batch, padded_length, depth), dtype=grad_out.dtype)
            self._first_winner_grads(grad_out, dxp[:, : count * size].reshape(batch, count, size, depth))
            return dxp[:, before : before + shape[1]]
        per_tap = np.empty(self._view.shape, dtype=grad_out.dtype)
        return self._scatter(self._first_winner_grads(grad_out, per_tap))

    def _first_winner_grads(self, grad_out: np.ndarray, per_tap: np.ndarray) -> np.ndarray:
        """per_tap[b, t, j] = grad_out[b, t] where tap j is the window's first maximum, else 0 (the
        one-hot of `self._view.argmax(axis=2)`, built tap by tap: pool_size passes over (B, T_out, D))."""
        unclaimed = np.ones(self._top.shape, bool)  # windows whose first maximum is not yet found
        for j in range(per_tap.shape[2]):
            wins = self._view[:, :, j] == self._top
            wins &= unclaimed
            unclaimed ^= wins
            np.multiply(grad_out, wins, out=per_tap[:, :, j])
        return per_tap

    def kink_pattern(self) -> np.ndarray:
        return self._view.argmax(axis=2).ravel()  # which tap won each window; a tie is a kink


class AveragePooling1D(_WindowPooling1D):
    """y[b, t, d] = mean of the window's real (unpadded) steps: with padding "same" an edge window divides
    by the steps it covers, as Keras on JAX (and TensorFlow) do. (Keras on torch divides by pool_size
    there, counting the padding: the backends disagree, and npnet follows JAX.)

    backward: every real step of a window gets the window's gradient / its count.
    """

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        """x (B, T, D) -> (B, T_out, D): the mean of each window's real steps."""
        drop_mask(self.name, "AveragePooling1D", mask)
        _check_steps(self, x)
        ones = self._windows(np.ones((1, x.shape[1], 1), dtype=x.dtype), 0.0)  # 1 on real steps
        view = self._windows(x, 0.0)  # second, so the geometry kept for backward is x's
        self._real = ones[0, :, :, 0]  # (T_out, pool_size): which taps of each window are real steps
        self._counts = self._real.sum(axis=1)[None, :, None]  # (1, T_out, 1)
        return view.sum(axis=2) / self._counts

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """grad_out (B, T_out, D) -> dL/dx (B, T, D)."""
        share = grad_out / self._counts  # (B, T_out, D)
        return self._scatter(share[:, :, None, :] * self._real[None, :, :, None])
