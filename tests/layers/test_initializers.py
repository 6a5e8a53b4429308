import math

import numpy as np
import pytest

from npnet import initializers


def test_uniform_is_keras_uniform_and_repeatable():
    init = initializers.get("uniform")
    a = init((200, 50), np.random.default_rng(3), np.dtype("float64"))
    b = init((200, 50), np.random.default_rng(3), np.dtype("float64"))
    assert np.array_equal(a, b)
    assert a.min() >= -0.05 and a.max() < 0.05
    # 10,000 draws reach close to both ends: the range really is (-0.05, 0.05), not narrower.
    assert a.min() < -0.0499 and a.max() > 0.0499


@pytest.mark.parametrize(("shape", "limit"), [((16, 16), 0.4330), ((16, 1), 0.5941), ((300, 200), 0.1095)])
def test_glorot_uniform_limit(shape, limit):
    w = initializers.get("glorot_uniform")(shape, np.random.default_rng(0), np.dtype("float64"))
    assert math.sqrt(6 / sum(shape)) == pytest.approx(limit, abs=1e-4)
    assert np.abs(w).max() <= limit + 1e-4
    if w.size > 1000:
        assert np.abs(w).max() > 0.99 * limit


def test_zeros_and_dtype():
    z = initializers.get("zeros")((3,), np.random.default_rng(0), np.dtype("float32"))
    assert z.dtype == np.float32 and not z.any()


def test_same_draws_in_float32_and_float64():
    init = initializers.GlorotUniform()
    w64 = init((5, 4), np.random.default_rng(1), np.dtype("float64"))
    w32 = init((5, 4), np.random.default_rng(1), np.dtype("float32"))
    assert w32.dtype == np.float32
    assert np.array_equal(w32, w64.astype(np.float32))


def test_unknown_initializer_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown initializer 'he_normal'.*glorot_uniform"):
        initializers.get("he_normal")


def test_bad_uniform_range():
    with pytest.raises(ValueError, match="minval < maxval"):
        initializers.RandomUniform(0.1, -0.1)


@pytest.mark.parametrize("size", [1, initializers._UNIFORM_BLOCK - 1, initializers._UNIFORM_BLOCK + 7])
def test_uniform_in_blocks_is_one_draw_cast(size):
    """The block-wise draw continues the generator's stream exactly: the values of one float64 draw, cast.
    (The same generator calls in the same order, so equality is exact, not a tolerance.)"""
    got = initializers.uniform(-0.05, 0.05, (size,), np.random.default_rng(7), np.dtype("float32"))
    want = np.random.default_rng(7).uniform(-0.05, 0.05, size=size).astype(np.float32)
    assert got.dtype == np.float32 and np.array_equal(got, want)


def test_uniform_keeps_shape_and_leaves_the_generator_where_one_draw_does():
    shape = (3, initializers._UNIFORM_BLOCK // 2 + 1)
    rng_blocks, rng_once = np.random.default_rng(2), np.random.default_rng(2)
    got = initializers.uniform(0.0, 1.0, shape, rng_blocks, np.dtype("float64"))
    assert np.array_equal(got, rng_once.uniform(0.0, 1.0, size=shape))
    assert rng_blocks.random() == rng_once.random()  # the next draw, e.g. the next layer's, is unchanged
