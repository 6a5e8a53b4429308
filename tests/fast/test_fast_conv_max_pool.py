"""FusedConvMaxPool against its readable pair, Conv1D(activation="relu") -> GlobalMaxPooling1D.

The readable layers are the reference: the same forward output, kernel/bias gradients and input gradient,
in float64 to 1e-12 relative and in float32 to float32 rounding, on data with exact ties (repeated
windows, as the zero padding of real reviews makes them). A fit through the fused path (the default for
imdb_cnn) agrees with a readable fit.
"""

import numpy as np
import pytest

from npnet import gradcheck, layers, models, optimizers
from npnet.fast import fusions
from npnet.fast.conv_max_pool import FusedConvMaxPool
from npnet.fast.plan import uses_fused_path

CONFIGS = [  # padding, kernel_size, strides, dilation_rate
    ("valid", 3, 1, 1),
    ("same", 3, 2, 1),
    ("causal", 2, 1, 3),
    ("valid", 1, 1, 1),
    ("same", 4, 1, 2),
]


def pair(config, dtype, use_bias=True, keepdims=False, seed=0, filters=6, channels=4, steps=17):
    padding, size, strides, dilation = config
    conv = layers.Conv1D(
        filters, size, strides=strides, padding=padding, dilation_rate=dilation, activation="relu",
        use_bias=use_bias,
    )  # fmt: skip
    conv.build((None, steps, channels), rng=np.random.default_rng(seed), dtype=dtype)
    if use_bias:  # a bias of both signs, so some filters' maxima are negative (relu off) and some positive
        conv.params["bias"][...] = np.random.default_rng(seed + 1).normal(scale=0.3, size=filters)
    return conv, layers.GlobalMaxPooling1D(keepdims=keepdims)


def tied_input(dtype, batch=5, steps=17, channels=4, seed=0):
    """Random steps whose first 6 are the same, larger vector (padding-like): identical windows that
    win the max of many filters, exact ties."""
    x = np.random.default_rng(seed).normal(size=(batch, steps, channels))
    x[:, :6] = 3 * x[:, :1]
    x[1] = 0.0  # an all-zero review: every window ties (at the bias)
    return x.astype(dtype)


def readable(conv, pool, x, g):
    out = pool.forward(conv.forward(x, training=True), training=True)
    dx = conv.backward(pool.backward(g))
    return out, dx, {key: conv.grads[key].copy() for key in conv.grads}


def fused(conv, pool, x, g, twin=FusedConvMaxPool):
    layer = twin(conv, pool)
    out = layer.forward(x, training=True)
    dx = layer.backward(g)
    return out, dx, {key: conv.grads[key].copy() for key in conv.grads}


def assert_close(actual, expected, rtol):
    scale = float(np.max(np.abs(expected))) or 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def active_ties(conv, x):
    """How many (sample, filter) pairs with a positive max have more than one maximal step."""
    z = conv.preactivation(x)
    top = z.max(axis=1)
    return int(np.count_nonzero(((z == top[:, None]).sum(axis=1) > 1) & (top > 0)))


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("keepdims", [False, True])
def test_fused_equals_readable_in_float64_with_ties(config, use_bias, keepdims):
    conv, pool = pair(config, "float64", use_bias, keepdims)
    x = tied_input("float64")
    assert active_ties(conv, x) > 0  # the data exercises the split
    g = np.random.default_rng(5).normal(size=(5, 1, 6) if keepdims else (5, 6))
    want = readable(conv, pool, x, g)
    got = fused(conv, pool, x, g)
    assert got[0].shape == want[0].shape and got[1].shape == x.shape
    np.testing.assert_array_equal(got[0], want[0])  # the same z (Conv1D.preactivation), the same max
    assert_close(got[1], want[1], 1e-12)
    assert got[2].keys() == want[2].keys()
    for key in want[2]:
        assert_close(got[2][key], want[2][key], 1e-12)


