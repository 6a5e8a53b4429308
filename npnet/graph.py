"""A graph of layers and its two passes: the engine of the functional API (`npnet.Model`).

micrograd's engine, one level up: its nodes are layers, not scalars, and the gradient that flows along an
edge is an array. Building the graph is recording calls:

    x = npnet.Input((T,), dtype="int32")        # a SymbolicTensor: a shape, no values
    e = layers.Embedding(V, D)(x)                # Layer.__call__ records a Node (layer, inbound tensors)
    y = layers.Dense(1, "sigmoid")(layers.Add()([layers.Dense(D)(e), e]))     # e feeds two layers: a fork

Forward runs the nodes in the order they were recorded, which is a topological order: a layer can only be
called on tensors that exist, so every node comes after the nodes that made its inputs. Each node hands
its layer the inbound tensors' values and masks (the masks each producer's `compute_mask` gave, as Keras
propagates them) and keeps the output's value and mask for the nodes after it.

Backward runs the nodes in reverse. By the multivariate chain rule (docs/derivations/functional.md), a tensor
that feeds
several layers receives the *sum* of the gradients they send back, and a layer called several times (shared
weights) has the *sum* over its calls of each call's parameter gradient. The two `+` of `_sum_into` and
`_add_call` are the whole difference from `Sequential.backward`.

One layer object, several calls, one cache. A layer's `forward` keeps what its `backward` needs in its own
attributes (`self._x = x`), so a second call of the same layer overwrites the first call's cache. The engine
therefore keeps a copy of the layer's attributes (and its sublayers': a Dense's activation caches too) taken
right after each node's forward, and puts them back right before that node's backward: every call is
back-propagated against its own inputs. The copy is shallow (references to the cached arrays, no data): it
works because a readable layer *assigns* its cache in `forward` and never writes into an array it keeps. The
parameter and gradient dicts are the same objects in every copy, so putting a copy back never reverts a
weight.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from npnet.config import floatx

if TYPE_CHECKING:
    from npnet.layers.base import Layer, Shape

_recorded = itertools.count()  # every node's place in the recording order, the topological order


class SymbolicTensor:
    """A tensor of the graph being built: its shape (batch axis first, None where unknown) and dtype, and the
    node that makes it (None for a model input). It holds no values; `npnet.Model` computes them."""

    def __init__(self, shape: Shape, dtype: str, name: str, node: Node | None = None) -> None:
        self.shape = shape
        self.dtype = dtype
        self.name = name
        self.node = node

    def __repr__(self) -> str:
        return f"<SymbolicTensor {self.name!r} shape={self.shape} dtype={self.dtype}>"


@dataclass(eq=False)
class Node:
    """One call of a layer: its inbound tensors, its output, and the layer's state right after the call's
    forward (`cache`, see the module docstring). `on_list` says whether the layer was called on a list
    (a merge: forward gets lists of values and masks, backward returns a list of gradients)."""

    layer: Layer
    inputs: list[SymbolicTensor]
    on_list: bool
    output: SymbolicTensor = field(init=False)
    order: int = field(default_factory=lambda: next(_recorded))
    cache: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def parts(self) -> list[Layer]:
        return [self.layer, *self.layer.sublayers()]

    def keep_cache(self) -> None:
        self.cache = [dict(vars(part)) for part in self.parts()]

    def restore_cache(self) -> None:
        for part, state in zip(self.parts(), self.cache, strict=True):
            vars(part).update(state)

    def arguments(self, values: dict[SymbolicTensor, Any]) -> Any:
        """What the layer gets for these inbound tensors: the value itself, or a list for a list call."""
        got = [values[t] for t in self.inputs]
        return got if self.on_list else got[0]


_input_names = itertools.count()


def Input(shape: Sequence[int | None], dtype: str | None = None, name: str | None = None) -> SymbolicTensor:  # noqa: N802 (Keras's name)
    """A model input of per-sample `shape` (no batch axis, as Keras's `Input`): `Input((T,), dtype="int32")`
    for (batch, T) token ids. dtype None means floatx (npnet.config)."""
    if isinstance(shape, int) or not all(d is None or (isinstance(d, int) and d > 0) for d in shape):
        raise ValueError(
            f"Input shape must be a tuple of positive ints or None (no batch axis), got {shape!r}"
        )
    count = next(_input_names)
    return SymbolicTensor(
        (None, *shape),
        np.dtype(dtype or floatx()).name,
        name or ("input_layer" if count == 0 else f"input_layer_{count}"),
    )


def call_layer(layer: Layer, inputs: Any) -> SymbolicTensor:
    """`layer(inputs)` on symbolic tensors: record the call as a Node and return its output tensor, whose
    shape is the layer's `compute_output_shape` of the inbound shapes."""
    on_list = isinstance(inputs, (list, tuple))
    tensors = list(inputs) if on_list else [inputs]
    if not tensors or not all(isinstance(t, SymbolicTensor) for t in tensors):
        raise ValueError(
            f"{layer.name!r} was called on {type(inputs).__name__}: calling a layer builds a graph from "
            "npnet.Input tensors (x = npnet.Input((T,)); y = layer(x)); to run it on arrays use "
            "layer.forward(array) or a model's predict"
        )
    shapes = [t.shape for t in tensors]
    node = Node(layer, tensors, on_list)
    # A merge's compute_output_shape takes the list of shapes.
    shape = layer.compute_output_shape(shapes if on_list else shapes[0])  # type: ignore[arg-type]
    node.output = SymbolicTensor(tuple(shape), layer.dtype.name, f"{layer.name}_{node.order}", node)
    return node.output


class Graph:
    """The nodes between `inputs` and `output`, in topological order, and the forward and backward passes."""

    def __init__(self, inputs: Sequence[SymbolicTensor], output: SymbolicTensor) -> None:
        self.inputs = list(inputs)
        self.output = output
        found: dict[int, Node] = {}
        waiting = [output]
        while waiting:  # every node the output depends on, once
            tensor = waiting.pop()
            if tensor.node is None:
                if all(tensor is not t for t in self.inputs):
                    raise ValueError(
                        f"the output depends on {tensor.name!r}, which is not among the model's inputs "
                        f"({[t.name for t in self.inputs]}): pass it in Model(inputs=[...], ...)"
                    )
            elif tensor.node.order not in found:
                found[tensor.node.order] = tensor.node
                waiting.extend(tensor.node.inputs)
        self.nodes = [found[order] for order in sorted(found)]
        if not self.nodes:
            raise ValueError("the output is one of the inputs: call at least one layer between them")
        self.calls: dict[Layer, int] = {}  # how often each layer is called (2 or more: shared weights)
        for node in self.nodes:
            self.calls[node.layer] = self.calls.get(node.layer, 0) + 1

    def forward(self, xs: Sequence[np.ndarray], training: bool = False) -> list[np.ndarray]:
        """Run every node on the inputs' arrays `xs` (one per input, (batch, ...) each); every node's output
        in order, the graph's output last (the nodes are the output's ancestors, all recorded before it).
        Every node keeps its layer's cache for the backward."""
        values: dict[SymbolicTensor, Any] = dict(zip(self.inputs, xs, strict=True))
        masks: dict[SymbolicTensor, Any] = dict.fromkeys(self.inputs)
        for node in self.nodes:
            x, mask = node.arguments(values), node.arguments(masks)
            values[node.output] = node.layer.forward(x, mask=mask, training=training)
            masks[node.output] = node.layer.compute_mask(x, mask)
            node.keep_cache()
        return [values[node.output] for node in self.nodes]

    def backward(self, grad_out: np.ndarray) -> list[np.ndarray | None]:
        """Back-propagate dLoss/doutput of the last `forward`: fills every layer's `grads` (summed over a
        shared layer's calls) and returns dLoss/dinput for each input (None for token ids)."""
        grads: dict[SymbolicTensor, np.ndarray] = {self.output: grad_out}
        summed: dict[Layer, dict[str, np.ndarray]] = {}  # a shared layer's parameter gradients so far
        for node in reversed(self.nodes):
            if node.output not in grads:
                raise RuntimeError(
                    f"no gradient reaches the output of {node.layer.name!r}: a layer after it returned "
                    "none (an Embedding takes token ids, so it must be fed by an Input)"
                )
            node.restore_cache()
            grad_in: Any = node.layer.backward(grads.pop(node.output))  # a list from a merge
            if self.calls[node.layer] > 1:
                _add_call(summed, node.layer)
            for tensor, grad in zip(node.inputs, grad_in if node.on_list else [grad_in], strict=True):
                if grad is not None:
                    _sum_into(grads, tensor, grad)
        for layer, total in summed.items():
            for key, value in total.items():
                layer.grads[key][...] = value
        return [grads.get(t) for t in self.inputs]


def _sum_into(grads: dict[SymbolicTensor, np.ndarray], tensor: SymbolicTensor, grad: np.ndarray) -> None:
    """dL/dtensor += grad: a tensor that feeds several layers (a fork) gets the sum of their gradients.
    A new array, never `+=`: a layer may hand the same array to several inputs (Add does)."""
    grads[tensor] = grads[tensor] + grad if tensor in grads else grad


def _add_call(summed: dict[Layer, dict[str, np.ndarray]], layer: Layer) -> None:
    """Add the gradients the layer's backward just wrote (one call's) to its sum over calls. A copy at the
    first call: the next call's backward overwrites `layer.grads` in place."""
    if layer in summed:
        for key, total in summed[layer].items():
            total += layer.grads[key]
    else:
        summed[layer] = {key: np.array(value, copy=True) for key, value in layer.grads.items()}
