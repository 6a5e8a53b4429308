"""The checker as a tool: its report, its settings, copies that leave the caller's objects alone, coverage of
large tensors, kinks reported as kinks, and the `npnet gradcheck` command."""

import numpy as np
import pytest

import npnet
from npnet import gradcheck, layers, losses, optimizers
from npnet.cli import main


@pytest.fixture
def rng():
    return np.random.default_rng(5)


def small_model(vocab=30, dtype=None, mask_zero=False):
    model = npnet.Sequential(
        [
            layers.Embedding(vocab, 8, mask_zero=mask_zero),
            layers.GlobalAveragePooling1D(),
            layers.Dense(16, activation="relu"),
            layers.Dense(1, activation="sigmoid"),
        ],
        seed=7,
        dtype=dtype,
    )
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy")
    return model


# ------------------------------------------------------------------------------------------------- the report


def test_report_rows_and_table(rng):
    x, y = rng.integers(0, 30, size=(4, 6)), np.array([0, 1, 1, 0])
    report = gradcheck.check_model(small_model(), x, y)
    assert report.passed
    assert report.max_rel_error == max(row.max_rel_error for row in report.rows)
    row = report.rows[1]
    assert (row.name, row.shape, row.checked, row.coverage) == ("dense/kernel", (8, 16), 128, "all")
    assert row.worst.startswith("(") and np.isfinite(row.analytic) and np.isfinite(row.numeric)
    assert row.analytic == pytest.approx(row.numeric, rel=1e-6, abs=1e-9)
    text = str(report)
    for header in ("tensor", "shape", "checked", "max rel err", "worst at", "analytic", "numeric", "kinks"):
        assert header in text
    for r in report.rows:
        assert r.name in text
    assert "PASSED: max relative error" in text
    assert "embedding/embeddings: all; analytic gradient of all" in text  # the unused-row requirement


def test_check_model_leaves_the_model_untouched(rng):
    model = small_model(dtype="float32")
    x, y = rng.integers(0, 30, size=(6, 5)), rng.integers(0, 2, size=6)
    model.train_on_batch(x, y)  # optimizer state and layer grads exist
    weights = model.get_weights()
    state = model.optimizer.get_state()
    grads = [g.copy() for layer in model.layers for g in layer.grads.values()]
    rng_state = model.fit_rng.bit_generator.state

    report = gradcheck.check_model(model, x, y)

    assert report.passed and report.settings.dtype == np.float64
    assert model.dtype == np.float32
    for before, after in zip(weights, model.get_weights(), strict=True):
        assert after.dtype == np.float32
        np.testing.assert_array_equal(before, after)
    after_state = model.optimizer.get_state()
    assert after_state.keys() == state.keys()
    for key in state:
        np.testing.assert_array_equal(state[key], after_state[key])
    after_grads = [g for layer in model.layers for g in layer.grads.values()]
    for before, after in zip(grads, after_grads, strict=True):
        np.testing.assert_array_equal(before, after)
    assert model.fit_rng.bit_generator.state == rng_state


def test_check_layer_leaves_the_layer_untouched(rng):
    unbuilt = layers.Dense(3)
    assert gradcheck.check_layer(unbuilt, rng.normal(size=(2, 4))).passed
    assert not unbuilt.built and unbuilt.params == {}

    built = layers.Dense(3, dtype="float32")
    built.build((None, 4), np.random.default_rng(0))
    kernel = built.params["kernel"].copy()
    assert gradcheck.check_layer(built, rng.normal(size=(2, 4)).astype(np.float32)).passed
    assert built.params["kernel"].dtype == np.float32
    np.testing.assert_array_equal(built.params["kernel"], kernel)


def test_an_unbuilt_model_is_built_on_the_copy(rng):
    model = small_model()
    report = gradcheck.check_model(model, rng.integers(0, 30, size=(3, 4)), [1, 0, 1])
    assert report.passed and not model.built


def test_uncompiled_model_is_refused(rng):
    model = npnet.Sequential([layers.Embedding(5, 2), layers.GlobalAveragePooling1D(), layers.Dense(1)])
    with pytest.raises(RuntimeError, match="compile"):
        gradcheck.check_model(model, np.ones((2, 3), dtype=int), [0, 1])


# ------------------------------------------------------------------------------------------------ settings


