"""The parity checks of the convolution layers and Keras's imdb_cnn model, on whichever backend Keras runs.

Unlike `parity.keras_side` (torch only), this module works on JAX (the oracle the project is moving to) and
on torch: it sets `KERAS_BACKEND=jax` only when nothing chose a backend before Keras's first import. On JAX,
float64 needs `jax_enable_x64` before Keras builds anything, so it is switched on here, at import.

Checks (each returns `parity.compare.Row`s):
* `layer_forward_rows`: every layer and option, Keras's freshly drawn weights copied into npnet, the same
  input: the same output (float64 to 1e-11, float32 to 1e-6, relative).
* `tie_gradient_rows`: input gradients of the max layers on inputs full of ties, from Keras's own autodiff
  (jax.grad / torch.autograd): where each max sends its gradient.
* `dropout_rows`: Keras's and npnet's Dropout keep 1 - rate of the elements and scale them by 1 / (1 - rate).
* `cnn_training_rows`: 20+ `train_on_batch` steps of the imdb_cnn model (dropout rates 0) on real batches.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")  # Keras reads it once, at its first import

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

import npnet
from npnet import layers, optimizers
from npnet.datasets import imdb
from npnet.preprocessing import pad_sequences
from parity import keras_side
from parity.compare import Row, array_row

BACKEND = keras.backend.backend()
if BACKEND == "jax":
    import jax

    jax.config.update("jax_enable_x64", True)
elif BACKEND != "torch":
    raise RuntimeError(f"the conv parity checks run on Keras's JAX or torch backend, not {BACKEND!r}")

DTYPES = ("float64", "float32")
# Relative (normwise) forward tolerance. float64: both sides in float64 (Keras's 64-bit demotion lifted, see
# `precision`); they differ only in summation order, ~1e-16 per operation. float32: rounding in another order.
FORWARD_TOL = {"float64": 1e-11, "float32": 1e-6}
LENGTH = 11  # steps of the forward checks' input: odd, so "same" paddings of both parities occur


def versions() -> str:
    backend = f"JAX {jax.__version__}" if BACKEND == "jax" else f"torch {__import__('torch').__version__}"
    return f"Keras {keras.__version__} on {backend}"


# Keras in each dtype as npnet computes it (float64 without the demotion of 64-bit results).
precision = keras_side.computing_like_npnet


# ------------------------------------------------------------------------------------------ layers, forward
@dataclass(frozen=True)
class LayerCase:
    """One layer configuration, spelled identically on both sides (`kind` names the class in both)."""

    kind: str
    kwargs: tuple[tuple[str, Any], ...] = ()

    def build(self, library: Any, dtype: str) -> Any:
        kwargs = dict(self.kwargs)
        return getattr(library.layers, self.kind)(**kwargs, dtype=dtype)

    def __str__(self) -> str:
        return f"{self.kind}({', '.join(f'{k}={v!r}' for k, v in self.kwargs)})"


def _case(kind: str, **kwargs: Any) -> LayerCase:
    return LayerCase(kind, tuple(kwargs.items()))


LAYER_CASES: tuple[LayerCase, ...] = (
    *(
        _case("Conv1D", filters=4, kernel_size=k, strides=s, padding=p, dilation_rate=d)
        for p in ("valid", "same", "causal")
        for k, s, d in ((1, 1, 1), (3, 1, 1), (3, 2, 1), (4, 3, 1), (3, 1, 2))
    ),
    _case("Conv1D", filters=4, kernel_size=3, activation="relu"),
    _case("Conv1D", filters=4, kernel_size=3, activation="tanh", use_bias=False),
    *(
        _case(kind, pool_size=size, strides=stride, padding=p)
        for kind in ("MaxPooling1D", "AveragePooling1D")
        for p in ("valid", "same")
        for size, stride in ((2, None), (3, 1), (3, 2), (2, 3), (3, 3))
    ),
    _case("GlobalMaxPooling1D"),
    _case("GlobalMaxPooling1D", keepdims=True),
    _case("Flatten"),
    _case("Activation", activation="tanh"),
    _case("Activation", activation="relu"),
    _case("Activation", activation="sigmoid"),
    _case("Dropout", rate=0.3),  # inference: the identity on both sides
)


def _npnet_twin(case: LayerCase, keras_layer: Any, input_shape: tuple[int, ...], dtype: str) -> layers.Layer:
    ours = case.build(npnet, dtype)
    ours.build((None, *input_shape[1:]), dtype=dtype)
    for key, value in zip(ours.params, keras_layer.get_weights(), strict=True):  # Keras's order: kernel, bias
        ours.params[key][...] = value
    return ours


def differs_on_torch(case: LayerCase, length: int) -> bool:
    """Keras's torch backend pads an odd total of "same" average-pooling padding by repeating the edge
    step (measured: [1..6], pool 3, stride 2 gives 5.667 = (5 + 6 + 6) / 3 on torch, 5.5 on JAX); npnet
    follows JAX and TensorFlow (the mean of the real steps), so those cases are compared on JAX only."""
    kwargs = dict(case.kwargs)
    if BACKEND != "torch" or case.kind != "AveragePooling1D" or kwargs.get("padding") != "same":
        return False
    size = kwargs["pool_size"]
    stride = kwargs["strides"] or size
    out = -(-length // stride)
    return max((out - 1) * stride + size - length, 0) % 2 == 1


def compared_cases(length: int) -> list[LayerCase]:
    return [case for case in LAYER_CASES if not differs_on_torch(case, length)]


def layer_forward_rows(dtype: str, seed: int = 0) -> list[Row]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3, LENGTH, 5)).astype(dtype)
    rows = []
    with precision(dtype):
        for case in compared_cases(LENGTH):
            keras.utils.set_random_seed(seed)
            theirs_layer = case.build(keras, dtype)
            theirs = keras.ops.convert_to_numpy(theirs_layer(x))
            ours = _npnet_twin(case, theirs_layer, x.shape, dtype).forward(x)
            rows.append(
                array_row(
                    f"forward: {case}",
                    "output, (3, 11, 5) input",
                    dtype,
                    ours,
                    theirs,
                    rel_tol=FORWARD_TOL[dtype],
                )
            )
    return rows


# ----------------------------------------------------------------------------------- max ties, gradients
def keras_input_gradient(layer: Any, x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """d sum(layer(x) * g) / dx by Keras's backend's own autodiff."""
    if BACKEND == "jax":
        return np.asarray(jax.grad(lambda v: (layer(v) * g).sum())(x))
    import torch

    v = torch.tensor(x, requires_grad=True)
    (layer(v) * torch.tensor(g)).sum().backward()
    return v.grad.numpy()


TIE_CASES = (
    _case("MaxPooling1D", pool_size=2),
    _case("MaxPooling1D", pool_size=3, strides=1),
    _case("MaxPooling1D", pool_size=3, strides=2, padding="same"),
    _case("GlobalMaxPooling1D"),
    _case("Conv1D", filters=3, kernel_size=2, activation="relu"),  # the relu's 0 at ties: derivative 0
)


def tie_gradient_rows(seed: int = 0) -> list[Row]:
    """Inputs drawn from {0, 1, 2}: most windows hold several equal maxima. Gradients must agree exactly in
    where they go; the values are sums of the same few terms (float64, to 1e-12)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, size=(4, 12, 3)).astype("float64")
    rows = []
    with precision("float64"):
        for case in TIE_CASES:
            keras.utils.set_random_seed(seed)
            theirs_layer = case.build(keras, "float64")
            out = keras.ops.convert_to_numpy(theirs_layer(x))
            if case.kind == "Conv1D":  # integer weights make pre-activations exactly 0 at many positions
                theirs_layer.set_weights([np.round(w * 4) / 4 for w in theirs_layer.get_weights()])
            g = rng.normal(size=out.shape)
            theirs = keras_input_gradient(theirs_layer, x, g)
            ours_layer = _npnet_twin(case, theirs_layer, x.shape, "float64")
            ours_layer.forward(x)
            ours = ours_layer.backward(g)
            rows.append(array_row(f"ties: {case}", "input gradient", "float64", ours, theirs, rel_tol=1e-12))
    return rows


