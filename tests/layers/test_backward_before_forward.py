"""Every layer's backward reads what its forward cached: called first, it refuses in words (the `Layer` base
wraps each subclass's forward and backward), and after a forward it runs as before."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from npnet import layers
from npnet.fast.embedding import FastEmbedding
from npnet.fast.twin import twin

RNG = np.random.default_rng(0)
IDS = RNG.integers(1, 10, size=(2, 4))
STEPS = RNG.normal(size=(2, 4, 4))  # (batch, time, features)
FLAT = RNG.normal(size=(2, 4))

# Every public layer class, made small, with an input its forward takes.
CASES: dict[str, tuple[Callable[[], layers.Layer], Any]] = {
    "Embedding": (lambda: layers.Embedding(10, 3), IDS),
    "ScaledEmbedding": (lambda: layers.ScaledEmbedding(10, 3), IDS),
    "TokenAndPositionEmbedding": (lambda: layers.TokenAndPositionEmbedding(4, 10, 4), IDS),
    "Dense": (lambda: layers.Dense(3, activation="relu"), FLAT),
    "Dropout": (lambda: layers.Dropout(0.5, seed=1), FLAT),
    "SpatialDropout1D": (lambda: layers.SpatialDropout1D(0.5, seed=1), STEPS),
    "ReLU": (layers.ReLU, FLAT),
    "Sigmoid": (layers.Sigmoid, FLAT),
    "Tanh": (layers.Tanh, FLAT),
    "Softmax": (layers.Softmax, FLAT),
    "Activation": (lambda: layers.Activation("tanh"), FLAT),
    "Flatten": (layers.Flatten, STEPS),
    "Masking": (layers.Masking, STEPS),
    "GlobalAveragePooling1D": (layers.GlobalAveragePooling1D, STEPS),
    "GlobalMaxPooling1D": (layers.GlobalMaxPooling1D, STEPS),
    "MaxPooling1D": (lambda: layers.MaxPooling1D(2), STEPS),
    "AveragePooling1D": (lambda: layers.AveragePooling1D(2), STEPS),
    "Conv1D": (lambda: layers.Conv1D(2, 3), STEPS),
    "SimpleRNN": (lambda: layers.SimpleRNN(2), STEPS),
    "LSTM": (lambda: layers.LSTM(2), STEPS),
    "GRU": (lambda: layers.GRU(2), STEPS),
    "Bidirectional": (lambda: layers.Bidirectional(layers.LSTM(2)), STEPS),
    "Add": (layers.Add, [FLAT, FLAT]),
    "Average": (layers.Average, [FLAT, FLAT]),
    "Multiply": (layers.Multiply, [FLAT, FLAT]),
    "Concatenate": (layers.Concatenate, [FLAT, FLAT]),
    "MultiHeadAttention": (lambda: layers.MultiHeadAttention(2, 2), STEPS),
    "TransformerBlock": (lambda: layers.TransformerBlock(4, 2, 6), STEPS),
    "LayerNormalization": (layers.LayerNormalization, STEPS),
    "BatchNormalization": (layers.BatchNormalization, STEPS),
}


def test_the_cases_cover_every_public_layer():
    assert set(CASES) == {name for name in layers.__all__ if name not in ("Layer", "Input")}


def built(name: str) -> tuple[layers.Layer, Any]:
    make, x = CASES[name]
    layer = make()
    shape = [xi.shape for xi in x] if isinstance(x, list) else x.shape
    layer.build(shape, np.random.default_rng(0), "float64")
    return layer, x


@pytest.mark.parametrize("name", sorted(CASES))
def test_backward_before_forward_says_to_run_forward_first(name):
    layer, x = built(name)
    out_shape = layer.forward(x).shape  # on a twin made the same way, so this one has never run forward
    fresh, _ = built(name)
    with pytest.raises(RuntimeError) as error:
        fresh.backward(np.ones(out_shape))
    assert str(error.value) == (
        f"{name}.backward called before forward (layer {fresh.name!r}): run forward(x) first "
        "(backward uses what forward cached)"
    )
    # after a forward, backward runs (the wrapper is transparent)
    out = fresh.forward(x, training=True)
    fresh.backward(np.ones_like(out))


def test_every_way_forward_and_back_is_guarded():
    """MultiHeadAttention's `call` (query, value, key) is a forward too, `backward_inputs` a backward."""
    layer, x = built("MultiHeadAttention")
    with pytest.raises(RuntimeError, match=r"^MultiHeadAttention\.backward_inputs called before forward"):
        layer.backward_inputs(np.ones((2, 4, 4)))
    out = layer.call(x, x[:, :3], x[:, :3])
    d_query, d_value, d_key = layer.backward_inputs(np.ones_like(out))
    assert d_query.shape == x.shape and d_value.shape == d_key.shape == (2, 3, 4)


def test_a_fast_twin_is_guarded_too():
    layer, _ = built("Embedding")
    fast = twin(layer, FastEmbedding)
    with pytest.raises(RuntimeError, match=r"^FastEmbedding\.backward called before forward"):
        fast.backward(np.ones((2, 4, 3)))


def test_a_forward_from_a_mixin_counts_as_a_forward():
    """Only methods in a class's own body were wrapped: a custom layer taking `forward` from a mixin never
    recorded it, and its backward always refused."""

    class DoubleMixin:
        def forward(self, x, mask=None, training=False):
            return 2 * x

    class Double(DoubleMixin, layers.Layer):
        def backward(self, grad_out):
            return 2 * grad_out

    layer = Double()
    with pytest.raises(RuntimeError, match=r"^Double\.backward called before forward"):
        layer.backward(np.ones(3))
    layer.forward(np.ones(3))
    np.testing.assert_array_equal(layer.backward(np.ones(3)), 2 * np.ones(3))
