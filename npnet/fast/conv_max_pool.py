"""FusedConvMaxPool: Conv1D(activation="relu") followed by GlobalMaxPooling1D, run as one layer.

With z = windows(x) @ kernel + bias (B, T', F) (the Conv1D's own `preactivation`, the same numbers):

    out[b, f] = max_t relu(z[b, t, f]) = relu(max_t z[b, t, f])          relu is monotone

so the forward is the gemm, the bias, one max over time and a relu on (B, F), never a (B, T', F) relu.
The gradient of out[b, f] reaches z only at the maxima of z[b, :, f], split evenly among exact ties (the
readable GlobalMaxPooling1D's rule, JAX's), and only where out[b, f] > 0 (relu'(0) = 0, which also
kills the all-zero ties the readable path's relu makes). With a[b, f] = g[b, f] [out > 0] / (number of
maxima) and W[b, f] the set of winning steps (docs/gradients.md, "Fused Conv1D(relu) -> GlobalMaxPooling1D"):

    dkernel[:, f] = sum_b a[b, f] sum_{t in W[b, f]} cols[b, t]           (K*C,) per filter
    dxp[b, t*s + j*d] += sum_f a[b, f] kernel[j, :, f]  for t in W[b, f]   tap j of each winning window
    dbias[f]      = sum_b g[b, f] [out[b, f] > 0]

So backward touches one (b, t, f) entry per winner (about B*F of them) instead of two full gemms over
B*T' rows: a gather of the winning windows' rows of `cols` summed per filter (`np.add.reduceat`) for
dkernel, and a gather of kernel columns scattered by one flat `np.add.at` for the input gradient.

The layer shares the Conv1D's `params` and `grads` dictionaries (the same arrays), as FusedEmbeddingPool
shares the Embedding's: the optimizer, callbacks, checkpoints and `get_weights` see the Conv1D's weights
and gradients whichever path ran. The trainer swaps it in for the pair (`npnet.fast.fusions`); the readable
`Conv1D` and `GlobalMaxPooling1D` are the reference it is tested equal to (tests/test_fast_conv_max_pool.py).
"""

from __future__ import annotations

import numpy as np

from npnet.layers.activations import ReLU
from npnet.layers.base import Layer, Shape
from npnet.layers.convolutional import Conv1D
from npnet.layers.pooling import GlobalMaxPooling1D


