"""Masking, SpatialDropout1D and BatchNormalization: Keras's rules on small hand-made inputs (masks, noise
shapes, moving statistics, frozen layers), beside their gradient checks (tests/gradcheck) and their Keras
parity (tests/parity/test_parity_keras_names.py)."""

from __future__ import annotations

import numpy as np
import pytest

import npnet
from npnet import layers


def test_masking_zeroes_and_masks_the_steps_all_at_the_mask_value():
    x = np.arange(24, dtype=np.float64).reshape(2, 4, 3) + 1
    x[0, 1] = -1.0
    x[1, 3] = [-1.0, 5.0, -1.0]  # one feature differs: kept
    masking = layers.Masking(mask_value=-1.0)
    y = masking.forward(x)
    expected_mask = np.array([[True, False, True, True], [True, True, True, True]])
    np.testing.assert_array_equal(masking.compute_mask(x, None), expected_mask)
    np.testing.assert_array_equal(y, x * expected_mask[..., None])
    g = np.ones_like(x)
    np.testing.assert_array_equal(masking.backward(g), np.broadcast_to(expected_mask[..., None], x.shape))


def test_masking_replaces_an_incoming_mask():
    x = np.ones((1, 3, 2))
    incoming = np.array([[False, False, True]])
    assert layers.Masking().compute_mask(x, incoming).all()


def test_spatial_dropout_drops_whole_channels_and_scales_the_kept():
    drop = layers.SpatialDropout1D(0.5, seed=0)
    x = np.ones((40, 9, 30))
    y = drop.forward(x, training=True)
    # Each (sample, channel) is all kept or all dropped over the steps.
    assert (y.min(axis=1) == y.max(axis=1)).all()
    assert set(np.unique(y)) == {0.0, 2.0}
    assert 0.4 < (y[:, 0, :] > 0).mean() < 0.6  # 1200 Bernoulli(0.5) draws
    g = np.arange(x.size, dtype=np.float64).reshape(x.shape)
    np.testing.assert_array_equal(drop.backward(g), g * (y / x))  # the same channels, the same scale
    assert drop.forward(x, training=False) is x


def test_spatial_dropout_refuses_a_non_sequence():
    with pytest.raises(ValueError, match="takes \\(batch, steps, channels\\)"):
        layers.SpatialDropout1D(0.5).forward(np.ones((3, 4)), training=True)


def _built_batch_norm(features: int = 3, **options) -> layers.BatchNormalization:
    norm = layers.BatchNormalization(**options)
    norm.build((None, features), dtype="float64")
    return norm


def test_batch_norm_training_uses_biased_batch_statistics_and_updates_the_moving_ones():
    x = np.random.default_rng(0).normal(2.0, 3.0, size=(8, 3))
    norm = _built_batch_norm(momentum=0.9, epsilon=1e-3)
    norm.params["gamma"][...] = [1.0, 2.0, 0.5]
    norm.params["beta"][...] = [0.0, -1.0, 1.0]
    y = norm.forward(x, training=True)
    mean, variance = x.mean(axis=0), x.var(axis=0)  # ddof=0: biased, as Keras
    np.testing.assert_allclose(
        y, (x - mean) / np.sqrt(variance + 1e-3) * [1.0, 2.0, 0.5] + [0.0, -1.0, 1.0], rtol=1e-12
    )
    np.testing.assert_allclose(norm.params["moving_mean"], 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(norm.params["moving_variance"], 0.9 + 0.1 * variance, rtol=1e-12)


def test_batch_norm_inference_and_a_frozen_layer_use_the_moving_statistics():
    x = np.random.default_rng(1).normal(size=(5, 3))
    norm = _built_batch_norm()
    norm.params["moving_mean"][...] = [1.0, 0.0, -1.0]
    norm.params["moving_variance"][...] = [4.0, 1.0, 0.25]
    expected = (x - [1.0, 0.0, -1.0]) / np.sqrt(np.array([4.0, 1.0, 0.25]) + 1e-3)
    np.testing.assert_allclose(norm.forward(x, training=False), expected, rtol=1e-12)
    norm.trainable = False  # Keras: a frozen BatchNormalization runs in inference mode, also in fit
    np.testing.assert_allclose(norm.forward(x, training=True), expected, rtol=1e-12)
    np.testing.assert_array_equal(norm.params["moving_mean"], [1.0, 0.0, -1.0])  # not updated


def test_batch_norm_under_a_mask_takes_the_statistics_of_the_kept_steps():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 5, 3))
    mask = np.array([[True, True, True, False, False], [True, True, True, True, True]])
    norm = layers.BatchNormalization(momentum=0.0)
    norm.build((None, 5, 3), dtype="float64")
    norm.forward(x, mask=mask, training=True)
    kept = x[mask]
    np.testing.assert_allclose(norm.params["moving_mean"], kept.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(norm.params["moving_variance"], kept.var(axis=0), rtol=1e-6)


def test_batch_norm_weights_are_in_keras_order_and_the_moving_ones_are_not_trained():
    norm = _built_batch_norm(4)
    assert list(norm.params) == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert list(norm.trainable_params()) == ["gamma", "beta"]
    assert norm.count_params() == 16 and norm.count_trainable_params() == 8
    assert list(_built_batch_norm(4, center=False, scale=False).params) == ["moving_mean", "moving_variance"]


def test_batch_norm_refuses_another_axis():
    with pytest.raises(ValueError, match="axis must be -1"):
        layers.BatchNormalization(axis=1)


def test_the_three_layers_save_and_load(tmp_path):
    model = npnet.Sequential(
        [
            layers.Masking(mask_value=0.5),
            layers.SpatialDropout1D(0.2),
            layers.BatchNormalization(momentum=0.9),
            layers.GlobalAveragePooling1D(),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    x = np.random.default_rng(0).normal(size=(6, 4, 3)).astype(np.float32)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(x, np.array([0, 1, 0, 1, 1, 0]), epochs=1, batch_size=3, verbose=0)
    model.save(tmp_path / "m.npnet")
    loaded = npnet.models.load_model(tmp_path / "m.npnet")
    assert [layer.get_config() for layer in loaded.layers] == [layer.get_config() for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
