"""SimpleRNN, LSTM, GRU and Bidirectional: gradients (float64 finite differences), masks, dropout, states.

Keras's own outputs are compared in tests/parity/test_parity_recurrent.py; here npnet alone is checked.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from npnet import gradcheck, initializers, layers, models

CELLS = [layers.SimpleRNN, layers.LSTM, layers.GRU]
_CELL_IDS = [cls.__name__ for cls in CELLS]


def _batch(seed: int = 0, batch: int = 4, steps: int = 6, features: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and a mask with pre-padding (row 0), post-padding (row 1), none (row 2) and a hole (row 3)."""
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, steps), bool)
    mask[0, :2] = False
    mask[1, 4:] = False
    mask[3, 2] = False
    return rng.normal(size=(batch, steps, features)), mask


layer_keys = ("kernel", "recurrent_kernel", "bias")
OPTIONS = [
    {},
    {"return_sequences": True},
    {"go_backwards": True},
    {"go_backwards": True, "return_sequences": True},
]


@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "last")
@pytest.mark.parametrize("cls", CELLS, ids=_CELL_IDS)
def test_gradients(cls, options, masked):
    x, mask = _batch()
    layer = cls(3, **options)
    report = gradcheck.check_layer(layer, x, mask=mask if masked else None)
    assert report.passed, str(report)
    assert [row.name for row in report.rows] == ["input"] + [f"{layer.name}/{k}" for k in layer_keys]


@pytest.mark.parametrize("zero_output", [False, True])
@pytest.mark.parametrize("cls", CELLS, ids=_CELL_IDS)
def test_gradients_of_states_with_return_state(cls, zero_output):
    """backward([dL/dy, *dL/dstates]) against finite differences of sum(y*g) + sum(state*g_s)."""
    x, mask = _batch(1)

    class Summed(cls):  # one array out, so check_layer can weigh output and states together
        def forward(self, x, mask=None, training=False):
            y, *states = super().forward(x, mask, training)
            return np.concatenate([y.reshape(len(x), -1), *states], axis=1)

        def backward(self, grad_out):
            n = self._steps * self.units
            g_y = grad_out[:, :n].reshape(len(grad_out), self._steps, self.units)
            states = np.split(grad_out[:, n:], self.STATES, axis=1)
            return super().backward([g_y, *states])

    layer = Summed(3, return_sequences=True, return_state=True, zero_output_for_mask=zero_output)
    layer._steps = x.shape[1]
    report = gradcheck.check_layer(layer, x, mask=mask)
    assert report.passed, str(report)


class _FixedNoise:
    """Training mode with the same dropout masks at every call (the generator is reset), so finite
    differences see one fixed function: checks backward through the dropout masks."""

    def forward(self, x, mask=None, training=False):
        self.noise_rng = np.random.default_rng(7)
        return super().forward(x, mask, training=True)


@pytest.mark.parametrize(
    "rates", [(0.3, 0.0), (0.0, 0.3), (0.3, 0.4)], ids=["dropout", "recurrent", "both (per-gate masks)"]
)
@pytest.mark.parametrize("cls", CELLS, ids=_CELL_IDS)
def test_gradients_through_dropout(cls, rates):
    noisy = type(f"Noisy{cls.__name__}", (_FixedNoise, cls), {})
    x, mask = _batch(2)
    layer = noisy(3, dropout=rates[0], recurrent_dropout=rates[1], return_sequences=True)
    report = gradcheck.check_layer(layer, x, mask=mask)
    assert report.passed, str(report)


@pytest.mark.slow
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
def test_bidirectional_gradients(merge_mode, return_sequences):
    x, mask = _batch(3)
    for m in (None, mask):
        layer = layers.Bidirectional(layers.LSTM(3, return_sequences=return_sequences), merge_mode=merge_mode)
        report = gradcheck.check_layer(layer, x, mask=m)
        assert report.passed, str(report)
        assert [row.name for row in report.rows][1:3] == [
            "bidirectional/forward_lstm/kernel",
            "bidirectional/forward_lstm/recurrent_kernel",
        ]


