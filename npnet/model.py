"""Sequential: a linear stack of layers — its structure, the forward and backward passes, and weights.

The forward pass is a loop over the layers (each gets the previous output and mask); the backward pass is
the same loop reversed, each layer turning dL/doutput into dL/dinput and filling its own `grads`
(`npnet.layers.base.forward_through` / `backward_through`, the loops the trainer runs too). For study:
`model.forward(x)` / `model.backward(grad)` run one pass by hand, `model.layer_outputs(x)` returns every
layer's activations, and after any step `layer.grads` holds that step's gradients.
`examples/train_by_hand.py` writes a whole training step out this way.

Training (compile, fit, evaluate, predict, train/test_on_batch, gradients) is `npnet.trainer.Trainer`,
which `Sequential` inherits; the fused Embedding + pooling path is a layer of `npnet.fast` that the
trainer runs in place of the first two layers (see `npnet.trainer`: a breakpoint in `Embedding.backward`
fires during `fit` only with `Sequential(..., fused=False)`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from npnet import validation
from npnet.config import resolve_dtype
from npnet.graph import SymbolicTensor
from npnet.layers.base import Layer, Shape, assign_weights, backward_through, forward_through
from npnet.saving import archive, model_file
from npnet.trainer import Trainer


class Sequential(Trainer):
    """A linear stack of layers.

    `seed` makes runs repeatable: the same seed gives bitwise-identical initial weights, and fit's per-epoch
    shuffle draws from `self.fit_rng`, a `numpy.random.Generator` derived from the same seed (never global RNG
    state). Save `fit_rng.bit_generator.state` to resume a run exactly. `dtype` (float32/float64) defaults to
    `npnet.config.floatx()` at build time.

    `fused`: None (default) makes fit/evaluate/predict run `npnet.fast.FusedEmbeddingPool` in place of the
    first two layers when the model starts with Embedding -> GlobalAveragePooling1D, and
    `npnet.fast.FusedConvMaxPool` in place of each Conv1D(relu) -> GlobalMaxPooling1D (see `npnet.trainer`);
    False always runs the readable layers (their forward/backward, caches and breakpoints then run during
    fit, e.g. for studying them); True insists on the fused path and refuses a model it does not fit.
    """

    def __init__(
        self,
        layers: Sequence[Layer | SymbolicTensor] | None = None,
        seed: int | None = 0,
        dtype: str | np.dtype | None = None,
        name: str = "sequential",
        fused: bool | None = None,
    ) -> None:
        if fused not in (None, True, False):
            raise ValueError(f"fused must be None (automatic), True or False, got {fused!r}")
        self.name = name
        self.fused = fused
        self.layers: list[Layer] = []
        seed = validation.optional_seed(
            seed, f"{type(self).__name__}(seed={seed!r}): seed", none="a fresh random seed"
        )
        seeds = np.random.SeedSequence(seed)
        entropy = seeds.entropy  # the actual seed, also when None asked for fresh entropy
        assert isinstance(entropy, int)
        self.seed: int = entropy
        self._init_seeds, fit_seeds = seeds.spawn(2)
        self.fit_rng: np.random.Generator = np.random.default_rng(fit_seeds)
        self._requested_dtype = dtype
        self._dtype: np.dtype | None = None
        self.built = False
        self.input_shape: Shape | None = None
        self.output_shape: Shape | None = None
        self._declared_input: Shape | None = None  # from a leading npnet.Input, Keras's way of giving it
        super().__init__()  # the training state: optimizer, loss, metrics, history
        for layer in layers or []:
            self.add(layer)

    # ---- structure -----------------------------------------------------------------------------------------

    def add(self, layer: Layer | SymbolicTensor) -> None:
        """Append a layer; an auto-named layer whose name is taken becomes `name_1`, `name_2`, ... As in
        Keras, the first entry may be `npnet.Input(shape)`: the model is then built for that shape."""
        if isinstance(layer, SymbolicTensor) and layer.node is None and not self.layers:
            self._declared_input = layer.shape
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential takes npnet layers, got {type(layer).__name__}")
        if self.built:
            raise ValueError("add layers before the model is built (before its first data or build())")
        taken = {existing.name for existing in self.layers}
        if layer.name in taken:
            if not layer.auto_named:
                raise ValueError(
                    f"two layers are named {layer.name!r}; layer names must be unique in a model"
                )
            base, i = layer.name, 1
            while f"{base}_{i}" in taken:
                i += 1
            layer.name = f"{base}_{i}"
        self.layers.append(layer)

    @property
    def dtype(self) -> np.dtype:
        """The float dtype of the parameters (fixed at build)."""
        return self._dtype if self._dtype is not None else resolve_dtype(self._requested_dtype)

    def build(self, input_shape: Shape = (None, None)) -> None:
        """Create every layer's parameters from the seed. The batch axis is ignored; (None, None) suits an
        Embedding-first model of any sequence length."""
        if not self.layers:
            raise ValueError("the model has no layers: pass them as Sequential([...]) or call add()")
        self._dtype = resolve_dtype(self._requested_dtype)
        rng = np.random.default_rng(self._init_seeds)  # a fresh generator: the same seed, the same weights
        shape: Shape = (None, *tuple(input_shape)[1:])
        self.input_shape = shape
        for layer in self.layers:
            if not layer.built:
                layer.build(shape, rng, self._dtype)
            for part in [layer, *layer.sublayers()]:
                if part.noise_rng is None:
                    part.noise_rng = self.fit_rng
            shape = layer.compute_output_shape(shape)
        self.output_shape = shape
        self.built = True

    def _ensure_built(self, x: np.ndarray | None = None) -> None:
        if not self.built:
            declared = self._declared_input or (None, None)
            self.build(x.shape if x is not None and self._declared_input is None else declared)

    def count_params(self) -> int:
        self._ensure_built()
        return sum(layer.count_params() for layer in self.layers)

    def count_trainable_params(self) -> int:
        """How many of `count_params()` `fit` steps: not a frozen layer's (`layer.trainable = False`), nor
        BatchNormalization's moving statistics (Keras's "Trainable params")."""
        self._ensure_built()
        return sum(layer.count_trainable_params() for layer in self.layers)

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """The layer called `name`, or at position `index` (as Keras: give exactly one of them)."""
        if (name is None) == (index is None):
            raise ValueError(
                f"give a layer name or a layer index to get_layer, not both or neither (got name={name!r}, "
                f"index={index!r})"
            )
        if index is not None:
            validation.integer(index, "get_layer index")
            if not -len(self.layers) <= index < len(self.layers):
                raise ValueError(
                    f"get_layer index {index} is out of range: the model has {len(self.layers)} layers"
                )
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named {name!r}; the layers are {[layer.name for layer in self.layers]}")

    # ---- the passes ----------------------------------------------------------------------------------------

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """x (B, ...), the first layer's input -> the last layer's output (B, ...).

        Runs the layers in order; each layer caches what its backward will need."""
        return forward_through(self.layers, x, training)

    def backward(self, grad_out: np.ndarray) -> np.ndarray | None:
        """grad_out (the last output's shape) -> dL/dx (x's shape), or None if the first layer takes ids.

        Back-propagates dLoss/doutput of the last `forward`, filling every layer's `grads` (token ids have
        no gradient, hence None)."""
        return backward_through(self.layers, grad_out)

    def layer_outputs(self, x: np.ndarray) -> list[np.ndarray]:
        """Every layer's output (inference mode) for input `x`, for inspecting activations."""
        x = self._prepare_x(x)
        outputs, mask = [], None
        for layer in self.layers:
            out = layer.forward(x, mask=mask)
            mask = layer.compute_mask(x, mask)
            outputs.append(out)
            x = out
        return outputs

    def _all_params(self) -> list[np.ndarray]:
        return [value for layer in self.layers for value in layer.params.values()]

    def _params(self) -> list[np.ndarray]:
        """What the optimizer updates: every layer's `trainable_weights`, in `get_weights()` order."""
        return [value for layer in self.layers for value in layer.trainable_weights]

    def _grads(self) -> list[np.ndarray]:
        return [layer.grads[key] for layer in self.layers for key in layer.params]

    # ---- weights -------------------------------------------------------------------------------------------

    @property
    def weights(self) -> list[np.ndarray]:
        """The live parameter arrays in `get_weights()` order (as Keras's `model.weights` are its variables):
        for reading or writing them out without a copy; changing one changes the model."""
        self._ensure_built()
        return self._all_params()

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        """The live parameter arrays an optimizer updates (Keras's name), in `weights` order."""
        self._ensure_built()
        return self._params()

    def get_weights(self) -> list[np.ndarray]:
        """Copies of all parameters in Keras order: layer by layer; within a layer e.g. kernel then bias."""
        self._ensure_built()
        return [p.copy() for p in self._all_params()]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Replace all parameters (validated first: on any mismatch nothing changes)."""
        self._ensure_built()
        names = [f"{layer.name}.{key}" for layer in self.layers for key in layer.params]
        assign_weights(names, self._all_params(), weights, "pass a list like model.get_weights()")

    def save_weights(self, path: str | os.PathLike) -> None:
        """Write all parameters to `path` (an .npz archive, atomically, no pickle)."""
        self._ensure_built()
        archive.save_weights(path, self.layers)

    def save(self, path: str | os.PathLike) -> None:
        """Write the whole model to one safe file: architecture, weights and optimizer state
        (`npnet.saving.model_file`; read back with `npnet.models.load_model`)."""
        model_file.save_model(self, path)

    def load_weights(self, path: str | os.PathLike) -> None:
        """Load parameters saved by `save_weights` from a model with the same layers and shapes."""
        self._ensure_built()
        archive.load_weights(path, self.layers)

    def summary(self, print_fn: Any = print) -> str:
        """A Keras-like table of layers, output shapes and parameter counts; printed with `print_fn`
        (None: not printed) and returned."""
        self._ensure_built()
        rows = self._summary_rows()
        widths = [max(29, *(len(r[0]) + 1 for r in rows)), 26, 10]
        rule = "_" * sum(widths)

        def line(cells: Sequence[str]) -> str:
            return "".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

        body = [
            f'Model: "{self.name}"',
            rule,
            line(("Layer (type)", "Output Shape", "Param #")),
            "=" * sum(widths),
        ]
        for i, row in enumerate(rows):
            body += [line(row), "=" * sum(widths) if i == len(rows) - 1 else rule]
        total, trainable = self.count_params(), self.count_trainable_params()
        body += [
            f"Total params: {total:,}",
            f"Trainable params: {trainable:,}",
            f"Non-trainable params: {total - trainable:,}",
            rule,
        ]
        text = "\n".join(body)
        if print_fn is not None:
            print_fn(text)
        return text

    def _summary_rows(self) -> list[tuple[str, str, str]]:
        """(layer (type), output shape, parameter count) of each row of `summary`."""
        rows, shape = [], self.input_shape
        assert shape is not None
        for layer in self.layers:
            shape = layer.compute_output_shape(shape)
            rows.append((f"{layer.name} ({type(layer).__name__})", str(shape), f"{layer.count_params():,}"))
        return rows

    # ---- for the gradient checker --------------------------------------------------------------------------

    def loop_stack(self) -> list[Layer]:
        """The layer stack the training loop runs forward and backward on the readable path: the layers
        themselves (a functional model hands over its whole graph as one step, `npnet.functional`)."""
        return self.layers

    def graph_config(self) -> dict[str, Any] | None:
        """A functional model's graph for its saved file; a Sequential has none (its layers are the chain)."""
        return None

    def kink_patterns(self) -> list[np.ndarray]:
        """Every layer's `kink_pattern()` after the last forward (npnet.gradcheck watches them)."""
        return [layer.kink_pattern() for layer in self.layers]

    def table_ids(self, layer: Layer, key: str, x: Any) -> np.ndarray | None:
        """The ids the batch `x` selects from `layer.params[key]` if that is a lookup table fed by x (the
        first layer's embeddings), else None (npnet.gradcheck samples an embedding's rows by them)."""
        return layer.table_ids(key, x) if layer is self.layers[0] else None

    # ---- input checks --------------------------------------------------------------------------------------

    def _prepare_x(self, x: Any, what: str = "x") -> np.ndarray:
        x = samples_array(x, what)
        if x.ndim < 2:  # before building from its shape: no layer of a stack takes one axis
            raise ValueError(
                f"{what} has shape {x.shape}, a single axis, but a model takes a batch with the samples on "
                "the first axis, 2-D or more: a 2-D array of token ids (samples, timesteps) when it starts "
                "with an Embedding, (samples, features) when it starts with a Dense; reshape it (x[None] for "
                "one sample, x.reshape(-1, 1) for one value per sample), or pad lists of token ids with "
                "pad_sequences"
            )
        self._ensure_built(x)
        self.layers[0].check_input(x)
        return x


def samples_array(x: Any, what: str) -> np.ndarray:
    """`x` as an array of samples (batch axis first); ValueError naming `what` if it is ragged or empty."""
    try:
        x = np.asarray(x)
    except ValueError as exc:  # numpy refuses ragged nested lists
        raise ValueError(f"{what} is ragged ({exc}); pad the sequences to one length first") from None
    if x.dtype == object:
        raise ValueError(f"{what} is an object array (ragged sequences?); pad them to one length first")
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(f"{what} is empty (shape {x.shape}); pass at least one sample")
    return x
