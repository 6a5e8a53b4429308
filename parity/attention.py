"""Keras parity of attention: MultiHeadAttention (every option, every mask), LayerNormalization, softmax
outputs, the categorical losses and accuracies, the Transformer example's block and model forward, and 20
`train_on_batch` steps of the example's model. Each check returns `Row`s (`parity.compare`).

MultiHeadAttention is compared on Keras's explicit path (`return_attention_scores=True`, which also gives the
probabilities): every row, fully masked query rows included (zeros on both sides). Keras's fused JAX path
(taken without dropout and without `return_attention_scores`) scales the logits after the product instead of
the query before it, and leaves a fully masked row uniform: it is compared on the query rows that attend to at
least one key, where both paths agree with npnet.

The Keras side of the example's two layers is `parity.keras_transformer` (written from the example's
description: its two custom layers are not part of Keras), on its explicit path here.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

import npnet
from npnet import layers, losses, metrics, models, optimizers
from parity import keras_side
from parity.compare import Row, array_row
from parity.keras_transformer import TokenAndPositionEmbedding as KerasTokenAndPosition
from parity.keras_transformer import TransformerBlock as KerasTransformerBlock

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras

if keras.backend.backend() == "jax":
    import jax

    jax.config.update("jax_enable_x64", True)

LAYER_TOLERANCE = {"float64": 1e-11, "float32": 1e-6}
TRAINING_TOLERANCE = {"float64": (1e-11, 1e-11), "float32": (1e-6, 1e-5)}  # (loss, weights)
DTYPES = ("float64", "float32")
# How far rounding noise moves the attention's key bias (mathematically fixed) in 20 Adam steps, either side.
KEY_BIAS_NOISE = {"float64": 1e-12, "float32": 1e-6}  # measured: 3.5e-16, 1.5e-7
precision = keras_side.computing_like_npnet

# (label, constructor arguments) for queries and values (B, T, D=4): key_dim = D / H, key_dim != D / H,
# value_dim != key_dim, an output width, no biases, one head.
MHA_OPTIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("2 heads, key_dim 2 = D / H", {"num_heads": 2, "key_dim": 2}),
    ("2 heads, key_dim 3 != D / H", {"num_heads": 2, "key_dim": 3}),
    ("3 heads, key_dim 2, value_dim 5", {"num_heads": 3, "key_dim": 2, "value_dim": 5}),
    ("2 heads, output_shape 6", {"num_heads": 2, "key_dim": 3, "output_shape": 6}),
    ("1 head, use_bias False", {"num_heads": 1, "key_dim": 4, "use_bias": False}),
)
MASKS = ("none", "pre-padding", "post-padding", "causal", "explicit", "fully masked row")


def versions() -> str:
    return f"Keras {keras.__version__} on {keras.backend.backend()}"


def padding_mask(batch: int, steps: int, padding: str) -> np.ndarray:
    """Lengths steps, steps - 2, ..., at least 1: 'pre' masks the first positions, 'post' the last."""
    lengths = np.maximum(steps - 2 * np.arange(batch), 1)
    at = np.arange(steps)
    return at >= steps - lengths[:, None] if padding == "pre" else at < lengths[:, None]


def mask_arguments(kind: str, batch: int, steps: int, rng: np.random.Generator) -> dict[str, Any]:
    """Call arguments (Keras's names) for one mask kind of self-attention on (batch, steps) sequences."""
    if kind == "none":
        return {}
    if kind in ("pre-padding", "post-padding"):
        mask = padding_mask(batch, steps, kind.split("-")[0])
        return {"query_mask": mask, "value_mask": mask}
    if kind == "causal":
        return {"use_causal_mask": True, "value_mask": padding_mask(batch, steps, "post")}
    if kind == "explicit":
        explicit = rng.random((batch, steps, steps)) < 0.7
        explicit[:, :, 0] = True  # every query keeps one key
        return {"attention_mask": explicit}
    # a query row with no key at all: the first review is all padding, the second masks its last query
    mask = padding_mask(batch, steps, "post")
    mask[0] = False
    explicit = np.ones((batch, steps, steps), dtype=bool)
    explicit[1, -1] = False
    return {"query_mask": mask, "value_mask": mask, "attention_mask": explicit}


def _keras_self_attention(layer: Any, x: np.ndarray, kwargs: dict[str, Any], **extra: Any) -> Any:
    """Keras's layer called on x as query and value with these masks. A query mask reaches Keras's layer
    only as the mask a tensor carries (`call` reads it from the query and ignores a `query_mask`
    argument), so it is attached to x, as Embedding(mask_zero=True) would; Keras then also fills the value
    mask from it, which is why the padding kinds pass the same mask as both."""
    x_k = keras.ops.convert_to_tensor(x)
    arguments = {
        k: keras.ops.convert_to_tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()
    }
    if "query_mask" in arguments:
        keras_mask = arguments.pop("query_mask")
        arguments.pop("value_mask")
        keras.src.backend.set_keras_mask(x_k, keras_mask)
    return layer(x_k, x_k, **arguments, **extra)


def attended_rows(kwargs: dict[str, Any], batch: int, steps: int) -> np.ndarray:
    """(B, T) bool: the query rows that may attend to at least one key under these masks."""
    from npnet.layers.attention import combined_mask

    mask = combined_mask(
        batch,
        steps,
        steps,
        kwargs.get("query_mask"),
        kwargs.get("value_mask"),
        None,
        kwargs.get("attention_mask"),
        kwargs.get("use_causal_mask", False),
    )
    return np.ones((batch, steps), dtype=bool) if mask is None else mask.any(axis=-1)


def _copy_weights(ours: layers.Layer, theirs: Any) -> None:
    for (key, target), value in zip(ours.params.items(), theirs.get_weights(), strict=True):
        if target.shape != value.shape:
            raise ValueError(f"{ours.name}: {key} {target.shape} vs Keras {value.shape}")
        target[...] = value


def mha_rows(dtype: str, seed: int = 0) -> list[Row]:
    """Every option x mask kind, self-attention, plus cross-attention (S != T) with value and key masks:
    output and probabilities on Keras's explicit path, output on its fused path (attended rows)."""
    rng = np.random.default_rng(seed)
    batch, steps = 4, 6
    x = rng.normal(size=(batch, steps, 4)).astype(dtype)
    tol = LAYER_TOLERANCE[dtype]
    rows: list[Row] = []
    with precision(dtype):
        for label, options in MHA_OPTIONS:
            for kind in MASKS:
                kwargs = mask_arguments(kind, batch, steps, rng)
                theirs = keras.layers.MultiHeadAttention(**options, dtype=dtype)
                out_k, probs_k = _keras_self_attention(theirs, x, kwargs, return_attention_scores=True)
                ours = layers.MultiHeadAttention(**options)
                ours.build(x.shape, dtype=dtype)
                _copy_weights(ours, theirs)
                out, probs = ours.call(x, x, return_attention_scores=True, **kwargs)
                check = f"MultiHeadAttention, {label}"
                attended = attended_rows(kwargs, batch, steps)
                rows += [
                    array_row(check, f"{kind}: output", dtype, out, out_k, rel_tol=tol),
                    array_row(check, f"{kind}: probabilities", dtype, probs, probs_k, rel_tol=tol),
                ]
                if options.get("value_dim", options["key_dim"]) == options["key_dim"]:
                    # Keras 3.15.1's fused path fails on value_dim != key_dim (a reshape error in JAX), and
                    # computes in float32 even for float64 inputs: held to float32's tolerance.
                    fused_k = np.asarray(_keras_self_attention(theirs, x, kwargs))
                    rows.append(
                        array_row(
                            check,
                            f"{kind}: output vs fused path, attended rows",
                            dtype,
                            out[attended],
                            fused_k[attended],
                            rel_tol=LAYER_TOLERANCE["float32"],
                        )
                    )
        # cross-attention: 5 value steps, separate key, value and key masks
        value, key = (rng.normal(size=(batch, 5, 4)).astype(dtype) for _ in range(2))
        value_mask = padding_mask(batch, 5, "pre")
        key_mask = np.ones((batch, 5), dtype=bool)
        key_mask[:, 1] = False
        theirs = keras.layers.MultiHeadAttention(2, 3, value_dim=2, dtype=dtype)
        out_k, probs_k = theirs(
            x,
            value,
            key,
            value_mask=keras.ops.convert_to_tensor(value_mask),
            key_mask=keras.ops.convert_to_tensor(key_mask),
            return_attention_scores=True,
        )
        ours = layers.MultiHeadAttention(2, 3, value_dim=2)
        ours.build(x.shape, dtype=dtype, value_shape=value.shape, key_shape=key.shape)
        _copy_weights(ours, theirs)
        out, probs = ours.call(
            x, value, key, value_mask=value_mask, key_mask=key_mask, return_attention_scores=True
        )
        check = "MultiHeadAttention, cross-attention (S = 5, key != value)"
        rows += [
            array_row(check, "value and key masks: output", dtype, out, out_k, rel_tol=tol),
            array_row(check, "value and key masks: probabilities", dtype, probs, probs_k, rel_tol=tol),
        ]
    return rows


def norm_and_softmax_rows(dtype: str, seed: int = 0) -> list[Row]:
    """LayerNormalization in each option (Keras's weights, set to non-trivial values), Softmax on each
    axis, Dense(3, activation="softmax")."""
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(3, 5, 6)) * 3 + 1).astype(dtype)
    tol = LAYER_TOLERANCE[dtype]
    rows: list[Row] = []
    with precision(dtype):
        for options in (
            {},
            {"epsilon": 1e-6},
            {"center": False},
            {"scale": False},
            {"axis": 1, "epsilon": 1e-5},
        ):
            theirs = keras.layers.LayerNormalization(**options, dtype=dtype)
            theirs.build(x.shape)
            theirs.set_weights([rng.normal(size=w.shape).astype(dtype) for w in theirs.get_weights()])
            ours = layers.LayerNormalization(**options)
            ours.build(x.shape, dtype=dtype)
            _copy_weights(ours, theirs)
            label = ", ".join(f"{k}={v}" for k, v in options.items()) or "defaults"
            rows.append(
                array_row("LayerNormalization", label, dtype, ours.forward(x), theirs(x), rel_tol=tol)
            )
        for axis in (-1, 1):
            rows.append(
                array_row(
                    "Softmax",
                    f"axis={axis}",
                    dtype,
                    layers.Softmax(axis).forward(x * 10),
                    keras.layers.Softmax(axis, dtype=dtype)(x * 10),
                    rel_tol=tol,
                )
            )
        theirs = keras.layers.Dense(3, activation="softmax", dtype=dtype)
        theirs.build(x.shape)
        ours = layers.Dense(3, activation="softmax")
        ours.build(x.shape, dtype=dtype)
        _copy_weights(ours, theirs)
        rows.append(array_row("Dense(3, softmax)", "output", dtype, ours.forward(x), theirs(x), rel_tol=tol))
    return rows