def test_defaults_depend_on_the_check_dtype():
    f64, f32 = gradcheck.default_settings("float64"), gradcheck.default_settings("float32")
    assert f64.step == pytest.approx(np.finfo(np.float64).eps ** (1 / 3)) == pytest.approx(6.06e-6, rel=1e-3)
    assert f32.step == pytest.approx(np.finfo(np.float32).eps ** (1 / 3)) == pytest.approx(4.92e-3, rel=1e-3)
    assert (f64.rtol, f32.rtol, f64.atol) == (1e-6, 1e-3, None)
    assert gradcheck.default_settings("float64", rtol=1e-8, atol=None).rtol == 1e-8  # None keeps the default


def test_a_float32_check_uses_float32_settings(rng):
    report = gradcheck.check_layer(
        layers.Dense(4, activation="sigmoid"), rng.normal(size=(5, 3)), dtype="float32"
    )
    assert report.settings.dtype == np.float32 and report.settings.rtol == 1e-3
    assert report.passed, str(report)


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"bogus": 1}, TypeError, "unknown gradcheck option.*bogus.*use step, rtol"),
        ({"dtype": "float16"}, ValueError, "float64 or float32"),
        ({"rtol": 0}, ValueError, "rtol must be > 0"),
        ({"step": -1e-6}, ValueError, "step must be > 0"),
        ({"atol": -1.0}, ValueError, "atol must be >= 0"),
        ({"step": 1e-300}, ValueError, "pass a larger step"),
    ],
)
def test_bad_options_are_refused(rng, options, error, match):
    with pytest.raises(error, match=match):
        gradcheck.check_layer(layers.Dense(2), rng.normal(size=(2, 3)) + 3.0, **options)


def test_grad_out_of_the_wrong_shape_is_refused(rng):
    with pytest.raises(ValueError, match=r"grad_out has shape \(3, 3\).*outputs \(2, 2\)"):
        gradcheck.check_layer(layers.Dense(2), rng.normal(size=(2, 3)), grad_out=np.ones((3, 3)))


def test_absolute_tolerance_is_honoured(rng):
    """An element passes when |a - n| <= atol or the relative error <= rtol (and not otherwise)."""

    class Doubled(layers.Dense):
        def backward(self, grad_out):
            grad_in = super().backward(grad_out)
            self.grads["kernel"] *= 2
            return grad_in

    x = rng.normal(size=(3, 2)) * 1e-3  # kernel gradients about 1e-3: the doubling errs by about 1e-3
    assert gradcheck.check_layer(Doubled(2), x, atol=0.1).passed
    assert not gradcheck.check_layer(Doubled(2), x, atol=1e-5).passed


# ------------------------------------------------------------------------------------------------ coverage


def test_large_tensors_are_sampled_and_screened(rng):
    report = gradcheck.check_layer(layers.Dense(3), rng.normal(size=(4, 5)), full_limit=10, samples=6)
    kernel = report.rows[1]
    assert kernel.checked == 6
    assert kernel.coverage == "6 random elements + 2 random directions"
    assert report.rows[2].coverage == "all"  # 3 elements <= full_limit
    assert report.passed


@pytest.mark.parametrize("kind", ["padding", "repeated", "single"])
def test_embedding_sample_always_holds_each_row_kind(kind):
    """A bug confined to one kind of row is caught by the element sample alone (directions off)."""
    ids = np.zeros((4, 12), dtype=np.int64)
    ids[:, :8] = np.arange(100, 132).reshape(4, 8)  # 32 single-use ids
    ids[:, 8:10] = 7  # one id repeated within and across rows; the rest is padding
    rows = {"padding": [0], "repeated": [7], "single": list(range(100, 132))}[kind]

    class WrongOnOneKind(layers.Embedding):
        def backward(self, grad_out):
            super().backward(grad_out)
            self.grads["embeddings"][rows] *= 3

    report = gradcheck.check_layer(WrongOnOneKind(5000, 4), ids, directions=0)
    (row,) = report.rows
    assert not row.passed, str(report)
    assert int(row.worst.strip("()").split(",")[0]) in rows


# --------------------------------------------------------------------------------------------------- kinks


def test_relu_at_exactly_zero_is_a_kink_not_a_failure(rng):
    x = rng.normal(size=(3, 4))
    x[0, 1] = x[2, 3] = 0.0
    report = gradcheck.check_layer(layers.ReLU(), x)
    assert report.passed
    assert report.rows[0].kinks == ("(0, 1)", "(2, 3)")
    assert "2 element(s) at a kink (not judged): (0, 1), (2, 3)" in str(report)


def test_a_near_kink_is_resolved_by_a_smaller_step(rng):
    x = np.array(
        [[3e-6, -2e-6, 0.5]]
    )  # within the default step (6.1e-6) of the kink, not within a tenth of it
    assert gradcheck.check_layer(layers.ReLU(), x).rows[0].kinks == ()
    assert gradcheck.check_layer(layers.ReLU(), x, kink_retries=0).rows[0].kinks == ("(0, 0)", "(0, 1)")


