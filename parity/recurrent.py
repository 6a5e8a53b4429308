"""Keras parity of the recurrent layers: SimpleRNN, LSTM, GRU and Bidirectional, their masks and dropout,
and `train_on_batch` of the lstm, bilstm and cnn-lstm models. Each check returns `Row`s (`parity.compare`).

Backend: whichever Keras was imported with; JAX when this module imports Keras first (the parity oracle is
moving there). On JAX, float64 needs `jax_enable_x64` before Keras builds anything (done at import), and
on JAX and torch alike Keras demotes 64-bit op results to 32-bit (`BIT64_TO_BIT32_DTYPE`), lifted for the
float64 checks so both sides really compute in float64.

Inputs are seeded random floats (the layers) or ids (the models), pre- or post-padded, at small sizes: the
recurrent arithmetic is the same at any size, and Keras's compile time, not the numbers, dominates.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

import npnet
from npnet import layers, models, optimizers
from npnet.keras_export import keras_layer
from parity import keras_side
from parity.compare import Row, array_row

os.environ.setdefault("KERAS_BACKEND", "jax")  # only if nothing chose a backend (tests/parity picks one)

import keras

if keras.backend.backend() == "jax":
    import jax

    jax.config.update("jax_enable_x64", True)

# Normwise relative tolerance per dtype. Measured on Keras 3.15.1 + JAX 0.10.2: float64 layers 7.5e-16 worst,
# 20 training steps 9.6e-15 (final weights); float32 layers 4.5e-7, training 1.7e-7 (loss) and 5.3e-6
# (final weights: the seed model's float32 budget of 1e-5 is kept).
LAYER_TOLERANCE = {"float64": 1e-11, "float32": 1e-6}
TRAINING_TOLERANCE = {"float64": (1e-11, 1e-11), "float32": (1e-6, 1e-5)}  # (loss, weights)
DTYPES = ("float64", "float32")

CELLS = ("SimpleRNN", "LSTM", "GRU")
OPTIONS: tuple[dict[str, bool], ...] = (
    {},
    {"return_sequences": True},
    {"go_backwards": True},
    {"go_backwards": True, "return_sequences": True},
    {"return_sequences": True, "return_state": True},
)
PADDINGS = (None, "pre", "post")
MERGE_MODES = ("concat", "sum", "mul", "ave")


def versions() -> str:
    return f"Keras {keras.__version__} on {keras.backend.backend()}"


# Keras in each dtype as npnet computes it (float64 without the demotion of 64-bit results).
precision = keras_side.computing_like_npnet


def padding_mask(batch: int, steps: int, padding: str | None) -> np.ndarray | None:
    """Lengths steps, steps - 2, ..., at least 1; padding 'pre' masks the first positions, 'post' the last."""
    if padding is None:
        return None
    lengths = np.maximum(steps - 2 * np.arange(batch), 1)
    at = np.arange(steps)
    return at >= steps - lengths[:, None] if padding == "pre" else at < lengths[:, None]


def _label(options: dict[str, bool], padding: str | None) -> str:
    flags = ", ".join(options) or "last output"
    return f"{flags}; {'no mask' if padding is None else padding + '-padding mask'}"


def _copy_weights(ours: layers.Layer, theirs: Any) -> None:
    for target, value in zip(ours.params.values(), theirs.get_weights(), strict=True):
        if target.shape != value.shape:
            raise ValueError(f"weight shape {target.shape} vs Keras {value.shape} in {ours.name!r}")
        target[...] = value


def _as_list(out: Any) -> list[np.ndarray]:
    return [np.asarray(o) for o in out] if isinstance(out, (list, tuple)) else [np.asarray(out)]


def _compare_layer(
    check: str,
    label: str,
    dtype: str,
    ours: layers.Layer,
    theirs: Any,
    x: np.ndarray,
    mask: np.ndarray | None,
) -> list[Row]:
    """Keras's layer draws its weights; npnet's takes them; both run x (and mask)."""
    keras_out = _as_list(theirs(x, mask=None if mask is None else mask))
    ours.build(x.shape, dtype=dtype)
    _copy_weights(ours, theirs)
    our_out = _as_list(ours.forward(x, mask=mask))
    names = ["output", *[f"state {i}" for i in range(1, len(our_out))]]
    tol = LAYER_TOLERANCE[dtype]
    return [
        array_row(check, f"{label}: {name}", dtype, a, b, rel_tol=tol)
        for name, a, b in zip(names, our_out, keras_out, strict=True)
    ]


def layer_rows(dtype: str, seed: int = 0) -> list[Row]:
    """Every cell x option x padding, Bidirectional(LSTM) in each merge mode and Bidirectional(GRU) with
    states, each from Keras's weights."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4, 7, 5)).astype(dtype)
    rows: list[Row] = []
    with precision(dtype):
        for name in CELLS:
            for options in OPTIONS:
                for padding in PADDINGS:
                    mask = padding_mask(*x.shape[:2], padding)
                    theirs = getattr(keras.layers, name)(6, **options, dtype=dtype)
                    ours = getattr(layers, name)(6, **options)
                    rows += _compare_layer(name, _label(options, padding), dtype, ours, theirs, x, mask)
        for merge_mode in MERGE_MODES:
            for sequences in (False, True):
                for padding in PADDINGS:
                    mask = padding_mask(*x.shape[:2], padding)
                    theirs = keras.layers.Bidirectional(
                        keras.layers.LSTM(4, return_sequences=sequences), merge_mode=merge_mode, dtype=dtype
                    )
                    ours = layers.Bidirectional(
                        layers.LSTM(4, return_sequences=sequences), merge_mode=merge_mode
                    )
                    label = _label({"return_sequences": True} if sequences else {}, padding)
                    rows += _compare_layer(
                        f"Bidirectional(LSTM), {merge_mode}", label, dtype, ours, theirs, x, mask
                    )
        for padding in PADDINGS:
            mask = padding_mask(*x.shape[:2], padding)
            theirs = keras.layers.Bidirectional(
                keras.layers.GRU(3, return_sequences=True, return_state=True), dtype=dtype
            )
            ours = layers.Bidirectional(layers.GRU(3, return_sequences=True, return_state=True))
            label = _label({"return_sequences": True, "return_state": True}, padding)
            rows += _compare_layer("Bidirectional(GRU), concat", label, dtype, ours, theirs, x, mask)
    return rows


