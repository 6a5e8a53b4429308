"""Every hand-written gradient in npnet passes the finite-difference checker: each layer, the loss on both
paths and whole models, on fixed cases and on hypothesis-drawn shapes, vocabularies, lengths and values."""

import ast

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import npnet
from npnet import gradcheck, layers, losses, optimizers
from npnet.datasets.synthetic import imdb_like_ids

RTOL = 1e-6  # the bar: float64, away from kinks
hyp = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
values = st.floats(-6, 6, allow_nan=False, width=64)


def assert_passes(report: gradcheck.Report) -> None:
    assert report.passed, str(report)
    assert report.max_rel_error < RTOL
    assert all(row.checked > 0 for row in report.rows), str(report)


def build_model(
    vocab: int,
    mask_zero: bool = False,
    hidden: str | None = "relu",
    logits: bool = False,
    seed: int = 0,
    dtype: str | None = None,
) -> npnet.Sequential:
    model = npnet.Sequential(
        [
            layers.Embedding(vocab, 16, mask_zero=mask_zero),
            layers.GlobalAveragePooling1D(),
            layers.Dense(16, activation=hidden),
            layers.Dense(1, activation=None if logits else "sigmoid"),
        ],
        seed=seed,
        dtype=dtype,
    )
    model.compile(optimizer=optimizers.Adam(), loss=losses.BinaryCrossentropy(from_logits=logits))
    return model


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1)


# ---------------------------------------------------------------------------------------------- fixed cases


@pytest.mark.parametrize("activation", [None, "relu", "sigmoid", "tanh"])
def test_dense_input_kernel_and_bias(rng, activation):
    report = gradcheck.check_layer(layers.Dense(5, activation=activation), rng.normal(size=(7, 4)))
    assert [r.name for r in report.rows] == ["input", "dense/kernel", "dense/bias"]
    assert [r.checked for r in report.rows] == [28, 20, 5]  # every element
    assert_passes(report)


def test_dense_on_a_sequence_flattens_leading_axes(rng):
    assert_passes(gradcheck.check_layer(layers.Dense(3, activation="relu"), rng.normal(size=(2, 5, 4))))


@pytest.mark.parametrize("layer", [layers.ReLU, layers.Sigmoid, layers.Tanh])
def test_activation_layers_over_a_wide_range(rng, layer):
    x = np.concatenate([rng.normal(size=20), [-40.0, -8.0, 8.0, 40.0]]).reshape(4, 6)
    assert_passes(gradcheck.check_layer(layer(), x))


@pytest.mark.parametrize("mask_zero", [False, True])
def test_embedding_small_vocab_every_element(rng, mask_zero):
    ids = np.array([[3, 3, 1, 0, 0], [5, 3, 2, 2, 0]])  # repeats within and across rows, padding
    report = gradcheck.check_layer(layers.Embedding(8, 3, mask_zero=mask_zero), ids)
    (row,) = report.rows  # integer ids: no input row
    assert row.checked == 24
    assert_passes(report)


def test_embedding_large_vocab_is_sampled_by_row_kind(rng):
    ids = imdb_like_ids(16, 64, 10_000, rng, median_length=50)
    report = gradcheck.check_layer(layers.Embedding(10_000, 16), ids)
    (row,) = report.rows
    assert "8 repeated-id, 8 single-use, 1 padding (0), 8 unused" in row.coverage
    assert "random directions" in row.coverage
    assert_passes(report)


def test_pooling_without_mask(rng):
    assert_passes(gradcheck.check_layer(layers.GlobalAveragePooling1D(), rng.normal(size=(3, 5, 4))))


def test_pooling_with_mask_and_an_all_padding_row(rng):
    mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], dtype=bool)
    report = gradcheck.check_layer(layers.GlobalAveragePooling1D(), rng.normal(size=(3, 5, 4)), mask=mask)
    assert_passes(report)


def test_bce_on_probabilities_including_clipped_ones(rng):
    y = rng.integers(0, 2, size=(12, 1))
    p = rng.uniform(0.01, 0.99, size=(12, 1))
    p[:4, 0] = [0.0, 1e-9, 1 - 1e-9, 1.0]  # inside the clip: flat, gradient exactly 0 on both sides
    report = gradcheck.check_loss(losses.BinaryCrossentropy(), y, p)
    assert report.rows[0].checked == 12
    assert_passes(report)


def test_bce_on_logits_including_large_ones(rng):
    y = rng.integers(0, 2, size=(10, 1))
    z = np.concatenate([rng.normal(size=6), [-60.0, -20.0, 20.0, 60.0]]).reshape(10, 1)
    assert_passes(gradcheck.check_loss(losses.BinaryCrossentropy(from_logits=True), y, z))


@pytest.mark.slow
@pytest.mark.parametrize("mask_zero", [False, True])
def test_seed_model_every_parameter(rng, mask_zero):
    x = rng.integers(0, 50, size=(6, 9))
    x[:, 6:] = 0
    report = gradcheck.check_model(build_model(50, mask_zero=mask_zero), x, rng.integers(0, 2, size=6))
    assert [r.name for r in report.rows] == [
        "embedding/embeddings",
        "dense/kernel",
        "dense/bias",
        "dense_1/kernel",
        "dense_1/bias",
    ]
    assert_passes(report)


@pytest.mark.slow
def test_seed_model_at_imdb_scale_in_float32():
    """The done criterion: vocab 10,000, padded batches, a float32 model checked on a float64 copy."""
    rng = np.random.default_rng(0)
    x, y = imdb_like_ids(32, 256, 10_000, rng, median_length=256), rng.integers(0, 2, size=32)
    report = gradcheck.check_model(build_model(10_000, dtype="float32"), x, y)
    assert report.settings.dtype == np.float64
    assert_passes(report)


