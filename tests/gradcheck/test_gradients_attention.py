"""The attention family passes the finite-difference checker in float64: Softmax, LayerNormalization,
MultiHeadAttention under every mask kind (pre- and post-padding, causal, explicit, fully masked query rows),
with key_dim != D / num_heads and value_dim != key_dim, cross-attention's three input gradients, dropout on
the probabilities, the categorical losses, the Transformer example's two layers and its whole model."""

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from npnet import gradcheck, layers, losses, models, optimizers
from npnet.gradcheck import central_difference

RTOL = 1e-6  # the bar: float64, away from kinks


def assert_passes(report: gradcheck.Report) -> None:
    assert report.passed, str(report)
    assert report.max_rel_error < RTOL
    assert all(row.checked > 0 for row in report.rows), str(report)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1)


def padding_mask(batch: int, steps: int, padding: str) -> np.ndarray:
    lengths = np.maximum(steps - np.arange(batch) - 1, 1)
    at = np.arange(steps)
    return at >= steps - lengths[:, None] if padding == "pre" else at < lengths[:, None]


# ------------------------------------------------------------------------------------------- softmax, norm


@pytest.mark.parametrize("axis", [-1, 1])
def test_softmax_layer_over_a_wide_range(rng, axis):
    x = rng.normal(size=(3, 4, 5)) * 4
    x[0, 0] = [30.0, -30.0, 0.0, 29.0, 1.0]  # saturated entries: gradient all but zero, still right
    assert_passes(gradcheck.check_layer(layers.Softmax(axis), x))


def test_dense_with_softmax_activation(rng):
    assert_passes(gradcheck.check_layer(layers.Dense(3, activation="softmax"), rng.normal(size=(6, 4))))


@pytest.mark.parametrize(
    "options",
    [{}, {"epsilon": 1e-6}, {"center": False}, {"scale": False}, {"axis": 1, "epsilon": 1e-5}],
)
def test_layer_normalization(rng, options):
    layer = layers.LayerNormalization(**options)
    layer.build((3, 4, 5))
    for value in layer.params.values():  # away from gamma = 1, beta = 0, so every term shows
        value[...] = rng.normal(size=value.shape)
    assert_passes(gradcheck.check_layer(layer, rng.normal(size=(3, 4, 5)) * 2 + 1))


# ------------------------------------------------------------------------------------ multi-head attention

OPTIONS = [
    {"num_heads": 2, "key_dim": 2},  # key_dim = D / H
    {"num_heads": 2, "key_dim": 3},  # key_dim != D / H
    {"num_heads": 3, "key_dim": 2, "value_dim": 5},  # value_dim != key_dim
    {"num_heads": 2, "key_dim": 3, "output_shape": 6, "use_bias": False},
]


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("padding", [None, "pre", "post"])
def test_self_attention_with_padding_masks(rng, options, padding):
    x = rng.normal(size=(3, 5, 4))
    mask = None if padding is None else padding_mask(3, 5, padding)
    assert_passes(gradcheck.check_layer(layers.MultiHeadAttention(**options), x, mask=mask))


def test_causal_self_attention_under_a_padding_mask(rng):
    layer = layers.MultiHeadAttention(2, 3, use_causal_mask=True)
    assert_passes(gradcheck.check_layer(layer, rng.normal(size=(3, 5, 4)), mask=padding_mask(3, 5, "pre")))


def test_fully_masked_query_rows_get_no_gradient_and_the_rest_is_right(rng):
    """A review of padding only, and padding queries under a post-padding mask: their outputs are the
    output bias alone (context 0), so nothing upstream of their probabilities may get gradient from them."""
    x = rng.normal(size=(3, 5, 4))
    mask = padding_mask(3, 5, "post")
    mask[2] = False
    layer = layers.MultiHeadAttention(2, 3)
    assert_passes(gradcheck.check_layer(layer, x, mask=mask))
    layer.build(x.shape)
    out, probs = layer.call(x, query_mask=mask, value_mask=mask, return_attention_scores=True)
    assert np.all(probs[2] == 0) and np.all(probs[0, :, ~mask[0]] == 0)
    np.testing.assert_array_equal(out[2], np.broadcast_to(layer.params["attention_output/bias"], (5, 4)))
    g = np.zeros_like(out)
    g[2] = rng.normal(size=(5, 4))  # gradient only on the fully masked review
    d_x = layer.backward(g)
    assert np.all(d_x[2] == 0)  # its output did not depend on its input


def test_explicit_attention_mask_with_a_row_of_no_keys(rng):
    x = rng.normal(size=(2, 4, 4))
    explicit = rng.random((2, 4, 4)) < 0.6
    explicit[0, 1] = False  # query 1 of the first sequence attends to nothing

    class Explicit(layers.MultiHeadAttention):
        def forward(self, x, mask=None, training=False):
            return self.call(x, attention_mask=explicit, training=training)

    assert_passes(gradcheck.check_layer(Explicit(2, 3), x))


def test_cross_attention_gradients_of_query_value_and_key(rng):
    """backward_inputs returns the three inputs' gradients apart: query (B, T, D), value, key (B, S, D')."""
    query, value, key = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 5, 2))
    value_mask = padding_mask(2, 5, "pre")
    layer = layers.MultiHeadAttention(2, 3, value_dim=2)
    layer.build(query.shape, dtype="float64", value_shape=value.shape, key_shape=key.shape)
    g = rng.normal(size=(2, 3, 4))

    def f() -> float:
        return float(np.sum(layer.call(query, value, key, value_mask=value_mask) * g))

    f()
    analytic = layer.backward_inputs(g)
    for x, d in zip((query, value, key), analytic, strict=True):
        np.testing.assert_allclose(d, central_difference(f, x), rtol=1e-6, atol=1e-9)


