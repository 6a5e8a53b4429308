"""The checker catches the mistakes attention invites: each class below breaks one step of a backward, the
checker must fail on exactly the tensors that step feeds, and the unbroken layer passes the same check."""

import numpy as np
import pytest

from npnet import gradcheck, layers, losses
from npnet.layers import activations, attention


@pytest.fixture
def rng():
    return np.random.default_rng(4)


def failing(report: gradcheck.Report) -> dict[str, gradcheck.Row]:
    assert not report.passed, str(report)
    assert "FAIL" in str(report)
    return {row.name: row for row in report.failures}


def post_padding(batch: int, steps: int) -> np.ndarray:
    return np.arange(steps) < np.maximum(steps - np.arange(batch) - 1, 1)[:, None]


class ScaleMissingInBackward(layers.MultiHeadAttention):
    """dL/dq without the 1 / sqrt(key_dim) of scores = (q / sqrt(key_dim)) k^T."""

    def _attend_backward(self, d_context):
        d_q, d_k, d_v = super()._attend_backward(d_context)
        return d_q / self.scale, d_k, d_v


class MaskInForwardOnly(layers.MultiHeadAttention):
    """Backward through the *unmasked* softmax: gradient flows to keys the forward never looked at."""

    def _attend(self, q, k, v, mask, training):
        context = super()._attend(q, k, v, mask, training)
        self._unmasked = attention.masked_softmax(self._q_scaled @ self._k.transpose(0, 1, 3, 2), None)
        return context

    def _attend_backward(self, d_context):
        masked, self._probs = self._probs, self._unmasked
        try:
            return super()._attend_backward(d_context)
        finally:
            self._probs = masked


class HeadAxisTransposed(layers.MultiHeadAttention):
    """dL/dcontext's merged (H * V) axis split in the wrong order, (V, H) instead of (H, V)."""

    def _combine_heads_backward(self, grad_out):
        d_context = super()._combine_heads_backward(grad_out)  # (B, H, T, V), right
        batch, heads, steps, width = d_context.shape
        merged = d_context.transpose(0, 2, 1, 3).reshape(batch, steps, heads * width)
        return merged.reshape(batch, steps, width, heads).transpose(0, 3, 1, 2)


class LayerNormWithoutMeanTerms(layers.LayerNormalization):
    """dL/dx = gamma g / sqrt(var + eps): the paths through the mean and the variance forgotten."""

    def backward(self, grad_out):
        super().backward(grad_out)
        return grad_out * self.params["gamma"] * self._inv_std


class BlockWithoutResidualGradient(layers.TransformerBlock):
    """Forgets that x also reaches the output through the residual sum x + a: dL/dx via the attention only."""

    def backward(self, grad_out):
        d_sum2 = self.layernorm2.backward(grad_out)
        d_out1 = d_sum2 + self.ffn_1.backward(self.ffn_2.backward(self.dropout2.backward(d_sum2)))
        return self.att.backward(self.dropout1.backward(self.layernorm1.backward(d_out1)))


class CrossentropyIgnoringTheNormalisation(losses.SparseCategoricalCrossentropy):
    """-1 / p_y at the label only: forgets that Keras divides each row by its sum first."""

    def gradient(self, y_true, y_pred):
        t = self._targets(y_true, y_pred)
        return -t / np.where(t > 0, y_pred, 1) / len(y_pred)


def test_the_unbroken_attention_passes_the_same_checks(rng):
    x = rng.normal(size=(3, 5, 4))
    for options in ({"num_heads": 2, "key_dim": 3}, {"num_heads": 2, "key_dim": 3, "value_dim": 2}):
        report = gradcheck.check_layer(layers.MultiHeadAttention(**options), x, mask=post_padding(3, 5))
        assert report.passed, str(report)


def test_missing_scale_in_the_backward(rng):
    layer = ScaleMissingInBackward(2, 3)
    rows = failing(gradcheck.check_layer(layer, rng.normal(size=(3, 5, 4))))
    # only dq is wrong: the query projection's weights and, through it, the input
    assert set(rows) == {
        "input",
        "scale_missing_in_backward/query/kernel",
        "scale_missing_in_backward/query/bias",
    }
    assert "analytic = 1.732 x numeric" in rows["scale_missing_in_backward/query/kernel"].problem  # sqrt(3)


def test_softmax_backward_without_the_weighted_sum(rng, monkeypatch):
    def without_weighted_sum(y, grad_out, axis=-1):
        return y * grad_out  # the diagonal of the Jacobian only

    monkeypatch.setattr(attention, "softmax_backward", without_weighted_sum)
    rows = failing(gradcheck.check_layer(layers.MultiHeadAttention(2, 3), rng.normal(size=(3, 5, 4))))
    assert {"input", "multi_head_attention/query/kernel", "multi_head_attention/key/kernel"} <= set(rows)
    # the value and output projections are not behind the softmax
    assert not {"multi_head_attention/value/kernel", "multi_head_attention/attention_output/kernel"} & set(
        rows
    )
    monkeypatch.setattr(activations, "softmax_backward", without_weighted_sum)
    assert set(failing(gradcheck.check_layer(layers.Softmax(), rng.normal(size=(4, 3))))) == {"input"}


def test_mask_applied_in_the_forward_only(rng):
    x = rng.normal(size=(3, 5, 4))
    report = gradcheck.check_layer(MaskInForwardOnly(2, 3), x, mask=post_padding(3, 5))
    rows = failing(report)
    assert {"input", "mask_in_forward_only/key/kernel", "mask_in_forward_only/query/kernel"} <= set(rows)
    assert "mask_in_forward_only/value/kernel" not in rows  # dv reads the (masked) probabilities themselves
    # without a mask the two backwards are the same one
    assert gradcheck.check_layer(MaskInForwardOnly(2, 3), x).passed


def test_head_axis_transposed(rng):
    rows = failing(gradcheck.check_layer(HeadAxisTransposed(2, 3), rng.normal(size=(3, 5, 4))))
    assert {"input", "head_axis_transposed/value/kernel", "head_axis_transposed/query/kernel"} <= set(rows)
    assert "head_axis_transposed/attention_output/kernel" not in rows  # filled before the wrong split


def test_layer_norm_without_its_mean_terms(rng):
    rows = failing(gradcheck.check_layer(LayerNormWithoutMeanTerms(), rng.normal(size=(3, 4, 5))))
    assert set(rows) == {"input"}
    assert "a term is missing or wrong" in rows["input"].problem


def test_block_without_the_residual_gradient(rng):
    layer = BlockWithoutResidualGradient(4, 2, 6, rate=0.0)
    rows = failing(gradcheck.check_layer(layer, rng.normal(size=(3, 5, 4)), mask=post_padding(3, 5)))
    assert set(rows) == {"input"}  # every weight's gradient is right; only the fork's sum is missing


def test_categorical_loss_ignoring_kerass_normalisation(rng):
    p = rng.dirichlet(np.ones(3), size=6)
    ids = rng.integers(0, 3, size=6)
    assert gradcheck.check_loss(losses.SparseCategoricalCrossentropy(), ids, p).passed
    rows = failing(gradcheck.check_loss(CrossentropyIgnoringTheNormalisation(), ids, p))
    assert set(rows) == {"y_pred"}
