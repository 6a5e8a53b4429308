"""The checker catches wrong gradients: layers with a deliberately broken backward fail it, the failing row is
the broken tensor, and the message names the kind of mistake and the code to look at."""

import numpy as np
import pytest

import npnet
from npnet import gradcheck, layers, losses, optimizers


class DoubledKernelGrad(layers.Dense):
    """Off by a factor: dL/dkernel twice too large."""

    def backward(self, grad_out):
        grad_in = super().backward(grad_out)
        self.grads["kernel"] *= 2
        return grad_in


class NoActivationTerm(layers.Dense):
    """A missing term: skips the activation's derivative (treats sigmoid(z) as z)."""

    def backward(self, grad_out):
        activation, self.activation = self.activation, None
        try:
            return super().backward(grad_out)
        finally:
            self.activation = activation


class TransposedKernelGrad(layers.Dense):
    """A transposed matrix: dL/dkernel = (x^T g)^T, which has the right shape for a square kernel."""

    def backward(self, grad_out):
        grad_in = super().backward(grad_out)
        self.grads["kernel"][...] = self.grads["kernel"].T.copy()
        return grad_in


class TransposedWeightInInputGrad(layers.Dense):
    """A transposed matrix in the input gradient: g @ W instead of g @ W^T (square kernel)."""

    def backward(self, grad_out):
        super().backward(grad_out)
        return grad_out @ self.params["kernel"]


class ForgottenBiasGrad(layers.Dense):
    """A contribution never written: the bias gradient stays zero."""

    def backward(self, grad_out):
        grad_in = super().backward(grad_out)
        self.grads["bias"][...] = 0
        return grad_in


class SigmoidWithoutOneMinus(layers.Sigmoid):
    """A missing term: dy/dx = y instead of y (1 - y)."""

    def forward(self, x, mask=None, training=False):
        self._out = super().forward(x, mask, training)
        return self._out

    def backward(self, grad_out):
        return grad_out * self._out


class BufferedEmbedding(layers.Embedding):
    """A dropped duplicate-id contribution: buffered fancy-index `+=` keeps one write per repeated id."""

    def forward(self, ids, mask=None, training=False):
        self._ids_seen = ids
        return super().forward(ids, mask, training)

    def backward(self, grad_out):
        grad = self.grads["embeddings"]
        grad.fill(0)
        grad[self._ids_seen.ravel()] += grad_out.reshape(-1, self.output_dim)


class AccumulatingEmbedding(layers.Embedding):
    """Forgets to clear the gradient: a second backward adds to the first."""

    def backward(self, grad_out):
        before = self.grads["embeddings"].copy()
        super().backward(grad_out)
        self.grads["embeddings"] += before


class OffByOneRowEmbedding(layers.Embedding):
    """Scatters into row id + 1: gradient leaks into rows the batch never used."""

    def forward(self, ids, mask=None, training=False):
        self._ids_seen = ids
        return super().forward(ids, mask, training)

    def backward(self, grad_out):
        grad = self.grads["embeddings"]
        grad.fill(0)
        rows = np.minimum(self._ids_seen.ravel() + 1, self.input_dim - 1)
        np.add.at(grad, rows, grad_out.reshape(-1, self.output_dim))


class PoolingIgnoringMask(layers.GlobalAveragePooling1D):
    """A missing term: backward spreads the gradient as if there were no mask."""

    def backward(self, grad_out):
        return np.broadcast_to(grad_out[:, None, :] / self._shape[1], self._shape)


class BCEWithoutMean(losses.BinaryCrossentropy):
    """Off by a factor: forgets the 1/n of the batch mean."""

    def gradient(self, y_true, y_pred):
        return super().gradient(y_true, y_pred) * len(y_pred)


class BCEIgnoringClip(losses.BinaryCrossentropy):
    """Keeps a gradient where Keras's clip makes the loss flat."""

    def gradient(self, y_true, y_pred):
        p = np.clip(y_pred, 1e-12, 1 - 1e-12)
        return (p - y_true) / (p * (1 - p)) / len(y_pred)


@pytest.fixture
def rng():
    return np.random.default_rng(3)


def failing(report: gradcheck.Report) -> dict[str, gradcheck.Row]:
    assert not report.passed, str(report)
    assert report.max_rel_error > report.settings.rtol
    assert "FAIL" in str(report)
    return {row.name: row for row in report.failures}


