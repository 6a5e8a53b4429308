"""Recurrent layers against Keras: the same weights give the same outputs and states (every cell, option,
padding and merge mode), the models train step by step alike, and the dropout masks are Keras's kind.

Runs on whichever backend tests/parity/conftest.py chose (KERAS_BACKEND, torch by default); it must also
pass with KERAS_BACKEND=jax (parity/recurrent.py enables JAX's float64 then).
"""

from __future__ import annotations

import pytest

pytest.importorskip("keras", reason="the Keras parity tests need the parity extra (keras and a backend)")

from parity import recurrent

pytestmark = [pytest.mark.parity, pytest.mark.slow]


def _assert_rows(rows):
    assert rows
    failed = [str(row) for row in rows if not row.ok]
    assert not failed, "\n".join(failed)


@pytest.mark.parametrize("dtype", recurrent.DTYPES)
def test_layers_with_keras_weights(dtype):
    rows = recurrent.layer_rows(dtype)
    # 3 cells x 5 option sets x 3 paddings (+2 state rows for return_state: LSTM h, c; 1 for the others),
    # Bidirectional(LSTM) 4 merge modes x 2 x 3, Bidirectional(GRU) with its 2 states x 3.
    assert len(rows) == 3 * 5 * 3 + 3 * (2 + 1 + 1) + 4 * 2 * 3 + 3 * 3
    _assert_rows(rows)


@pytest.mark.parametrize("dtype", recurrent.DTYPES)
def test_embedding_mask_reaches_the_recurrent_layer(dtype):
    _assert_rows(recurrent.model_forward_rows(dtype))


@pytest.mark.parametrize(
    ("name", "mask_zero", "padding"),
    [(name, False, "pre") for name in recurrent.MODEL_SIZES]
    + [(name, True, "post") for name in recurrent.MASKED_MODELS],
)
@pytest.mark.parametrize("dtype", recurrent.DTYPES)
def test_train_on_batch_steps(dtype, name, mask_zero, padding):
    rows = recurrent.training_rows(name, dtype, mask_zero=mask_zero, padding=padding, steps=20)
    _assert_rows(rows)


def test_dropout_masks_are_kerass_kind():
    _assert_rows(recurrent.dropout_rows())
