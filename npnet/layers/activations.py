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
        self._y = sigmoid(x)
        return self._y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
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


_BY_NAME: dict[str, type[Layer]] = {"relu": ReLU, "sigmoid": Sigmoid}


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