# ---- the models -------------------------------------------------------------------------------------------

# Small stand-ins of the presets' models (the same layers, dropouts 0): vocabulary, embedding, units.
MODEL_SIZES = {"lstm": (200, 16, 8), "bilstm": (200, 16, 6), "cnn-lstm": (200, 16, 7)}
# The models whose Embedding may carry mask_zero: imdb_cnn_lstm's Conv1D would drop a mask (with Keras's
# warning, both sides), so it is compared without one.
MASKED_MODELS = ("lstm", "bilstm")


def build_models(
    name: str, dtype: str, mask_zero: bool, steps: int, seed: int = 0
) -> tuple[npnet.Sequential, Any]:
    """npnet's builder and the same layers in Keras, Keras's weights taken from npnet's (Adam, lr 1e-3)."""
    vocab, dim, units = MODEL_SIZES[name]
    if name == "lstm":
        ours = models.imdb_lstm(
            vocab, dim, units, dropout=0, recurrent_dropout=0, mask_zero=mask_zero, seed=seed
        )
        middle = [keras.layers.LSTM(units, dtype=dtype)]
    elif name == "bilstm":
        ours = models.imdb_bidirectional_lstm(
            vocab, dim, units, dropout_rate=0, mask_zero=mask_zero, seed=seed
        )
        middle = [
            keras.layers.Bidirectional(keras.layers.LSTM(units), dtype=dtype),
            keras.layers.Dropout(0.0),
        ]
    else:  # cnn-lstm: Conv1D(6, 3, relu) -> MaxPooling1D(2) -> LSTM; the check's 12 steps pool to 5
        if mask_zero:
            raise ValueError("the cnn-lstm model has no mask_zero (its Conv1D drops masks)")
        ours = models.imdb_cnn_lstm(
            vocab, dim, dropout_rate=0, filters=6, kernel_size=3, pool_size=2, units=units, seed=seed
        )
        middle = [keras_layer(keras, type(layer).__name__, layer.get_config()) for layer in ours.layers[1:-1]]
    ours._requested_dtype = dtype
    ours.build((None, steps))
    ours.compile(
        optimizer=optimizers.Adam(learning_rate=1e-3), loss="binary_crossentropy", metrics=["accuracy"]
    )
    theirs = keras.Sequential(
        [
            keras.Input((steps,), dtype="int32"),
            keras.layers.Embedding(vocab, dim, mask_zero=mask_zero, dtype=dtype),
            *middle,
            keras.layers.Dense(1, activation="sigmoid", dtype=dtype),
        ]
    )
    theirs.set_weights(ours.get_weights())
    theirs.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3, epsilon=1e-7),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return ours, theirs


