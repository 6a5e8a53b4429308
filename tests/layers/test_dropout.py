"""Dropout: keeps 1 - rate of the elements and scales them by 1 / (1 - rate) in training (checked
statistically), is the identity in inference, sends the gradient through the same kept elements, and draws
its noise repeatably: from its own seed, or from the model's fit_rng (so a checkpoint resumes it bitwise:
tests/runs/test_cnn_run.py)."""

from __future__ import annotations

import numpy as np
import pytest

import npnet
from npnet import layers, optimizers

N = 200_000


@pytest.mark.parametrize("rate", [0.2, 0.5, 0.9])
def test_training_keeps_one_minus_rate_and_scales_the_kept(rate):
    drop = layers.Dropout(rate, seed=0)
    y = drop.forward(np.ones((N // 100, 100), np.float32), training=True)
    kept = y != 0
    keep = 1 - rate
    # The kept count is Binomial(N, keep): 5 standard deviations are a 1-in-3.5-million false alarm.
    assert abs(kept.mean() - keep) < 5 * np.sqrt(keep * rate / N)
    np.testing.assert_allclose(y[kept], 1 / keep, rtol=1e-6)  # every kept element scaled alike
    assert abs(y.mean() - 1) < 5 * np.sqrt(rate / keep / N)  # E[y] = x, so inference needs no rescale


def test_inference_and_rate_zero_are_the_identity():
    x = np.random.default_rng(0).normal(size=(4, 5, 3)).astype(np.float32)
    assert layers.Dropout(0.5).forward(x, training=False) is x
    zero = layers.Dropout(0.0)
    assert zero.forward(x, training=True) is x
    g = np.ones_like(x)
    assert zero.backward(g) is g


def test_backward_uses_the_forward_mask_and_scale():
    drop = layers.Dropout(0.4, seed=3)
    x = np.random.default_rng(1).uniform(1, 2, size=(50, 20))  # no zeros, so y / x is the mask's scale
    y = drop.forward(x, training=True)
    g = np.random.default_rng(2).normal(size=x.shape)
    np.testing.assert_allclose(drop.backward(g), g * (y / x), rtol=1e-12)


def test_a_seed_repeats_the_masks_bitwise_and_another_seed_does_not():
    x = np.ones((64, 32), np.float32)
    a, b, c = layers.Dropout(0.5, seed=11), layers.Dropout(0.5, seed=11), layers.Dropout(0.5, seed=12)
    first = [a.forward(x, training=True).tobytes() for _ in range(3)]
    assert first == [b.forward(x, training=True).tobytes() for _ in range(3)]
    assert first[0] != first[1]  # a new mask every forward
    assert c.forward(x, training=True).tobytes() != first[0]


def test_bad_rates_are_refused():
    for rate in (1.0, -0.1, "0.5", True):
        with pytest.raises(ValueError, match=r"Dropout rate must be in \[0, 1\)"):
            layers.Dropout(rate)


def small_cnn(seed: int) -> npnet.Sequential:
    model = npnet.models.imdb_cnn(
        num_words=30, embedding_dim=4, filters=3, kernel_size=2, hidden_units=5, dropout=0.5, seed=seed
    )
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy")
    return model


def test_the_model_hands_its_fit_rng_to_every_dropout_and_fit_repeats_bitwise():
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 30, size=(40, 12)), rng.integers(0, 2, size=40)
    runs_of = []
    for seed in (5, 5, 6):
        model = small_cnn(seed)
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        drops = [layer for layer in model.layers if isinstance(layer, layers.Dropout)]
        assert all(layer.noise_rng is model.fit_rng for layer in drops)
        runs_of.append(b"".join(w.tobytes() for w in model.get_weights()))
    assert runs_of[0] == runs_of[1]
    assert runs_of[0] != runs_of[2]


def test_the_dropout_noise_is_part_of_what_fit_rng_drives():
    """Same weights and shuffle, but the dropout draws taken from fit_rng move it on:
    a model with dropout 0 and one with dropout 0.5 end in different fit_rng states."""
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 30, size=(16, 12)), rng.integers(0, 2, size=16)
    states = []
    for rate in (0.0, 0.5):
        model = npnet.models.imdb_cnn(
            num_words=30, embedding_dim=4, filters=3, kernel_size=2, hidden_units=5, dropout=rate, seed=1
        )
        model.compile(optimizer=optimizers.Adam(), loss="binary_crossentropy")
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        states.append(model.fit_rng.bit_generator.state)
    assert states[0] != states[1]