def test_factor_in_kernel_gradient(rng):
    rows = failing(gradcheck.check_layer(DoubledKernelGrad(4), rng.normal(size=(5, 3))))
    assert list(rows) == ["doubled_kernel_grad/kernel"]
    assert "analytic = 2 x numeric" in rows["doubled_kernel_grad/kernel"].problem
    assert "DoubledKernelGrad.backward, grads['kernel']" in rows["doubled_kernel_grad/kernel"].problem


def test_missing_activation_term(rng):
    report = gradcheck.check_layer(NoActivationTerm(3, activation="sigmoid"), rng.normal(size=(4, 2)))
    rows = failing(report)
    assert set(rows) == {"input", "no_activation_term/kernel", "no_activation_term/bias"}
    assert "a term is missing or wrong" in rows["input"].problem
    assert "the input gradient NoActivationTerm.backward returns" in rows["input"].problem


def test_missing_term_in_sigmoid(rng):
    rows = failing(gradcheck.check_layer(SigmoidWithoutOneMinus(), rng.normal(size=(3, 4))))
    assert "a term is missing or wrong" in rows["input"].problem


def test_transposed_kernel_gradient(rng):
    rows = failing(gradcheck.check_layer(TransposedKernelGrad(4), rng.normal(size=(6, 4))))
    assert list(rows) == ["transposed_kernel_grad/kernel"]
    assert "transpose" in rows["transposed_kernel_grad/kernel"].problem


def test_transposed_weight_in_input_gradient(rng):
    rows = failing(gradcheck.check_layer(TransposedWeightInInputGrad(4), rng.normal(size=(6, 4))))
    assert list(rows) == ["input"]


def test_forgotten_bias_gradient(rng):
    rows = failing(gradcheck.check_layer(ForgottenBiasGrad(3), rng.normal(size=(4, 2))))
    assert list(rows) == ["forgotten_bias_grad/bias"]
    assert "analytic gradient is 0 where the loss does change" in rows["forgotten_bias_grad/bias"].problem


def test_dropped_duplicate_ids_small_vocab():
    ids = np.array([[1, 2, 2, 3], [3, 4, 0, 0]])  # 2 repeats in a review; 3 across reviews; 0 is padding
    rows = failing(gradcheck.check_layer(BufferedEmbedding(6, 3), ids))
    problem = rows["buffered_embedding/embeddings"].problem
    assert "only rows whose id occurs more than once are wrong" in problem
    assert "np.add.at" in problem


@pytest.mark.slow
def test_dropped_duplicate_ids_at_imdb_scale_in_the_seed_model():
    """Vocab 10,000: the table is sampled, and the sample's repeated-id rows catch the bug."""
    from npnet.cli.gradcheck import imdb_like_batch

    x, y = imdb_like_batch(np.random.default_rng(0), 16, 128, 10_000)
    model = npnet.Sequential(
        [
            BufferedEmbedding(10_000, 16),
            layers.GlobalAveragePooling1D(),
            layers.Dense(16, activation="relu"),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer=optimizers.Adam(), loss="binary_crossentropy")
    rows = failing(gradcheck.check_model(model, x, y))
    assert list(rows) == ["buffered_embedding/embeddings"]  # the layers above are right
    assert "repeated ids lose contributions" in rows["buffered_embedding/embeddings"].problem


def test_accumulating_gradient_fails_on_the_second_backward(rng):
    ids = rng.integers(1, 10, size=(3, 4))
    rows = failing(gradcheck.check_layer(AccumulatingEmbedding(10, 2), ids))
    assert "analytic = 2 x numeric" in rows["accumulating_embedding/embeddings"].problem


def test_gradient_leaking_into_unused_rows():
    ids = np.array([[1, 1, 2], [2, 5, 0]])  # rows 3, 4, 6, 7 unused
    rows = failing(gradcheck.check_layer(OffByOneRowEmbedding(8, 2), ids))
    assert "rows that no id in the batch selects" in rows["off_by_one_row_embedding/embeddings"].problem


def test_gradient_leaking_into_unused_rows_of_a_large_table(rng):
    ids = rng.integers(0, 3000, size=(8, 32))
    row = failing(gradcheck.check_layer(OffByOneRowEmbedding(5000, 4), ids))[
        "off_by_one_row_embedding/embeddings"
    ]
    assert "non-zero analytic gradient" in row.problem


def test_pooling_that_ignores_the_mask(rng):
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1]], dtype=bool)
    report = gradcheck.check_layer(PoolingIgnoringMask(), rng.normal(size=(2, 4, 3)), mask=mask)
    assert list(failing(report)) == ["input"]
    assert gradcheck.check_layer(PoolingIgnoringMask(), rng.normal(size=(2, 4, 3))).passed  # right unmasked


