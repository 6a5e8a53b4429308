"""The `Layer` protocol every npnet layer follows.

A layer holds its parameters and their gradients side by side, by Keras name (`params["kernel"]`,
`grads["kernel"]`). `forward` computes the output and caches only what `backward` needs;
`backward(grad_out)` *overwrites* `grads` with dLoss/dparam for the last forward (calling it twice does not
double-count) and returns dLoss/dinput. Layers know nothing of models, optimizers or printing.
"""

from __future__ import annotations

import re

import numpy as np

from npnet.config import resolve_dtype

Shape = tuple[int | None, ...]


def _snake_case(name: str) -> str:
    # Keras's rule: "GlobalAveragePooling1D" -> "global_average_pooling1d", "ReLU" -> "re_lu".
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


class Layer:
    """Base class. Subclasses override `build` (to create params), `forward`, `backward` and shape/mask rules.

    Attributes:
        name: unique within a model (a `Sequential` renames auto-named duplicates to `dense_1`, ...).
        params: parameter arrays by name; updated in place by optimizers.
        grads: gradient arrays, same keys and shapes as `params`; refilled by every `backward`.
        dtype: the float dtype, fixed at `build` (the layer's own `dtype=` wins over the model's).
    """

    def __init__(self, name: str | None = None, dtype: str | np.dtype | None = None) -> None:
        self.name: str = name if name is not None else _snake_case(type(self).__name__)
        self.auto_named: bool = name is None
        self._requested_dtype = dtype
        self.dtype: np.dtype = resolve_dtype(dtype)
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.built: bool = False

    def build(
        self,
        input_shape: Shape,
        rng: np.random.Generator | None = None,
        dtype: str | np.dtype | None = None,
    ) -> None:
        """Create parameters for inputs of `input_shape` (batch axis first, may be None).

        `rng` defaults to `default_rng(0)` so a standalone layer is still repeatable; `dtype` defaults to
        floatx.
        Subclasses call `super().build(...)` first, then `self.add_param(...)`.
        """
        self.dtype = resolve_dtype(self._requested_dtype if self._requested_dtype is not None else dtype)
        self.built = True

    def add_param(self, key: str, value: np.ndarray) -> None:
        """Register a parameter and its (zeroed) gradient under the same name."""
        self.params[key] = value
        self.grads[key] = np.zeros_like(value)

    def check_input(self, x: np.ndarray) -> None:
        """Raise a clear ValueError if `x` cannot be this layer's input. The base layer accepts anything."""

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def compute_mask(self, x: np.ndarray, mask: np.ndarray | None) -> np.ndarray | None:
        """The mask for the next layer. By default a layer passes its input mask through unchanged."""
        return mask

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def count_params(self) -> int:
        return sum(int(p.size) for p in self.params.values())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
