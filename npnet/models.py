"""Named models, each defined once: the notebook's, and Keras's IMDB examples (LSTM, bidirectional LSTM).

Keras's paths live here too: `npnet.models.Sequential`, `npnet.models.Model` and `npnet.models.load_model`
(the file `model.save(path)` writes; npnet.saving).

Every builder returns an uncompiled `Sequential` from keyword settings; `build(architecture, **settings)`
picks one by name and passes it only the settings it takes, so a run's config (`npnet.runs.TrainConfig`)
can hold the union of every architecture's settings. Training, benchmarks, parity and tests all build the
seed model here.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from npnet import layers
from npnet.errors import RunError
from npnet.functional import Model
from npnet.model import Sequential
from npnet.saving import model_file

__all__ = [
    "ARCHITECTURES",
    "LOSSES",
    "Model",
    "Sequential",
    "build",
    "fasttext",
    "load_model",
    "loss_for",
    "nbsvm",
    "notebook",
    "transformer",
]


def notebook(
    num_words: int = 10_000,
    embedding_dim: int = 16,
    hidden_units: int = 16,
    mask_zero: bool = False,
    *,
    logits: bool = False,
    seed: int | None = 0,
    dtype: str | np.dtype | None = None,
    fused: bool | None = None,
) -> Sequential:
    """The Keras IMDB notebook's model: Embedding(num_words, embedding_dim) -> GlobalAveragePooling1D ->
    Dense(hidden_units, relu) -> Dense(1, sigmoid). Input (batch, T) ids, output (batch, 1) probabilities;
    logits=True drops the final sigmoid (output logits, for BinaryCrossentropy(from_logits=True)).
    fused: as `Sequential`'s (None: the fused Embedding + pooling path when it applies)."""
    return Sequential(
        [
            layers.Embedding(num_words, embedding_dim, mask_zero=mask_zero),
            layers.GlobalAveragePooling1D(),
            layers.Dense(hidden_units, activation="relu"),
            layers.Dense(1, activation=None if logits else "sigmoid"),
        ],
        seed=seed,
        dtype=dtype,
        fused=fused,
    )


def imdb_cnn(
    num_words: int = 5000,
    embedding_dim: int = 50,
    filters: int = 250,
    kernel_size: int = 3,
    hidden_units: int = 250,
    dropout: float = 0.2,
    *,
    seed: int | None = 0,
    dtype: str | np.dtype | None = None,
) -> Sequential:
    """Keras's `examples/imdb_cnn.py`: Embedding(num_words, embedding_dim) -> Dropout -> Conv1D(filters,
    kernel_size, relu, valid, strides 1) -> GlobalMaxPooling1D -> Dense(hidden_units) -> Dropout ->
    Activation("relu") -> Dense(1) -> Activation("sigmoid"). Input (batch, T >= kernel_size) ids, output
    (batch, 1) probabilities."""
    return Sequential(
        [
            layers.Embedding(num_words, embedding_dim),
            layers.Dropout(dropout),
            layers.Conv1D(filters, kernel_size, padding="valid", activation="relu", strides=1),
            layers.GlobalMaxPooling1D(),
            layers.Dense(hidden_units),
            layers.Dropout(dropout),
            layers.Activation("relu"),
            layers.Dense(1),
            layers.Activation("sigmoid"),
        ],
        seed=seed,
        dtype=dtype,
    )


def imdb_lstm(
    num_words: int = 20_000,
    embedding_dim: int = 128,
    units: int = 128,
    dropout: float = 0.2,
    recurrent_dropout: float = 0.2,
    mask_zero: bool = False,
    *,
    seed: int | None = 0,
    dtype: str | np.dtype | None = None,
) -> Sequential:
    """Keras's examples/imdb_lstm.py: Embedding(20000, 128) -> LSTM(128, dropout=0.2, recurrent_dropout=0.2)
    -> Dense(1, sigmoid). Input (batch, T) ids, output (batch, 1) probabilities."""
    return Sequential(
        [
            layers.Embedding(num_words, embedding_dim, mask_zero=mask_zero),
            layers.LSTM(units, dropout=dropout, recurrent_dropout=recurrent_dropout),
            layers.Dense(1, activation="sigmoid"),
        ],
        seed=seed,
        dtype=dtype,
    )