@pytest.mark.parametrize("config", CONFIGS[:3])
def test_fused_equals_readable_in_float32(config):
    """float32 sums in another order: within float32 rounding of the readable result."""
    conv, pool = pair(config, "float32")
    x = tied_input("float32")
    g = np.random.default_rng(5).normal(size=(5, 6)).astype("float32")
    want, got = readable(conv, pool, x, g), fused(conv, pool, x, g)
    assert got[1].dtype == np.float32 and got[2]["kernel"].dtype == np.float32
    np.testing.assert_array_equal(got[0], want[0])
    assert_close(got[1], want[1], 1e-5)
    for key in want[2]:
        assert_close(got[2][key], want[2][key], 1e-5)


class TiesToTheFirstWinner(FusedConvMaxPool):
    """A wrong twin: each (sample, filter) sends its whole gradient to its first maximum only."""

    def backward(self, grad_out):
        z = self._z
        first = z.argmax(axis=1)  # (B, F)
        self._z = np.full_like(z, -np.inf)
        np.put_along_axis(self._z, first[:, None], np.take_along_axis(z, first[:, None], axis=1), axis=1)
        try:
            return super().backward(grad_out)
        finally:
            self._z = z


def test_routing_ties_to_one_winner_fails_the_comparison():
    """The mutation the equality test must catch: with ties present, one-winner routing differs."""
    conv, pool = pair(CONFIGS[0], "float64")
    x = tied_input("float64")
    g = np.random.default_rng(5).normal(size=(5, 6))
    want = readable(conv, pool, x, g)
    wrong = fused(conv, pool, x, g, twin=TiesToTheFirstWinner)
    np.testing.assert_array_equal(wrong[0], want[0])  # the forward is still right
    with pytest.raises(AssertionError):
        assert_close(wrong[1], want[1], 1e-12)
    # (The kernel gradient cannot tell: tied windows are identical rows of cols, so any split of the
    # gradient among them sums to the same dkernel. The input gradient lands on different steps.)


def test_without_ties_one_winner_routing_is_right_so_the_ties_matter():
    """Control for the mutation: on tie-free data the same wrong twin agrees with the readable pair."""
    conv, pool = pair(CONFIGS[0], "float64")
    x = np.random.default_rng(9).normal(size=(5, 17, 4))
    assert active_ties(conv, x) == 0
    g = np.random.default_rng(5).normal(size=(5, 6))
    want = readable(conv, pool, x, g)
    wrong = fused(conv, pool, x, g, twin=TiesToTheFirstWinner)
    assert_close(wrong[1], want[1], 1e-12)


@pytest.mark.parametrize("config", CONFIGS[:3])
def test_fused_layer_passes_the_gradient_checker(config):
    conv, pool = pair(config, "float64")
    report = gradcheck.check_layer(
        FusedConvMaxPool(conv, pool), np.random.default_rng(2).normal(size=(3, 12, 4))
    )
    assert report.passed, str(report)
    assert {row.name.split("/")[-1] for row in report.rows} >= {"kernel", "bias"}


def test_gradient_checker_reports_the_twins_ties_as_kinks():
    """At an exact tie the max has no derivative (finite differences pick one winner), so the checker
    must report the tied inputs as kinks, not judge them, as for the readable GlobalMaxPooling1D."""
    conv, pool = pair(CONFIGS[0], "float64")
    x = tied_input("float64", batch=3)
    assert active_ties(conv, x) > 0
    report = gradcheck.check_layer(FusedConvMaxPool(conv, pool), x)
    assert report.passed, str(report)
    assert any(row.kinks for row in report.rows)


def test_the_twin_shares_the_convs_arrays():
    conv, pool = pair(CONFIGS[0], "float32")
    twin = FusedConvMaxPool(conv, pool)
    assert twin.params is conv.params and twin.grads is conv.grads
    assert twin.compute_output_shape((None, 17, 4)) == (None, 6)


class ReLUSubclass(layers.ReLU):
    pass


