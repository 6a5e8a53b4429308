"""Conv1D: y[b, t] = activation(sum_j xp[b, t*stride + j*dilation] @ kernel[j] + bias), a correlation.

Shapes: x (B, T, C) -> y (B, T_out, F); kernel (K, C, F), bias (F,). `xp` is x padded by the rule of
`padding` (npnet.layers.windows). docs/derivations/convolution.md derives the backward:

    dkernel[j] = sum_{b,t} xp[b, t*s + j*d]^T g[b, t]            (C, F): one gemm over the im2col matrix
    dxp[u]     = sum_i gs[u + i*d] @ kernel[K-1-i]^T              the full correlation of the zero-stuffed
                                                                  g with the flipped kernel
    dbias      = sum_{b,t} g[b, t]

`input_grad_full_correlation` is that last formula as written (readable, one gemm); `input_grad_col2im`
computes the same sum as one gemm into the window matrix followed by K shifted adds, which skips the zeros
the stuffing and padding put into the readable version's gemm (benchmarks/RESULTS.md, "cnn": it is the
faster, so the layer uses it; tests/test_conv.py holds them equal).

The three gemms are the layer's cost, and BLAS runs on one thread in fit (`npnet.threads`), so each
large one is split in two halves of its output on the process's kept pair of threads (`_split_product`):
the forward and dL/dxp by rows (samples), dL/dkernel by its filters. Each half is an ordinary gemm of its
own rows, so the result equals the one-thread product (tests/test_conv.py) and no sum crosses threads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from npnet import initializers
from npnet.layers import activations
from npnet.layers.base import Layer, Shape, serialize
from npnet.layers.windows import PADDINGS, drop_mask, output_length, pad_time, padding_amounts, positive_int
from npnet.layers.windows import windows as window_view
from npnet.threads import shared_workers


def im2col(xp: np.ndarray, size: int, stride: int, dilation: int, count: int) -> np.ndarray:
    """The window matrix (B * count, size * C) of the padded input: one row per output step, taps in
    kernel order. The only copy the forward makes."""
    view = window_view(xp, size, stride, dilation, count)  # (B, count, size, C)
    return view.reshape(-1, size * xp.shape[2])


# Below this many multiply-adds (~0.1 ms of one core) a product is not split: waking a thread costs more.
_SPLIT_MIN_MACS = 4_000_000


def _split_product(rows: int, macs: int, part_product: Callable[[slice], object]) -> None:
    """part_product(part) for every part of range(rows): on the kept pool's threads when the whole product
    is worth it (`macs` multiply-adds), else at once as one part."""
    if macs < _SPLIT_MIN_MACS:
        part_product(slice(0, rows))
    else:
        shared_workers().split(part_product, rows)


def input_grad_full_correlation(
    g: np.ndarray, kernel: np.ndarray, padded_length: int, stride: int, dilation: int
) -> np.ndarray:
    """dL/dxp (B, padded_length, C) from g = dL/dz (B, T_out, F): the readable formula.

    Stuff stride - 1 zeros between the steps of g (gs[t * s] = g[t]), pad (K - 1) * d zeros before and
    enough after, and correlate with the kernel flipped along its taps and transposed (K, F, C)."""
    batch, count, filters = g.shape
    size = kernel.shape[0]
    reach = (size - 1) * dilation
    stuffed = np.zeros((batch, padded_length + reach, filters), dtype=g.dtype)
    stuffed[:, reach : reach + (count - 1) * stride + 1 : stride] = g
    flipped = kernel[::-1].transpose(0, 2, 1)  # (K, F, C): tap i of the flip is tap K-1-i of the kernel
    cols = im2col(stuffed, size, 1, dilation, padded_length)  # (B * padded_length, K * F)
    return (cols @ flipped.reshape(size * filters, -1)).reshape(batch, padded_length, -1)


def input_grad_col2im(
    g: np.ndarray, kernel: np.ndarray, padded_length: int, stride: int, dilation: int
) -> np.ndarray:
    """The same dL/dxp as `input_grad_full_correlation`: dcols = g @ kernel^T gives each window's gradient
    (B, T_out, K, C); tap j of every window lands on xp[t*s + j*d], so K strided adds scatter them (the
    windows overlap, so the adds must accumulate)."""
    batch, count, filters = g.shape
    size, channels = kernel.shape[:2]
    dcols = (g.reshape(-1, filters) @ kernel.reshape(size * channels, filters).T).reshape(
        batch, count, size, channels
    )
    dxp = np.zeros((batch, padded_length, channels), dtype=g.dtype)
    for j in range(size):  # K taps, each one vectorized over every sample and step
        start = j * dilation
        dxp[:, start : start + (count - 1) * stride + 1 : stride] += dcols[:, :, j]
    return dxp


def _rows(samples: slice, count: int) -> slice:
    """The rows of the window matrix (B * count, ...) that belong to `samples`."""
    return slice(samples.start * count, samples.stop * count)


class Conv1D(Layer):
    """1-D convolution over time (channels last), Keras 3's `Conv1D` with `groups=1`.

    Keras defaults and shapes: kernel (kernel_size, in_channels, filters) ~ glorot_uniform with Keras's conv
    fans (fan_in = kernel_size * in_channels, fan_out = kernel_size * filters), bias (filters,) = 0;
    weights in the order [kernel, bias]. padding "valid", "same" or "causal"; strides and dilation_rate
    positive (Keras refuses strides > 1 together with dilation_rate > 1, and so does this layer).
    Masks: not supported, as in Keras 3: a mask reaching the layer is dropped with Keras's warning.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int],
        strides: int | tuple[int] = 1,
        padding: str = "valid",
        dilation_rate: int | tuple[int] = 1,
        activation: str | Layer | None = None,
        use_bias: bool = True,
        kernel_initializer: str | initializers.Initializer = "glorot_uniform",
        bias_initializer: str | initializers.Initializer = "zeros",
        name: str | None = None,
        dtype: str | np.dtype | None = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        self.filters = positive_int(filters, "Conv1D filters")
        self.kernel_size = positive_int(_single(kernel_size), "Conv1D kernel_size")
        self.strides = positive_int(_single(strides), "Conv1D strides")
        self.dilation_rate = positive_int(_single(dilation_rate), "Conv1D dilation_rate")
        if self.strides > 1 and self.dilation_rate > 1:
            raise ValueError(
                f"Conv1D strides={self.strides} with dilation_rate={self.dilation_rate}: Keras allows "
                "strides > 1 or dilation_rate > 1, not both; set one of them to 1"
            )
        if padding not in PADDINGS:
            raise ValueError(f"Conv1D padding must be one of {', '.join(PADDINGS)}, got {padding!r}")
        self.padding = padding
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    @property
    def span(self) -> int:
        """Input steps one window covers."""
        return (self.kernel_size - 1) * self.dilation_rate + 1

    def build(
        self,
        input_shape: Shape,
        rng: np.random.Generator | None = None,
        dtype: str | np.dtype | None = None,
    ) -> None:
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"Conv1D {self.name!r} needs inputs (batch, steps, channels) with known channels, got input "
                f"shape {input_shape}; put it after an Embedding or build with (None, steps, channels)"
            )
        super().build(input_shape, rng, dtype)
        rng = rng if rng is not None else np.random.default_rng(0)
        shape = (self.kernel_size, int(input_shape[-1]), self.filters)
        self.add_param("kernel", self.kernel_initializer(shape, rng, self.dtype))
        if self.use_bias:
            self.add_param("bias", self.bias_initializer((self.filters,), rng, self.dtype))

    def check_input(self, x: np.ndarray) -> None:
        channels = self.params["kernel"].shape[1]
        if x.ndim != 3 or x.shape[2] != channels:
            raise ValueError(
                f"Conv1D {self.name!r} expects inputs of shape (batch, steps, {channels}), got {x.shape}"
            )
        if padding_amounts(x.shape[1], self.span, self.strides, self.padding)[2] < 1:
            raise ValueError(
                f"Conv1D {self.name!r}: {x.shape[1]} steps are fewer than one window of {self.span} "
                f"with padding={self.padding!r}; pad the sequences longer or use padding='same'"
            )

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        """x (B, T, C) -> (B, T_out, F): one gemm of the window matrix (B*T_out, K*C) by the kernel."""
        z = self.preactivation(x, mask)
        return z if self.activation is None else self.activation.forward(z, training=training)

    def preactivation(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """z = windows(x) @ kernel + bias (B, T_out, F), before the activation. Keeps what backward needs:
        `cols`, the window matrix (B*T_out, K*C), and `geometry`, (T, padding before, padded length).
        `npnet.fast.FusedConvMaxPool` computes its z here too, so both paths hold the same numbers."""
        self.check_input(x)
        drop_mask(self.name, "Conv1D", mask)
        before, after, count = padding_amounts(x.shape[1], self.span, self.strides, self.padding)
        self.geometry = (x.shape[1], before, before + x.shape[1] + after)  # backward crops dxp by these
        kernel = self.params["kernel"]
        self.cols = im2col(
            pad_time(x, before, after), self.kernel_size, self.strides, self.dilation_rate, count
        )
        weights = kernel.reshape(-1, self.filters)
        z = np.empty((x.shape[0], count, self.filters), np.result_type(self.cols, weights))
        z_rows = z.reshape(-1, self.filters)

        def product(part: slice) -> None:  # the windows of samples `part`
            rows = _rows(part, count)
            np.matmul(self.cols[rows], weights, out=z_rows[rows])

        _split_product(x.shape[0], self.cols.size * self.filters, product)
        if self.use_bias:
            z += self.params["bias"]  # in place: z is the gemm's fresh output
        return z

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        g = activations.activation_backward(self.activation, grad_out)
        length, before, padded_length = self.geometry
        g2 = g.reshape(-1, self.filters)
        kernel = self.params["kernel"]
        # dW = colsᵀ g2, computed as (g2ᵀ cols)ᵀ: the same product, but OpenBLAS splits this orientation's
        # long inner axis (B*T') better over its threads: 104 vs 890 ms at imdb_cnn's shape on the 2 busy
        # cores (benchmarks/RESULTS.md, "cnn"; equal with one thread).
        kernel_t = np.empty((self.filters, self.cols.shape[1]), g2.dtype)  # dW transposed, (F, K*C)
        macs = self.cols.size * self.filters

        def kernel_grad(part: slice) -> None:  # filters `part`
            np.matmul(g2[:, part].T, self.cols, out=kernel_t[part])

        _split_product(self.filters, macs, kernel_grad)
        self.grads["kernel"][...] = kernel_t.T.reshape(kernel.shape)
        if self.use_bias:
            self.grads["bias"][...] = g2.sum(axis=0)
        dxp = np.empty((g.shape[0], padded_length, kernel.shape[1]), g.dtype)

        def input_grad(part: slice) -> None:  # samples `part`
            dxp[part] = input_grad_col2im(g[part], kernel, padded_length, self.strides, self.dilation_rate)

        _split_product(g.shape[0], macs, input_grad)
        return dxp[:, before : before + length]  # the padding's gradient goes nowhere

    def compute_mask(self, x: np.ndarray, mask: np.ndarray | None) -> None:
        return None

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        steps = output_length(input_shape[1], self.span, self.strides, self.padding)
        return (input_shape[0], steps, self.filters)

    def sublayers(self) -> list[Layer]:
        return [] if self.activation is None else [self.activation]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "dilation_rate": self.dilation_rate,
            "activation": None if self.activation is None else serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
        }


def _single(value: int | tuple[int]) -> Any:
    """Keras accepts an int or a 1-tuple for each 1-D size (the caller checks that the result is an int)."""
    return value[0] if isinstance(value, (tuple, list)) and len(value) == 1 else value
