"""The npnet side of the parity checks: the same specs built with npnet's own API."""

from __future__ import annotations

import numpy as np

import npnet
from npnet import losses, models, optimizers
from parity.specs import ModelSpec, OptimizerSpec


def build_model(spec: ModelSpec, dtype: str, seed: int, fused: bool | None = None) -> npnet.Sequential:
    """The seed model with npnet's default initializers, drawn from `seed`. `fused`: as `Sequential`'s
    (None: fit/evaluate/predict take the fused Embedding + pooling path; False: the readable layers)."""
    return models.notebook(
        spec.vocab_size,
        spec.embedding_dim,
        spec.hidden_units,
        spec.mask_zero,
        logits=spec.from_logits,
        seed=seed,
        dtype=dtype,
        fused=fused,
    )


def build_optimizer(spec: OptimizerSpec) -> optimizers.Optimizer:
    """npnet keeps Keras 2's legacy `decay` argument, so the spec maps one to one."""
    if spec.name == "adam":
        return optimizers.Adam(learning_rate=spec.learning_rate, decay=spec.decay, amsgrad=spec.amsgrad)
    if spec.name == "sgd":
        return optimizers.SGD(
            learning_rate=spec.learning_rate, momentum=spec.momentum, nesterov=spec.nesterov, decay=spec.decay
        )
    raise ValueError(f"unknown optimizer {spec.name!r}: use 'adam' or 'sgd'")


def compile_model(model: npnet.Sequential, model_spec: ModelSpec, optimizer_spec: OptimizerSpec) -> None:
    """The notebook's compile; from logits, npnet's "accuracy" thresholds the logit at 0 by itself."""
    loss = losses.BinaryCrossentropy(from_logits=True) if model_spec.from_logits else "binary_crossentropy"
    model.compile(optimizer=build_optimizer(optimizer_spec), loss=loss, metrics=["accuracy"])


def initial_weights(spec: ModelSpec, dtype: str, seed: int) -> list[np.ndarray]:
    """The weights a freshly built model draws from `seed` (Keras order)."""
    return build_model(spec, dtype, seed).get_weights()