def loss_rows(dtype: str, seed: int = 0) -> list[Row]:
    """The categorical losses on probabilities (normalised, unnormalised rows, clipped entries) and logits:
    value and gradient (JAX's gradient of Keras's loss); the accuracies, ties included."""
    rng = np.random.default_rng(seed)
    n, classes = 12, 3
    logits = (rng.normal(size=(n, classes)) * 3).astype(dtype)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    probs[0] = [1.0, 0.0, 0.0]  # clipped on both sides
    probs[1] = [0.2, 0.3, 0.9]  # a row that does not sum to 1: normalised first, as Keras
    probs = probs.astype(dtype)
    ids = rng.integers(0, classes, size=n)
    ids[0] = 1
    onehot = np.eye(classes, dtype=dtype)[ids]
    tol = LAYER_TOLERANCE[dtype]
    rows: list[Row] = []
    with precision(dtype):
        for name, ours_cls, theirs_cls, labels in (
            (
                "sparse categorical",
                losses.SparseCategoricalCrossentropy,
                keras.losses.SparseCategoricalCrossentropy,
                ids,
            ),
            ("categorical", losses.CategoricalCrossentropy, keras.losses.CategoricalCrossentropy, onehot),
        ):
            for from_logits, y_pred in ((False, probs), (True, logits)):
                ours = ours_cls(from_logits=from_logits)
                theirs = theirs_cls(from_logits=from_logits, dtype=dtype)
                check = f"{name} cross-entropy, {'logits' if from_logits else 'probabilities'}"
                keras_grad = jax.grad(lambda p, t=theirs, y=labels: t(y, p))(y_pred)
                rows += [
                    array_row(
                        check, "value", dtype, ours(labels, y_pred), theirs(labels, y_pred), rel_tol=tol
                    ),
                    array_row(
                        check, "gradient", dtype, ours.gradient(labels, y_pred), keras_grad, rel_tol=tol
                    ),
                ]
        tied = probs.copy()
        tied[2:5] = [[0.4, 0.4, 0.2], [0.3, 0.35, 0.35], [0.5, 0.25, 0.25]]  # ties: first maximum wins
        rows += [
            array_row(
                "sparse_categorical_accuracy",
                "ties included",
                dtype,
                metrics.SparseCategoricalAccuracy()(ids, tied),
                np.mean(np.asarray(keras.metrics.sparse_categorical_accuracy(ids, tied))),
                abs_tol=1e-6,  # one sample in 12 moves it by 0.083
            ),
            array_row(
                "categorical_accuracy",
                "ties included",
                dtype,
                metrics.CategoricalAccuracy()(onehot, tied),
                np.mean(np.asarray(keras.metrics.categorical_accuracy(onehot, tied))),
                abs_tol=1e-6,  # one sample in 12 moves it by 0.083
            ),
        ]
    return rows


