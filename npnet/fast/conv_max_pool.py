"""FusedConvMaxPool: Conv1D(activation="relu") followed by GlobalMaxPooling1D, run as one layer.

With z = windows(x) @ kernel + bias (B, T', F) (the Conv1D's own `preactivation`, the same numbers):

    out[b, f] = max_t relu(z[b, t, f]) = relu(max_t z[b, t, f])          relu is monotone

so the forward is the gemm, the bias, one max over time and a relu on (B, F), never a (B, T', F) relu.
The gradient of out[b, f] reaches z only at the maxima of z[b, :, f], split evenly among exact ties (the
readable GlobalMaxPooling1D's rule, JAX's), and only where out[b, f] > 0 (relu'(0) = 0, which also
kills the all-zero ties the readable path's relu makes). With a[b, f] = g[b, f] [out > 0] / (number of
maxima) and W[b, f] the set of winning steps (docs/derivations/convolution.md, "The path fit runs for the
conv"):

    dkernel[:, f] = sum_b a[b, f] sum_{t in W[b, f]} cols[b, t]           (K*C,) per filter
    dxp[b, t*s + j*d] += sum_f a[b, f] kernel[j, :, f]  for t in W[b, f]   tap j of each winning window
    dbias[f]      = sum_b g[b, f] [out[b, f] > 0]

So backward needs no dense (B, T', F) gradient and no gemm over B*T' rows for the pairs with one winner
(the common case): dkernel is a batched (1, B) @ (B, K*C) product of the gathered winning rows of `cols`,
dx one flat `np.add.at` of kernel columns. Filters with a tied pair take the readable formulas on the
winners mask, restricted to those filters (exact for any number of ties, memory bounded by z).

The layer shares the Conv1D's `params` and `grads` dictionaries (the same arrays), as FusedEmbeddingPool
shares the Embedding's: the optimizer, callbacks, checkpoints and `get_weights` see the Conv1D's weights
and gradients whichever path ran. The fast plan swaps it in for the pair (`npnet.fast.fusions`); the readable
`Conv1D` and `GlobalMaxPooling1D` are the reference it is tested equal to
(tests/fast/test_fast_conv_max_pool.py).
"""

from __future__ import annotations

import numpy as np

from npnet.fast.conv import SplitConv1D, input_grad_col2im
from npnet.fast.twin import twin
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
        self.conv = twin(conv, SplitConv1D)  # its forward products run split over the two threads
        self.keepdims = pool.keepdims
        self.params = conv.params  # the same dictionaries: updates and gradients land on the Conv1D
        self.grads = conv.grads
        self.trainable = conv.trainable
        self.dtype = conv.dtype
        self.built = True

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        """x (B, T, C) -> relu(max_t z) (B, F), or (B, 1, F) with keepdims."""
        self._z = self.conv.preactivation(x, mask)  # (B, T', F), bias added; keeps conv.cols
        self._top = self._z.max(axis=1)  # (B, F)
        out = np.maximum(self._top, 0)
        return out[:, None, :] if self.keepdims else out

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """grad_out (B, F), or (B, 1, F) with keepdims -> dL/dx (B, T, C).

        Overwrites the Conv1D's grads["kernel"] (K, C, F) (and ["bias"] (F,))."""
        z, top = self._z, self._top
        batch, steps, filters = z.shape
        g = grad_out.reshape(batch, filters)
        winners = z == top[:, None, :]  # (B, T', F): every maximum, ties included
        counts = winners.sum(axis=1, dtype=z.dtype)  # (B, F), at least 1
        active = top > 0  # relu'(0) = 0: no gradient through a filter whose max is not positive
        share = np.where(active, g, 0) / counts  # each winner's part, as the readable pooling's share
        tied = active & (counts > 1)
        one = np.where(tied, 0, share)  # (B, F): the pairs with one winner (the common case)
        first = winners.argmax(axis=1)  # (B, F): that winner's step
        kernel = self.params["kernel"]
        size, channels, _ = kernel.shape
        strides, dilation = self.conv.strides, self.conv.dilation_rate
        length, before, padded_length = self.conv.geometry
        samples = np.arange(batch)[:, None]

        # One winner: dkernel[:, f] = sum_b one[b, f] cols[b, first[b, f]], per filter a (1, B) @ (B, K*C)
        # product of the gathered winning rows; dx gets tap j of each winning window at padded step
        # first * s + j * d. Windows overlap and several filters win the same window, so those adds must
        # accumulate: one flat 1-D np.add.at (NumPy's fast unbuffered loop), B*F*K*C values.
        rows = np.take(self.conv.cols, (samples * steps + first).T, axis=0)  # (F, B, K*C)
        dkernel = (one.T[:, None, :] @ rows)[:, 0]  # (F, K*C)
        per_filter = kernel.reshape(size * channels, filters).T  # (F, K*C)
        taps = (np.arange(size)[:, None] * (dilation * channels) + np.arange(channels)).reshape(-1)
        target = ((samples * padded_length + first * strides) * channels)[:, :, None] + taps
        dxp = np.zeros(batch * padded_length * channels, dtype=np.result_type(z, one))
        np.add.at(dxp, target.reshape(-1), (one[:, :, None] * per_filter).reshape(-1))
        dxp = dxp.reshape(batch, padded_length, channels)

        # Ties: the readable formulas (dkernel = colsᵀ G, dx by col2im) on the filters that have a tied
        # pair, with G the winners mask times the share: exact for any number of winners, and as cheap as
        # the ties are rare (dropout breaks the padding's identical windows; without it they are common).
        tied_filters = np.flatnonzero(tied.any(axis=0))
        if tied_filters.size:
            grad_tied = winners[:, :, tied_filters] * np.where(tied, share, 0)[:, None, tied_filters]
            dkernel[tied_filters] += grad_tied.reshape(-1, tied_filters.size).T @ self.conv.cols
            dxp += input_grad_col2im(grad_tied, kernel[:, :, tied_filters], padded_length, strides, dilation)

        self.grads["kernel"][...] = dkernel.T.reshape(kernel.shape)
        if "bias" in self.grads:
            self.grads["bias"][...] = np.where(active, g, 0).sum(axis=0)
        return dxp[:, before : before + length]

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