class FusedConvMaxPool(Layer):
    """`GlobalMaxPooling1D()(Conv1D(..., activation="relu")(x))`: (B, T, C) -> (B, F), or (B, 1, F) with
    the pooling's keepdims. Any padding, strides and dilation of the Conv1D."""

    @staticmethod
    def fits(conv: Layer, pool: Layer) -> bool:
        """Whether this layer computes `pool(conv(x))` exactly: the classes themselves (a subclass may
        change the computation) and a ReLU activation (of that class too)."""
        exact = type(conv) is Conv1D and type(pool) is GlobalMaxPooling1D
        return exact and isinstance(conv, Conv1D) and type(conv.activation) is ReLU

    @classmethod
    def fuse(cls, conv: Layer, pool: Layer) -> FusedConvMaxPool:
        """The twin of a pair that `fits` (typed for `npnet.fast.fusions`' table)."""
        assert isinstance(conv, Conv1D) and isinstance(pool, GlobalMaxPooling1D)
        return cls(conv, pool)

    def __init__(self, conv: Conv1D, pool: GlobalMaxPooling1D) -> None:
        if not self.fits(conv, pool):
            raise ValueError(
                f"FusedConvMaxPool fuses Conv1D(activation='relu') -> GlobalMaxPooling1D, got "
                f"{type(conv).__name__} -> {type(pool).__name__}"
            )
        if not conv.built:
            raise ValueError(f"build Conv1D {conv.name!r} before fusing it with its pooling")
        super().__init__(name=conv.name, dtype=conv.dtype)
        self.conv = conv
        self.keepdims = pool.keepdims
        self.params = conv.params  # the same dictionaries: updates and gradients land on the Conv1D
        self.grads = conv.grads
        self.dtype = conv.dtype
        self.built = True

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        self._z = self.conv.preactivation(x, mask)  # (B, T', F), bias added; keeps conv.cols
        self._top = self._z.max(axis=1)  # (B, F)
        out = np.maximum(self._top, 0)
        return out[:, None, :] if self.keepdims else out

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """Overwrites the Conv1D's grads["kernel"] (and ["bias"]); returns dL/dx (B, T, C)."""
        z, top = self._z, self._top
        batch, steps, filters = z.shape
        g = grad_out.reshape(batch, filters)
        active = top > 0  # relu'(0) = 0: no gradient through a filter whose max is not positive
        # Every maximum of every (b, f), as flat indices of z in (b, t, f) order; ties are all kept.
        flat = np.flatnonzero(z == top[:, None, :])
        window, f = np.divmod(flat, filters)  # window = b * T' + t, the row of conv.cols
        pair = (window // steps) * filters + f  # b * F + f
        counts = np.bincount(pair, minlength=batch * filters).astype(z.dtype)
        keep = active.reshape(-1)[pair]
        window, f, pair = window[keep], f[keep], pair[keep]
        share = g.reshape(-1)[pair] / counts[pair]  # the readable GlobalMaxPooling1D's share, bitwise

        kernel = self.params["kernel"]
        size, channels, _ = kernel.shape
        # dkernel: the winning windows' rows of cols, weighted, summed per filter (sorted by filter first).
        by_filter = np.argsort(f, kind="stable")
        f_sorted = f[by_filter]
        starts = np.flatnonzero(np.diff(f_sorted, prepend=-1))
        rows = np.take(self.conv.cols, window[by_filter], axis=0)  # (n, K*C)
        rows *= share[by_filter, None]
        dkernel = np.zeros((filters, size * channels), dtype=z.dtype)
        if f.size:
            dkernel[f_sorted[starts]] = np.add.reduceat(rows, starts, axis=0)
        self.grads["kernel"][...] = dkernel.T.reshape(kernel.shape)
        if "bias" in self.grads:
            self.grads["bias"][...] = np.where(active, g, 0).sum(axis=0)

        # dx: tap j of winning window (b, t) receives share * kernel[j, :, f] at padded step t*s + j*d.
        # Windows overlap and several filters win the same window, so the adds must accumulate: one flat
        # 1-D np.add.at (NumPy's fast unbuffered loop) over the entries' K*C values each.
        length, before, padded_length = self.conv.geometry
        b, t = np.divmod(window, steps)
        taps = np.arange(size)[:, None] * (self.conv.dilation_rate * channels) + np.arange(channels)
        target = ((b * padded_length + t * self.conv.strides) * channels)[:, None] + taps.reshape(-1)
        per_filter = np.ascontiguousarray(kernel.reshape(size * channels, filters).T)  # (F, K*C)
        dxp = np.zeros(batch * padded_length * channels, dtype=np.result_type(z.dtype, share.dtype))
        values = np.take(per_filter, f, axis=0)
        values *= share[:, None]
        np.add.at(dxp, target.reshape(-1), values.reshape(-1))
        return dxp.reshape(batch, padded_length, channels)[:, before : before + length]

    def kink_pattern(self) -> np.ndarray:
        """Which step wins each (b, f) (the first of equal maxima) and whether its relu is on."""
        return np.concatenate([self._z.argmax(axis=1).ravel(), (self._top > 0).ravel()])

    def astype(self, dtype: str | np.dtype) -> None:
        self.conv.astype(dtype)  # recasts the shared dictionaries' arrays
        self.dtype = self.conv.dtype

    def compute_mask(self, x: np.ndarray, mask: np.ndarray | None) -> None:
        return None

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        steps_out = self.conv.compute_output_shape(input_shape)
        return (steps_out[0], 1, steps_out[2]) if self.keepdims else (steps_out[0], steps_out[2])