def imdb_bidirectional_lstm(
    num_words: int = 20_000,
    embedding_dim: int = 128,
    units: int = 64,
    dropout_rate: float = 0.5,
    mask_zero: bool = False,
    *,
    seed: int | None = 0,
    dtype: str | np.dtype | None = None,
) -> Sequential:
    """Keras's examples/imdb_bidirectional_lstm.py: Embedding(20000, 128) -> Bidirectional(LSTM(64)) ->
    Dropout(0.5) -> Dense(1, sigmoid). Input (batch, T) ids, output (batch, 1) probabilities."""
    return Sequential(
        [
            layers.Embedding(num_words, embedding_dim, mask_zero=mask_zero),
            layers.Bidirectional(layers.LSTM(units)),
            layers.Dropout(dropout_rate),
            layers.Dense(1, activation="sigmoid"),
        ],
        seed=seed,
        dtype=dtype,
    )


def imdb_cnn_lstm(
    num_words: int = 20_000,
    embedding_dim: int = 128,
    dropout_rate: float = 0.25,
    filters: int = 64,
    kernel_size: int = 5,
    pool_size: int = 4,
    units: int = 70,
    *,
    seed: int | None = 0,
    dtype: str | np.dtype | None = None,
) -> Sequential:
    """Keras's examples/imdb_cnn_lstm.py: Embedding(20000, 128) -> Dropout(0.25) -> Conv1D(64, 5, 'valid',
    relu, strides 1) -> MaxPooling1D(4) -> LSTM(70) -> Dense(1, sigmoid). Input (batch, T) ids, output
    (batch, 1) probabilities. Needs the convolution branch's `layers.Conv1D` and `layers.MaxPooling1D`."""
    return Sequential(
        [
            layers.Embedding(num_words, embedding_dim),
            layers.Dropout(dropout_rate),
            layers.Conv1D(filters, kernel_size, padding="valid", activation="relu", strides=1),
            layers.MaxPooling1D(pool_size=pool_size),
            layers.LSTM(units),
            layers.Dense(1, activation="sigmoid"),
        ],
        seed=seed,
        dtype=dtype,
    )


def fasttext(
    num_words: int = 20_000,
    embedding_dim: int = 50,
    *,
    seed: int | None = 0,
    dtype: str | np.dtype | None = None,
) -> Sequential:
    """Keras's `examples/imdb_fasttext.py`: Embedding(num_words, embedding_dim) -> GlobalAveragePooling1D ->
    Dense(1, sigmoid). With n-grams (`npnet.preprocessing.ngrams`) `num_words` is the table's `input_dim`
    (words and
    n-gram ids; `npnet.runs.build_model` passes it). Input (batch, T) ids, output (batch, 1) probabilities."""
    return Sequential(
        [
            layers.Embedding(num_words, embedding_dim),
            layers.GlobalAveragePooling1D(),
            layers.Dense(1, activation="sigmoid"),
        ],
        seed=seed,
        dtype=dtype,
    )


def nbsvm(
    num_words: int = 20_000,
    ratio: np.ndarray | None = None,
    *,
    seed: int | None = 0,
    dtype: str | np.dtype | None = None,
) -> Sequential:
    """NBSVM (Wang & Manning 2012) in its neural form: a linear model on binarized bags of words and
    n-grams scaled by the naive-Bayes log-count ratio. ScaledEmbedding(num_words, 1, mask_zero=True) with
    the ratio as its constant scales -> GlobalAveragePooling1D -> Dense(1, sigmoid): the logit is
    a * (r . (w * x̂)) / |x̂|_1 + b, one learned weight w per id (docs/derivations/nbsvm.md says why this form).

    Input (batch, T) padded bags (`npnet.preprocessing.nbsvm`: `nbsvm_inputs`), output (batch, 1)
    probabilities. num_words: ids the table covers (the ratio's length); ratio (num_words,): the log-count
    ratio of the training split (`log_count_ratio`), set as the layer's scales (None: ones, e.g. for
    weights loaded afterwards)."""
    model = Sequential(
        [
            layers.ScaledEmbedding(num_words, 1, embeddings_initializer="zeros", mask_zero=True),
            layers.GlobalAveragePooling1D(),
            layers.Dense(1, activation="sigmoid"),
        ],
        seed=seed,
        dtype=dtype,
    )
    if ratio is not None:
        model.build()
        embedding = model.layers[0]
        assert isinstance(embedding, layers.ScaledEmbedding)
        embedding.set_scales(ratio)
    return model


