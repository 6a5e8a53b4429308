"""ScaledEmbedding and the nbsvm model against their Keras 3.15.1 twin (JAX): the two Embeddings multiplied,
the factors' one frozen (`trainable=False`) -> GlobalAveragePooling1D (masked) -> Dense(1, sigmoid).
Same weights -> same outputs, same gradients for the trainable weights, the frozen factors unmoved and
counted as Keras counts them."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("keras", reason="the Keras parity tests need the parity extra (keras, jax)")

from npnet import layers, models, optimizers
from parity import keras_side

keras = keras_side.keras  # imported there, on JAX with 64-bit types

pytestmark = [pytest.mark.parity]

VOCAB = 40


def batch(rng: np.random.Generator) -> np.ndarray:
    """(6, 9) padded bags: distinct ids ascending, then 0s (one row all padding but its first id)."""
    lengths = [9, 5, 1, 7, 3, 8]
    x = np.zeros((len(lengths), 9), dtype=np.int32)
    for row, length in enumerate(lengths):  # six rows of test data
        x[row, :length] = np.sort(rng.choice(np.arange(1, VOCAB), size=length, replace=False))
    return x


def keras_twin(width: int, mask_zero: bool, head: bool) -> tuple[keras.Model, list[keras.layers.Layer]]:
    ids = keras.Input((None,), dtype="int32")
    table = keras.layers.Embedding(VOCAB, width, mask_zero=mask_zero)
    factors = keras.layers.Embedding(VOCAB, 1, mask_zero=mask_zero, trainable=False)
    out = keras.layers.Multiply()([table(ids), factors(ids)])
    parts = [table, factors]
    if head:
        dense = keras.layers.Dense(1, activation="sigmoid")
        out = dense(keras.layers.GlobalAveragePooling1D()(out))
        parts.append(dense)
    return keras.Model(ids, out), parts


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_scaled_embedding_is_kerass_two_embeddings_multiplied(dtype):
    rng = np.random.default_rng(0)
    layer = layers.ScaledEmbedding(VOCAB, 3, dtype=dtype)
    layer.build((None, None), rng)
    layer.set_scales(rng.normal(size=VOCAB))
    x = batch(rng)
    with keras_side.computing_like_npnet(dtype):
        twin, (table, factors) = keras_twin(3, mask_zero=False, head=False)
        table.set_weights([layer.params["embeddings"]])
        factors.set_weights([layer.params["scales"][:, None]])
        expected = np.asarray(twin(x))
    rtol = 1e-12 if dtype == "float64" else 1e-6
    np.testing.assert_allclose(layer.forward(x), expected, rtol=rtol, atol=0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_nbsvm_model_outputs_gradients_and_counts_match_keras(dtype):
    rng = np.random.default_rng(1)
    model = models.nbsvm(VOCAB, rng.normal(size=VOCAB), dtype=dtype)
    model.compile(optimizers.SGD(1.0), "binary_crossentropy")
    model.layers[0].params["embeddings"][:] = rng.normal(size=(VOCAB, 1))  # off the zero start
    x, y = batch(rng), rng.integers(0, 2, 6)
    embeddings, scales, kernel, bias = model.get_weights()
    _, grads = model.gradients(x, y)
    with keras_side.computing_like_npnet(dtype):
        twin, (table, factors, dense) = keras_twin(1, mask_zero=True, head=True)
        table.set_weights([embeddings])
        factors.set_weights([scales[:, None]])
        dense.set_weights([kernel, bias])
        twin.compile(keras.optimizers.SGD(1.0), "binary_crossentropy")
        expected = np.asarray(twin.predict(x, verbose=0))
        trainable = sum(int(np.prod(w.shape)) for w in twin.trainable_weights)
        non_trainable = sum(int(np.prod(w.shape)) for w in twin.non_trainable_weights)
        twin.train_on_batch(x, y)  # one step of SGD(1): each trainable weight moves by minus its gradient
        stepped = [table.get_weights()[0], factors.get_weights()[0], *dense.get_weights()]
    rtol = 1e-11 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(model.predict(x), expected, rtol=rtol, atol=0)
    np.testing.assert_array_equal(stepped[1][:, 0], scales)  # the frozen factors did not move
    trained = zip([embeddings, kernel, bias], [stepped[0], *stepped[2:]], [grads[0], *grads[2:]], strict=True)
    for before, after, grad in trained:
        np.testing.assert_allclose(before - after, grad, rtol=rtol * 100, atol=rtol * 1e-3)
    summary = model.summary(print_fn=None)
    assert f"Trainable params: {trainable:,}" in summary
    assert f"Non-trainable params: {non_trainable:,}" in summary
