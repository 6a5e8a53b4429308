"""Keras parity of the functional API: the graphs of `parity.graphs` built by both libraries from the same
code, Keras's layers given npnet's weights by layer name; then the same batches through both: the forward,
and `steps` train_on_batch steps (Adam) with the loss per step and the final weights.

Importing this module imports Keras on JAX with 64-bit types (`parity.keras_side`); the float64 check lifts
Keras's demotion of 64-bit results (`keras_side.computing_like_npnet`), so both sides compute in float64.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

import npnet
from npnet import optimizers
from parity import graphs, keras_side
from parity.compare import Row, array_row
from parity.keras_side import keras

# Normwise relative tolerance (forward and loss, final weights). Measured on Keras 3.15.1 + JAX 0.10.2 over
# the four graphs: float64 forward 2.2e-16, loss 4.8e-16, final weights 6.8e-15 (the shared Dense); float32
# forward 1.6e-7, loss 1.7e-7, final weights 5.0e-6 (the shared Dense: the recurrent checks' float32 budget).
TOLERANCE = {"float64": (1e-11, 1e-11), "float32": (1e-6, 1e-5)}

KERAS = SimpleNamespace(Input=keras.Input, layers=keras.layers, Model=keras.Model)


def build_pair(name: str, dtype: str, seed: int = 0) -> tuple[npnet.Model, Any]:
    """npnet's graph `name` (weights from `seed`) and Keras's, given the same weights by layer name; both
    compiled with Adam(lr 1e-3, epsilon 1e-7) and binary crossentropy."""
    inputs, output = graphs.GRAPHS[name](npnet)
    ours = npnet.Model(inputs, output, name=name, seed=seed, dtype=dtype)
    ours.compile(optimizer=optimizers.Adam(learning_rate=1e-3), loss="binary_crossentropy")
    with keras_side.seeded(
        seed
    ):  # Keras's initial weights are replaced; this keeps the global RNGs as they were
        inputs, output = graphs.GRAPHS[name](KERAS)
        theirs = keras.Model(inputs, output)
    for layer in ours.layers:
        if layer.params:
            theirs.get_layer(layer.name).set_weights(layer.get_weights())
    theirs.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3, epsilon=1e-7), loss="binary_crossentropy"
    )
    return ours, theirs


def rows(name: str, dtype: str, steps: int = 20, batch_size: int = 16) -> list[Row]:
    """The forward on one batch, then `steps` train_on_batch steps on fresh batches: loss per step and the
    worst layer's final weights."""
    rng = np.random.default_rng(0)
    batches = [graphs.batch(name, batch_size, rng) for _ in range(steps + 1)]
    tol, weights_tol = TOLERANCE[dtype]
    with keras_side.computing_like_npnet(dtype):
        ours, theirs = build_pair(name, dtype)
        x, _ = batches[0]
        keras_p = np.asarray(theirs(_in_dtype(x, dtype)))
        forward = array_row(f"{name} graph", "forward", dtype, ours.predict(x), keras_p, rel_tol=tol)
        our_loss, keras_loss = [], []
        for x, y in batches[1:]:
            our_loss.append(ours.train_on_batch(x, y)[0])
            keras_loss.append(float(np.asarray(theirs.train_on_batch(_in_dtype(x, dtype), y.astype(dtype)))))
        keras_weights = {
            layer.name: [np.asarray(w) for w in theirs.get_layer(layer.name).get_weights()]
            for layer in ours.layers
        }
    check = f"{name} graph, train_on_batch x{steps}"
    weights = [
        array_row(check, f"final {layer.name} weights", dtype, a, b, rel_tol=weights_tol)
        for layer in ours.layers
        for a, b in zip(layer.get_weights(), keras_weights[layer.name], strict=True)
    ]
    return [
        forward,
        array_row(check, "loss per step", dtype, our_loss, keras_loss, rel_tol=tol),
        max(weights, key=lambda row: row.max_rel),
    ]


def _in_dtype(x: Any, dtype: str) -> Any:
    """x with its float arrays in `dtype` (ids stay ints): Keras takes inputs as given."""
    arrays = x if isinstance(x, list) else [x]
    cast = [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays]
    return cast if isinstance(x, list) else cast[0]
