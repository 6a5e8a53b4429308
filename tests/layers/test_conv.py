"""Conv1D and the 1-D pooling layers: Keras's shapes, padding rules and initializer, forward against a direct
sum, the readable and the fast input gradient equal, gradients checked in float64 for every option, ties
routed and reported as Keras does, masks dropped as Keras does."""

from __future__ import annotations

import math

import numpy as np
import pytest

import npnet
from npnet import gradcheck, layers
from npnet.fast.conv import SplitConv1D, input_grad_col2im
from npnet.fast.twin import twin
from npnet.layers.convolutional import input_grad_full_correlation

CONV_OPTIONS = [
    (padding, kernel_size, strides, dilation)
    for padding in ("valid", "same", "causal")
    for kernel_size, strides, dilation in ((1, 1, 1), (3, 1, 1), (3, 2, 1), (4, 3, 1), (2, 1, 3), (3, 1, 2))
]


def direct_conv(
    x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, stride: int, dilation: int, padding: str
):
    """The correlation written out as sums over positions, the slow definition the layer must match."""
    size, _, filters = kernel.shape
    span = (size - 1) * dilation + 1
    steps = x.shape[1]
    if padding == "causal":
        before, after = span - 1, 0
    elif padding == "same":
        out = math.ceil(steps / stride)
        total = max((out - 1) * stride + span - steps, 0)
        before, after = total // 2, total - total // 2
    else:
        before = after = 0
    xp = np.pad(x, ((0, 0), (before, after), (0, 0)))
    count = (xp.shape[1] - span) // stride + 1
    y = np.zeros((x.shape[0], count, filters))
    for t in range(count):
        for j in range(size):
            y[:, t] += xp[:, t * stride + j * dilation] @ kernel[j]
    return y + bias


@pytest.mark.parametrize(("padding", "kernel_size", "strides", "dilation"), CONV_OPTIONS)
def test_conv_forward_is_the_windowed_sum(padding, kernel_size, strides, dilation):
    rng = np.random.default_rng(1)
    conv = layers.Conv1D(5, kernel_size, strides=strides, padding=padding, dilation_rate=dilation)
    x = rng.normal(size=(3, 11, 4))
    conv.build(x.shape, dtype="float64")
    conv.params["bias"][...] = rng.normal(size=5)
    y = conv.forward(x)
    p = conv.params
    np.testing.assert_allclose(
        y, direct_conv(x, p["kernel"], p["bias"], strides, dilation, padding), atol=1e-12
    )
    assert conv.compute_output_shape((None, 11, 4)) == (None, y.shape[1], 5)


@pytest.mark.parametrize(("padding", "kernel_size", "strides", "dilation"), CONV_OPTIONS)
def test_conv_gradients_in_float64(padding, kernel_size, strides, dilation):
    rng = np.random.default_rng(2)
    conv = layers.Conv1D(3, kernel_size, strides=strides, padding=padding, dilation_rate=dilation)
    report = gradcheck.check_layer(conv, rng.normal(size=(2, 10, 4)))
    assert report.passed, str(report)
    assert {row.name for row in report.rows} == {"input", "conv1d/kernel", "conv1d/bias"}


def test_conv_relu_kinks_are_reported_not_judged():
    x = np.zeros((1, 6, 2))  # every pre-activation is exactly the bias, 0: on the relu's kink
    report = gradcheck.check_layer(layers.Conv1D(2, 3, activation="relu", use_bias=False), x)
    assert report.passed, str(report)
    assert any(row.kinks for row in report.rows)


def test_conv_without_bias_and_with_tanh():
    conv = layers.Conv1D(3, 2, use_bias=False, activation="tanh")
    report = gradcheck.check_layer(conv, np.random.default_rng(0).normal(size=(2, 7, 3)))
    assert report.passed, str(report)
    assert [row.name for row in report.rows] == ["input", "conv1d/kernel"]
    assert conv.sublayers() == [conv.activation] and isinstance(conv.activation, layers.Tanh)


@pytest.mark.parametrize(("kernel_size", "strides", "dilation"), [(1, 1, 1), (3, 1, 1), (4, 3, 1), (3, 1, 2)])
def test_readable_and_fast_input_gradients_agree(kernel_size, strides, dilation):
    rng = np.random.default_rng(3)
    g = rng.normal(size=(2, 6, 5))
    kernel = rng.normal(size=(kernel_size, 4, 5))
    padded = (6 - 1) * strides + (kernel_size - 1) * dilation + 1 + 2  # two steps no window reaches
    fast = input_grad_col2im(g, kernel, padded, strides, dilation)
    readable = input_grad_full_correlation(g, kernel, padded, strides, dilation)
    np.testing.assert_allclose(fast, readable, rtol=1e-12, atol=1e-12)
    assert np.all(fast[:, -2:] == 0)