def test_loss_without_the_batch_mean(rng):
    y, p = rng.integers(0, 2, size=(6, 1)), rng.uniform(0.1, 0.9, size=(6, 1))
    rows = failing(gradcheck.check_loss(BCEWithoutMean(), y, p))
    assert "analytic = 6 x numeric" in rows["y_pred"].problem
    assert "BCEWithoutMean.gradient" in rows["y_pred"].problem


def test_loss_with_a_gradient_where_it_is_clipped(rng):
    y = np.array([[1.0], [0.0], [1.0]])
    p = np.array([[1e-9], [0.5], [0.3]])  # the first is clipped: the loss is flat there
    rows = failing(gradcheck.check_loss(BCEIgnoringClip(), y, p))
    assert rows["y_pred"].worst == "(0, 0)"


def test_sampled_tensor_error_found_by_the_direction_screen(rng):
    """With no element sampled, the random directions alone catch a wrong gradient."""
    report = gradcheck.check_layer(DoubledKernelGrad(4), rng.normal(size=(5, 3)), full_limit=0, samples=0)
    row = failing(report)["doubled_kernel_grad/kernel"]
    assert row.checked == 0
    assert row.worst.startswith("direction")
    assert "random-direction screen disagrees" in row.problem


def test_model_report_says_where_to_look(rng):
    """A wrong input gradient in the top Dense spoils everything below it; the note points at the top."""
    model = npnet.Sequential(
        [
            layers.Embedding(20, 4),
            layers.GlobalAveragePooling1D(),
            layers.Dense(4, activation="relu", name="hidden"),
            TransposedWeightInInputGrad(4, activation="relu", name="top"),
            layers.Dense(1, activation="sigmoid", name="out"),
        ]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy")
    report = gradcheck.check_model(model, rng.integers(0, 20, size=(5, 6)), rng.integers(0, 2, size=5))
    rows = failing(report)
    assert set(rows) == {"embedding/embeddings", "hidden/kernel", "hidden/bias"}  # top's own grads are right
    text = str(report)
    assert "The failing parameter closest to the loss is in 'hidden'" in text
    assert "the layer(s) above it (top, out)" in text


class ConvOffByOneWindow(layers.Conv1D):
    """An off-by-one window: the input gradient of tap j lands one step too late."""

    def backward(self, grad_out):
        super().backward(grad_out)
        g = grad_out
        length, before, padded = self.geometry
        size, channels = self.params["kernel"].shape[:2]
        dcols = (g.reshape(-1, self.filters) @ self.params["kernel"].reshape(-1, self.filters).T).reshape(
            g.shape[0], g.shape[1], size, channels
        )
        dxp = np.zeros((g.shape[0], padded + 1, channels))
        for j in range(size):
            dxp[:, j + 1 : j + 1 + g.shape[1]] += dcols[:, :, j]
        return dxp[:, before : before + length]


class ConvWithoutFlip(layers.Conv1D):
    """The full correlation with the kernel *not* flipped: taps matched to the wrong end of G."""

    def backward(self, grad_out):
        from npnet.layers.convolutional import input_grad_full_correlation

        super().backward(grad_out)
        length, before, padded = self.geometry
        unflipped = self.params["kernel"][::-1]  # the helper flips it back: a net unflipped kernel
        return input_grad_full_correlation(grad_out, unflipped, padded, 1, 1)[:, before : before + length]


class MaxPoolToEveryMax(layers.MaxPooling1D):
    """Routes each window's gradient to every maximal element, not to the first one only."""

    def forward(self, x, mask=None, training=False):
        self._view = self._windows(x, -np.inf)
        return super().forward(x, mask, training)

    def backward(self, grad_out):
        winners = self._view == self._view.max(axis=2, keepdims=True)
        return self._scatter(np.where(winners, grad_out[:, :, None], 0))


def test_conv_off_by_one_window_is_caught(rng):
    rows = failing(gradcheck.check_layer(ConvOffByOneWindow(3, 3), rng.normal(size=(2, 8, 4))))
    assert list(rows) == ["input"]  # the kernel and bias gradients are right
    assert "ConvOffByOneWindow.backward returns" in rows["input"].problem


def test_conv_without_the_kernel_flip_is_caught(rng):
    rows = failing(gradcheck.check_layer(ConvWithoutFlip(3, 3), rng.normal(size=(2, 8, 4))))
    assert list(rows) == ["input"]


def test_max_pool_routing_to_every_max_is_caught():
    """Perturbing one of two tied inputs moves the argmax, so the checker reports those elements as kinks and
    cannot judge them. A tie that no perturbation breaks can be judged: the same token twice in a pooling
    window gives two identical embedded vectors, which move together when their embedding row moves. The max
    then moves once with the row, and a rule that routes to both copies doubles that row's gradient."""
    ids = np.array([[4, 4, 1, 2, 5, 3], [3, 1, 6, 6, 2, 2]])  # each review has tied windows
    model = npnet.Sequential(
        [
            layers.Embedding(8, 3),
            MaxPoolToEveryMax(2),
            layers.Flatten(),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer=optimizers.Adam(), loss="binary_crossentropy")
    rows = failing(gradcheck.check_model(model, ids, np.array([1, 0])))
    assert list(rows) == ["embedding/embeddings"]  # the rows of the tied tokens


def test_max_pool_first_max_routing_passes_the_same_check():
    ids = np.array([[4, 4, 1, 2, 5, 3], [3, 1, 6, 6, 2, 2]])
    model = npnet.Sequential(
        [
            layers.Embedding(8, 3),
            layers.MaxPooling1D(2),
            layers.Flatten(),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer=optimizers.Adam(), loss="binary_crossentropy")
    report = gradcheck.check_model(model, ids, np.array([1, 0]))
    assert report.passed, str(report)


# ---- recurrent layers: BPTT mistakes ---------------------------------------------------------------------


class LSTMWithoutForgetTerm(layers.LSTM):
    """A missing forget-gate term: dL/dc_{t-1} = dL/dc_t instead of dL/dc_t * f (the cell state's carry)."""

    def _step_backward(self, cache, d_states):
        d_xw, d_hr, (d_h_old, d_c_old) = super()._step_backward(cache, d_states)
        f = cache[0][:, self.units : 2 * self.units]
        return d_xw, d_hr, [d_h_old, d_c_old / f]


class LSTMGateGradsSwapped(layers.LSTM):
    """A swapped gate order in backward only: the i and f blocks of dL/dz exchanged."""

    def _step_backward(self, cache, d_states):
        d_xw, _, d_old = super()._step_backward(cache, d_states)
        u = self.units
        swapped = np.concatenate([d_xw[:, u : 2 * u], d_xw[:, :u], d_xw[:, 2 * u :]], axis=1)
        return swapped, swapped, d_old


class LSTMGatesSwapped(layers.LSTM):
    """A swapped gate order in forward *and* backward (f read from the i block and vice versa): a consistent
    derivative of the wrong function, which no gradient check can see; Keras's order i, f, c, o is tested by
    comparing outputs (here with a reference LSTM written from Keras's equations, and in
    tests/parity/test_parity_recurrent.py with Keras itself)."""

    @staticmethod
    def _swap(a, u):
        return np.concatenate([a[:, u : 2 * u], a[:, :u], a[:, 2 * u :]], axis=1)

    def _step(self, xw, hr, states):
        return super()._step(self._swap(xw, self.units), self._swap(hr, self.units), states)

    def _step_backward(self, cache, d_states):
        d_xw, d_hr, d_old = super()._step_backward(cache, d_states)
        return self._swap(d_xw, self.units), self._swap(d_hr, self.units), d_old


class LSTMMaskResets(layers.LSTM):
    """A mask that resets the states to zero at a masked step instead of carrying them."""

    @staticmethod
    def _carry(keep, new, old):
        return tuple(np.where(keep, a, 0) for a in new)


def _sequences(rng):
    mask = np.ones((3, 5), bool)
    mask[0, 3:] = False  # post-padding
    mask[1, :2] = False  # pre-padding
    return rng.normal(size=(3, 5, 2)), mask


def _reference_lstm(x, kernel, recurrent_kernel, bias):
    """Keras's LSTM equations, one gate at a time (i, f, c, o), no mask: the last h."""
    u = recurrent_kernel.shape[0]
    h = c = np.zeros((len(x), u))

    def sig(v):
        return 1 / (1 + np.exp(-v))

    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent_kernel + bias
        i, f, g, o = sig(z[:, :u]), sig(z[:, u : 2 * u]), np.tanh(z[:, 2 * u : 3 * u]), sig(z[:, 3 * u :])
        c = f * c + i * g
        h = o * np.tanh(c)
    return h


def test_lstm_missing_forget_gate_term_is_caught_by_gradcheck(rng):
    x, mask = _sequences(rng)
    rows = failing(gradcheck.check_layer(LSTMWithoutForgetTerm(3), x, mask=mask))
    assert "input" in rows and "lstm_without_forget_term/recurrent_kernel" in rows


def test_lstm_gate_gradients_swapped_are_caught_by_gradcheck(rng):
    x, _ = _sequences(rng)
    rows = failing(gradcheck.check_layer(LSTMGateGradsSwapped(3), x))
    assert {"lstm_gate_grads_swapped/kernel", "lstm_gate_grads_swapped/bias"} <= set(rows)


def test_lstm_swapped_gate_order_is_caught_by_the_reference_not_by_gradcheck(rng):
    x, _ = _sequences(rng)
    assert gradcheck.check_layer(LSTMGatesSwapped(3), x).passed  # consistent: invisible to gradients
    for cls, matches in ((layers.LSTM, True), (LSTMGatesSwapped, False)):
        layer = cls(3)
        layer.build(x.shape, dtype="float64")
        expected = _reference_lstm(x, *layer.params.values())
        assert np.allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-14) is matches


def test_lstm_mask_that_resets_is_caught_by_gradcheck_and_by_padding_invariance(rng):
    x, mask = _sequences(rng)
    rows = failing(gradcheck.check_layer(LSTMMaskResets(3), x, mask=mask))
    assert "input" in rows
    assert gradcheck.check_layer(LSTMMaskResets(3), x).passed  # without a mask it is the right LSTM
    # Consistency: post-padding under the mask must not change the last output; a reset zeroes it.
    for cls, matches in ((layers.LSTM, True), (LSTMMaskResets, False)):
        layer = cls(3)
        layer.build(x.shape, dtype="float64")
        short = layer.forward(x[:1, :3])
        assert np.allclose(layer.forward(x[:1], mask=mask[:1]), short, rtol=1e-12) is matches


class BatchNormWithoutStatisticsTerms(layers.BatchNormalization):
    """A missing term: the input gradient treats the batch mean and variance as constants (g gamma / std),
    the textbook slip; right in inference, wrong in training."""

    def backward(self, grad_out):
        super().backward(grad_out)
        return grad_out * self.params["gamma"] / self._std


class BatchNormWithoutDriftTerm(layers.BatchNormalization):
    """A subtler missing term: forgets the mean's effect through the variance (the sum(g xhat) xhat part)."""

    def backward(self, grad_out):
        super().backward(grad_out)
        g_hat = grad_out * self.params["gamma"]
        return (g_hat - g_hat.mean(axis=(0, 1))) / self._std


def test_batch_norm_treating_the_statistics_as_constants_is_caught(rng):
    x = rng.normal(size=(4, 5, 3))
    rows = failing(gradcheck.check_layer(BatchNormWithoutStatisticsTerms(), x, training=True))
    assert list(rows) == ["input"]  # gamma's and beta's gradients are right
    assert "BatchNormWithoutStatisticsTerms.backward returns" in rows["input"].problem
    assert gradcheck.check_layer(BatchNormWithoutStatisticsTerms(), x, training=False).passed


def test_batch_norm_missing_the_variance_term_is_caught(rng):
    rows = failing(
        gradcheck.check_layer(BatchNormWithoutDriftTerm(), rng.normal(size=(4, 5, 3)), training=True)
    )
    assert list(rows) == ["input"]
