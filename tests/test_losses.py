import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npnet import losses
from npnet.gradcheck import central_difference

BCE = losses.BinaryCrossentropy


def col(*values, dtype=np.float64):
    return np.array(values, dtype=dtype).reshape(-1, 1)


def test_bce_on_probabilities_by_hand():
    loss = BCE()(col(1, 0, 1), col(0.9, 0.2, 0.6))
    assert loss == pytest.approx(-(math.log(0.9) + math.log(0.8) + math.log(0.6)) / 3, rel=1e-14)


def test_bce_clips_at_keras_epsilon():
    # p = 0 with y = 1 (and p = 1 with y = 0) cost -log(1e-7) each, not infinity.
    loss = BCE()(col(1, 0), col(0.0, 1.0))
    assert loss == pytest.approx(-math.log(1e-7), rel=1e-9)
    assert loss == pytest.approx(16.118095650958317, rel=1e-9)


def test_bce_gradient_is_zero_where_clipped_and_exact_inside():
    y = col(1, 0, 1, 0, 1, 0)
    p = col(0.0, 1.0, 1e-9, 1 - 1e-9, 0.3, 0.7)
    grad = BCE().gradient(y, p)
    assert grad[:4].tolist() == [[0.0]] * 4  # flat clip: no gradient
    # inside: d/dp of the batch mean = (p - y) / (p (1 - p)) / n
    assert grad[4, 0] == pytest.approx((0.3 - 1) / (0.3 * 0.7) / 6, rel=1e-14)
    assert grad[5, 0] == pytest.approx(0.7 / (0.7 * 0.3) / 6, rel=1e-14)
    inner = col(0.3, 0.7)
    numeric = central_difference(lambda: BCE()(col(1, 0), inner), inner)
    np.testing.assert_allclose(BCE().gradient(col(1, 0), inner), numeric, rtol=1e-7)


def test_bce_from_logits_matches_probabilities_for_moderate_logits():
    z = col(-3.0, -0.5, 0.0, 0.5, 4.0)
    y = col(1, 0, 1, 1, 0)
    p = 1 / (1 + np.exp(-z))
    assert BCE(from_logits=True)(y, z) == pytest.approx(BCE()(y, p), rel=1e-12)
    np.testing.assert_allclose(BCE(from_logits=True).gradient(y, z), (p - y) / 5, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_from_logits_is_finite_for_extreme_logits(dtype):
    z = col(-1e4, -800.0, 800.0, 1e4, dtype=dtype)
    y = col(1, 0, 1, 0, dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = BCE(from_logits=True)(y, z)
        grad = BCE(from_logits=True).gradient(y, z)
    # Wrong by a margin of 1e4 on the first and last sample, exactly right on the two middle ones.
    assert loss == pytest.approx((1e4 + 0 + 0 + 1e4) / 4, rel=1e-6)
    assert grad.ravel().tolist() == [-0.25, 0.0, 0.0, 0.25]


def test_bce_float32_stays_float32_and_respects_the_clip():
    p = col(0.0, 0.5, dtype=np.float32)
    y = col(1, 1, dtype=np.float32)
    assert BCE().gradient(y, p).dtype == np.float32
    assert BCE()(y, p) == pytest.approx((-math.log(1e-7) - math.log(0.5)) / 2, rel=1e-5)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-50, 50), st.sampled_from([0.0, 1.0])), min_size=1, max_size=20))
def test_bce_is_nonnegative_and_logit_gradient_is_bounded(pairs):
    z = col(*(z for z, _ in pairs))
    y = col(*(y for _, y in pairs))
    assert BCE(from_logits=True)(y, z) >= 0
    assert np.all(np.abs(BCE(from_logits=True).gradient(y, z)) <= 1 / len(pairs))


def test_bce_shape_mismatch_is_explained():
    with pytest.raises(ValueError, match=r"same shape.*Dense\(1, activation='sigmoid'\)"):
        BCE()(col(1, 0), np.ones((2, 2)))


def test_loss_lookup():
    assert isinstance(losses.get("binary_crossentropy"), BCE)
    instance = BCE(from_logits=True)
    assert losses.get(instance) is instance
    with pytest.raises(ValueError, match=r"unknown loss 'mse'.*binary_crossentropy"):
        losses.get("mse")