@pytest.mark.parametrize(
    "conv, pool",
    [
        (layers.Conv1D(4, 3), layers.GlobalMaxPooling1D()),  # no activation
        (layers.Conv1D(4, 3, activation="tanh"), layers.GlobalMaxPooling1D()),
        (layers.Conv1D(4, 3, activation=ReLUSubclass()), layers.GlobalMaxPooling1D()),
        (type("MyConv", (layers.Conv1D,), {})(4, 3, activation="relu"), layers.GlobalMaxPooling1D()),
        (layers.Conv1D(4, 3, activation="relu"), type("MyPool", (layers.GlobalMaxPooling1D,), {})()),
        (layers.Conv1D(4, 3, activation="relu"), layers.GlobalAveragePooling1D()),
    ],
)
def test_only_the_exact_pair_with_relu_is_fused(conv, pool):
    stack = [layers.Embedding(20, 4), conv, pool, layers.Dense(1)]
    assert not fusions.has_pair_twin(stack)
    with pytest.raises(ValueError, match="FusedConvMaxPool fuses"):
        FusedConvMaxPool(conv, pool)


def small_cnn(fused, dropout, dtype):
    model = models.imdb_cnn(40, 6, 8, 3, 10, dropout, seed=1, dtype=dtype)
    model.fused = fused
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01), metrics=["accuracy"])
    return model


def cnn_data(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 40, size=(n, 24))
    x[:, :8] = 0  # padding "pre": repeated windows, exact ties in the conv's maxima
    x[:3, :] = 0  # all-padding reviews: every window ties
    return x, (x % 3 == 0).sum(axis=1) > 5


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_imdb_cnn_fit_through_the_twin_equals_the_readable_fit(dropout):
    x, y = cnn_data(96)
    xv, yv = cnn_data(40, seed=1)
    runs = {}
    for fused_option in (None, False):
        model = small_cnn(fused_option, dropout, "float64")
        history = model.fit(x, y, epochs=2, batch_size=16, validation_data=(xv, yv), verbose=0)
        runs[fused_option] = (model, history.history)
    (fused_model, h_fused), (readable_model, h_readable) = runs[None], runs[False]
    assert uses_fused_path(fused_model) and not uses_fused_path(readable_model)
    for key in h_readable:
        np.testing.assert_allclose(h_fused[key], h_readable[key], rtol=1e-11)
    for a, b in zip(fused_model.get_weights(), readable_model.get_weights(), strict=True):
        assert_close(a, b, 1e-11)
    assert_close(fused_model.predict(xv, batch_size=7), readable_model.predict(xv, batch_size=7), 1e-12)


def test_a_fused_fit_never_runs_the_readable_pair(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the readable Conv1D/GlobalMaxPooling1D pass ran inside a fused fit")

    x, y = cnn_data(48)
    model = small_cnn(None, 0.2, "float32")
    model.build(x.shape)
    before = model.get_weights()
    for cls, method in ((layers.GlobalMaxPooling1D, "forward"), (layers.GlobalMaxPooling1D, "backward"),
                        (layers.Conv1D, "forward"), (layers.Conv1D, "backward")):  # fmt: skip
        monkeypatch.setattr(cls, method, refuse)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    model.evaluate(x, y)
    assert all(np.any(a != b) for a, b in zip(model.get_weights(), before, strict=True))
    with pytest.raises(AssertionError, match="readable"):
        small_cnn(False, 0.2, "float32").fit(x, y, epochs=1, verbose=0)


def test_fused_true_accepts_a_conv_pair_and_refuses_a_model_without_one():
    x, y = cnn_data(32)
    model = small_cnn(True, 0.0, "float32")
    assert uses_fused_path(model)
    model.fit(x, y, epochs=1, verbose=0)
    plain = models.imdb_cnn(40, 6, 8, 3, 10, 0.0, seed=1)
    plain.layers[2] = layers.Conv1D(8, 3, activation="tanh")
    plain.fused = True
    with pytest.raises(ValueError, match="Conv1D\\(activation='relu'\\) -> GlobalMaxPooling1D"):
        uses_fused_path(plain)
    plain.fused = None
    assert not uses_fused_path(plain)
