"""Attention against Keras 3.15.1: MultiHeadAttention in every option under every mask kind (explicit path,
and its fused path on the attended rows), LayerNormalization, softmax outputs, the categorical losses and
accuracies, the Transformer example's block and model, and 20 train_on_batch steps of the example's model,
in float64 and float32."""

from __future__ import annotations

import pytest

pytest.importorskip("keras", reason="the Keras parity tests need the parity extra (keras and a backend)")

from parity import attention

pytestmark = [pytest.mark.parity, pytest.mark.slow]


def _assert_rows(rows):
    assert rows
    failed = [str(row) for row in rows if not row.ok]
    assert not failed, "\n".join(failed)


@pytest.mark.parametrize("dtype", attention.DTYPES)
def test_multi_head_attention_with_keras_weights(dtype):
    rows = attention.mha_rows(dtype)
    # 5 option sets x 6 mask kinds x (output, probabilities), the fused path for the 4 sets whose value_dim
    # is key_dim, and cross-attention's output and probabilities
    assert len(rows) == 5 * 6 * 2 + 4 * 6 + 2
    _assert_rows(rows)


@pytest.mark.parametrize("dtype", attention.DTYPES)
def test_layer_normalization_and_softmax(dtype):
    _assert_rows(attention.norm_and_softmax_rows(dtype))


@pytest.mark.parametrize("dtype", attention.DTYPES)
def test_categorical_losses_and_accuracies(dtype):
    _assert_rows(attention.loss_rows(dtype))


@pytest.mark.parametrize("dtype", attention.DTYPES)
def test_transformer_block_and_example_forward(dtype):
    _assert_rows(attention.block_rows(dtype))


@pytest.mark.parametrize("mask_zero", [False, True])
@pytest.mark.parametrize("dtype", attention.DTYPES)
def test_example_train_on_batch_steps(dtype, mask_zero):
    _assert_rows(attention.training_rows(dtype, steps=20, mask_zero=mask_zero))
