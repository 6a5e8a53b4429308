"""Facts about Keras 3 on JAX that the Keras side of the parity checks rests on, checked on Keras itself."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("keras", reason="the Keras parity tests need the parity extra (keras, jax)")

import keras

from parity import keras_side as ks

pytestmark = pytest.mark.parity


def _tensor(values: list[float]):
    return keras.ops.convert_to_tensor(np.array(values, dtype=np.float64), dtype="float64")


# 1 + 2**-30 is exact in float64 and rounds to 1 in float32: a result that keeps the 2**-30 was computed in
# float64.
_TINY = 2.0**-30


def test_keras_on_jax_runs_in_float64_at_all():
    # Without jax_enable_x64 (set by parity.keras_side) JAX would store float64 tensors as float32.
    import jax

    assert jax.config.jax_enable_x64
    assert keras.backend.backend() == "jax"
    assert keras.backend.standardize_dtype(_tensor([1.0]).dtype) == "float64"


def test_stock_keras_on_jax_computes_float64_means_in_float32_and_the_check_lifts_that():
    # Why "float64-stock" agrees only to ~1e-7 and "float64" to 1e-15 (see checks.Precision): ops.mean asks
    # result_type(float64, float32) for its compute dtype, and BIT64_TO_BIT32_DTYPE demotes that to float32;
    # the result is cast back to float64, so only its value shows the demotion.
    x = _tensor([1.0 + _TINY, 1.0 - _TINY, 1.0 + _TINY, 1.0 + _TINY])
    exact = 1.0 + _TINY / 2
    with ks.precision("float64"):
        mean = keras.ops.mean(x)
        assert keras.backend.standardize_dtype(mean.dtype) == "float64"
        assert float(mean) == 1.0  # the 2**-31 was lost: float32 arithmetic
        assert keras.backend.result_type("float64", "float32") == "float32"
    with ks.precision("float64", float64_ops=True):
        assert float(keras.ops.mean(x)) == exact
    with ks.precision("float64"):
        assert float(keras.ops.mean(x)) == 1.0  # restored


def test_stock_keras_on_jax_keeps_float64_matmul_and_elementwise_ops_in_float64():
    # Unlike the torch backend (which demoted every 64-bit op), JAX's matmul, add and sigmoid of float64
    # tensors never ask result_type: they stay float64 even in stock Keras.
    a = _tensor([1.0, _TINY])
    b = _tensor([1.0, 1.0])
    with ks.precision("float64"):
        product = keras.ops.matmul(keras.ops.reshape(a, (1, 2)), keras.ops.reshape(b, (2, 1)))
        assert keras.backend.standardize_dtype(product.dtype) == "float64"
        assert float(product[0, 0]) == 1.0 + _TINY
        assert float(keras.ops.add(a, b)[1]) == 1.0 + _TINY
        assert keras.backend.standardize_dtype(keras.ops.sigmoid(a).dtype) == "float64"


def test_keras3_needs_an_explicit_schedule_for_keras2_decay():
    with pytest.raises(ValueError, match="lr"):
        keras.optimizers.Adam(lr=1e-3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        keras.optimizers.Adam(learning_rate=1e-3, decay=1e-5)  # accepted, and ignored
    assert any("decay" in str(w.message) for w in caught)


def test_load_data_shuffle_is_randomstate_113():
    indices = np.arange(25_000)
    np.random.RandomState(113).shuffle(indices)
    assert indices[:5].tolist() == [7798, 13226, 18078, 793, 17499]
