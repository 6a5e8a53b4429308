"""The `Layer` protocol every npnet layer follows.

A layer holds its parameters and their gradients side by side, by Keras name (`params["kernel"]`,
`grads["kernel"]`). `forward` computes the output and caches only what `backward` needs;
`backward(grad_out)` *overwrites* `grads` with dLoss/dparam for the last forward (calling it twice does not
double-count) and returns dLoss/dinput. Layers know nothing of models, optimizers or printing.

What tools (the gradient checker, the backprop monitor, save/load, parity) need to know about a layer they
learn from the protocol alone, never from its class: `sublayers()` (the layers it holds: Dense its
activation, Bidirectional its two directions), `astype(dtype)` (recast, as if built in that dtype),
`kink_pattern()` (where the last forward sits relative to the layer's non-differentiable points),
`table_ids(key, x)` (which rows of a lookup-table parameter the input ids select) and
`activation_stats(output)` (what an activation's output says about its health: dead or saturated units).
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
        # The generator of training-time noise (dropout masks). A `Sequential` hands every layer that has
        # none its own `fit_rng` at build, so one seeded generator drives shuffling and noise and one
        # checkpointed state resumes both; a layer given its own seed keeps its own generator.
        self.noise_rng: np.random.Generator | None = None

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

    def sublayers(self) -> list[Layer]:
        """The layers this one holds and runs inside its own forward/backward (not itself). Default: none."""
        return []

    def astype(self, dtype: str | np.dtype) -> None:
        """Recast parameters (and zero the gradients) of this layer and its sublayers to `dtype`, as if the
        layer had been built in it. Layers whose caches or state hold dtype-bound arrays extend this."""
        dtype = np.dtype(dtype)
        for layer in [self, *self.sublayers()]:
            layer.dtype = dtype
            for key, value in layer.params.items():
                layer.params[key] = value.astype(dtype)
                layer.grads[key] = np.zeros_like(layer.params[key])

    def kink_pattern(self) -> np.ndarray:
        """A flat array describing where the last forward lies relative to the layer's non-differentiable
        points: it changes exactly when a perturbation of the input or parameters crosses one (ReLU: which
        outputs are positive; a max: which element won). The gradient checker compares it before and after
        each finite-difference step and reports such steps as kinks instead of judging them. Smooth
        layers return an empty array; by default a layer reports its sublayers' patterns."""
        parts = [layer.kink_pattern() for layer in self.sublayers()]
        return np.concatenate([p.ravel() for p in parts]) if parts else np.zeros(0, dtype=bool)

    def table_ids(self, key: str, x: np.ndarray) -> np.ndarray | None:
        """For a parameter that is a lookup table indexed by the input ids (an embedding), the ids in `x`
        that select its rows; None for every other parameter. The gradient checker samples rows by it."""
        return None

    def activation_stats(self, output: np.ndarray) -> dict[str, float]:
        """Statistics of this layer's `output` (shape (batch, ..., units)) that tell a healthy activation
        from a dead or saturated one: {"mean", "std", and e.g. "zero_fraction"} for an activation layer,
        or for a layer whose output is an activation's (Dense ending in relu). The backprop monitor reads
        them on a probe batch. Empty for every other layer (the default)."""
        return {}

    def count_params(self) -> int:
        return sum(int(p.size) for p in self.params.values())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
