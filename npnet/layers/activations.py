"""Activation layers (no parameters) and the `activation=` string lookup used by `Dense`."""

from __future__ import annotations

import numpy as np

from npnet.layers.base import Layer


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) without overflow: exp is only ever taken of -|x| <= 0."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


class ReLU(Layer):
    """y = max(x, 0). The derivative at exactly 0 is taken as 0, as TensorFlow and PyTorch do."""

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        self._positive = x > 0  # all backward needs
        return np.maximum(x, 0)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * self._positive

    def kink_pattern(self) -> np.ndarray:
        return self._positive.ravel()  # crossing the kink at 0 flips one of these


class Sigmoid(Layer):
    """y = sigmoid(x); dy/dx = y (1 - y), so the output is what backward needs."""

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        self._y = sigmoid(x)
        return self._y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * (self._y * (1 - self._y))


class Tanh(Layer):
    """y = tanh(x) (Keras's "tanh"); dy/dx = 1 - y^2, so the output is what backward needs."""

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        self._y = np.tanh(x)
        return self._y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * (1 - self._y * self._y)


_BY_NAME: dict[str, type[Layer]] = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}


def get(identifier: str | Layer | None) -> Layer | None:
    """An activation layer from a Keras name; None or "linear" mean no activation (returns None)."""
    if identifier is None or identifier == "linear":
        return None
    if isinstance(identifier, Layer):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    raise ValueError(
        f"unknown activation {identifier!r}: use one of {', '.join([*_BY_NAME, 'linear'])}, None, "
        "or an activation layer such as layers.ReLU()"
    )
