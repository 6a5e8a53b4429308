"""Conv1D: y[b, t] = activation(sum_j xp[b, t*stride + j*dilation] @ kernel[j] + bias), a correlation.

Shapes: x (B, T, C) -> y (B, T_out, F); kernel (K, C, F), bias (F,). `xp` is x padded by the rule of
`padding` (npnet.layers.windows). docs/derivations/convolution.md derives the backward:

    dkernel[j] = sum_{b,t} xp[b, t*s + j*d]^T g[b, t]            (C, F): one gemm over the im2col matrix
    dxp[u]     = sum_i gs[u + i*d] @ kernel[K-1-i]^T              the full correlation of the zero-stuffed
                                                                  g with the flipped kernel
    dbias      = sum_{b,t} g[b, t]

The three products are the layer's own steps (`_windows_times_kernel`, `_kernel_grad`, `_input_grad`), each
the formula as written, on one thread. `npnet.fast.conv.SplitConv1D`, the twin fit runs, computes dxp by
col2im instead of the zero-stuffed correlation and splits each large product over two threads.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npnet import initializers
from npnet.layers import activations
from npnet.layers.base import Layer, Shape, init_rng, serialize
from npnet.layers.windows import PADDINGS, drop_mask, output_length, pad_time, padding_amounts
from npnet.layers.windows import windows as window_view
from npnet.validation import positive_int


def im2col(xp: np.ndarray, size: int, stride: int, dilation: int, count: int) -> np.ndarray:
    """The window matrix (B * count, size * C) of the padded input: one row per output step, taps in
    kernel order. The only copy the forward makes."""
    view = window_view(xp, size, stride, dilation, count)  # (B, count, size, C)
    return view.reshape(-1, size * xp.shape[2])


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
        rng = init_rng(rng)
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
        z = self._windows_times_kernel(self.cols, kernel.reshape(-1, self.filters))
        z = z.reshape(x.shape[0], count, self.filters)
        if self.use_bias:
            z += self.params["bias"]  # in place: z is the gemm's fresh output
        return z

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """grad_out (B, T_out, F) -> dL/dx (B, T, C); fills grads["kernel"] (K, C, F) and ["bias"] (F,)."""
        g = activations.activation_backward(self.activation, grad_out)
        length, before, padded_length = self.geometry
        g2 = g.reshape(-1, self.filters)
        kernel = self.params["kernel"]
        self.grads["kernel"][...] = self._kernel_grad(self.cols, g2).reshape(kernel.shape)
        if self.use_bias:
            self.grads["bias"][...] = g2.sum(axis=0)
        dxp = self._input_grad(g, kernel, padded_length)
        return dxp[:, before : before + length]  # the padding's gradient goes nowhere

    # The three products, as the formulas read. `npnet.fast.conv.SplitConv1D` overrides them.

    def _windows_times_kernel(self, cols: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """z rows (B*T_out, F) = cols (B*T_out, K*C) @ weights (K*C, F)."""
        return cols @ weights

    def _kernel_grad(self, cols: np.ndarray, g2: np.ndarray) -> np.ndarray:
        """dkernel (K*C, F) = colsᵀ (K*C, B*T_out) @ g2 (B*T_out, F)."""
        return cols.T @ g2

    def _input_grad(self, g: np.ndarray, kernel: np.ndarray, padded_length: int) -> np.ndarray:
        """dL/dxp (B, padded_length, C) from g (B, T_out, F): the full correlation with the flipped kernel."""
        return input_grad_full_correlation(g, kernel, padded_length, self.strides, self.dilation_rate)

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
