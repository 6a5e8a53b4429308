"""The Keras 3 side of the parity checks (JAX backend, CPU): data, padding, models, optimizers.

Importing this module imports Keras on JAX with 64-bit types enabled. JAX's PyPI wheels are CPU-only, so the
parity extra installs anywhere; the agreement figures in `parity.checks` were measured on this backend.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "jax"  # Keras reads it once, at its first import

import random
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import jax

# Without it JAX silently stores every float64 array as float32; it must be set before any array exists.
jax.config.update("jax_enable_x64", True)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras.src.backend.common import dtypes as keras_dtypes  # noqa: E402
from keras.src.datasets import imdb as keras_imdb  # noqa: E402

from parity.specs import ModelSpec, OptimizerSpec  # noqa: E402

if keras.backend.backend() != "jax":
    raise RuntimeError(
        f"the Keras parity checks need the JAX backend, but Keras was imported with "
        f"{keras.backend.backend()!r}; let parity.keras_side (or tests/parity) import keras first"
    )


def versions() -> str:
    return f"Keras {keras.__version__} on JAX {jax.__version__} (x64 enabled)"


def load_data(
    path: str | Path, **kwargs: Any
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """`keras.datasets.imdb.load_data` on a local npz: `get_file` is patched to return `path`."""

    def local_file(*_args: Any, **_kwargs: Any) -> str:
        return str(path)

    with mock.patch.object(keras_imdb, "get_file", local_file):
        return keras_imdb.load_data(**kwargs)


def pad_sequences(sequences: Sequence[Sequence[Any]], **kwargs: Any) -> np.ndarray:
    return keras.utils.pad_sequences(sequences, **kwargs)


@contextmanager
def precision(dtype: str, float64_ops: bool = False) -> Iterator[None]:
    """Keras's floatx = `dtype` for the duration (losses and metrics take their dtype from it when created).

    `float64_ops`: also lift Keras's demotion of 64-bit results to 32-bit. On non-TensorFlow backends
    `keras.src.backend.common.dtypes.result_type` maps float64 to float32 (BIT64_TO_BIT32_DTYPE, to match
    JAX's default). On JAX only the ops that ask `result_type` for a compute dtype are hit: `ops.mean`
    (GlobalAveragePooling1D, the losses' and metrics' means) computes float64 input in float32 and casts the
    result back to float64; `ops.matmul` and elementwise ops of float64 tensors stay float64
    (tests/parity/test_parity_keras_facts.py proves both). The mapping is read on every call (and at JAX's
    trace time, inside this context), so patching it makes Keras compute in float64 without touching any
    algorithm.
    """
    demotions = getattr(keras_dtypes, "BIT64_TO_BIT32_DTYPE", None)
    if float64_ops and demotions is None:
        raise RuntimeError(
            f"Keras {keras.__version__} has no keras.src.backend.common.dtypes.BIT64_TO_BIT32_DTYPE: check "
            "how it promotes float64 and adapt parity/keras_side.precision (made for Keras 3.15.1)"
        )
    # The global dtype policy too: Keras creates it from floatx on first use and keeps it, so without this a
    # layer built without dtype= would take whichever floatx was current when any earlier code first asked.
    saved, saved_policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    try:
        with mock.patch.dict(demotions or {}, {"float64": "float64"} if float64_ops else {}):
            yield
    finally:
        keras.config.set_floatx(saved)
        keras.config.set_dtype_policy(saved_policy)


def computing_like_npnet(dtype: str) -> AbstractContextManager[None]:
    """Keras computing in `dtype` as npnet does: for float64 with the demotion to 32-bit lifted (the
    convolution and recurrent checks compare every dtype this way)."""
    return precision(dtype, float64_ops=dtype == "float64")


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """`keras.utils.set_random_seed(seed)`; Python's and NumPy's global RNG states restored after.

    Keras's default (unseeded) initializers draw from these global generators; restoring them keeps the
    rest of the test session independent of the parity checks.
    """
    saved = random.getstate(), np.random.get_state()
    keras.utils.set_random_seed(seed)
    try:
        yield
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])


def build_model(
    spec: ModelSpec, dtype: str, seed: int, sequence_length: int | None = None
) -> keras.Sequential:
    """The seed model with Keras's default initializers, drawn after `set_random_seed(seed)`."""
    with seeded(seed):
        model = keras.Sequential(
            [
                keras.Input((sequence_length,), dtype="int32"),
                keras.layers.Embedding(
                    spec.vocab_size, spec.embedding_dim, mask_zero=spec.mask_zero, dtype=dtype
                ),
                keras.layers.GlobalAveragePooling1D(dtype=dtype),
                keras.layers.Dense(spec.hidden_units, activation="relu", dtype=dtype),
                keras.layers.Dense(1, activation=None if spec.from_logits else "sigmoid", dtype=dtype),
            ]
        )
    return model


def build_optimizer(spec: OptimizerSpec) -> keras.optimizers.Optimizer:
    """Keras 3 spelling of the Keras 2 optimizer: the legacy `decay` becomes `InverseTimeDecay(lr, 1, decay)`.

    Keras 3 silently ignores `decay=` (a warning only), so the schedule must be explicit; epsilon=1e-7 is
    Keras 2's `epsilon=None`, which Keras 3 rejects at the first update.
    """
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = spec.learning_rate
    if spec.decay:
        learning_rate = keras.optimizers.schedules.InverseTimeDecay(
            spec.learning_rate, decay_steps=1, decay_rate=spec.decay
        )
    if spec.name == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate, epsilon=1e-7, amsgrad=spec.amsgrad)
    if spec.name == "sgd":
        return keras.optimizers.SGD(
            learning_rate=learning_rate, momentum=spec.momentum, nesterov=spec.nesterov
        )
    raise ValueError(f"unknown optimizer {spec.name!r}: use 'adam' or 'sgd'")


def compile_model(model: keras.Sequential, model_spec: ModelSpec, optimizer_spec: OptimizerSpec) -> None:
    """The notebook's compile (BCE on probabilities, "accuracy"); from logits, BCE from logits.

    From logits, accuracy thresholds the logit at 0 (= probability 0.5): Keras's plain "accuracy" would
    compare the logit itself with 0.5.
    """
    if model_spec.from_logits:
        loss: Any = keras.losses.BinaryCrossentropy(from_logits=True)
        metric: Any = keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)
    else:
        loss, metric = "binary_crossentropy", "accuracy"
    model.compile(optimizer=build_optimizer(optimizer_spec), loss=loss, metrics=[metric])