@pytest.mark.parametrize("cls", [layers.GRU, layers.SimpleRNN], ids=["GRU", "SimpleRNN"])
def test_bidirectional_of_other_cells(cls):
    x, mask = _batch(4)
    report = gradcheck.check_layer(layers.Bidirectional(cls(2, return_sequences=True)), x, mask=mask)
    assert report.passed, str(report)


def _small_ids(
    seed: int = 0, batch: int = 6, steps: int = 7, vocab: int = 30
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, size=(batch, steps))
    ids[0, :3] = 0  # pre-padding
    ids[1, 5:] = 0  # post-padding
    return ids, rng.integers(0, 2, size=batch)


@pytest.mark.parametrize("mask_zero", [False, True])
@pytest.mark.parametrize(
    "build",
    [
        lambda mz: models.imdb_lstm(30, 5, 4, dropout=0, recurrent_dropout=0, mask_zero=mz),
        lambda mz: models.imdb_bidirectional_lstm(30, 5, 3, dropout_rate=0, mask_zero=mz),
    ],
    ids=["lstm", "bilstm"],
)
@pytest.mark.slow
def test_whole_models(build, mask_zero):
    model = build(mask_zero)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    ids, y = _small_ids()
    report = gradcheck.check_model(model, ids, y)
    assert report.passed, str(report)


@pytest.mark.slow
def test_the_cnn_lstm_model():
    """Keras's imdb_cnn_lstm at small sizes (dropout 0): Embedding -> Conv1D(relu) -> MaxPooling1D -> LSTM."""
    model = models.imdb_cnn_lstm(30, 5, dropout_rate=0, filters=4, kernel_size=3, pool_size=2, units=3)
    assert [type(layer).__name__ for layer in model.layers] == [
        "Embedding", "Dropout", "Conv1D", "MaxPooling1D", "LSTM", "Dense",
    ]  # fmt: skip
    model.compile(optimizer="adam", loss="binary_crossentropy")
    ids, y = _small_ids(steps=9)
    report = gradcheck.check_model(model, ids, y)
    assert report.passed, str(report)


# ---- masks: masked steps carry state and output ---------------------------------------------------------


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("cls", CELLS, ids=_CELL_IDS)
def test_padding_under_a_mask_changes_nothing(cls, go_backwards):
    """A padded sequence under its mask gives the unpadded sequence's last output and states, pre or post."""
    rng = np.random.default_rng(5)
    core = rng.normal(size=(2, 4, 3))
    layer = cls(3, return_state=True, go_backwards=go_backwards)
    layer.build(core.shape, dtype="float64")
    expected = layer.forward(core)
    pad = rng.normal(size=(2, 3, 3))  # junk at padded positions: the mask must hide it completely
    for padded, keep in (
        (np.concatenate([pad, core], axis=1), np.r_[[False] * 3, [True] * 4]),
        (np.concatenate([core, pad], axis=1), np.r_[[True] * 4, [False] * 3]),
    ):
        got = layer.forward(padded, mask=np.tile(keep, (2, 1)))
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cls", CELLS, ids=_CELL_IDS)
def test_masked_steps_repeat_the_previous_output(cls):
    x, mask = _batch(6)
    layer = cls(3, return_sequences=True)
    layer.build(x.shape, dtype="float64")
    y = layer.forward(x, mask=mask)
    assert np.array_equal(y[0, :2], np.zeros((2, 3)))  # before the first real step: the initial zeros
    assert np.array_equal(y[1, 4:], np.broadcast_to(y[1, 3], (2, 3)))  # after the last: the last output
    assert np.array_equal(y[3, 2], y[3, 1])
    zeroed = cls(3, return_sequences=True, zero_output_for_mask=True)
    zeroed.build(x.shape, dtype="float64")
    zeroed.params.update({k: v.copy() for k, v in layer.params.items()})
    z = zeroed.forward(x, mask=mask)
    assert np.array_equal(z[~mask], np.zeros(((~mask).sum(), 3)))
    np.testing.assert_array_equal(z[mask], y[mask])