# ---- the example's model -----------------------------------------------------------------------------------


# Small stand-in of the example (the same layers, dropouts 0): vocabulary, maxlen, embed, heads, ff, hidden.
EXAMPLE_SIZES = (50, 16, 8, 2, 8, 6)


def keras_example(
    dtype: str, sizes: tuple[int, ...] = EXAMPLE_SIZES, rate: float = 0.0, mask_zero: bool = False
) -> Any:
    vocab, maxlen, embed, heads, ff, hidden = sizes
    inputs = keras.Input((maxlen,), dtype="int32")
    x = KerasTokenAndPosition(maxlen, vocab, embed, mask_zero=mask_zero, dtype=dtype)(inputs)
    x = KerasTransformerBlock(embed, heads, ff, rate, explicit=True, dtype=dtype)(x)
    x = keras.layers.GlobalAveragePooling1D(dtype=dtype)(x)
    x = keras.layers.Dropout(rate)(x)
    x = keras.layers.Dense(hidden, activation="relu", dtype=dtype)(x)
    x = keras.layers.Dropout(rate)(x)
    outputs = keras.layers.Dense(2, activation="softmax", dtype=dtype)(x)
    return keras.Model(inputs, outputs)


def npnet_example(
    dtype: str, sizes: tuple[int, ...] = EXAMPLE_SIZES, seed: int = 0, mask_zero: bool = False
) -> npnet.Sequential:
    vocab, maxlen, embed, heads, ff, hidden = sizes
    model = models.transformer(
        vocab, maxlen, embed, heads, ff, hidden, dropout=0.0, mask_zero=mask_zero, seed=seed, dtype=dtype
    )
    model.build((None, maxlen))
    return model


