"""Facts about Keras 3 (torch) that the Keras side of the parity checks rests on, checked on Keras itself."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("keras", reason="the Keras parity tests need the parity extra (keras, torch)")

import keras

from parity import keras_side as ks

pytestmark = pytest.mark.parity


def _matmul_dtype() -> str:
    a = keras.ops.convert_to_tensor(np.ones((2, 2)), dtype="float64")
    return keras.backend.standardize_dtype(keras.ops.matmul(a, a).dtype)


def test_stock_keras_computes_float64_ops_in_float32_and_the_check_lifts_that():
    # Why "float64-stock" agrees only to ~1e-7 and "float64" to 1e-13 (see checks.Precision).
    with ks.precision("float64"):
        assert _matmul_dtype() == "float32"
    with ks.precision("float64", float64_ops=True):
        assert _matmul_dtype() == "float64"
    assert _matmul_dtype() == "float32"  # restored


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
