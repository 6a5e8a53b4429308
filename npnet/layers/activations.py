"""Activation layers (no parameters) and the `activation=` lookup used by `Dense`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from npnet import activations
from npnet.activations import sigmoid
from npnet.layers.base import Layer, deserialize


class ReLU(Layer):
    """y = max(x, 0). The derivative at exactly 0 is taken as 0, as TensorFlow and PyTorch do."""

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        """x (B, ...) -> max(x, 0) (B, ...), the same shape."""
        self._positive = x > 0  # all backward needs
        return activations.relu(x)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """grad_out (B, ...) -> dL/dx (B, ...), the same shape: grad_out where x > 0, else 0."""
        return grad_out * self._positive

    def kink_pattern(self) -> np.ndarray:
        return self._positive.ravel()  # crossing the kink at 0 flips one of these

    def activation_stats(self, output: np.ndarray) -> dict[str, float]:
        """zero_fraction: outputs that are exactly 0 (no gradient flows back through them);
        dead_fraction: units (last axis) that are 0 for every sample of `output` -- dead ReLUs."""
        units = output.reshape(-1, output.shape[-1])
        zero = units == 0
        return {
            **_moments(output),
            "zero_fraction": float(zero.mean()),
            "dead_fraction": float(zero.all(axis=0).mean()),
        }


class Sigmoid(Layer):
    """y = sigmoid(x); dy/dx = y (1 - y), so the output is what backward needs."""

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        """x (B, ...) -> sigmoid(x) (B, ...), the same shape."""
        self._y = sigmoid(x)
        return self._y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """grad_out (B, ...) -> dL/dx (B, ...), the same shape: grad_out * y (1 - y)."""
        return grad_out * (self._y * (1 - self._y))

    def activation_stats(self, output: np.ndarray) -> dict[str, float]:
        """saturated_fraction: outputs within SATURATION of 0 or 1, where y (1 - y) < 0.01 and the
        gradient through the sigmoid all but vanishes."""
        saturated = (output < SATURATION) | (output > 1 - SATURATION)
        return {**_moments(output), "saturated_fraction": float(saturated.mean())}


# A sigmoid output this close to 0 or 1 counts as saturated (its derivative y (1 - y) is below ~0.01).
SATURATION = 0.01


def _moments(output: np.ndarray) -> dict[str, float]:
    """Mean and standard deviation of an activation's output, accumulated in float64."""
    return {"mean": float(output.mean(dtype=np.float64)), "std": float(output.std(dtype=np.float64))}


class Tanh(Layer):
    """y = tanh(x); dy/dx = 1 - y², so the output is what backward needs."""

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        """x (B, ...) -> tanh(x) (B, ...), the same shape."""
        self._y = activations.tanh(x)
        return self._y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """grad_out (B, ...) -> dL/dx (B, ...), the same shape: grad_out * (1 - y²)."""
        return grad_out * (1 - self._y * self._y)


def softmax_backward(y: np.ndarray, grad_out: np.ndarray, axis: int = -1) -> np.ndarray:
    """dL/dx from dL/dy = `grad_out` through y = softmax(x) along `axis`, both of y's shape.

    The Jacobian dy_i/dx_j = y_i ([i = j] - y_j) is never formed: its product with g is the
    Jacobian-vector product dx_j = sum_i g_i y_i ([i = j] - y_j) = y_j (g_j - sum_i g_i y_i), one
    elementwise product and one weighted sum per row. Rows where y is all zero (attention's fully masked
    rows) get a zero gradient, as their output did not depend on x."""
    weighted = np.sum(grad_out * y, axis=axis, keepdims=True)
    grad_in = grad_out - weighted
    grad_in *= y  # in place: one new array of y's size, not two (attention's are (B, H, T, S))
    return grad_in


class Softmax(Layer):
    """y = softmax(x) along `axis` (default the last): exp(x - max) / sum(exp(x - max)), Keras's
    `layers.Softmax(axis)` and `activation="softmax"`. Same shape in and out.

    backward is the softmax's Jacobian-vector product (`softmax_backward`), so the output is all it needs.
    Masks pass through unchanged and are not applied to the softmax: a Sequential's (batch, T) mask does
    not have the input's shape (MultiHeadAttention masks its own scores)."""

    def __init__(self, axis: int = -1, name: str | None = None, dtype: str | None = None) -> None:
        super().__init__(name=name, dtype=dtype)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"Softmax axis must be an integer, got {axis!r}")
        self.axis = axis

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        if not -x.ndim <= self.axis < x.ndim:
            raise ValueError(
                f"Softmax {self.name!r}: axis {self.axis} is outside a {x.ndim}-D input {x.shape}"
            )
        self._y = activations.softmax(x, axis=self.axis)
        return self._y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return softmax_backward(self._y, grad_out, axis=self.axis)


_BY_NAME: dict[str, type[Layer]] = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "softmax": Softmax}
_BY_FUNCTION: dict[Callable[[np.ndarray], np.ndarray], type[Layer]] = {
    activations.relu: ReLU,
    activations.sigmoid: Sigmoid,
    activations.tanh: Tanh,
    activations.softmax: Softmax,
}


def get(identifier: str | dict[str, Any] | Layer | Callable[[np.ndarray], np.ndarray] | None) -> Layer | None:
    """An activation layer from a Keras name ("relu"), a function of `npnet.activations` (relu), a
    `base.serialize` dict or a layer (returned as is); None, "linear" and `npnet.activations.linear` mean no
    activation (None)."""
    if identifier is None or identifier == "linear" or identifier is activations.linear:
        return None
    if isinstance(identifier, Layer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    if callable(identifier) and identifier in _BY_FUNCTION:
        return _BY_FUNCTION[identifier]()
    raise ValueError(
        f"unknown activation {identifier!r}: use one of {', '.join([*_BY_NAME, 'linear'])}, None, a function "
        "of npnet.activations (e.g. npnet.activations.relu), or an activation layer such as layers.ReLU(); "
        "another function has no backward pass here: write it as a Layer"
    )


def activation_backward(activation: Layer | None, grad_out: np.ndarray) -> np.ndarray:
    """grad_out (B, ...) -> dL/d(pre-activation) (B, ...), the same shape.

    Back through an optional activation layer (None: identity), for the layers that hold one (Dense, Conv1D,
    Activation)."""
    if activation is None:
        return grad_out
    grad = activation.backward(grad_out)
    if grad is None:
        raise TypeError(f"{activation!r}.backward returned no input gradient; an activation must")
    return grad