def transformer(
    num_words: int = 20_000,
    maxlen: int = 200,
    embedding_dim: int = 32,
    num_heads: int = 2,
    ff_dim: int = 32,
    hidden_units: int = 20,
    dropout: float = 0.1,
    mask_zero: bool = False,
    *,
    seed: int | None = 0,
    dtype: str | np.dtype | None = None,
) -> Sequential:
    """Keras's examples/nlp/text_classification_with_transformer.py: TokenAndPositionEmbedding(maxlen,
    num_words, embedding_dim) -> TransformerBlock(embedding_dim, num_heads, ff_dim, rate=dropout,
    epsilon=1e-6) -> GlobalAveragePooling1D -> Dropout -> Dense(hidden_units, relu) -> Dropout ->
    Dense(2, softmax). Input (batch, T <= maxlen) ids, output (batch, 2) class probabilities (compile with
    "sparse_categorical_crossentropy"). The example has no mask; `mask_zero=True` masks the padding in the
    attention (query and key) and in the average. The settings carry `npnet.runs.TrainConfig`'s names
    (num_words, maxlen, embedding_dim, hidden_units, dropout, mask_zero), so `build` can pass a run's."""
    return Sequential(
        [
            layers.TokenAndPositionEmbedding(maxlen, num_words, embedding_dim, mask_zero=mask_zero),
            layers.TransformerBlock(embedding_dim, num_heads, ff_dim, rate=dropout, epsilon=1e-6),
            layers.GlobalAveragePooling1D(),
            layers.Dropout(dropout),
            layers.Dense(hidden_units, activation="relu"),
            layers.Dropout(dropout),
            layers.Dense(2, activation="softmax"),
        ],
        seed=seed,
        dtype=dtype,
    )


ARCHITECTURES: dict[str, Callable[..., Sequential]] = {
    "notebook": notebook,
    "imdb_cnn": imdb_cnn,
    "imdb_lstm": imdb_lstm,
    "imdb_bidirectional_lstm": imdb_bidirectional_lstm,
    "imdb_cnn_lstm": imdb_cnn_lstm,
    "fasttext": fasttext,
    "nbsvm": nbsvm,
    "transformer": transformer,
}

# The loss each architecture trains with, by the shape of what it outputs: (n, 1) probabilities take
# binary cross-entropy (every architecture not named here), (n, 2) softmax rows take class ids.
LOSSES: dict[str, str] = {"transformer": "sparse_categorical_crossentropy"}


def loss_for(name: str) -> str:
    """The Keras loss name the architecture `name` is compiled with (its output's shape decides)."""
    return LOSSES.get(name, "binary_crossentropy")


def build(name: str, **settings: Any) -> Sequential:
    """The model `name` (a key of ARCHITECTURES), built from the `settings` its builder accepts (others are
    ignored)."""
    if name not in ARCHITECTURES:
        raise RunError(f"unknown architecture {name!r}: use one of {', '.join(ARCHITECTURES)}")
    builder = ARCHITECTURES[name]
    accepted = inspect.signature(builder).parameters
    return builder(**{key: value for key, value in settings.items() if key in accepted})


def load_model(path: str | os.PathLike[str], max_bytes: int | None = None) -> Sequential:
    """The model `model.save(path)` wrote: same layers, weights and (if it was compiled) optimizer state,
    compiled again, so training continues where it stopped (Keras's `keras.models.load_model`).
    `npnet.saving.model_file.ModelFileError` for anything that is not such a file, or for a model that would
    take more than `max_bytes` of memory (default `$NPNET_MAX_MODEL_BYTES`, else 4 GiB)."""
    return model_file.load_model(path, Sequential, Model, max_bytes)