@pytest.mark.slow
def test_model_with_linear_output_and_logits_loss(rng):
    x = rng.integers(0, 30, size=(5, 7))
    assert_passes(gradcheck.check_model(build_model(30, logits=True), x, rng.integers(0, 2, size=5)))


# ------------------------------------------------------------------------------------------------ hypothesis


@hyp
@given(
    data=st.data(),
    batch=st.integers(1, 5),
    fan_in=st.integers(1, 6),
    units=st.integers(1, 6),
    activation=st.sampled_from([None, "relu", "sigmoid"]),
    seed=st.integers(0, 2**16),
)
@pytest.mark.slow
def test_dense_random(data, batch, fan_in, units, activation, seed):
    x = data.draw(hnp.arrays(np.float64, (batch, fan_in), elements=values))
    assert_passes(gradcheck.check_layer(layers.Dense(units, activation=activation), x, seed=seed))


@hyp
@given(
    x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5), elements=values),
    layer=st.sampled_from([layers.ReLU, layers.Sigmoid, layers.Tanh]),
)
def test_activations_random(x, layer):
    report = gradcheck.check_layer(layer(), x)
    assert report.passed, str(report)
    kinks = set(report.rows[0].kinks)  # hypothesis loves exact zeros: ReLU kinks, reported as such
    if layer is layers.ReLU:
        assert {str(tuple(int(k) for k in i)) for i in np.argwhere(x == 0)} <= kinks
    assert all(abs(x[ast.literal_eval(label)]) < 1e-5 for label in kinks)  # and only near zeros


@hyp
@given(
    data=st.data(),
    vocab=st.integers(1, 40),
    dim=st.integers(1, 5),
    batch=st.integers(1, 5),
    seq=st.integers(1, 8),
    mask_zero=st.booleans(),
)
@pytest.mark.slow
def test_embedding_random(data, vocab, dim, batch, seq, mask_zero):
    ids = data.draw(hnp.arrays(np.int64, (batch, seq), elements=st.integers(0, vocab - 1)))
    assert_passes(gradcheck.check_layer(layers.Embedding(vocab, dim, mask_zero=mask_zero), ids))


@hyp
@given(
    data=st.data(),
    shape=st.tuples(st.integers(1, 4), st.integers(1, 6), st.integers(1, 4)),
    masked=st.booleans(),
)
def test_pooling_random(data, shape, masked):
    x = data.draw(hnp.arrays(np.float64, shape, elements=values))
    mask = data.draw(hnp.arrays(bool, shape[:2])) if masked else None
    assert_passes(gradcheck.check_layer(layers.GlobalAveragePooling1D(), x, mask=mask))


@hyp
@given(data=st.data(), n=st.integers(1, 8), from_logits=st.booleans())
def test_bce_random(data, n, from_logits):
    y = data.draw(hnp.arrays(np.int64, (n, 1), elements=st.integers(0, 1)))
    elements = st.floats(-50, 50) if from_logits else st.floats(0, 1)
    y_pred = data.draw(hnp.arrays(np.float64, (n, 1), elements=elements))
    report = gradcheck.check_loss(losses.BinaryCrossentropy(from_logits=from_logits), y, y_pred)
    assert report.passed, str(report)  # probabilities at the clip boundary are kinks, not failures
    assert report.max_rel_error < RTOL


@hyp
@given(
    data=st.data(),
    vocab=st.integers(2, 30),
    batch=st.integers(1, 5),
    seq=st.integers(1, 8),
    mask_zero=st.booleans(),
    hidden=st.sampled_from([None, "relu", "sigmoid"]),
    logits=st.booleans(),
    seed=st.integers(0, 2**16),
)
@pytest.mark.slow
def test_model_random(data, vocab, batch, seq, mask_zero, hidden, logits, seed):
    x = data.draw(hnp.arrays(np.int64, (batch, seq), elements=st.integers(0, vocab - 1)))
    y = data.draw(hnp.arrays(np.int64, batch, elements=st.integers(0, 1)))
    model = build_model(vocab, mask_zero=mask_zero, hidden=hidden, logits=logits, seed=seed)
    report = gradcheck.check_model(model, x, y, seed=seed)
    assert report.passed, str(report)
    assert report.max_rel_error < RTOL


# ------------------------------------------------------------------------- layers on sequences of features


def test_masking_passes_and_reports_its_masked_steps_as_kinks(rng):
    x = rng.normal(size=(3, 5, 4))
    x[0, 3:] = 0.0
    report = gradcheck.check_layer(layers.Masking(), x)
    assert_passes(report)
    assert len(report.rows[0].kinks) == 2 * 4  # the two masked steps: any nudge unmasks them


def test_spatial_dropout_in_training_replays_its_noise(rng):
    assert_passes(
        gradcheck.check_layer(layers.SpatialDropout1D(0.4), rng.normal(size=(4, 6, 5)), training=True)
    )


@pytest.mark.parametrize(
    "options", [{}, {"center": False}, {"scale": False}, {"momentum": 0.5, "epsilon": 0.1}]
)
@pytest.mark.parametrize("training", [True, False])
def test_batch_normalization(rng, options, training):
    report = gradcheck.check_layer(
        layers.BatchNormalization(**options), rng.normal(size=(4, 6, 3)), training=training
    )
    assert_passes(report)
    names = [row.name for row in report.rows]
    assert "input" in names and not any("moving" in name for name in names)  # state has no gradient


def test_batch_normalization_under_a_mask(rng):
    mask = np.ones((4, 6), dtype=bool)
    mask[0, 2:] = False
    mask[3, 5:] = False
    x = rng.normal(size=(4, 6, 3))
    assert_passes(gradcheck.check_layer(layers.BatchNormalization(), x, mask=mask, training=True))