def test_relu_kink_inside_a_model(rng):
    """A hidden unit whose pre-activation is exactly 0 for one review: its parameters sit on a kink."""
    model = small_model(dtype="float64")
    x, y = rng.integers(1, 30, size=(5, 6)), rng.integers(0, 2, size=5)
    pooled = model.layer_outputs(x)[1]
    hidden = model.layers[2]
    hidden.params["bias"][3] = -(pooled @ hidden.params["kernel"])[0, 3]  # z[0, 3] = a + (-a) = 0 exactly
    assert model.layer_outputs(x)[2][0, 3] == 0.0

    report = gradcheck.check_model(model, x, y)
    rows = {r.name: r for r in report.rows}
    assert report.passed, str(report)
    assert "(3,)" in rows["dense/bias"].kinks
    assert "(0, 3)" in rows["dense/kernel"].kinks
    assert all(k.endswith(" 3)") for k in rows["dense/kernel"].kinks)


def test_bce_clip_boundaries_are_kinks(rng):
    eps = losses.EPSILON
    y = np.array([[1.0], [0.0], [1.0], [0.0], [1.0]])
    p = np.array([[eps], [1 - eps], [1e-9], [0.3], [0.8]])
    report = gradcheck.check_loss(losses.BinaryCrossentropy(), y, p)
    assert report.passed
    assert report.rows[0].kinks == ("(0, 0)", "(1, 0)")  # on the boundary; 1e-9 is deep in the flat part


# ------------------------------------------------- new layers and losses: the protocol only, no checker edit


class LeakyReLU(layers.Layer):
    """Defined only here: y = x for x > 0, alpha x otherwise; its kink at 0 is known through kink_pattern."""

    def __init__(self, alpha=0.2):
        super().__init__()
        self.alpha = alpha

    def forward(self, x, mask=None, training=False):
        self._positive = x > 0
        return np.where(self._positive, x, self.alpha * x)

    def backward(self, grad_out):
        return grad_out * np.where(self._positive, 1.0, self.alpha)

    def kink_pattern(self):
        return self._positive.ravel()


class LeakyReLUWithoutHook(LeakyReLU):
    def kink_pattern(self):
        return layers.Layer.kink_pattern(self)


def test_a_new_kinked_layer_gets_its_kinks_reported_through_its_hook(rng):
    x = rng.normal(size=(3, 4))
    x[1, 2] = x[2, 0] = 0.0
    report = gradcheck.check_layer(LeakyReLU(), x)
    assert report.passed, str(report)
    assert report.rows[0].kinks == ("(1, 2)", "(2, 0)")
    # Without the hook the checker cannot know: the quotient across the kink, (1 + alpha) / 2, is judged.
    blind = gradcheck.check_layer(LeakyReLUWithoutHook(), x).rows[0]
    assert not blind.passed and blind.kinks == () and blind.worst in ("(1, 2)", "(2, 0)")


class ClippedSquaredError(losses.Loss):
    """Defined only here: mean((clip(z, 0, 1) - y)^2), flat outside [0, 1]; kinks at both clip edges."""

    def __call__(self, y_true, y_pred):
        return float(np.mean((np.clip(y_pred, 0, 1) - y_true) ** 2))

    def gradient(self, y_true, y_pred):
        inside = (y_pred > 0) & (y_pred < 1)
        return 2 * (np.clip(y_pred, 0, 1) - y_true) * inside / y_pred.size

    def kink_pattern(self, y_pred):
        return np.concatenate([(y_pred <= 0).ravel(), (y_pred >= 1).ravel()])


def test_a_new_loss_gets_its_kinks_reported_through_its_hook():
    y = np.array([[1.0], [0.0], [1.0], [0.0], [1.0]])
    z = np.array([[0.3], [0.0], [1.0], [1.7], [-0.4]])  # rows 1 and 2 sit exactly on a clip edge
    report = gradcheck.check_loss(ClippedSquaredError(), y, z)
    assert report.passed, str(report)
    assert report.rows[0].kinks == ("(1, 0)", "(2, 0)")


class Wrapper(layers.Layer):
    """Defined only here: runs a Dense it holds, which it names through sublayers()."""

    def __init__(self, units):
        super().__init__()
        self.inner = layers.Dense(units, activation="relu")

    def build(self, input_shape, rng=None, dtype=None):
        super().build(input_shape, rng, dtype)
        self.inner.build(input_shape, rng, self.dtype)

    def forward(self, x, mask=None, training=False):
        return self.inner.forward(x, mask, training)

    def backward(self, grad_out):
        return self.inner.backward(grad_out)

    def sublayers(self):
        return [self.inner, *self.inner.sublayers()]