# ------------------------------------------------------------------------------------------------ dropout
def dropout_rows(rate: float = 0.3, n: int = 1_000_000, seed: int = 0) -> list[Row]:
    """Both libraries' training-mode Dropout on ones: the kept fraction (each within 5 binomial standard
    deviations of 1 - rate, so the two within 5 sqrt(2) of each other) and the scale of the kept elements."""
    x = np.ones((n // 1000, 1000), "float32")
    keras.utils.set_random_seed(seed)
    theirs = keras.ops.convert_to_numpy(keras.layers.Dropout(rate, seed=seed)(x, training=True))
    ours = layers.Dropout(rate, seed=seed).forward(x, training=True)
    sigma = math.sqrt(rate * (1 - rate) / n)
    check = f"Dropout({rate}) in training, {n:,} elements"
    fractions = [np.mean(y != 0) for y in (ours, theirs)]
    rows = [
        array_row(
            check, "kept fraction", "float32", fractions[0], fractions[1], abs_tol=5 * math.sqrt(2) * sigma
        ),
        array_row(check, "kept fraction vs 1 - rate", "float32", fractions[0], 1 - rate, abs_tol=5 * sigma),
        array_row(
            check,
            "scale of the kept",
            "float32",
            np.unique(ours[ours != 0]),
            np.unique(theirs[theirs != 0]),
            rel_tol=1e-6,
        ),
    ]
    return rows


# ------------------------------------------------------------------------------------- the imdb_cnn model
CNN_STEPS = 20  # the conv parity's required minimum: each float64 step is ~1 GFLOP forward, on both sides
CNN_BATCH = 32  # the example's
CNN_NUM_WORDS, CNN_MAXLEN = 5000, 400


@dataclass(frozen=True)
class CnnTolerance:
    loss: float
    weights: float
    updates: float


# Measured worst over 24 steps on JAX (python -m parity; the report gives today's): float64 loss 1.5e-16,
# final weights 1.6e-14, updates 1.6e-14; float32 loss 8e-8, weights 6.4e-6, updates 6.4e-6 (the conv bias,
# whose entries move least). Held to the seed model's tolerances (parity/checks.py TOLERANCES).
CNN_TOLERANCES = {
    "float64": CnnTolerance(loss=1e-11, weights=1e-11, updates=1e-11),
    "float32": CnnTolerance(loss=1e-6, weights=1e-5, updates=5e-4),
}
CNN_WEIGHTS = (
    "embeddings",
    "conv kernel",
    "conv bias",
    "dense kernel",
    "dense bias",
    "out kernel",
    "out bias",
)


def cnn_batches(npz_path: Path, steps: int = CNN_STEPS) -> list[tuple[np.ndarray, np.ndarray]]:
    """The example's data: load_data(num_words=5000), pad_sequences(maxlen=400) ('pre'), batches of 32."""
    (x_train, y_train), _ = imdb.load_data(path=npz_path, num_words=CNN_NUM_WORDS)
    x = pad_sequences(x_train[: steps * CNN_BATCH], maxlen=CNN_MAXLEN)
    y = np.asarray(y_train[: steps * CNN_BATCH])
    return [(x[i : i + CNN_BATCH], y[i : i + CNN_BATCH]) for i in range(0, steps * CNN_BATCH, CNN_BATCH)]


def keras_cnn(dtype: str, seed: int) -> keras.Sequential:
    """examples/imdb_cnn.py with both dropout rates 0 (dropout's noise cannot agree across libraries)."""
    keras.utils.set_random_seed(seed)
    L = keras.layers
    model = keras.Sequential(
        [
            keras.Input((CNN_MAXLEN,), dtype="int32"),
            L.Embedding(CNN_NUM_WORDS, 50, dtype=dtype),
            L.Dropout(0.0, dtype=dtype),
            L.Conv1D(250, 3, padding="valid", activation="relu", strides=1, dtype=dtype),
            L.GlobalMaxPooling1D(dtype=dtype),
            L.Dense(250, dtype=dtype),
            L.Dropout(0.0, dtype=dtype),
            L.Activation("relu", dtype=dtype),
            L.Dense(1, dtype=dtype),
            L.Activation("sigmoid", dtype=dtype),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def _run(model: Any, batches: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, list, list]:
    initial = [np.array(w, copy=True) for w in model.get_weights()]
    losses = np.array([model.train_on_batch(x, y)[0] for x, y in batches], dtype=np.float64)
    return losses, initial, [np.array(w) for w in model.get_weights()]


def cnn_training_rows(npz_path: Path, dtype: str, seed: int = 0, steps: int = CNN_STEPS) -> list[Row]:
    batches = cnn_batches(npz_path, steps)
    tol = CNN_TOLERANCES[dtype]
    with precision(dtype):
        theirs_model = keras_cnn(dtype, seed)
        theirs = _run(theirs_model, batches)
    ours_model = npnet.models.imdb_cnn(dropout=0.0, dtype=dtype)
    ours_model.compile(
        optimizer=optimizers.Adam(learning_rate=1e-3), loss="binary_crossentropy", metrics=["accuracy"]
    )
    ours_model.set_weights(theirs[1])
    ours = _run(ours_model, batches)
    check = f"imdb_cnn train_on_batch x{steps} (batch {CNN_BATCH}, Adam 1e-3, dropout 0)"
    rows = [array_row(check, "per-step loss", dtype, ours[0], theirs[0], rel_tol=tol.loss)]
    rows += _worst(check, "final weights", dtype, ours[2], theirs[2], tol.weights)
    updates = [[f - i for f, i in zip(run[2], run[1], strict=True)] for run in (ours, theirs)]
    rows += _worst(check, "weight updates (final - initial)", dtype, updates[0], updates[1], tol.updates)
    return rows


def _worst(check: str, quantity: str, dtype: str, ours: list, theirs: list, tol: float) -> list[Row]:
    """One row per tensor, folded into the worst one (named) for the report."""
    parts = [
        array_row(check, f"{quantity}: {name}", dtype, o, k, rel_tol=tol)
        for name, o, k in zip(CNN_WEIGHTS, ours, theirs, strict=True)
    ]
    worst = max(parts, key=lambda row: (not row.ok, row.max_rel))
    return [worst]


def all_rows(npz_path: Path) -> list[Row]:
    """Every conv parity row: layer forwards per dtype, tie gradients, dropout, then the imdb_cnn training."""
    rows = [row for dtype in DTYPES for row in layer_forward_rows(dtype)]
    rows += tie_gradient_rows() + dropout_rows()
    rows += [row for dtype in DTYPES for row in cnn_training_rows(npz_path, dtype)]
    return rows
