"""Dense: y = activation(x @ kernel + bias)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from npnet import initializers, validation
from npnet.layers import activations
from npnet.layers.base import Layer, Shape, init_rng, serialize


class Dense(Layer):
    """Fully connected layer on the last axis: kernel (fan_in, units) ~ glorot_uniform, bias (units,) = 0.

    `activation` ("relu", "sigmoid", "tanh", "linear"/None, a function of `npnet.activations`, or an
    activation layer) is held as its own layer object, so the backward pass is literally the chain rule:
    back through the activation, then the affine map.
    """

    def __init__(
        self,
        units: int,
        activation: str | dict[str, Any] | Layer | Callable[[np.ndarray], np.ndarray] | None = None,
        use_bias: bool = True,
        kernel_initializer: str | initializers.Initializer = "glorot_uniform",
        bias_initializer: str | initializers.Initializer = "zeros",
        name: str | None = None,
        dtype: str | np.dtype | None = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        self.units = validation.positive_int(units, "Dense units")
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def build(
        self,
        input_shape: Shape,
        rng: np.random.Generator | None = None,
        dtype: str | np.dtype | None = None,
    ) -> None:
        fan_in = input_shape[-1]
        if fan_in is None:
            raise ValueError(
                f"Dense {self.name!r} needs a known input feature size, got input shape {input_shape}; "
                "build the model with it, e.g. model.build((None, n_features)), or pass data first"
            )
        super().build(input_shape, rng, dtype)
        rng = init_rng(rng)
        self.add_param("kernel", self.kernel_initializer((fan_in, self.units), rng, self.dtype))
        if self.use_bias:
            self.add_param("bias", self.bias_initializer((self.units,), rng, self.dtype))

    def check_input(self, x: np.ndarray) -> None:
        fan_in = self.params["kernel"].shape[0]
        if x.ndim < 2 or x.shape[-1] != fan_in:
            raise ValueError(
                f"Dense {self.name!r} expects inputs of shape (batch, ..., {fan_in}), got shape {x.shape}"
            )

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        """x (B, ..., D_in) -> activation(x @ kernel + bias) (B, ..., U), U = units."""
        self.check_input(x)
        self._x = x  # dL/dkernel = x^T · dL/dz
        z = x @ self.params["kernel"]
        if self.use_bias:
            z = z + self.params["bias"]
        return z if self.activation is None else self.activation.forward(z, training=training)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """grad_out (B, ..., U) -> dL/dx (B, ..., D_in); fills grads["kernel"] (D_in, U) and ["bias"] (U,)."""
        grad_z = activations.activation_backward(self.activation, grad_out)
        # Leading axes (batch, maybe time) all act as "samples": flatten them to one.
        x2 = self._x.reshape(-1, self._x.shape[-1])
        g2 = grad_z.reshape(-1, self.units)
        self.grads["kernel"][...] = x2.T @ g2
        if self.use_bias:
            self.grads["bias"][...] = g2.sum(axis=0)
        return grad_z @ self.params["kernel"].T

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape[:-1], self.units)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": None if self.activation is None else serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
        }

    def sublayers(self) -> list[Layer]:
        return [] if self.activation is None else [self.activation]

    def activation_stats(self, output: np.ndarray) -> dict[str, float]:
        # The output is the activation's output, so its statistics are the activation's.
        return {} if self.activation is None else self.activation.activation_stats(output)
