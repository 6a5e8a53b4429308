"""The public checks of a layer, a loss and a whole model: each builds one objective for the checker."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from npnet.gradcheck.checker import Checker
from npnet.gradcheck.diagnosis import model_notes
from npnet.gradcheck.report import Report, Row
from npnet.gradcheck.settings import default_settings
from npnet.layers import Layer
from npnet.losses import Loss

if TYPE_CHECKING:
    from npnet.model import Sequential


def check_layer(
    layer: Layer,
    x: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    grad_out: np.ndarray | None = None,
    training: bool = False,
    dtype: str = "float64",
    seed: int = 0,
    **options: float | int | None,
) -> Report:
    """Check `layer.backward` against central differences of f = sum(layer.forward(x, mask) * grad_out).

    x: the layer's input (integer ids (batch, T) for an Embedding, which has no input gradient).
    mask: passed to forward (e.g. a (batch, T) bool mask for GlobalAveragePooling1D).
    grad_out: the upstream gradient, shaped like the output; default N(0, 1) drawn from `seed`.
    training: run the forward in training mode (batch statistics, dropout noise). The layer's noise
    generators are rewound before every forward, so each one draws the same noise and f is one function.
    An unbuilt layer is built (on the copy) from `seed`.
    options: any `Settings` field (step, rtol, atol, full_limit, samples, directions, kink_retries).
    Returns a Report with a row for the input (float inputs only) and one per parameter, the parameters of
    its `sublayers()` included (each array once, however many layers hold it).
    """
    settings = default_settings(dtype, seed=seed, **options)
    rng = np.random.default_rng(seed)
    x = np.asarray(x)
    live = copy.deepcopy(layer)
    if not live.built:
        live.build(x.shape, rng=np.random.default_rng(seed), dtype=settings.dtype)
    live.astype(settings.dtype)
    float_input = np.issubdtype(x.dtype, np.floating)
    x_live = x.astype(settings.dtype) if float_input else x.copy()

    parts = [live, *live.sublayers()]
    for part in parts:  # a generator for every part, so there is a state to rewind
        part.noise_rng = part.noise_rng if part.noise_rng is not None else np.random.default_rng(seed)
    noise_states = [part.noise_rng.bit_generator.state for part in parts]  # type: ignore[union-attr]

    def run_forward() -> np.ndarray:
        for part, state in zip(parts, noise_states, strict=True):
            part.noise_rng.bit_generator.state = state  # type: ignore[union-attr]
        return live.forward(x_live, mask=mask, training=training)

    out = run_forward()
    g = rng.standard_normal(out.shape) if grad_out is None else np.asarray(grad_out, dtype=np.float64)
    if g.shape != out.shape:
        raise ValueError(
            f"grad_out has shape {g.shape} but {layer.name!r} outputs {out.shape}: pass one that matches"
        )
    g = g.astype(settings.dtype)
    live.backward(g)
    grad_in = live.backward(g)  # the second call: backward must overwrite grads, never accumulate
    grad_in = None if grad_in is None else np.array(grad_in, copy=True)
    tensors = _parameters(live)
    analytic = [np.array(part.grads[key], copy=True) for _, part, key in tensors]

    def objective() -> tuple[float, np.ndarray]:
        y = run_forward()
        return float(np.sum(y.astype(np.float64) * g)), live.kink_pattern()

    # f sums out * g: the size of those terms, not |f| (they cancel), sets f's rounding error.
    checker = Checker(objective, settings, noise=max(1.0, float(np.sum(np.abs(out * g)))), rng=rng)
    cls = type(layer).__name__
    rows: list[Row] = []
    if float_input:
        rows.append(
            checker.tensor("input", x_live, grad_in, where=f"the input gradient {cls}.backward returns")
        )
    elif grad_in is not None:
        raise ValueError(f"{cls}.backward returned a gradient for integer input ids; it should return None")
    for (name, part, key), grad in zip(tensors, analytic, strict=True):
        ids = live.table_ids(key, x_live) if part is live else None  # only the layer itself reads x
        where = f"{type(part).__name__}.backward, grads[{key!r}]"
        rows.append(checker.tensor(name, part.params[key], grad, where, ids=ids))
    return Report(f"layer {layer.name!r} ({cls})", settings, tuple(rows))


def check_loss(
    loss: Loss,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    dtype: str = "float64",
    seed: int = 0,
    **options: float | int | None,
) -> Report:
    """Check `loss.gradient(y_true, y_pred)` against central differences of `loss(y_true, y_pred)` in y_pred.

    Each prediction's step is scaled by `loss.step_scale(y_pred)` (BCE on probabilities: their distance from
    0 and 1, so the step never jumps over the curvature of -log p) and a perturbation that changes
    `loss.kink_pattern(y_pred)` (BCE: crosses the clip at 1e-7 or 1 - 1e-7) is a kink.
    options: any `Settings` field.
    """
    settings = default_settings(dtype, seed=seed, **options)
    y_true = np.asarray(y_true).astype(settings.dtype)
    p_live = np.array(y_pred, dtype=settings.dtype, copy=True)
    analytic = np.array(loss.gradient(y_true, p_live), copy=True)

    def objective() -> tuple[float, np.ndarray]:
        return loss(y_true, p_live), loss.kink_pattern(p_live)

    scale = loss.step_scale(p_live)  # None: the usual max(1, |y_pred|)
    checker = Checker(
        objective, settings, noise=max(1.0, loss(y_true, p_live)), rng=np.random.default_rng(seed)
    )
    row = checker.tensor("y_pred", p_live, analytic, f"{type(loss).__name__}.gradient", scale=scale)
    return Report(f"loss {loss!r}", settings, (row,))


def check_model(
    model: Sequential,
    x: np.ndarray | Sequence[np.ndarray],
    y: np.ndarray,
    *,
    dtype: str = "float64",
    seed: int = 0,
    **options: float | int | None,
) -> Report:
    """Check every parameter gradient of a compiled `Sequential` or functional `Model` (`model.gradients(x,
    y)`) against its loss; x as the model takes it (a list of arrays for several inputs).

    The model is copied and cast to `dtype`; the original keeps its dtype, weights and optimizer state.
    options: any `Settings` field.
    """
    settings = default_settings(dtype, seed=seed, **options)
    live = copy.deepcopy(model)
    x = live._prepare_x(x)  # builds the copy (from the model's seed) so that it can be cast
    for layer in live.layers:
        layer.astype(settings.dtype)
    live.gradients(x, y)
    value, grads = live.gradients(x, y)  # the second call: nothing may accumulate between batches
    loss = live.loss
    if loss is None:
        raise ValueError(f"model {model.name!r} has no loss: compile it before checking its gradients")
    y_col = loss.prepare_labels(y, len(x), settings.dtype)
    named = [(layer, key) for layer in live.layers for key in layer.params]

    def objective() -> tuple[float, np.ndarray]:
        outputs = live.layer_outputs(x)
        patterns = live.kink_patterns()
        patterns.append(loss.kink_pattern(outputs[-1]))
        return loss(y_col, outputs[-1]), np.concatenate(patterns)

    checker = Checker(objective, settings, noise=max(1.0, abs(float(value))), rng=np.random.default_rng(seed))
    rows: list[Row] = []
    for (layer, key), grad in zip(named, grads, strict=True):
        ids = live.table_ids(layer, key, x)
        where = f"{type(layer).__name__}.backward, grads[{key!r}]"
        rows.append(checker.tensor(f"{layer.name}/{key}", layer.params[key], np.array(grad), where, ids=ids))
    notes = model_notes([layer.name for layer in live.layers], rows)
    return Report(f"model {model.name!r}", settings, tuple(rows), notes)


def _parameters(layer: Layer) -> list[tuple[str, Layer, str]]:
    """(row name, owning layer, key) for the parameters of `layer` and its sublayers, each array once."""
    seen: set[int] = set()
    found = []
    for part in [layer, *layer.sublayers()]:
        prefix = layer.name if part is layer else f"{layer.name}/{part.name}"
        for key, value in part.params.items():
            if key in part.state_keys:  # state set by the forward: it has no gradient
                continue
            if id(value) not in seen:
                seen.add(id(value))
                found.append((f"{prefix}/{key}", part, key))
    return found
