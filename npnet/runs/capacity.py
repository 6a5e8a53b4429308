"""What a run's settings ask of the machine, checked before any review is padded or any weight allocated:
each size within its documented bound (`SIZE_LIMITS`), a review length every layer of the model can take,
and the memory the model and its data will need within `npnet.saving.validate.model_bytes_limit()`.

The model is planned, not built: `npnet.initializers.shapes_only` gives its parameters' shapes and each
layer's `compute_output_shape` its activations', at no cost."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from npnet import initializers, models
from npnet.errors import RunError
from npnet.layers.base import Shape
from npnet.saving import validate

if TYPE_CHECKING:
    from npnet.runs.config import TrainConfig

# The largest value of each size setting. IMDB's longest review has 2,494 words; the presets use
# maxlen <= 512, widths <= 250 and batches <= 512.
SIZE_LIMITS = {
    "maxlen": 10_000,
    "embedding_dim": 4_096,
    "hidden_units": 4_096,
    "filters": 4_096,
    "kernel_size": 1_000,
    "batch_size": 65_536,
    "epochs": 100_000,
    "ngrams": 5,
}
REVIEWS = 50_000  # IMDB's train and test sets, padded to maxlen int32 ids each
# Arrays per parameter: the weight, its gradient, Adam's m and v (amsgrad's vhat is not counted).
COPIES_PER_PARAM = 4
# Arrays per activation value of a batch: the output, the cache its backward keeps, its gradient.
COPIES_PER_ACTIVATION = 3


def check(config: TrainConfig) -> None:
    """RunError naming the setting and the fix unless `config` fits the bounds, the model and the memory."""
    for name, limit in SIZE_LIMITS.items():
        if getattr(config, name) > limit:
            raise RunError(f"{name} must be at most {limit}, got {getattr(config, name)}")
    if not _shapes_fit(config, config.maxlen):
        smallest = _smallest_maxlen(config)
        fix = f"use --maxlen {smallest} or more" if smallest else "no maxlen fits: lower --kernel-size"
        raise RunError(
            f"maxlen={config.maxlen} is too short for the {config.architecture} model of preset "
            f"{config.preset!r} (a layer would get sequences of 0 steps); {fix}"
        )
    weights, shapes = _plan(config, config.maxlen)
    activations = sum(math.prod(d for d in shape if d is not None) for shape in shapes)  # per sample
    itemsize = 4 if config.dtype == "float32" else 8
    needed = (
        COPIES_PER_PARAM * weights * itemsize
        + COPIES_PER_ACTIVATION * activations * config.batch_size * itemsize
        + REVIEWS * config.maxlen * 4
    )
    try:
        fix = "lower --maxlen, --batch-size or the layer sizes, or if you have the memory"
        validate.check_fits(needed, validate.model_bytes_limit(), "training with these settings", fix)
    except validate.SchemaError as e:
        raise RunError(str(e)) from None


def _plan(config: TrainConfig, maxlen: int) -> tuple[int, list[Shape]]:
    """(the model's parameter count, each layer's output shape) for reviews of `maxlen` ids."""
    with initializers.shapes_only():
        model = models.build(config.architecture, **{**config.to_dict(), "maxlen": maxlen})
        shape: Shape = (None, maxlen)
        shapes = []
        for layer in model.layers:
            layer.build(shape, None, config.dtype)
            shape = layer.compute_output_shape(shape)
            shapes.append(shape)
        weights = sum(math.prod(w.shape) for layer in model.layers for w in layer.params.values())
    return weights, shapes


def _smallest_maxlen(config: TrainConfig) -> int | None:
    """The smallest maxlen every layer can take (None if none up to the bound): a bisection, since a
    longer review never gives a layer fewer steps."""
    low, high = config.maxlen, SIZE_LIMITS["maxlen"]  # low fails
    if not _shapes_fit(config, high):
        return None
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if _shapes_fit(config, middle) else (middle, high)
    return high


def _shapes_fit(config: TrainConfig, maxlen: int) -> bool:
    return all(d is None or d >= 1 for shape in _plan(config, maxlen)[1] for d in shape)
