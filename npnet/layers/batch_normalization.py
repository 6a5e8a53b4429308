"""BatchNormalization: each feature standardized by its batch statistics in training, by their moving
averages in inference, then scaled and shifted (derived in docs/derivations/batch-normalization.md)."""

from __future__ import annotations

from typing import Any

import numpy as np

from npnet import validation
from npnet.layers.base import Layer, Shape

# Keras's backend epsilon, added to the count of kept positions when a mask weighs the statistics.
MASKED_COUNT_EPSILON = 1e-7


class BatchNormalization(Layer):
    """Keras 3's BatchNormalization over the last axis (features), statistics over every other axis.

    training (and `trainable`): mu, var = the batch's mean and biased variance of each feature (under a
    (B, T) mask, over the kept steps only, as Keras's masked moments: sums / (count + 1e-7)); then
    moving_mean = momentum * moving_mean + (1 - momentum) * mu, likewise moving_variance. Inference, or a
    frozen layer (`trainable = False`, as Keras): mu, var = moving_mean, moving_variance.
    y = gamma * (x - mu) / sqrt(var + epsilon) + beta.

    Weights in Keras's order: gamma (ones; `scale`), beta (zeros; `center`), moving_mean (zeros) and
    moving_variance (ones); the moving ones are non-trainable (`state_keys`: set by the forward
    pass, never by the optimizer). The mask passes through.
    """

    state_keys = frozenset({"moving_mean", "moving_variance"})

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        name: str | None = None,
        dtype: str | None = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        if axis != -1:
            raise ValueError(
                f"BatchNormalization normalizes the last axis (features, channels_last): axis must be -1, "
                f"got {axis!r}"
            )
        self.axis = axis
        self.momentum = validation.fraction(momentum, "BatchNormalization momentum", one=True)
        self.epsilon = validation.positive_float(epsilon, "BatchNormalization epsilon")
        self.center, self.scale = bool(center), bool(scale)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
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
        features = input_shape[-1]
        if features is None:
            raise ValueError(
                f"BatchNormalization {self.name!r} needs a known feature size (the last axis), got input "
                f"shape {input_shape}"
            )
        super().build(input_shape, rng, dtype)
        if self.scale:
            self.add_param("gamma", np.ones(features, dtype=self.dtype))
        if self.center:
            self.add_param("beta", np.zeros(features, dtype=self.dtype))
        self.add_param("moving_mean", np.zeros(features, dtype=self.dtype))
        self.add_param("moving_variance", np.ones(features, dtype=self.dtype))

    def check_input(self, x: np.ndarray) -> None:
        features = self.params["moving_mean"].shape[0]
        if x.ndim < 2 or x.shape[-1] != features or not np.issubdtype(x.dtype, np.floating):
            raise ValueError(
                f"BatchNormalization {self.name!r} takes float inputs (batch, ..., {features}), got "
                f"{x.dtype} {x.shape}"
            )

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        """x (B, ..., F), mask (B, ...) or None -> y (B, ..., F), the same shape."""
        axes = tuple(range(x.ndim - 1))
        self._batch_statistics = training and self.trainable
        if self._batch_statistics:
            # Every position weighs 1, or under a mask its mask value, as in Keras's masked moments.
            if mask is None:
                weight, count = None, x.dtype.type(np.prod(x.shape[:-1]))
            else:
                if mask.shape != x.shape[:-1]:
                    raise ValueError(
                        f"BatchNormalization {self.name!r}: the mask must have the input's shape without "
                        f"its last axis, got mask {mask.shape} for input {x.shape}"
                    )
                weight = mask[..., None].astype(x.dtype)
                count = x.dtype.type(weight.sum() + MASKED_COUNT_EPSILON)
            weighted = x if weight is None else x * weight
            mean = weighted.sum(axis=axes) / count
            centered = x - mean
            weighted_centered = centered if weight is None else centered * weight
            variance = (weighted_centered * centered).sum(axis=axes) / count
            momentum = x.dtype.type(self.momentum)
            for key, batch_value in (("moving_mean", mean), ("moving_variance", variance)):
                moving = self.params[key]
                moving[...] = moving * momentum + batch_value * (1 - momentum)
            # c = sum(w (x - mu)) / count: 0 without a mask, nearly 0 with one (the 1e-7 in the count);
            # it enters the variance's derivative, so the backward keeps it to stay exact.
            self._weight, self._count = weight, count
            self._drift = weighted_centered.sum(axis=axes) / count
        else:
            mean, variance = self.params["moving_mean"], self.params["moving_variance"]
            centered = x - mean
        self._std = np.sqrt(variance + x.dtype.type(self.epsilon))
        self._normalized = centered / self._std
        y = self._normalized * self.params["gamma"] if self.scale else self._normalized
        return y + self.params["beta"] if self.center else y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """grad_out (B, ..., F) -> dL/dx (B, ..., F); fills grads["gamma"], grads["beta"] (each (F,))."""
        axes = tuple(range(grad_out.ndim - 1))
        if self.scale:
            self.grads["gamma"][...] = (grad_out * self._normalized).sum(axis=axes)
        if self.center:
            self.grads["beta"][...] = grad_out.sum(axis=axes)
        g_hat = grad_out * self.params["gamma"] if self.scale else grad_out  # dL/d(normalized)
        if not self._batch_statistics:  # fixed statistics: an affine map of x
            return g_hat / self._std
        # dL/dx = (g - (w / n) sum(g) - (w / n) sum(g xhat) (xhat - c / std)) / std, the sums over the batch
        # (and steps) per feature, w each position's weight, n the count (derivations/batch-normalization.md).
        share = (1 / self._count) if self._weight is None else self._weight / self._count
        sum_g = g_hat.sum(axis=axes)
        sum_g_normalized = (g_hat * self._normalized).sum(axis=axes)
        through_statistics = share * (sum_g + sum_g_normalized * (self._normalized - self._drift / self._std))
        return (g_hat - through_statistics) / self._std