def test_dropout_on_the_probabilities_in_training(rng):
    """With the same noise at every evaluation, backward is the gradient of the function with that mask."""
    x = rng.normal(size=(2, 4, 4))
    layer = layers.MultiHeadAttention(2, 3, dropout=0.4)
    layer.build(x.shape, dtype="float64")
    g = rng.normal(size=(2, 4, 4))

    def f() -> float:
        layer.dropout_layer.noise_rng = np.random.default_rng(7)  # the same mask every time
        return float(np.sum(layer.forward(x, training=True) * g))

    f()
    assert np.any(layer._dropped == 0)  # some probabilities were dropped
    d_x = layer.backward(g)
    np.testing.assert_allclose(d_x, central_difference(f, x), rtol=1e-6, atol=1e-9)
    kernel = layer.params["query/kernel"]
    np.testing.assert_allclose(
        layer.grads["query/kernel"], central_difference(f, kernel), rtol=1e-6, atol=1e-9
    )


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    batch=st.integers(1, 3),
    steps=st.integers(1, 5),
    features=st.integers(1, 4),
    heads=st.integers(1, 3),
    key_dim=st.integers(1, 4),
    value_dim=st.integers(1, 4),
    causal=st.booleans(),
)
def test_self_attention_random(data, batch, steps, features, heads, key_dim, value_dim, causal):
    x = data.draw(hnp.arrays(np.float64, (batch, steps, features), elements=st.floats(-3, 3)))
    mask = data.draw(hnp.arrays(bool, (batch, steps)))
    layer = layers.MultiHeadAttention(heads, key_dim, value_dim=value_dim, use_causal_mask=causal)
    assert_passes(gradcheck.check_layer(layer, x, mask=mask))


# ------------------------------------------------------------------------------------------------- losses


@pytest.mark.parametrize("sparse", [True, False])
def test_categorical_crossentropy_on_probabilities_including_clipped_and_unnormalised(rng, sparse):
    p = rng.dirichlet(np.ones(3), size=8)
    p[0] = [1.0, 0.0, 0.0]  # clipped: flat, gradient 0 where the clip bites
    p[1] = [0.2, 0.3, 0.9]  # does not sum to 1: normalised first, as Keras
    ids = rng.integers(0, 3, size=8)
    loss = losses.SparseCategoricalCrossentropy() if sparse else losses.CategoricalCrossentropy()
    labels = ids if sparse else np.eye(3)[ids]
    report = gradcheck.check_loss(loss, labels, p)
    assert report.passed, str(report)
    assert report.max_rel_error < RTOL


@pytest.mark.parametrize("sparse", [True, False])
def test_categorical_crossentropy_from_logits_including_large_ones(rng, sparse):
    z = rng.normal(size=(6, 4)) * 3
    z[0] = [60.0, -60.0, 0.0, 1.0]
    ids = rng.integers(0, 4, size=6)
    loss = (losses.SparseCategoricalCrossentropy if sparse else losses.CategoricalCrossentropy)(
        from_logits=True
    )
    assert_passes(gradcheck.check_loss(loss, ids if sparse else np.eye(4)[ids], z))


def test_categorical_crossentropy_with_soft_targets(rng):
    targets = rng.dirichlet(np.ones(3), size=5)
    assert_passes(
        gradcheck.check_loss(losses.CategoricalCrossentropy(), targets, rng.dirichlet(np.ones(3), 5))
    )
    z = rng.normal(size=(5, 3))
    assert_passes(gradcheck.check_loss(losses.CategoricalCrossentropy(from_logits=True), targets, z))


# ----------------------------------------------------------------------------- the example's layers, model


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("padding", [None, "pre", "post"])
def test_transformer_block(rng, norm_first, padding):
    x = rng.normal(size=(3, 5, 4))
    mask = None if padding is None else padding_mask(3, 5, padding)
    layer = layers.TransformerBlock(4, 2, 6, rate=0.0, norm_first=norm_first)
    assert_passes(gradcheck.check_layer(layer, x, mask=mask))


@pytest.mark.parametrize("mask_zero", [False, True])
def test_token_and_position_embedding(mask_zero):
    ids = np.array([[0, 0, 3, 3, 1], [5, 3, 2, 2, 0]])
    report = gradcheck.check_layer(layers.TokenAndPositionEmbedding(6, 8, 3, mask_zero=mask_zero), ids)
    assert [row.name for row in report.rows] == [
        "token_and_position_embedding/token_emb/embeddings",
        "token_and_position_embedding/pos_emb/embeddings",
    ]
    assert_passes(report)


@pytest.mark.parametrize(("mask_zero", "padding"), [(False, "pre"), (True, "pre"), (True, "post")])
def test_transformer_model_every_parameter(rng, mask_zero, padding):
    x = rng.integers(1, 30, size=(6, 8)) * padding_mask(6, 8, padding)
    x[-1] = 0  # an all-padding review: its attention rows are all masked under mask_zero
    model = models.transformer(30, 8, 4, 2, 6, 5, dropout=0.0, mask_zero=mask_zero, seed=2)
    model.compile(optimizer=optimizers.Adam(), loss="sparse_categorical_crossentropy")
    # Keras's U(-0.05, 0.05) tables make the first LayerNorm's inputs nearly constant across the 4
    # features: x_hat = x_c / std then curves on a scale of std ~ 0.03, which a central difference of step
    # 6e-6 resolves only to ~1e-5. Unit-scale tables keep the check about the gradient, not the step.
    model.build((None, 8))
    for table in model.layers[0].params.values():
        table[...] = rng.normal(size=table.shape)
    report = gradcheck.check_model(model, x, rng.integers(0, 2, size=6))
    assert len(report.rows) == 2 + 16 + 4
    assert_passes(report)