def test_conv_kernel_is_glorot_with_keras_conv_fans():
    conv = layers.Conv1D(250, 3)
    conv.build((None, None, 50), rng=np.random.default_rng(0))
    kernel = conv.params["kernel"]
    assert kernel.shape == (3, 50, 250) and conv.params["bias"].shape == (250,)
    limit = math.sqrt(6 / (3 * 50 + 3 * 250))  # fans multiplied by the kernel size, as Keras's compute_fans
    assert np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.99 * limit
    assert np.all(conv.params["bias"] == 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"filters": 0, "kernel_size": 3}, "filters must be a positive integer"),
        ({"filters": 2, "kernel_size": 3, "padding": "full"}, "padding must be one of valid, same, causal"),
        ({"filters": 2, "kernel_size": 3, "strides": 2, "dilation_rate": 2}, "not both"),
        ({"filters": 2, "kernel_size": True}, "kernel_size must be a positive integer"),
    ],
)
def test_bad_conv_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        layers.Conv1D(**kwargs)


def test_conv_on_too_short_or_misshaped_input_says_so():
    conv = layers.Conv1D(2, 5)
    conv.build((None, None, 3))
    with pytest.raises(ValueError, match="fewer than one window of 5"):
        conv.forward(np.zeros((1, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, steps, 3\)"):
        conv.forward(np.zeros((1, 8, 2), np.float32))


def test_keras_one_tuple_sizes_are_accepted():
    conv = layers.Conv1D(2, (3,), strides=(2,), dilation_rate=(1,))
    assert (conv.kernel_size, conv.strides, conv.dilation_rate) == (3, 2, 1)


# ---- pooling ---------------------------------------------------------------------------------------------

X_TIES = np.array([1.0, 3.0, 3.0, 2.0, 3.0, 0.0]).reshape(1, 6, 1)


def input_grad(layer: layers.Layer, x: np.ndarray) -> np.ndarray:
    y = layer.forward(x)
    return layer.backward(np.ones_like(y))


def test_max_pooling_sends_a_tie_to_the_first_maximum_of_each_window():
    # The same vectors Keras 3.15.1 gives on JAX and on torch (tests/parity/test_parity_conv.py).
    np.testing.assert_array_equal(input_grad(layers.MaxPooling1D(2), X_TIES).ravel(), [0, 1, 1, 0, 1, 0])
    # Overlapping windows (3, stride 1): position 1 wins two windows and collects both gradients.
    np.testing.assert_array_equal(input_grad(layers.MaxPooling1D(3, 1), X_TIES).ravel(), [0, 2, 1, 0, 1, 0])


def test_global_max_pooling_splits_a_tie_equally():
    np.testing.assert_allclose(
        input_grad(layers.GlobalMaxPooling1D(), X_TIES).ravel(), [0, 1 / 3, 1 / 3, 0, 1 / 3, 0]
    )


def test_average_pooling_same_divides_edge_windows_by_their_real_steps():
    pool = layers.AveragePooling1D(3, 2, padding="same")
    np.testing.assert_allclose(pool.forward(X_TIES).ravel(), [7 / 3, 8 / 3, 3 / 2])


@pytest.mark.parametrize(
    "layer",
    [
        layers.MaxPooling1D(),
        layers.MaxPooling1D(3, 1),
        layers.MaxPooling1D(3, 2, padding="same"),
        layers.MaxPooling1D(2, 3),
        layers.AveragePooling1D(),
        layers.AveragePooling1D(3, 1),
        layers.AveragePooling1D(3, 2, padding="same"),
        layers.GlobalMaxPooling1D(),
        layers.GlobalMaxPooling1D(keepdims=True),
        layers.Flatten(),
        layers.Activation("tanh"),
        layers.Activation("sigmoid"),
        layers.Activation("linear"),
    ],
    ids=lambda layer: (
        f"{type(layer).__name__}-{vars(layer).get('pool_size', '')}-{vars(layer).get('strides', '')}"
        f"-{vars(layer).get('padding', '')}"
    ),
)
def test_pooling_and_core_gradients_in_float64(layer):
    report = gradcheck.check_layer(layer, np.random.default_rng(4).normal(size=(3, 9, 4)))
    assert report.passed, str(report)


@pytest.mark.parametrize(
    "layer", [layers.MaxPooling1D(2), layers.MaxPooling1D(3, 1), layers.GlobalMaxPooling1D()]
)
def test_max_ties_are_reported_as_kinks(layer):
    tied = [3.0, 3.0, 1.0, 3.0, 2.0, 2.0]  # ties in windows of 2 and of 3, and three global maxima
    x = np.array([tied, [0.1, 0.5, 0.2, 0.9, 0.3, 0.4]]).T[None]  # channel 1: no two values equal
    report = gradcheck.check_layer(layer, x)
    assert report.passed, str(report)
    (row,) = report.rows
    assert row.kinks  # the tied elements: every step moves the argmax
    assert all(kink.endswith(", 0)") for kink in row.kinks)  # only channel 0 has ties


def test_max_pooling_kink_pattern_is_the_argmax():
    pool = layers.MaxPooling1D(2)
    pool.forward(np.array([[[1.0], [2.0], [5.0], [4.0]]]))
    np.testing.assert_array_equal(pool.kink_pattern(), [1, 0])


@pytest.mark.parametrize(
    "layer",
    [
        layers.Conv1D(2, 2),
        layers.MaxPooling1D(),
        layers.AveragePooling1D(),
        layers.GlobalMaxPooling1D(),
        layers.Flatten(),
    ],
)
def test_a_mask_reaching_a_layer_without_masking_is_dropped_with_kerass_warning(layer):
    x = np.random.default_rng(5).normal(size=(2, 6, 3))
    mask = np.ones((2, 6), bool)
    if not layer.built:
        layer.build(x.shape)
    with pytest.warns(UserWarning, match="does not support masking and will therefore destroy the mask"):
        out = layer.forward(x, mask=mask)
    assert layer.compute_mask(x, mask) is None
    np.testing.assert_array_equal(out, layer.forward(x))  # the mask changed nothing


@pytest.mark.parametrize("layer", [layers.Dropout(0.5), layers.Activation("relu")])
def test_dropout_and_activation_pass_the_mask_through(layer):
    mask = np.array([[True, False, True]])
    assert layer.compute_mask(np.zeros((1, 3, 2)), mask) is mask


def test_pooling_argument_errors():
    with pytest.raises(ValueError, match="pool_size must be a positive integer"):
        layers.MaxPooling1D(0)
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        layers.AveragePooling1D(2, padding="causal")
    with pytest.raises(ValueError, match="fewer than one window of 4"):
        layers.MaxPooling1D(4).forward(np.zeros((1, 3, 2)))
    with pytest.raises(ValueError, match="3-D input"):
        layers.GlobalMaxPooling1D().forward(np.zeros((2, 3)))


def test_activation_refuses_a_bare_function_and_unknown_names():
    with pytest.raises(ValueError, match="no backward pass here"):
        layers.Activation(np.tanh)
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        layers.Activation("swish")


def test_tanh_is_registered_under_kerass_name():
    x = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(layers.Activation("tanh").forward(x), np.tanh(x))
    assert isinstance(layers.Dense(2, activation="tanh").activation, layers.Tanh)


def test_flatten_shapes():
    flat = layers.Flatten()
    assert flat.compute_output_shape((None, 4, 5)) == (None, 20)
    assert flat.compute_output_shape((None, None, 5)) == (None, None)
    assert flat.forward(np.zeros((2, 4, 5))).shape == (2, 20)


def test_imdb_cnn_model_is_kerass_example():
    model = npnet.models.imdb_cnn()
    model.build((None, 400))
    assert model.count_params() == 350_751  # Keras's summary of examples/imdb_cnn.py
    assert [type(layer).__name__ for layer in model.layers] == [
        "Embedding", "Dropout", "Conv1D", "GlobalMaxPooling1D", "Dense", "Dropout", "Activation", "Dense",
        "Activation",
    ]  # fmt: skip
    assert [w.shape for w in model.get_weights()] == [
        (5000, 50),
        (3, 50, 250),
        (250,),
        (250, 250),
        (250,),
        (250, 1),
        (1,),
    ]


@pytest.mark.slow
def test_imdb_cnn_gradients_in_float64():
    """The whole small model, every parameter (dropout off: the check's repeated forwards must see one
    function, and a training-mode dropout draws new noise each time; tests/layers/test_dropout.py checks
    it)."""
    from npnet.cli.gradcheck import imdb_like_batch

    x, y = imdb_like_batch(np.random.default_rng(0), 4, 24, 50)
    model = npnet.models.imdb_cnn(
        num_words=50, embedding_dim=6, filters=5, kernel_size=3, hidden_units=7, dropout=0.0
    )
    model.compile(optimizer=npnet.optimizers.Adam(), loss="binary_crossentropy")
    report = gradcheck.check_model(model, x, y)
    assert report.passed, str(report)


@pytest.mark.parametrize(
    "pool_size, strides, padding",
    [(4, 4, "valid"), (4, 4, "same"), (3, 1, "valid"), (3, 2, "same"), (2, 3, "valid")],
)
def test_max_pooling_backward_is_the_one_hot_of_the_argmax(pool_size, strides, padding):
    """The winners found tap by tap in backward equal the readable rule: each window's gradient to tap
    argmax (the first maximum), the taps' gradients added at their steps (relu-like input: many ties)."""
    rng = np.random.default_rng(0)
    x = np.maximum(rng.integers(-2, 3, size=(3, 11, 4)), 0).astype("float64")
    pool = layers.MaxPooling1D(pool_size, strides, padding=padding)
    y = pool.forward(x)
    g = rng.normal(size=y.shape)
    view = pool._windows(x, -np.inf)
    winner = view.argmax(axis=2)
    np.testing.assert_array_equal(y, np.take_along_axis(view, winner[:, :, None], axis=2)[:, :, 0])
    before = pool._geometry[1]
    expected = np.zeros((3, pool._geometry[2], 4))
    b, t, d = np.indices(winner.shape)
    np.add.at(expected, (b, t * strides + winner, d), g)
    # Overlapping windows add in another order here: equal up to rounding.
    np.testing.assert_allclose(pool.backward(g), expected[:, before : before + 11], rtol=1e-14, atol=1e-15)
    np.testing.assert_array_equal(pool.kink_pattern(), winner.ravel())


@pytest.mark.parametrize(("dtype", "tolerance"), [("float64", 1e-12), ("float32", 2e-6)])
@pytest.mark.parametrize(("padding", "strides"), [("valid", 1), ("same", 2), ("causal", 1)])
def test_the_split_twin_equals_the_readable_layer(monkeypatch, dtype, tolerance, padding, strides):
    """`SplitConv1D` (what fit runs): above `SPLIT_MIN_MACS` the forward, dL/dkernel and dL/dx each run as
    two halves on the kept pair of threads, and dL/dx by col2im; each half is its own gemm, so it equals the
    readable layer (one thread, the full correlation) up to rounding."""
    from npnet import config
    from npnet.fast import conv as fast_conv

    x = np.random.default_rng(3).standard_normal((9, 120, 40)).astype(dtype)
    conv = layers.Conv1D(48, 5, strides=strides, padding=padding, activation="relu", dtype=dtype)
    conv.build((None, 120, 40), np.random.default_rng(0))
    g = None

    def run(layer):
        nonlocal g
        y = layer.forward(x, training=True)
        g = np.cos(np.arange(y.size, dtype=dtype)).reshape(y.shape) if g is None else g
        dx = layer.backward(g)
        return y.copy(), dx.copy(), conv.grads["kernel"].copy(), conv.grads["bias"].copy()

    readable = run(conv)
    for threads in (1, 2):
        monkeypatch.setattr(config, "_NUM_THREADS", threads)
        workers, calls = fast_conv.shared_workers(), []

        def spy(fn, n, split=workers.split, calls=calls, threads=workers.threads):
            calls.append((n, threads))
            split(fn, n)

        monkeypatch.setattr(workers, "split", spy)
        fast = run(twin(conv, SplitConv1D))
        monkeypatch.undo()
        # forward by window rows, dkernel by filters, dx by samples; on one thread SERIAL runs each as one
        # part
        rows = 9 * fast[0].shape[1]
        assert calls == [(rows, threads), (48, threads), (9, threads)]
        for got, want in zip(fast, readable, strict=True):  # rounding: relative to the array's scale
            np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance * np.abs(want).max())


def test_a_small_conv_is_not_split(monkeypatch):
    """Waking a thread costs more than a product under `SPLIT_MIN_MACS` multiply-adds."""
    from npnet.fast import conv as fast_conv

    monkeypatch.setattr(fast_conv, "shared_workers", lambda: pytest.fail("a small product was split"))
    conv = layers.Conv1D(4, 3)
    conv.build((None, 10, 5), np.random.default_rng(0))
    split = twin(conv, SplitConv1D)
    y = split.forward(np.ones((2, 10, 5)), training=True)
    split.backward(np.ones_like(y))
