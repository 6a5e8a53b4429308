"""`npnet.Model(inputs, outputs)`: Keras's functional API, a model whose layers form a graph.

Build it by calling layers on `npnet.Input` tensors (npnet/graph.py records each call) and naming the ends:

    ids = npnet.Input((T,), dtype="int32")
    e = layers.Embedding(V, 16, mask_zero=True)(ids)
    h = layers.Concatenate()([layers.GlobalAveragePooling1D()(e), layers.GlobalMaxPooling1D()(e)])
    model = npnet.Model(ids, layers.Dense(1, activation="sigmoid")(h))

Its passes are the graph's (`npnet.graph.Graph`: forward in topological order, backward in reverse, with
gradients summed where a tensor feeds several layers and over a shared layer's calls). All that only walks
the model's layers is `Sequential`'s and inherited: the weights (`get_weights()` order is `layers` order,
each shared layer once), `get_layer`, `save_weights`/`save`, and training (`npnet.trainer`: compile, fit,
evaluate, predict, train_on_batch, gradients), which runs this model's forward and backward on the readable
layers (no fused path). With several inputs, x is a list of arrays, one per input in `inputs` order, and a
batch takes the same rows of each (`InputBatch`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from npnet.config import resolve_dtype
from npnet.graph import Graph, Input, SymbolicTensor
from npnet.layers.base import Layer, Shape
from npnet.model import Sequential, samples_array


class InputBatch:
    """The arrays of several inputs as one x for the trainer: `len` is the number of samples and `x[rows]`
    takes those rows of every array (all the trainer's batch sources and validation split do to an x)."""

    def __init__(self, arrays: Sequence[np.ndarray]) -> None:
        self.arrays = list(arrays)

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, rows: slice | np.ndarray) -> InputBatch:
        return InputBatch([a[rows] for a in self.arrays])