def id_batches(
    n: int, batch: int, steps: int, vocab: int, padding: str, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """`n` batches of padded reviews: ids 1..vocab-1 over random lengths, 0 as padding, and 0/1 labels."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        ids = rng.integers(1, vocab, size=(batch, steps))
        lengths = rng.integers(1, steps + 1, size=batch)
        at = np.arange(steps)
        real = at >= steps - lengths[:, None] if padding == "pre" else at < lengths[:, None]
        out.append((np.where(real, ids, 0).astype("int32"), rng.integers(0, 2, size=batch)))
    return out


def training_rows(
    name: str, dtype: str, mask_zero: bool = False, steps: int = 20, padding: str = "pre"
) -> list[Row]:
    """`steps` train_on_batch steps from the same weights on the same batches: per-step loss, final
    weights."""
    seq_len = 12
    vocab = MODEL_SIZES[name][0]
    batches = id_batches(steps, 16, seq_len, vocab, padding)
    with precision(dtype):
        ours, theirs = build_models(name, dtype, mask_zero, seq_len)
        our_loss, keras_loss = [], []
        for x, y in batches:
            our_loss.append(ours.train_on_batch(x, y)[0])
            keras_loss.append(float(np.asarray(theirs.train_on_batch(x, y.astype(dtype))[0])))
        keras_weights = [np.asarray(w) for w in theirs.get_weights()]
    check = f"{name} train_on_batch x{steps} ({padding}-padding{', mask_zero' if mask_zero else ''})"
    loss_tol, weight_tol = TRAINING_TOLERANCE[dtype]
    rows = [array_row(check, "loss per step", dtype, our_loss, keras_loss, rel_tol=loss_tol)]
    worst = max(
        (
            array_row(check, "final weights", dtype, a, b, rel_tol=weight_tol)
            for a, b in zip(ours.get_weights(), keras_weights, strict=True)
        ),
        key=lambda row: row.max_rel,
    )
    return [*rows, worst]


def model_forward_rows(dtype: str) -> list[Row]:
    """Embedding(mask_zero=True)'s mask reaching the recurrent layer inside the model: predict, pre- and
    post-padding."""
    rows = []
    with precision(dtype):
        for name in MASKED_MODELS:
            for padding in ("pre", "post"):
                x, _ = id_batches(1, 16, 12, MODEL_SIZES[name][0], padding, seed=1)[0]
                ours, theirs = build_models(name, dtype, True, 12)
                keras_p = np.asarray(theirs.predict(x, verbose=0))
                rows.append(
                    array_row(
                        f"{name} forward, mask_zero",
                        f"{padding}-padding: predictions",
                        dtype,
                        ours.predict(x),
                        keras_p,
                        rel_tol=LAYER_TOLERANCE[dtype],
                    )
                )
    return rows


# ---- dropout ----------------------------------------------------------------------------------------------


def dropout_rows(rate: float = 0.3, batch: int = 400, width: int = 50) -> list[Row]:
    """Keras's per-sequence dropout masks against npnet's: how many per sequence (one, or one per gate once
    recurrent_dropout > 0), the kept value 1/(1-rate) and the dropped fraction (within 5 binomial standard
    deviations of each other). Keras's masks come from the cell's own `get_dropout_mask`."""
    rows = []
    sd = 5 * np.sqrt(2 * rate * (1 - rate) / (batch * width))
    for name in CELLS:
        for recurrent in (0.0, rate):
            theirs = getattr(keras.layers, name)(width, dropout=rate, recurrent_dropout=recurrent)
            theirs.build((batch, 3, width))
            keras_masks = _as_list(theirs.cell.get_dropout_mask(keras.ops.ones((batch, width))))
            theirs.cell.reset_dropout_mask()
            ours = getattr(layers, name)(width, dropout=rate, recurrent_dropout=recurrent, seed=0)
            ours.build((batch, 3, width))
            our_masks = ours._dropout_masks(rate, batch, width, np.dtype("float32"))
            check = f"{name} dropout masks (dropout {rate}, recurrent_dropout {recurrent})"
            rows.append(
                array_row(check, "masks per sequence", "float32", [len(our_masks)], [len(keras_masks)])
            )
            kept = [np.unique(m[m > 0]) for m in (our_masks, np.stack(keras_masks))]
            rows.append(array_row(check, "kept value", "float32", kept[0], kept[1], rel_tol=1e-6))
            fractions = [float(np.mean(m == 0)) for m in (our_masks, np.stack(keras_masks))]
            rows.append(
                array_row(check, "dropped fraction", "float32", fractions[0], fractions[1], abs_tol=sd)
            )
    return rows


def all_rows() -> list[Row]:
    """Every recurrent check (for `python -m parity`)."""
    rows: list[Row] = []
    for dtype in DTYPES:
        rows += layer_rows(dtype)
        rows += model_forward_rows(dtype)
        for name in MODEL_SIZES:
            rows += training_rows(name, dtype)
            if name in MASKED_MODELS:
                rows += training_rows(name, dtype, mask_zero=True, padding="post")
    rows += dropout_rows()
    return rows