def test_without_a_mask_padding_is_an_ordinary_step():
    x, mask = _batch(7)
    layer = layers.LSTM(3)
    layer.build(x.shape, dtype="float64")
    assert not np.allclose(layer.forward(x), layer.forward(x, mask=mask))


def test_compute_mask_follows_keras():
    x, mask = _batch()
    assert layers.LSTM(2).compute_mask(x, mask) is None
    assert layers.LSTM(2, return_sequences=True).compute_mask(x, mask) is mask
    assert layers.GRU(2, return_state=True).compute_mask(x, mask) == [None, None]
    assert layers.LSTM(2, return_sequences=True, return_state=True).compute_mask(x, mask)[1:] == [None, None]
    assert layers.Bidirectional(layers.LSTM(2, return_sequences=True)).compute_mask(x, mask) is mask


def test_embedding_mask_reaches_the_recurrent_layer():
    ids, _ = _small_ids()
    masked = models.imdb_lstm(30, 5, 4, dropout=0, recurrent_dropout=0, mask_zero=True)
    # Changing what the padding row embeds changes nothing when the mask hides it.
    before = masked.predict(ids)
    masked.layers[0].params["embeddings"][0] += 1.0
    np.testing.assert_allclose(masked.predict(ids), before, rtol=1e-6)
    plain = models.imdb_lstm(30, 5, 4, dropout=0, recurrent_dropout=0)
    before = plain.predict(ids)
    plain.layers[0].params["embeddings"][0] += 1.0
    assert not np.allclose(plain.predict(ids)[:2], before[:2])


# ---- dropout --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", CELLS, ids=_CELL_IDS)
def test_one_dropout_mask_per_sequence_for_every_step(cls):
    """With an identity-like input (zero recurrent kernel), each step's projected input shows the mask used:
    the same at every step, kept values scaled by 1/(1 - rate), about `rate` of them dropped."""
    rate, steps = 0.25, 5
    layer = cls(4, dropout=rate, return_sequences=True, seed=3)
    x = np.ones((400, steps, 50))
    layer.build(x.shape, dtype="float64")
    seen = []
    original = layer._step

    def spy(xw, hr, states):
        seen.append(xw.copy())
        return original(xw, hr, states)

    layer._step = spy
    layer.forward(x, training=True)
    assert all(np.array_equal(seen[0], s) for s in seen[1:])
    drop = layer._cache[2]
    assert drop.shape == (1, 400, 50)
    assert set(np.unique(drop)) == {0.0, 1 / (1 - rate)}
    assert abs((drop == 0).mean() - rate) < 0.01  # 20,000 draws: 5 standard deviations
    layer.forward(x, training=False)
    assert layer._cache[2] is None


@pytest.mark.parametrize("cls", [layers.LSTM, layers.GRU], ids=["LSTM", "GRU"])
def test_recurrent_dropout_draws_one_mask_per_gate(cls):
    """Keras switches to implementation=1 when recurrent_dropout > 0: a separate mask for each gate."""
    layer = cls(6, dropout=0.5, recurrent_dropout=0.5, seed=0)
    x = np.ones((300, 3, 8))
    layer.build(x.shape)
    layer.forward(x, training=True)
    drop, drop_r = layer._cache[2], layer._cache[3]
    assert drop.shape == (layer.GATES, 300, 8) and drop_r.shape == (layer.GATES, 300, 6)
    assert not np.array_equal(drop[0], drop[1])
    assert abs((drop_r == 0).mean() - 0.5) < 0.03


def test_dropout_noise_comes_from_the_models_fit_rng():
    model = models.imdb_lstm(30, 5, 4)
    model.build()
    assert model.layers[1].noise_rng is model.fit_rng
    bidirectional = models.imdb_bidirectional_lstm(30, 5, 3)
    bidirectional.build()
    assert all(part.noise_rng is bidirectional.fit_rng for part in bidirectional.layers[1].sublayers())


