"""LayerNormalization: each position's features normalised to mean 0, variance 1, then scaled and shifted."""

from __future__ import annotations

from typing import Any

import numpy as np

from npnet import initializers
from npnet.layers.base import Layer, Shape


class LayerNormalization(Layer):
    """`LayerNormalization(axis=-1, epsilon=1e-3, center=True, scale=True)`, Keras 3.15.1's semantics.

    Along `axis` (one axis, by default the features), for every other index:
    mean = x.mean(axis), var = ((x - mean)^2).mean(axis) (the *biased* variance, as Keras),
    x_hat = (x - mean) / sqrt(var + epsilon), y = gamma * x_hat + beta.
    gamma ("gamma", ones; only with `scale`) and beta ("beta", zeros; only with `center`) have one entry
    per position along `axis`. Keras's default epsilon is 1e-3 (PyTorch's 1e-5; the Keras IMDB Transformer
    example passes 1e-6). Masks pass through unchanged (each position is normalised on its own).

    backward (docs/derivations/attention.md, "LayerNormalization"): with g = dL/dy and d = g * gamma,
    dL/dx = (d - mean(d) - x_hat * mean(d * x_hat)) / sqrt(var + epsilon), the two mean terms being the
    paths through the mean and the variance; dL/dgamma = sum of g * x_hat and dL/dbeta = sum of g over every
    index but `axis`.
    """

    def __init__(
        self,
        axis: int = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        name: str | None = None,
        dtype: str | np.dtype | None = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"LayerNormalization axis must be one integer axis, got {axis!r}")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon > 0:
            raise ValueError(f"LayerNormalization epsilon must be a positive number, got {epsilon!r}")
        self.axis = axis
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
        }

    def build(
        self,
        input_shape: Shape,
        rng: np.random.Generator | None = None,
        dtype: str | np.dtype | None = None,
    ) -> None:
        if not -len(input_shape) <= self.axis < len(input_shape) or self.axis % len(input_shape) == 0:
            raise ValueError(
                f"LayerNormalization {self.name!r}: axis {self.axis} is not a feature axis of inputs of "
                f"shape {input_shape}"
            )
        size = input_shape[self.axis]
        if size is None:
            raise ValueError(
                f"LayerNormalization {self.name!r} needs a known size along axis {self.axis}, got input "
                f"shape {input_shape}"
            )
        super().build(input_shape, rng, dtype)
        self._rank = len(input_shape)
        if self.scale:
            self.add_param("gamma", initializers.Ones()((size,), np.random.default_rng(0), self.dtype))
        if self.center:
            self.add_param("beta", initializers.Zeros()((size,), np.random.default_rng(0), self.dtype))

    def _along_axis(self, v: np.ndarray) -> np.ndarray:
        """A (size,) parameter shaped to broadcast along `axis` of a rank-`_rank` input."""
        shape = [1] * self._rank
        shape[self.axis] = v.shape[0]
        return v.reshape(shape)

    def check_input(self, x: np.ndarray) -> None:
        size = next(iter(self.params.values())).shape[0] if self.params else None
        if x.ndim != self._rank or (size is not None and x.shape[self.axis] != size):
            raise ValueError(
                f"LayerNormalization {self.name!r} was built for {self._rank}-D inputs with {size} entries "
                f"along axis {self.axis}, got shape {x.shape}"
            )

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        """x (..., D, ...) -> y of the same shape."""
        self.check_input(x)
        centered = x - np.mean(x, axis=self.axis, keepdims=True)
        variance = np.mean(centered * centered, axis=self.axis, keepdims=True)
        self._inv_std = 1 / np.sqrt(variance + x.dtype.type(self.epsilon))
        self._x_hat = centered * self._inv_std
        y = self._x_hat
        if self.scale:
            y = y * self._along_axis(self.params["gamma"])
        if self.center:
            y = y + self._along_axis(self.params["beta"])
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """dL/dy (..., D, ...) -> dL/dx, same shape; fills grads["gamma"], grads["beta"] ((D,) each)."""
        others = tuple(i for i in range(self._rank) if i != self.axis % self._rank)
        d_x_hat = grad_out
        if self.scale:
            self.grads["gamma"][...] = np.sum(grad_out * self._x_hat, axis=others)
            d_x_hat = grad_out * self._along_axis(self.params["gamma"])
        if self.center:
            self.grads["beta"][...] = np.sum(grad_out, axis=others)
        # x_hat = (x - mean) * inv_std: the direct path, the path through the mean (every x_i moves it by
        # 1/D) and the path through the variance (d var / d x_i = 2 (x_i - mean) / D).
        mean_d = np.mean(d_x_hat, axis=self.axis, keepdims=True)
        mean_d_x_hat = np.mean(d_x_hat * self._x_hat, axis=self.axis, keepdims=True)
        return (d_x_hat - mean_d - self._x_hat * mean_d_x_hat) * self._inv_std