def id_batches(
    n: int, batch: int, steps: int, vocab: int, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """`n` batches of pre-padded reviews (pad_sequences' default), ids 1..vocab-1, and 0/1 labels."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        ids = rng.integers(1, vocab, size=(batch, steps))
        lengths = rng.integers(1, steps + 1, size=batch)
        real = np.arange(steps) >= steps - lengths[:, None]
        out.append((np.where(real, ids, 0).astype("int32"), rng.integers(0, 2, size=batch)))
    return out


def block_rows(dtype: str, seed: int = 0) -> list[Row]:
    """The example's block with Keras's weights, without and with a pre-/post-padding mask; the whole
    example model's predictions with npnet's weights (set_weights across, Keras's order)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4, 7, 8)).astype(dtype)
    tol = LAYER_TOLERANCE[dtype]
    rows: list[Row] = []
    with precision(dtype):
        for padding in (None, "pre", "post"):
            mask = None if padding is None else padding_mask(4, 7, padding)
            keras_mask = None if mask is None else keras.ops.convert_to_tensor(mask)
            theirs = KerasTransformerBlock(8, 2, 6, 0.0, explicit=True, dtype=dtype)
            keras_out = theirs(x, mask=keras_mask)
            theirs.explicit = False
            fused_out = np.asarray(theirs(x, mask=keras_mask))
            ours = layers.TransformerBlock(8, 2, 6, rate=0.0)
            ours.build(x.shape, dtype=dtype)
            _copy_weights(ours, theirs)
            label = "no mask" if padding is None else f"{padding}-padding mask"
            out = ours.forward(x, mask=mask)
            rows.append(array_row("TransformerBlock (post-norm)", label, dtype, out, keras_out, rel_tol=tol))
            real = np.ones(x.shape[:2], dtype=bool) if mask is None else mask  # fused: padded queries differ
            rows.append(
                array_row(
                    "TransformerBlock (post-norm)",
                    f"{label}: vs Keras's fused path (float32 inside), real positions",
                    dtype,
                    out[real],
                    fused_out[real],
                    rel_tol=LAYER_TOLERANCE["float32"],
                )
            )
        ours_model = npnet_example(dtype)
        theirs_model = keras_example(dtype)
        theirs_model.set_weights(ours_model.get_weights())
        ids, _ = id_batches(1, 8, EXAMPLE_SIZES[1], EXAMPLE_SIZES[0], seed=seed + 1)[0]
        rows.append(
            array_row(
                "transformer example (small)",
                "predictions, npnet's weights",
                dtype,
                ours_model.predict(ids),
                theirs_model.predict(ids, verbose=0),
                rel_tol=tol,
            )
        )
    return rows


def training_rows(dtype: str, steps: int = 20, mask_zero: bool = False) -> list[Row]:
    """`steps` train_on_batch steps of the example's model (small sizes, dropouts 0, maxlen 16) from the same
    weights on the same batches, Adam(1e-3, epsilon 1e-7), sparse categorical cross-entropy: per-step loss
    and accuracy, final weights. `mask_zero`: npnet's masked variant (the padding masked in the attention
    and the average; every review has a real token, as Keras's masked average of none is NaN)."""
    vocab, maxlen = EXAMPLE_SIZES[:2]
    batches = id_batches(steps, 16, maxlen, vocab)
    with precision(dtype):
        ours = npnet_example(dtype, mask_zero=mask_zero)
        ours.compile(
            optimizer=optimizers.Adam(learning_rate=1e-3),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        theirs = keras_example(dtype, mask_zero=mask_zero)
        theirs.set_weights(ours.get_weights())
        theirs.compile(
            optimizer=keras.optimizers.Adam(learning_rate=1e-3, epsilon=1e-7),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        ours_logs, keras_logs = [], []
        for x, y in batches:
            ours_logs.append(ours.train_on_batch(x, y))
            keras_logs.append([float(np.asarray(v)) for v in theirs.train_on_batch(x, y)])
        keras_weights = [np.asarray(w) for w in theirs.get_weights()]
    check = f"transformer example train_on_batch x{steps} (pre-padding{', mask_zero' if mask_zero else ''})"
    loss_tol, weight_tol = TRAINING_TOLERANCE[dtype]
    ours_arr, keras_arr = np.array(ours_logs), np.array(keras_logs)
    rows = [
        array_row(check, "loss per step", dtype, ours_arr[:, 0], keras_arr[:, 0], rel_tol=loss_tol),
        array_row(check, "accuracy per step", dtype, ours_arr[:, 1], keras_arr[:, 1], abs_tol=1e-6),
    ]
    names = list(ours.layers[1].params)
    key_bias = len(ours.layers[0].params) + names.index("att/key/bias")
    worst = max(
        (
            array_row(check, "final weights (but the key bias)", dtype, a, b, rel_tol=weight_tol)
            for i, (a, b) in enumerate(zip(ours.get_weights(), keras_weights, strict=True))
            if i != key_bias
        ),
        key=lambda row: row.max_rel,
    )
    # The key bias adds q . b_k to every score of a query row alike, which the softmax ignores: its
    # gradient is 0 in exact arithmetic, and both sides move it by rounding noise only.
    bias_row = array_row(
        check,
        "final key bias (zero gradient: rounding noise only)",
        dtype,
        ours.get_weights()[key_bias],
        keras_weights[key_bias],
        abs_tol=KEY_BIAS_NOISE[dtype],
    )
    return [*rows, worst, bias_row]


def all_rows() -> list[Row]:
    """Every attention check (for `python -m parity`)."""
    rows: list[Row] = []
    for dtype in DTYPES:
        rows += mha_rows(dtype) + norm_and_softmax_rows(dtype) + loss_rows(dtype) + block_rows(dtype)
        rows += training_rows(dtype) + training_rows(dtype, mask_zero=True)
    return rows
