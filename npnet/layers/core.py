"""Core layers without a family of their own: Dropout, Flatten and Activation."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from npnet import validation
from npnet.layers import activations
from npnet.layers.base import Layer, Shape, serialize
from npnet.layers.windows import drop_mask


class Dropout(Layer):
    """Inverted dropout: in training, y = x * keep / (1 - rate) with keep ~ Bernoulli(1 - rate) per element;
    in inference y = x. The same shape in and out; the mask passes through unchanged (as in Keras).

    The scaling by 1 / (1 - rate) keeps E[y] = x, so inference needs no rescaling. backward routes the
    gradient through the same kept elements with the same scale: dL/dx = dL/dy * keep / (1 - rate).

    Randomness: with `seed`, the layer owns a generator `default_rng(seed)`; without one it draws from the
    generator its model hands it at build (`Sequential.fit_rng`, which also shuffles, so a checkpoint of the
    model's generator resumes dropout bitwise), or `default_rng(0)` when used on its own.
    """

    def __init__(
        self, rate: float, seed: int | None = None, name: str | None = None, dtype: str | None = None
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        self.rate = validation.fraction(rate, "Dropout rate")
        self.seed = validation.layer_seed(seed, f"{type(self).__name__} seed")
        if seed is not None:
            self.noise_rng = np.random.default_rng(seed)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        """x (B, ...) -> y (B, ...), the same shape: x * keep / (1 - rate) in training, x in inference."""
        if not training or self.rate == 0:
            self._scale = None  # identity: backward passes the gradient through
            return x
        self._scale = self.draw_scale(self.noise_shape(x), x.dtype)
        return x * self._scale

    def draw_scale(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """One draw of the training mask as its scale, `shape`: keep / (1 - rate), keep ~ Bernoulli(1 - rate).
        One array holds both the choice and the scale (broadcast over x): backward is a single product."""
        rng = self.noise_rng if self.noise_rng is not None else np.random.default_rng(0)
        self.noise_rng = rng
        keep = rng.random(shape) >= self.rate
        return keep.astype(dtype) / dtype.type(1 - self.rate)

    def noise_shape(self, x: np.ndarray) -> tuple[int, ...]:
        """The shape of the keep draw, broadcast over x: one per element (SpatialDropout1D: per channel)."""
        return x.shape

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """grad_out (B, ...) -> dL/dx (B, ...), the same shape: grad_out * keep / (1 - rate)."""
        return grad_out if self._scale is None else grad_out * self._scale


class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1 * d2 * ...), row-major as Keras's channels_last Flatten; backward
    reshapes the gradient back. Masks: not supported, as in Keras 3 (dropped with Keras's warning)."""

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        """x (B, d1, d2, ...) -> (B, d1 * d2 * ...)."""
        drop_mask(self.name, "Flatten", mask)
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """grad_out (B, d1 * d2 * ...) -> dL/dx (B, d1, d2, ...)."""
        return grad_out.reshape(self._shape)

    def compute_mask(self, x: np.ndarray, mask: np.ndarray | None) -> None:
        return None

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        rest = input_shape[1:]
        return (input_shape[0], None if any(d is None for d in rest) else math.prod(rest))  # type: ignore[arg-type]


class Activation(Layer):
    """Applies an activation as its own layer: `Activation("relu")`, `Activation("sigmoid")`,
    `Activation("tanh")`, `Activation("linear")` (identity), or `Activation(layer)` for an activation
    layer object, or a function of `npnet.activations` (`Activation(npnet.activations.relu)`). Any other
    Python function, which Keras would differentiate automatically, is refused with an error saying so:
    npnet needs its backward too.

    Masks pass through unchanged, as in Keras.
    """

    def __init__(
        self,
        activation: str | Layer | Callable[[np.ndarray], np.ndarray],
        name: str | None = None,
        dtype: str | None = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        self.activation = activations.get(activation)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "activation": "linear" if self.activation is None else serialize(self.activation),
        }

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        """x (B, ...) -> activation(x) (B, ...), the same shape."""
        return x if self.activation is None else self.activation.forward(x, training=training)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """grad_out (B, ...) -> dL/dx (B, ...), the same shape."""
        return activations.activation_backward(self.activation, grad_out)

    def sublayers(self) -> list[Layer]:
        return [] if self.activation is None else [self.activation]