class WrapperWithWrongInnerBias(Wrapper):
    def backward(self, grad_out):
        grad_in = super().backward(grad_out)
        self.inner.grads["bias"] *= 3
        return grad_in


def test_a_layers_sublayer_parameters_are_checked_cast_and_their_kinks_seen(rng):
    x = rng.normal(size=(5, 3)).astype(np.float32)
    report = gradcheck.check_layer(Wrapper(4), x)
    assert report.passed, str(report)
    assert [r.name for r in report.rows] == ["input", "wrapper/dense/kernel", "wrapper/dense/bias"]
    assert report.max_rel_error < 1e-6  # float64 copies: float32 parameters could not reach this
    failing = [r.name for r in gradcheck.check_layer(WrapperWithWrongInnerBias(4), x).failures]
    assert failing == ["wrapper_with_wrong_inner_bias/dense/bias"]


# ------------------------------------------------------------------------------------------------------ CLI

SMALL = ["--vocab", "500", "--batch-size", "6", "--seq-len", "24"]


@pytest.mark.slow
def test_cli_passes_on_the_seed_model(capsys):
    assert main(["gradcheck", *SMALL, "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "gradcheck passed: 57 checks" in out
    assert "model 'functional' (a graph: two inputs, a shared Embedding and Dense, a fork" in out
    assert "model 'sequential' (transformer, small, mask_zero)" in out
    assert "layer 'multi_head_attention' (MultiHeadAttention) with a mask, value_dim != key_dim" in out
    assert "model 'sequential' fastText with bigram ids" in out
    assert "layer 'scaled_embedding' (ScaledEmbedding)" in out and "NBSVM with bigrams" in out
    assert "model 'sequential' imdb_cnn (small sizes, dropout 0)" in out
    assert "layer 'conv1d_causal_dilated' (Conv1D)" in out and "layer 'max_pooling1d' (MaxPooling1D)" in out
    assert "layer 'lstm' (LSTM) with a mask, return_sequences, go_backwards" in out
    assert "layer 'bidirectional' (Bidirectional) merge_mode=mul" in out
    assert "model 'sequential' (bilstm, small, masked)" in out
    assert "model 'sequential' with Embedding(mask_zero=True)" in out
    assert "layer 'global_average_pooling1d' (GlobalAveragePooling1D) with the padding mask" in out
    assert "loss BinaryCrossentropy(from_logits=True)" in out


@pytest.mark.slow
def test_cli_builds_the_model_in_the_requested_dtype(capsys, monkeypatch):
    built = []
    original = npnet.Sequential.build

    def spy(self, input_shape=(None, None)):
        original(self, input_shape)
        built.append(self.dtype)

    monkeypatch.setattr(npnet.Sequential, "build", spy)
    assert main(["gradcheck", *SMALL, "--dtype", "float64"]) == 0
    assert built and all(d == np.float64 for d in built)


@pytest.mark.slow
def test_cli_fails_when_a_gradient_is_wrong(capsys, monkeypatch):
    right = layers.Dense.backward

    def doubled(self, grad_out):
        grad_in = right(self, grad_out)
        self.grads["bias"] *= 2
        return grad_in

    monkeypatch.setattr(layers.Dense, "backward", doubled)
    assert main(["gradcheck", *SMALL]) == 1
    out = capsys.readouterr().out
    assert "gradcheck FAILED" in out
    assert "FAIL dense/bias" in out and "analytic = 2 x numeric" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch-size", "0"], "must be an integer from 1 to 4096"),
        (["--vocab", "5"], "must be an integer from 8 to"),
        (["--seq-len", "1"], "--seq-len: must be an integer from 3 to 10000"),  # was a Conv1D traceback
        (["--seed=-1"], "--seed: must be an integer from 0 to 4294967295"),  # was numpy's bare ValueError
    ],
)
def test_cli_refuses_bad_sizes(capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["gradcheck", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_the_fasttext_check_runs_on_ngram_ids_past_the_words():
    from npnet.cli.gradcheck import imdb_like_batch, with_bigrams

    x, y = imdb_like_batch(np.random.default_rng(0), 8, 30, 200)
    model, x_ngrams = with_bigrams(x, 200, seed=0, dtype="float64")
    assert x_ngrams.max() > 200 and model.layers[0].input_dim > 200  # n-gram ids, and rows for them
    report = gradcheck.check_model(model, x_ngrams, y)
    assert report.passed
