import io
import math

import numpy as np
import pytest

import npnet
from npnet import callbacks, config, layers, losses, optimizers
from npnet.gradcheck import central_difference

VOCAB = 50


def imdb_model(vocab=10000, seed=0, dtype=None, mask_zero=False, fused=None):
    return npnet.Sequential(
        [
            layers.Embedding(vocab, 16, mask_zero=mask_zero),
            layers.GlobalAveragePooling1D(),
            layers.Dense(16, activation="relu"),
            layers.Dense(1, activation="sigmoid"),
        ],
        seed=seed,
        dtype=dtype,
        fused=fused,
    )


def toy_data(n=200, length=12, seed=0):
    """Label 1 when "positive" ids (1..9) outnumber "negative" ids (10..18); other ids are noise."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, VOCAB, size=(n, length))
    y = ((x < 10).sum(axis=1) > ((x >= 10) & (x < 19)).sum(axis=1)).astype(np.int64)
    return x, y


def compiled(seed=0, lr=0.01, **kwargs):
    model = imdb_model(vocab=VOCAB, seed=seed, **kwargs)
    model.compile(
        optimizer=optimizers.Adam(learning_rate=lr, decay=1e-3),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


# ---- building ----


def test_seed_model_shapes_and_parameter_count():
    model = imdb_model()
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(10000, 16), (16, 16), (16,), (16, 1), (1,)]
    assert model.count_params() == 160_289
    text = model.summary(print_fn=None)
    assert "Total params: 160,289" in text
    for row in (
        "embedding (Embedding)",
        "global_average_pooling1d (GlobalAveragePooling1D)",
        "dense_1 (Dense)",
    ):
        assert row in text
    assert "(None, None, 16)" in text and "(None, 1)" in text


def test_summary_prints(capsys):
    imdb_model(vocab=10).summary()
    assert "Total params: 449" in capsys.readouterr().out


def test_initial_weights_follow_keras_initializers():
    emb, w1, b1, w2, b2 = imdb_model().get_weights()
    assert emb.dtype == np.float32
    assert np.abs(emb).max() <= 0.05
    assert np.abs(w1).max() <= math.sqrt(6 / 32) and np.abs(w2).max() <= math.sqrt(6 / 17)
    assert not b1.any() and not b2.any()


def test_same_seed_same_weights_bitwise_different_seed_different():
    a, b, c = (
        imdb_model(seed=7).get_weights(),
        imdb_model(seed=7).get_weights(),
        imdb_model(seed=8).get_weights(),
    )
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


def test_rebuilding_from_the_seed_does_not_depend_on_global_state():
    np.random.seed(1)
    a = imdb_model(seed=3).get_weights()
    np.random.seed(2)
    np.random.random(100)
    b = imdb_model(seed=3).get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_float64_on_request_per_model_and_globally():
    assert all(w.dtype == np.float64 for w in imdb_model(dtype="float64").get_weights())
    config.set_floatx("float64")
    model = imdb_model(vocab=VOCAB)
    assert all(w.dtype == np.float64 for w in model.get_weights())
    model.compile("adam", "binary_crossentropy", ["accuracy"])
    x, y = toy_data(20)
    assert model.predict(x).dtype == np.float64
    _, grads = model.gradients(x, y)
    assert all(g.dtype == np.float64 for g in grads)
    # float32 and float64 models from one seed start from the same numbers.
    w32 = imdb_model(vocab=VOCAB, dtype="float32").get_weights()
    assert all(np.array_equal(a.astype(np.float32), b) for a, b in zip(model.get_weights(), w32, strict=True))


def test_auto_names_are_made_unique_explicit_duplicates_refused():
    model = npnet.Sequential([layers.Dense(2), layers.Dense(2), layers.Dense(1)])
    assert [layer.name for layer in model.layers] == ["dense", "dense_1", "dense_2"]
    with pytest.raises(ValueError, match="two layers are named 'out'"):
        npnet.Sequential([layers.Dense(2, name="out"), layers.Dense(1, name="out")])


def test_dense_only_model_builds_from_data():
    model = npnet.Sequential([layers.Dense(3, activation="relu"), layers.Dense(1, activation="sigmoid")])
    assert model.predict(np.ones((4, 5))).shape == (4, 1)
    assert model.count_params() == 5 * 3 + 3 + 3 + 1
    with pytest.raises(ValueError, match=r"model.build\(\(None, n_features\)\)"):
        npnet.Sequential([layers.Dense(3)]).summary(print_fn=None)
    with pytest.raises(ValueError, match="no layers"):
        npnet.Sequential([]).build()


# ---- forward / backward / gradients ----


def test_forward_backward_and_layer_outputs_for_study():
    model = compiled()
    x, y = toy_data(8)
    outs = model.layer_outputs(x)
    assert [o.shape for o in outs] == [(8, 12, 16), (8, 16), (8, 16), (8, 1)]
    np.testing.assert_array_equal(outs[-1], model.predict(x))
    assert np.all(outs[2] >= 0)  # after relu
    probs = model.forward(x, training=True)
    grad_in = model.backward(model.loss.gradient(model._prepare_y(y, 8), probs))
    assert grad_in is None  # ids are not differentiable
    assert set(model.layers[2].grads) == {"kernel", "bias"}


def test_gradients_match_finite_differences_and_do_not_update():
    model = compiled(dtype="float64")
    x, y = toy_data(6)
    before = model.get_weights()
    loss, grads = model.gradients(x, y)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    assert loss == pytest.approx(model.evaluate(x, y)[0], rel=1e-12)
    params = [p for layer in model.layers for p in layer.params.values()]
    for param, grad in zip(params[1:], grads[1:], strict=True):  # the dense layers: every entry
        numeric = central_difference(lambda: model.test_on_batch(x, y)[0], param)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-10)
    used = np.unique(x)[:3]  # a few embedding rows that occur, and one that does not
    for row in [*used, 0]:
        numeric = central_difference(lambda: model.test_on_batch(x, y)[0], params[0][row])
        np.testing.assert_allclose(grads[0][row], numeric, rtol=1e-5, atol=1e-10)
    assert not grads[0][0].any()
    _, grads_again = model.gradients(x, y)  # no accumulation across calls
    assert all(np.array_equal(a, b) for a, b in zip(grads, grads_again, strict=True))


def test_mask_zero_makes_padding_irrelevant():
    model = imdb_model(vocab=VOCAB, mask_zero=True)
    short = np.array([[5, 7, 9]])
    padded = np.array([[5, 7, 9, 0, 0, 0, 0]])
    np.testing.assert_allclose(model.predict(short), model.predict(padded), rtol=1e-6)
    unmasked = imdb_model(vocab=VOCAB)
    assert not np.allclose(unmasked.predict(short), unmasked.predict(padded), rtol=1e-6)


# ---- training semantics ----


def test_train_on_batch_returns_pre_update_values():
    model = compiled()
    x, y = toy_data(16)
    before = model.test_on_batch(x, y)
    assert model.train_on_batch(x, y) == before
    assert model.test_on_batch(x, y)[0] < before[0]
    assert model.optimizer.iterations == 1


@pytest.mark.parametrize("shuffle", [False, True])
def test_fit_epoch_values_are_weighted_means_of_pre_update_batches(shuffle):
    x, y = toy_data(10)
    # The readable path on both sides, so that fit and the replay run the very same operations (bitwise);
    # the fused path is held equal to the readable one in test_fused_path.py.
    model = compiled(seed=1, fused=False)
    replay = compiled(seed=1)
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = model.fit_rng.bit_generator.state
    history = model.fit(x, y, epochs=2, batch_size=4, shuffle=shuffle, verbose=0)
    for epoch in range(2):
        order = rng.permutation(10) if shuffle else np.arange(10)
        batches = [order[0:4], order[4:8], order[8:10]]  # Keras batching: the last one partial
        values = [replay.train_on_batch(x[b], y[b]) for b in batches]
        loss = (4 * values[0][0] + 4 * values[1][0] + 2 * values[2][0]) / 10
        acc = (4 * values[0][1] + 4 * values[1][1] + 2 * values[2][1]) / 10
        assert history.history["loss"][epoch] == pytest.approx(loss, rel=1e-12)
        assert history.history["accuracy"][epoch] == pytest.approx(acc, rel=1e-12)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), replay.get_weights(), strict=True))
    assert model.optimizer.iterations == 6


def test_validation_uses_end_of_epoch_weights_at_the_fit_batch_size():
    x, y = toy_data(60)
    xv, yv = toy_data(25, seed=1)
    model = compiled()
    history = model.fit(x, y, epochs=2, batch_size=8, validation_data=(xv, yv), verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}  # Keras 3's keys
    assert all(len(v) == 2 for v in history.history.values())
    assert history.history["val_loss"][-1] == model.evaluate(xv, yv, batch_size=8)[0]
    assert history.history["val_accuracy"][-1] == model.evaluate(xv, yv, batch_size=8)[1]
    assert history.epoch == [0, 1] and model.history is history


def test_the_learning_rate_is_logged_by_a_callback_for_the_ones_after_it():
    x, y = toy_data(60)
    model = compiled()
    rec = Recorder()
    lr = callbacks.LearningRateLogger()
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[rec, lr])
    # The rate the next step will use: Adam(0.01, decay=1e-3) after 8 and 16 steps.
    assert history.history["learning_rate"] == [0.01 / (1 + 1e-3 * 8), 0.01 / (1 + 1e-3 * 16)]
    assert rec.events[-2] == "epoch_end 1 ['accuracy', 'loss']"  # before the logger: not yet there


def test_same_seed_gives_bitwise_identical_history_and_weights():
    x, y = toy_data(100)
    runs = []
    for _ in range(2):
        model = compiled(seed=4)
        h = model.fit(x, y, epochs=3, batch_size=16, validation_data=toy_data(30, seed=2), verbose=0)
        runs.append((h.history, model.get_weights()))
    assert runs[0][0] == runs[1][0]
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][1], runs[1][1], strict=True))
    other = compiled(seed=4).fit(x, y, epochs=3, batch_size=16, verbose=0, seed=99)
    assert other.history["loss"] != runs[0][0]["loss"]  # a different shuffle


def test_fit_leaves_global_rng_alone():
    state = np.random.get_state()
    x, y = toy_data(40)
    compiled().fit(x, y, epochs=2, batch_size=8, verbose=0)
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:]


def test_resume_from_saved_state_is_bitwise_identical(tmp_path):
    x, y = toy_data(50)
    straight = compiled(seed=2)
    full = straight.fit(x, y, epochs=3, batch_size=16, verbose=0)

    first = compiled(seed=2)
    first.fit(x, y, epochs=2, batch_size=16, verbose=0)
    first.save_weights(tmp_path / "w.npz")
    opt_state, rng_state = first.optimizer.get_state(), first.fit_rng.bit_generator.state

    resumed = compiled(seed=99)  # a different seed: everything must come from the saved state
    resumed.load_weights(tmp_path / "w.npz")
    resumed.optimizer.set_state(opt_state)
    resumed.fit_rng.bit_generator.state = rng_state
    rest = resumed.fit(x, y, epochs=3, batch_size=16, verbose=0, initial_epoch=2)
    assert rest.epoch == [2]
    assert rest.history["loss"] == full.history["loss"][2:]
    assert all(
        np.array_equal(a, b) for a, b in zip(straight.get_weights(), resumed.get_weights(), strict=True)
    )


def test_fit_learns_a_tiny_dataset():
    x, y = toy_data(300)
    model = compiled(lr=0.02)
    history = model.fit(x, y, epochs=25, batch_size=32, verbose=0)
    assert history.history["loss"][0] > 0.6
    assert history.history["loss"][-1] < 0.25
    xt, yt = toy_data(200, seed=5)
    assert model.evaluate(xt, yt)[1] > 0.85


def test_sgd_string_and_logits_model_train():
    x, y = toy_data(100)
    model = npnet.Sequential(
        [layers.Embedding(VOCAB, 8), layers.GlobalAveragePooling1D(), layers.Dense(1)],
        seed=0,
        dtype="float64",
    )
    model.compile(optimizer="sgd", loss=losses.BinaryCrossentropy(from_logits=True), metrics=["accuracy"])
    assert model.metrics[0].from_logits  # accuracy thresholds logits at 0
    before = model.evaluate(x, y)[0]
    model.fit(x, y, epochs=3, batch_size=10, verbose=0)
    assert model.evaluate(x, y)[0] < before


def test_predict_shape_and_batch_size_invariance():
    model = imdb_model(vocab=VOCAB)
    x, _ = toy_data(70)
    p = model.predict(x)
    assert p.shape == (70, 1) and np.all((p > 0) & (p < 1))
    np.testing.assert_allclose(model.predict(x, batch_size=7), p, rtol=1e-6)


def test_evaluate_is_weighted_over_batches():
    model = compiled()
    x, y = toy_data(10)
    whole = model.test_on_batch(x, y)
    assert model.evaluate(x, y, batch_size=3) == pytest.approx(whole, rel=1e-6)
    assert model.metrics_names == ["loss", "accuracy"]


# ---- callbacks ----


class Recorder(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.events = []
        self.grad_norms = []

    def on_train_begin(self, logs=None):
        self.events.append("train_begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(f"epoch_begin {epoch}")

    def on_batch_end(self, batch, logs=None):
        self.events.append(f"batch_end {batch} {logs['size']}")
        self.grad_norms.append(float(np.linalg.norm(self.model.layers[-1].grads["kernel"])))

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(f"epoch_end {epoch} {sorted(logs)}")

    def on_train_end(self, logs=None):
        self.events.append("train_end")


def test_callbacks_see_every_hook_and_the_gradients():
    model = compiled()
    x, y = toy_data(10)
    rec = Recorder()
    model.fit(x, y, epochs=1, batch_size=4, callbacks=[rec], verbose=0)
    assert rec.params["steps"] == 3 and rec.params["epochs"] == 1 and rec.model is model
    assert rec.events == [
        "train_begin",
        "epoch_begin 0",
        "batch_end 0 4",
        "batch_end 1 4",
        "batch_end 2 2",
        "epoch_end 0 ['accuracy', 'loss']",
        "train_end",
    ]
    assert all(n > 0 for n in rec.grad_norms) and len(set(rec.grad_norms)) == 3


def test_a_callback_can_stop_training():
    class StopAfterTwoBatches(callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    model = compiled()
    x, y = toy_data(40)
    history = model.fit(x, y, epochs=5, batch_size=4, callbacks=[StopAfterTwoBatches()], verbose=0)
    assert model.optimizer.iterations == 2 and history.epoch == [0]


def test_progress_one_line_per_epoch_off_a_terminal(capsys):
    x, y = toy_data(20)
    compiled().fit(x, y, epochs=3, batch_size=8, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("Epoch 1/3 - 3/3 [==============================]")
    assert " - loss: " in lines[2] and " - accuracy: " in lines[2] and "\r" not in lines[2]


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_updates_in_place_on_a_terminal():
    stream = FakeTerminal()
    bar = callbacks.ProgbarLogger(stream=stream)
    bar._min_interval = 0.0  # draw on every batch
    x, y = toy_data(20)
    compiled().fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[bar], validation_data=(x, y))
    out = stream.getvalue()
    assert out.startswith("Epoch 1/2\n\r1/3 [==========>...................]")
    assert out.count("\r") == 2 * 4  # three batch redraws and one final line per epoch
    final = out.split("\n")[1].split("\r")[-1]
    assert final.startswith("3/3 [==============================]") and "val_loss: " in final


# ---- bad input ----


def test_fit_and_evaluate_before_compile():
    model = imdb_model(vocab=VOCAB)
    x, y = toy_data(4)
    for call in (model.fit, model.evaluate, model.train_on_batch, model.test_on_batch, model.gradients):
        with pytest.raises(RuntimeError, match=r"compile the model before .*model.compile\(optimizer="):
            call(x, y)


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (np.zeros((0, 5), int), np.zeros(0), "x is empty"),
        (np.zeros((4, 5), int), np.zeros(3), "4 samples but 3 labels"),
        (np.zeros((4, 5), int), np.array([0, 1, 2, 1]), "found 2 at index 2"),
        (np.zeros((4, 5), int), np.array([0, 0.5, 1, 1]), "found 0.5 at index 1"),
        (np.zeros((4, 5), int), np.array([0, np.nan, 1, 1]), "binary labels 0 or 1"),
        (np.zeros((4, 5), int), np.zeros((4, 2)), r"shape \(n,\) or \(n, 1\)"),
        (np.zeros((4, 5), int), np.array(["a", "b", "c", "d"]), "numeric 0/1 labels"),
        (np.zeros(4, int), np.zeros(4), "2-D array of token ids"),
        (np.zeros((4, 5, 2), int), np.zeros(4), "2-D array of token ids"),
        (np.zeros((4, 5)), np.zeros(4), "integer token ids"),
        ([[1, 2, 3], [4, 5]], np.zeros(2), "ragged"),
        (
            np.full((4, 5), VOCAB),
            np.zeros(4),
            rf"token id {VOCAB} at position \(0, 0\) is outside \[0, {VOCAB}\)",
        ),
    ],
)
def test_bad_training_data_is_refused_clearly(x, y, message):
    model = compiled()
    before = model.get_weights()
    with pytest.raises(ValueError, match=message):
        model.fit(x, y, epochs=1, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
        ({"batch_size": -5}, "batch_size must be a positive integer"),
        ({"batch_size": 2.5}, "batch_size must be a positive integer"),
        ({"epochs": 0}, "epochs must be a positive integer, got 0"),
        ({"epochs": -1}, "epochs must be a positive integer"),
        ({"epochs": 2, "initial_epoch": 3}, "initial_epoch must be an integer from 0 to 2, got 3"),
        ({"verbose": 3}, "verbose must be 0, 1 or 2"),
        ({"validation_data": (np.zeros((2, 3), int),)}, "validation_data must be a pair"),
        (
            {"validation_data": (np.zeros((2, 3), int), np.array([0, 3]))},
            "validation y must hold binary labels",
        ),
        ({"validation_data": (np.full((2, 3), -1), np.zeros(2))}, "token id -1"),
    ],
)
def test_bad_fit_arguments_are_refused_before_training(kwargs, message):
    model = compiled()
    x, y = toy_data(8)
    with pytest.raises(ValueError, match=message):
        model.fit(x, y, **{"verbose": 0, **kwargs})
    assert model.optimizer.iterations == 0


def test_bad_batch_size_elsewhere():
    model = compiled()
    x, y = toy_data(4)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        model.predict(x, batch_size=0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        model.evaluate(x, y, batch_size=-1)


def test_unknown_names_in_compile():
    model = imdb_model(vocab=VOCAB)
    with pytest.raises(ValueError, match="unknown optimizer 'adamw'"):
        model.compile(optimizer="adamw")
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        model.compile(loss="hinge")
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        model.compile(metrics=["f1"])
    with pytest.raises(ValueError, match="unique"):
        model.compile(metrics=["accuracy", "accuracy"])


def test_set_weights_validates_everything_first():
    model = imdb_model(vocab=VOCAB)
    good = model.get_weights()
    with pytest.raises(ValueError, match=r"needs 5 arrays \(embedding.embeddings, dense.kernel"):
        model.set_weights(good[:4])
    wrong = [w.copy() + 1 for w in good]
    wrong[3] = np.zeros((1, 16))
    with pytest.raises(ValueError, match=r"dense_1.kernel must have shape \(16, 1\), got \(1, 16\)"):
        model.set_weights(wrong)
    assert all(
        np.array_equal(a, b) for a, b in zip(good, model.get_weights(), strict=True)
    )  # nothing changed
    model.set_weights([w * 2 for w in good])
    assert np.array_equal(model.get_weights()[1], good[1] * 2)


def test_non_finite_loss_stops_with_epoch_and_batch_and_keeps_weights():
    model = compiled()
    x, y = toy_data(20)

    class Poison(callbacks.Callback):
        def on_batch_begin(self, batch, logs=None):
            if batch == 2:
                self.saved = self.model.get_weights()
                self.model.layers[-1].params["bias"][...] = np.nan

    poison = Poison()
    with pytest.raises(FloatingPointError, match=r"loss became nan at epoch 1/2, batch 3/5"):
        model.fit(x, y, epochs=2, batch_size=4, callbacks=[poison], verbose=0, shuffle=False)
    assert model.optimizer.iterations == 2  # the poisoned batch was not applied
    after = model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(poison.saved[:-1], after[:-1], strict=True))
    with pytest.raises(FloatingPointError, match="train_on_batch"):
        model.train_on_batch(x, y)
    assert model.optimizer.iterations == 2