# ---- weights, states, shapes, errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "shapes"),
    [
        (layers.SimpleRNN, [(5, 4), (4, 4), (4,)]),
        (layers.LSTM, [(5, 16), (4, 16), (16,)]),
        (layers.GRU, [(5, 12), (4, 12), (2, 12)]),
    ],
    ids=_CELL_IDS,
)
def test_weight_shapes_and_initializers(cls, shapes):
    layer = cls(4)
    layer.build((None, 3, 5))
    assert [p.shape for p in layer.params.values()] == shapes
    assert list(layer.params) == ["kernel", "recurrent_kernel", "bias"]
    r = layer.params["recurrent_kernel"].astype(np.float64)
    np.testing.assert_allclose(r @ r.T, np.eye(4), atol=1e-6)  # orthogonal rows (u, G*u)
    bias = layer.params["bias"]
    expected = np.r_[np.zeros(4), np.ones(4), np.zeros(8)] if cls is layers.LSTM else np.zeros(shapes[2])
    np.testing.assert_array_equal(bias, expected)


def test_orthogonal_initializer():
    init = initializers.get("orthogonal")
    for shape in [(6, 6), (3, 12), (12, 3)]:
        q = init(shape, np.random.default_rng(0), np.dtype("float64"))
        small = q.T @ q if shape[0] >= shape[1] else q @ q.T
        np.testing.assert_allclose(small, np.eye(min(shape)), atol=1e-12)
    a = init((5, 5), np.random.default_rng(1), np.dtype("float64"))
    assert np.array_equal(a, init((5, 5), np.random.default_rng(1), np.dtype("float64")))
    with pytest.raises(ValueError, match="rank >= 2"):
        init((4,), np.random.default_rng(0), np.dtype("float64"))


def test_return_state_values():
    x, _ = _batch()
    layer = layers.LSTM(3, return_sequences=True, return_state=True)
    layer.build(x.shape, dtype="float64")
    y, h, c = layer.forward(x)
    assert y.shape == (4, 6, 3) and h.shape == c.shape == (4, 3)
    np.testing.assert_array_equal(y[:, -1], h)
    assert not np.allclose(h, c)
    bi = layers.Bidirectional(layers.GRU(3, return_state=True))
    bi.build(x.shape, dtype="float64")
    out, h_forward, h_backward = bi.forward(x)
    np.testing.assert_array_equal(out, np.concatenate([h_forward, h_backward], axis=1))


def test_a_sequential_refuses_return_state():
    from npnet import Sequential

    model = Sequential([layers.Embedding(10, 3), layers.LSTM(2, return_state=True)])
    with pytest.raises(ValueError, match=r"return_state=True.*Sequential"):
        model.build()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: layers.LSTM(0), "units must be a positive integer"),
        (lambda: layers.GRU(2, dropout=1.0), r"dropout must be in \[0, 1\)"),
        (lambda: layers.SimpleRNN(2, activation="softsign"), "unknown activation"),
        (lambda: layers.GRU(2, reset_after=False), "reset_after=False is not implemented"),
        (lambda: layers.Bidirectional(layers.LSTM(2), merge_mode=None), "merge_mode must be one of"),
        (lambda: layers.Bidirectional(layers.Dense(2)), "wraps a recurrent layer"),
    ],
)
def test_bad_arguments(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


def test_bad_input_shape():
    layer = layers.LSTM(2)
    layer.build((None, 3, 4))
    with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, steps >= 1, 4\)"):
        layer.forward(np.zeros((2, 3, 5)))


def test_bidirectional_weights_are_forward_then_backward_and_shared():
    bi = layers.Bidirectional(layers.LSTM(2))
    bi.build((None, 3, 4))
    assert list(bi.params) == [
        f"{d}_lstm/{k}" for d in ("forward", "backward") for k in ("kernel", "recurrent_kernel", "bias")
    ]
    assert bi.params["forward_lstm/kernel"] is bi.forward_layer.params["kernel"]
    assert not np.array_equal(bi.forward_layer.params["kernel"], bi.backward_layer.params["kernel"])
    bi.astype("float64")
    assert bi.params["backward_lstm/kernel"] is bi.backward_layer.params["kernel"]
    assert bi.params["backward_lstm/kernel"].dtype == np.float64


