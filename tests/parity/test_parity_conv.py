"""Conv1D, the pooling layers, Flatten, Activation, Dropout and Keras's imdb_cnn model against Keras 3.15.1.

Runs on whichever backend Keras has in this session: run it with KERAS_BACKEND=jax (the oracle the project is
moving to; tests/parity/conftest.py keeps torch as the default for the older checks) and with torch."""

from __future__ import annotations

import pytest

pytest.importorskip("keras", reason="the Keras parity tests need the parity extra (keras, jax or torch)")

from parity import conv

pytestmark = [pytest.mark.parity, pytest.mark.slow]


def _assert_rows(rows):
    failed = [str(row) for row in rows if not row.ok]
    assert not failed, "\n".join(failed)
    assert rows


@pytest.mark.parametrize("dtype", conv.DTYPES)
def test_every_layer_and_option_gives_kerass_output_from_kerass_weights(dtype):
    rows = conv.layer_forward_rows(dtype)
    assert len(rows) == len(conv.compared_cases(conv.LENGTH))
    assert len(rows) == len(conv.LAYER_CASES) or conv.BACKEND == "torch"  # conv.differs_on_torch
    _assert_rows(rows)


def test_max_layers_send_tied_gradients_where_keras_does():
    _assert_rows(conv.tie_gradient_rows())


def test_dropout_keeps_and_scales_as_kerass():
    _assert_rows(conv.dropout_rows())


@pytest.mark.parametrize("dtype", conv.DTYPES)
def test_imdb_cnn_train_on_batch_steps_agree(imdb_npz, dtype):
    rows = conv.cnn_training_rows(imdb_npz, dtype)
    _assert_rows(rows)
    assert f"x{conv.CNN_STEPS}" in rows[0].check and conv.CNN_STEPS >= 20