class Model(Sequential):
    """A model from `inputs` (one `npnet.Input` tensor or a list) to `outputs` (one tensor, or a list of
    one). `seed` and `dtype` as `Sequential`'s: the layers are built at once, in topological order, from
    the seed's generator, each at the shape of its first call."""

    def __init__(
        self,
        inputs: SymbolicTensor | Sequence[SymbolicTensor],
        outputs: SymbolicTensor | Sequence[SymbolicTensor],
        name: str = "functional",
        seed: int | None = 0,
        dtype: str | np.dtype | None = None,
    ) -> None:
        input_list: list[Any] = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        output_list: list[Any] = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        for what, tensors in (("inputs", input_list), ("outputs", output_list)):
            if not tensors or not all(isinstance(t, SymbolicTensor) for t in tensors):
                raise ValueError(
                    f"Model {what} must be npnet.Input tensors or tensors made from them by calling layers, "
                    f"got {tensors!r:.200}"
                )
        if len(output_list) != 1:
            raise ValueError(f"a Model has one output for now, got {len(output_list)}; merge them first")
        made = [t.name for t in input_list if t.node is not None]
        if made:
            raise ValueError(f"Model inputs must be npnet.Input tensors; {made} are made by layers")
        super().__init__(seed=seed, dtype=dtype, name=name, fused=False)
        self.graph = Graph(input_list, output_list[0])
        self.several_inputs = isinstance(inputs, (list, tuple))
        for layer in self.graph.calls:  # each layer once, in order of its first call
            super().add(layer)
        self.build()

    def add(self, layer: Layer | SymbolicTensor) -> None:
        raise ValueError(
            "a functional Model's layers come from its graph: call the layer on tensors and build a new "
            "Model(inputs, outputs)"
        )

    def build(self, input_shape: Any = None) -> None:
        """Create every layer's parameters from the seed, in topological order, each at the shape of its
        first call's input(s). `input_shape` is ignored: the inputs carry the shapes."""
        self._dtype = resolve_dtype(self._requested_dtype)
        rng = np.random.default_rng(self._init_seeds)  # a fresh generator: the same seed, the same weights
        for node in self.graph.nodes:
            layer = node.layer
            if not layer.built:
                shapes = [t.shape for t in node.inputs]
                layer.build(shapes if node.on_list else shapes[0], rng, self._dtype)  # type: ignore[arg-type]
            for part in [layer, *layer.sublayers()]:
                if part.noise_rng is None:
                    part.noise_rng = self.fit_rng
        shapes = [t.shape for t in self.graph.inputs]
        self.input_shape = None if self.several_inputs else shapes[0]
        self.input_shapes: list[Shape] = shapes
        self.output_shape = self.graph.output.shape
        self.built = True

    # ---- saving --------------------------------------------------------------------------------------------

    def graph_config(self) -> dict[str, Any]:
        """The graph as JSON (npnet.saving keeps the layers themselves beside it): the inputs, and each call
        as its layer's name and its inbound tensors, a tensor being ["input", i] or ["node", j] (the output
        of call j)."""
        refs: dict[SymbolicTensor, list[Any]] = {t: ["input", i] for i, t in enumerate(self.graph.inputs)}
        refs |= {node.output: ["node", j] for j, node in enumerate(self.graph.nodes)}
        return {
            "inputs": [
                {"name": t.name, "shape": list(t.shape[1:]), "dtype": t.dtype} for t in self.graph.inputs
            ],
            "several_inputs": self.several_inputs,
            "nodes": [
                {"layer": node.layer.name, "inbound": [refs[t] for t in node.inputs], "on_list": node.on_list}
                for node in self.graph.nodes
            ],
        }

    @classmethod
    def from_graph_config(
        cls, config: dict[str, Any], layers: Sequence[Layer], name: str, seed: int, dtype: str
    ) -> Model:
        """The model `graph_config` described, its calls replayed on `layers` (looked up by name)."""
        by_name = {layer.name: layer for layer in layers}
        inputs = [Input(tuple(t["shape"]), dtype=t["dtype"], name=t["name"]) for t in config["inputs"]]
        outputs: list[SymbolicTensor] = []
        for node in config["nodes"]:
            inbound = [{"input": inputs, "node": outputs}[kind][i] for kind, i in node["inbound"]]
            outputs.append(by_name[node["layer"]](inbound if node["on_list"] else inbound[0]))
        return cls(inputs if config["several_inputs"] else inputs[0], outputs[-1], name, seed, dtype)

    # ---- the passes ----------------------------------------------------------------------------------------

    def forward(self, x: Any, training: bool = False) -> np.ndarray:
        """The output for x (an array, or for several inputs a list of arrays or an `InputBatch`). Every
        call of a layer keeps its own cache for `backward`."""
        return self.graph.forward(self._arrays(x), training)[-1]

    def backward(self, grad_out: np.ndarray) -> Any:
        """Back-propagate dLoss/doutput of the last `forward`, filling every layer's `grads` (a shared
        layer's summed over its calls). Returns dLoss/dinput: an array, None for token ids, and a list of
        them for a model of several inputs."""
        grads = self.graph.backward(grad_out)
        return grads if self.several_inputs else grads[0]

    def layer_outputs(self, x: Any) -> list[np.ndarray]:
        """Every call's output (inference mode), in topological order; the model's output is the last."""
        return self.graph.forward(self._arrays(self._prepare_x(x)))

    def loop_stack(self) -> list[Layer]:
        # The trainer's loop runs a stack of layers; the whole graph is its one step.
        return [cast(Layer, _WholeGraph(self))]

    def _arrays(self, x: Any) -> list[np.ndarray]:
        if isinstance(x, InputBatch):
            return x.arrays
        return list(x) if isinstance(x, (list, tuple)) else [x]

    # ---- for the gradient checker and summary --------------------------------------------------------------

    def kink_patterns(self) -> list[np.ndarray]:
        """Every call's `kink_pattern()` after the last forward: a shared layer's once per call."""
        patterns = []
        for node in self.graph.nodes:
            node.restore_cache()
            patterns.append(node.layer.kink_pattern())
        return patterns

    def table_ids(self, layer: Layer, key: str, x: Any) -> np.ndarray | None:
        """The ids the batch `x` selects from `layer.params[key]` over every call of `layer` on a model input
        (a shared Embedding: all its inputs' ids), or None if it is no lookup table fed by the inputs."""
        arrays = dict(zip(self.graph.inputs, self._arrays(x), strict=True))
        found = [
            layer.table_ids(key, arrays[node.inputs[0]])
            for node in self.graph.nodes
            if node.layer is layer and not node.on_list and node.inputs[0] in arrays
        ]
        ids = [np.ravel(i) for i in found if i is not None]
        return np.concatenate(ids) if ids else None

    def _summary_rows(self) -> list[tuple[str, str, str]]:
        rows = [(f"{t.name} (InputLayer)", str(t.shape), "0") for t in self.graph.inputs]
        for layer in self.layers:
            shapes = [str(node.output.shape) for node in self.graph.nodes if node.layer is layer]
            name = f"{layer.name} ({type(layer).__name__})"
            rows.append((name, ", ".join(shapes), f"{layer.count_params():,}"))
        return rows

    # ---- input checks --------------------------------------------------------------------------------------

    def _prepare_x(self, x: Any, what: str = "x") -> Any:
        """x checked against the inputs: the array itself for one input, an `InputBatch` for several."""
        inputs = self.graph.inputs
        if self.several_inputs:
            if isinstance(x, InputBatch):
                x = x.arrays
            if not isinstance(x, (list, tuple)) or len(x) != len(inputs):
                got = f"a list of {len(x)}" if isinstance(x, (list, tuple)) else type(x).__name__
                raise ValueError(
                    f"{what} must be a list of {len(inputs)} arrays, one per input "
                    f"({', '.join(t.name for t in inputs)}), got {got}"
                )
            arrays = [
                samples_array(a, f"{what}[{i}] ({t.name})")
                for i, (a, t) in enumerate(zip(x, inputs, strict=True))
            ]
        else:
            arrays = [samples_array(x, what)]
        if len({len(a) for a in arrays}) > 1:
            raise ValueError(
                f"the arrays of {what} differ in length ({[len(a) for a in arrays]}): give every input one "
                "row per sample"
            )
        for a, t in zip(arrays, inputs, strict=True):
            if a.ndim != len(t.shape) or any(
                d is not None and d != n for d, n in zip(t.shape[1:], a.shape[1:], strict=True)
            ):
                raise ValueError(f"input {t.name!r} takes arrays of shape {t.shape}, got {a.shape}")
        by_input = dict(zip(inputs, arrays, strict=True))
        for node in self.graph.nodes:  # the layers that read an input check it as they would in a stack
            if not node.on_list and node.inputs[0] in by_input:
                node.layer.check_input(by_input[node.inputs[0]])
        return InputBatch(arrays) if self.several_inputs else arrays[0]


class _WholeGraph:
    """A model's forward and backward as the one-layer stack the trainer's loop runs. It reads no lookup
    table itself (no `params`), so the optimizer gets every gradient dense."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.name = model.name
        self.params: dict[str, np.ndarray] = {}

    def forward(self, x: Any, mask: Any = None, training: bool = False) -> np.ndarray:
        return self.model.forward(x, training)

    def compute_mask(self, x: Any, mask: Any) -> None:
        return None

    def backward(self, grad_out: np.ndarray) -> Any:
        return self.model.backward(grad_out)

    def table_ids(self, key: str, x: Any) -> None:
        return None