def test_sigmoid_in_place_is_the_readable_sigmoid():
    """The LSTM's in-place gate activation does the readable sigmoid's operations element by element (the
    same computation), so the results are bitwise equal, extremes included."""
    from npnet.activations import sigmoid
    from npnet.layers.recurrent import sigmoid_in_place

    rng = np.random.default_rng(0)
    for dtype in ("float32", "float64"):
        x = np.concatenate(
            [
                rng.normal(scale=8, size=(7, 9)).ravel(),
                [0.0, -0.0, 40, -40, 800, -800, 1e-30, np.inf, -np.inf],
            ]
        )
        x = x.astype(dtype).reshape(-1, 3)
        y = x.copy()
        sigmoid_in_place(y)
        np.testing.assert_array_equal(y, sigmoid(x))
        view = x.copy()
        sigmoid_in_place(view[:, 1:])  # a strided view, as the LSTM's gate blocks are
        np.testing.assert_array_equal(view[:, 1:], sigmoid(x[:, 1:]))
        np.testing.assert_array_equal(view[:, 0], x[:, 0])


def test_per_gate_projections_equal_one_product_per_gate():
    """With one dropout mask per gate, the projection helpers (gate blocks precomputed, products written
    straight into the gate columns) equal the readable form: gate g is drop_g(v) @ kernel[:, g-block]."""
    from npnet.layers.recurrent import _gate_blocks, _project, _project_input_grad

    rng = np.random.default_rng(1)
    gates, units, n = 4, 3, 5
    w = rng.normal(size=(n, gates * units))
    masks = (rng.random((gates, 6, n)) > 0.3) / 0.7
    for v in (rng.normal(size=(6, n)), rng.normal(size=(2, 6, n))):  # one step, and all steps at once
        blocks = [w[:, g * units : (g + 1) * units] for g in range(gates)]
        expected = np.concatenate([(v * masks[g]) @ blocks[g] for g in range(gates)], axis=-1)
        np.testing.assert_allclose(_project(v, masks, w), expected, rtol=1e-13)
        np.testing.assert_allclose(_project(v, masks, w, _gate_blocks(w, gates)), expected, rtol=1e-13)
        d = rng.normal(size=(*v.shape[:-1], gates * units))
        grad = sum((d[..., g * units : (g + 1) * units] @ blocks[g].T) * masks[g] for g in range(gates))
        np.testing.assert_allclose(_project_input_grad(d, masks, w), grad, rtol=1e-13)


def test_bidirectional_is_bitwise_the_same_on_one_or_two_threads():
    """The backward direction runs on a second thread (npnet.config.num_threads()); its dropout masks are
    drawn before either direction runs, so the same computation gives the same bits on 1 or 2 threads,
    and leaves the shared noise generator in the same state."""
    from npnet import config

    x, mask = _batch(5)
    x = np.concatenate([x] * 8)  # rows enough for the masks to differ between draws
    mask = np.concatenate([mask] * 8)
    base = layers.Bidirectional(layers.LSTM(3, dropout=0.3, recurrent_dropout=0.2, return_sequences=True))
    base.build(x.shape, dtype="float64")
    results = []
    for threads in (1, 2):
        layer = copy.deepcopy(base)
        rng = np.random.default_rng(7)
        layer.forward_layer.noise_rng = layer.backward_layer.noise_rng = rng  # one generator, as in fit
        config.set_num_threads(threads)
        try:
            y = layer.forward(x, mask=mask, training=True)
            d_x = layer.backward(np.cos(y))
        finally:
            config.set_num_threads(None)
        results.append((y, d_x, {k: g.copy() for k, g in layer.grads.items()}, rng.random()))
    (y1, d1, g1, r1), (y2, d2, g2, r2) = results
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(d1, d2)
    assert g1.keys() == g2.keys() and all(np.array_equal(g1[k], g2[k]) for k in g1)
    assert r1 == r2
    assert not np.array_equal(layer.forward_layer._cache[2], layer.backward_layer._cache[2])  # two draws
