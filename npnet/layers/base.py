"""The `Layer` protocol every npnet layer follows.

A layer holds its parameters and their gradients side by side, by Keras name (`params["kernel"]`,
`grads["kernel"]`). `forward` computes the output and caches only what `backward` needs;
`backward(grad_out)` *overwrites* `grads` with dLoss/dparam for the last forward (calling it twice does not
double-count) and returns dLoss/dinput; before any forward it raises RuntimeError (the base wraps every
subclass's forward and backward to tell). Layers know nothing of models, optimizers or printing.

What tools (the gradient checker, the backprop monitor, save/load, parity) need to know about a layer they
learn from the protocol alone, never from its class: `sublayers()` (the layers it holds: Dense its
activation, Bidirectional its two directions), `astype(dtype)` (recast, as if built in that dtype),
`kink_pattern()` (where the last forward sits relative to the layer's non-differentiable points),
`table_ids(key, x)` (which rows of a lookup-table parameter the input ids select) and
`activation_stats(output)` (what an activation's output says about its health: dead or saturated units).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from npnet.config import resolve_dtype
from npnet.graph import SymbolicTensor, call_layer
from npnet.initializers import planning

Shape = tuple[int | None, ...]


def _snake_case(name: str) -> str:
    # Keras's rule: "GlobalAveragePooling1D" -> "global_average_pooling1d", "ReLU" -> "re_lu".
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


# Every Layer subclass by class name, filled as classes are defined (`Layer.__init_subclass__`): how
# `npnet.saving.model_file` turns a saved {"class_name", "config"} back into a layer. A new layer only adds
# `get_config`.
LAYER_CLASSES: dict[str, type[Layer]] = {}


def init_rng(rng: np.random.Generator | None) -> np.random.Generator:
    """The generator a layer draws its initial weights from: `rng`, or `default_rng(0)` for a layer built on
    its own, so that it is still repeatable."""
    return rng if rng is not None else np.random.default_rng(0)


class Layer:
    """Base class. Subclasses override `build` (to create params), `forward`, `backward` and shape/mask rules.

    Attributes:
        name: unique within a model (a `Sequential` renames auto-named duplicates to `dense_1`, ...).
        params: parameter arrays by name; updated in place by optimizers.
        grads: gradient arrays, same keys and shapes as `params`; refilled by every `backward`.
        dtype: the float dtype, fixed at `build` (the layer's own `dtype=` wins over the model's).
    """

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        LAYER_CLASSES[cls.__name__] = cls
        # Every layer's forward and backward, wrapped once here rather than checked in each layer: backward
        # reads what forward cached, so before any forward it refuses in words (not "no attribute '_x'").
        # Whatever the class's own body or its bases give it (a mixin's forward too), each method is wrapped
        # once: a method a parent layer's wrapping already covers is left as it is.
        for names, wrap in ((_FORWARDS, _marks_forward_done), (_BACKWARDS, _needs_forward_first)):
            for name in names:
                method = getattr(cls, name, None)
                if callable(method) and not getattr(method, "_checks_forward", False):
                    setattr(cls, name, wrap(method))

    # Set by the first forward that returns (`_marks_forward_done`); a class default, so a layer made without
    # `__init__` (a fast twin's copy of its layer's attributes) reads it too.
    _forward_done: bool = False

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
        # Keras's `layer.trainable`: False freezes every parameter of the layer (and of its sublayers, whose
        # arrays its `params` hold): `fit` computes no step for them and `summary` counts them non-trainable.
        self.trainable: bool = True

    # Parameters that are not weights to learn (Keras's non-trainable weights: in `get_weights()`, saved and
    # loaded, never stepped by an optimizer): constants, which still have a gradient (ScaledEmbedding's
    # scales), and state the forward pass sets, which has none (BatchNormalization's moving statistics: their
    # `grads` entries stay zero and the gradient checker skips them).
    non_trainable_keys: frozenset[str] = frozenset()
    state_keys: frozenset[str] = frozenset()

    def trainable_params(self) -> dict[str, np.ndarray]:
        """The parameters `fit` steps, in `params` order: none when the layer is frozen (`trainable =
        False`), else all but the `non_trainable_keys` and `state_keys`."""
        if not self.trainable:
            return {}
        frozen = self.non_trainable_keys | self.state_keys
        return {key: value for key, value in self.params.items() if key not in frozen}

    def build(
        self,
        input_shape: Shape,
        rng: np.random.Generator | None = None,
        dtype: str | np.dtype | None = None,
    ) -> None:
        """Create parameters for inputs of `input_shape` (batch axis first, may be None).

        `rng` defaults to `default_rng(0)` (`init_rng`) so a standalone layer is still repeatable;
        `dtype` defaults to floatx.
        Subclasses call `super().build(...)` first, then `self.add_param(...)`.
        """
        self.dtype = resolve_dtype(self._requested_dtype if self._requested_dtype is not None else dtype)
        self.built = True

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        """Keras's name for the arrays of `trainable_params()`."""
        return list(self.trainable_params().values())

    def add_param(self, key: str, value: np.ndarray) -> None:
        """Register a parameter and its (zeroed) gradient under the same name."""
        self.params[key] = value
        if planning():  # shapes only (`npnet.initializers.shapes_only`): the placeholder stands for both
            self.grads[key] = value
            return
        # np.zeros, not zeros_like: its pages are mapped on first write, so a gradient array that is never
        # written (the embedding's under a lazy optimizer, npnet.sparse) costs no memory.
        self.grads[key] = np.zeros(value.shape, dtype=value.dtype)

    def __call__(self, inputs: SymbolicTensor | Sequence[SymbolicTensor]) -> SymbolicTensor:
        """Keras's functional API: called on `npnet.Input` tensors (a list of them for a merge), record the
        call in the graph and return its output tensor (`npnet.graph`)."""
        return call_layer(self, inputs)

    def check_input(self, x: np.ndarray) -> None:
        """Raise a clear ValueError if `x` cannot be this layer's input. The base layer accepts anything."""

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        """x (B, ...), mask (B, T) or None -> output (B, ...) as `compute_output_shape` says."""
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray) -> np.ndarray | None:
        """grad_out (the output's shape) -> dL/dx (x's shape), or None for ids; overwrites `grads`."""
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

    def get_weights(self) -> list[np.ndarray]:
        """Copies of this layer's parameters in Keras order (e.g. kernel then bias)."""
        return [value.copy() for value in self.params.values()]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Replace this layer's parameters in place (validated first: on any mismatch nothing changes)."""
        names = [f"{self.name}.{key}" for key in self.params]
        assign_weights(names, list(self.params.values()), weights, "pass a list like layer.get_weights()")

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this layer, JSON-ready (Keras's protocol):
        `type(layer)(**layer.get_config())` is an equal, unbuilt layer. Subclasses add their own arguments to
        `super().get_config()`; a layer holding another layer stores it as `serialize(inner)`."""
        dtype = self._requested_dtype
        return {"name": self.name, "dtype": None if dtype is None else np.dtype(dtype).name}

    def activation_stats(self, output: np.ndarray) -> dict[str, float]:
        """Statistics of this layer's `output` (shape (batch, ..., units)) that tell a healthy activation
        from a dead or saturated one: {"mean", "std", and e.g. "zero_fraction"} for an activation layer,
        or for a layer whose output is an activation's (Dense ending in relu). The backprop monitor reads
        them on a probe batch. Empty for every other layer (the default)."""
        return {}

    def count_params(self) -> int:
        return sum(int(p.size) for p in self.params.values())

    def count_trainable_params(self) -> int:
        """How many of `count_params()` `fit` steps (Keras's "Trainable params" of the layer)."""
        return sum(int(p.size) for p in self.trainable_params().values())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


# The methods that run a layer forward and cache what its backward reads (`call`: MultiHeadAttention's with a
# query, a value and a key, Keras's name; `run`: a recurrent layer's loop, which Bidirectional runs after
# drawing both directions' dropout masks), and those that run it back. A layer with another way in adds it.
_FORWARDS = ("forward", "call", "run")
_BACKWARDS = ("backward", "backward_inputs")


def _marks_forward_done(forward: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(forward)
    def run(self: Layer, *args: Any, **kwargs: Any) -> Any:
        out = forward(self, *args, **kwargs)
        self._forward_done = True
        return out

    run._checks_forward = True  # type: ignore[attr-defined]
    return run


def _needs_forward_first(backward: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(backward)
    def run(self: Layer, *args: Any, **kwargs: Any) -> Any:
        if not self._forward_done:
            raise RuntimeError(
                f"{type(self).__name__}.{backward.__name__} called before forward (layer {self.name!r}): run "
                "forward(x) first (backward uses what forward cached)"
            )
        return backward(self, *args, **kwargs)

    run._checks_forward = True  # type: ignore[attr-defined]
    return run


def assign_weights(
    names: Sequence[str], params: Sequence[np.ndarray], weights: Sequence[np.ndarray], fix: str
) -> None:
    """Copy `weights` into the arrays `params` (called `names` in errors) after checking count, shapes and
    dtypes of all of them, so that a mismatch changes nothing. `fix` ends the count error's message."""
    arrays = [np.asarray(w) for w in weights]
    if len(arrays) != len(params):
        raise ValueError(
            f"set_weights needs {len(params)} arrays ({', '.join(names)}), got {len(arrays)}; {fix}"
        )
    for name, p, w in zip(names, params, arrays, strict=True):
        if w.shape != p.shape:
            raise ValueError(f"set_weights: {name} must have shape {p.shape}, got {w.shape}")
        if not (np.issubdtype(w.dtype, np.floating) or np.issubdtype(w.dtype, np.integer)):
            raise ValueError(f"set_weights: {name} must be numeric, got dtype {w.dtype}")
    for p, w in zip(params, arrays, strict=True):
        p[...] = w


def forward_through(layers: Sequence[Layer], x: Any, training: bool = False) -> np.ndarray:
    """x (B, ...), the first layer's input -> the last layer's output (B, ...).

    Runs `layers` in order on `x`, each given the previous layer's output and mask. Each layer caches what its
    backward will need."""
    mask = None
    for layer in layers:
        out = layer.forward(x, mask=mask, training=training)
        mask = layer.compute_mask(x, mask)
        x = out
    return x


def backward_through(layers: Sequence[Layer], grad_out: np.ndarray) -> np.ndarray | None:
    """grad_out (the last output's shape) -> dL/dx (x's shape), or None when the first layer takes ids.

    Back-propagates dLoss/doutput of the last `forward_through(layers, ...)`, last layer first, filling
    every layer's `grads` (ids have no gradient, hence None)."""
    grad = grad_out
    for layer in reversed(layers[1:]):
        grad_in = layer.backward(grad)
        if grad_in is None:
            raise RuntimeError(
                f"layer {layer.name!r} returns no input gradient, but layers before it need "
                "one: an Embedding must be the first layer"
            )
        grad = grad_in
    return layers[0].backward(grad) if layers else grad


def serialize(layer: Layer) -> dict[str, Any]:
    """{"class_name", "config", "trainable"}: a layer as JSON, rebuilt by `deserialize`. `trainable` is beside
    the config, not in it: it is a switch on any layer, not a constructor argument."""
    return {"class_name": type(layer).__name__, "config": layer.get_config(), "trainable": layer.trainable}


def deserialize(entry: Any) -> Layer:
    """The layer `serialize` described; ValueError naming what is wrong for anything else."""
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
        raise ValueError(f"a layer entry must be {{'class_name': str, 'config': dict}}, got {entry!r:.200}")
    cls = LAYER_CLASSES.get(entry.get("class_name"))  # type: ignore[arg-type]
    if cls is None:
        raise ValueError(
            f"unknown layer class {entry.get('class_name')!r:.100}: "
            f"npnet has {', '.join(sorted(LAYER_CLASSES))}"
        )
    try:
        layer = cls(**entry["config"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"cannot rebuild a {cls.__name__} from {entry['config']!r:.200}: {e}") from None
    trainable = entry.get("trainable", True)  # files from before `trainable` have none: every layer trained
    if not isinstance(trainable, bool):
        raise ValueError(f"a layer entry's trainable must be true or false, got {trainable!r:.100}")
    layer.trainable = trainable
    return layer
