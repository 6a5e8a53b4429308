"""The model's fused Embedding + pooling path (fit/evaluate/predict) against its readable layers.

The readable layers are the reference: a fused fit must give the same history, weights and per-step
gradients as a readable fit, in float64 to rounding (1e-12 relative), and in float32 no further from the
readable float32 run than float32 itself is from the float64 run.
"""

import threading

import numpy as np
import pytest

import npnet
from npnet import callbacks, layers, models, optimizers
from npnet.datasets.synthetic import imdb_like_ids
from npnet.fast import embedding_pool as fast_pair
from npnet.fast import fused_layer
from npnet.fast.embedding_pool import BagOfWords
from npnet.fast.plan import uses_fused_path

VOCAB = 300


def zipf_data(n, length=40, seed=0):
    """Padded IMDB-like reviews (Zipf ids, so the bag has both dense and sparse ids), 0/1 labels."""
    x = imdb_like_ids(n, length, VOCAB, np.random.default_rng(seed), median_length=length / 2)
    y = ((x % 2 == 1) & (x > 0)).sum(1) > ((x % 2 == 0) & (x > 0)).sum(1)
    return x, y.astype(np.int64)


class EmbeddingGrads(callbacks.Callback):
    def __init__(self):
        self.grads = []

    def on_batch_end(self, batch, logs=None):
        self.grads.append(self.model.layers[0].grads["embeddings"].copy())


def train(fused, dtype, mask_zero=False, shuffle=True):
    model = models.notebook(VOCAB, 16, 16, mask_zero, seed=3, dtype=dtype, fused=fused)
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01, decay=1e-3), metrics=["accuracy"])
    x, y = zipf_data(300)
    xv, yv = zipf_data(100, seed=1)
    grads = EmbeddingGrads()
    history = model.fit(
        x, y, epochs=3, batch_size=32, validation_data=(xv, yv), shuffle=shuffle, verbose=0, callbacks=[grads]
    )
    return model, history.history, grads.grads, (xv, yv)


def assert_close(actual, expected, rtol):
    """Equal up to rtol relative to the array's scale (elements near zero may lose relative digits)."""
    scale = float(np.max(np.abs(expected))) or 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def test_the_data_exercises_both_halves_of_the_bag():
    x, _ = zipf_data(300)
    bag = BagOfWords.from_ids(x, VOCAB)
    assert 0 < bag.head_ids.size < VOCAB and bag.tail_ids.size > 0


@pytest.mark.parametrize("mask_zero", [False, True])
@pytest.mark.parametrize("shuffle", [True, False])
def test_fused_fit_equals_readable_fit_in_float64(mask_zero, shuffle):
    fused, h_fused, g_fused, (xv, yv) = train(None, "float64", mask_zero, shuffle)
    readable, h_readable, g_readable, _ = train(False, "float64", mask_zero, shuffle)
    assert uses_fused_path(fused) and not uses_fused_path(readable)
    assert h_fused.keys() == h_readable.keys()
    for key in h_readable:
        np.testing.assert_allclose(h_fused[key], h_readable[key], rtol=1e-12)
    for a, b in zip(fused.get_weights(), readable.get_weights(), strict=True):
        assert_close(a, b, 1e-12)
    assert len(g_fused) == len(g_readable) == 3 * 10
    for a, b in zip(g_fused, g_readable, strict=True):
        assert_close(a, b, 1e-12)
    # Inference on the same weights: one bag for the whole input, any batch size.
    readable.set_weights(fused.get_weights())
    assert_close(fused.predict(xv, batch_size=7), readable.predict(xv, batch_size=7), 1e-12)
    np.testing.assert_allclose(fused.evaluate(xv, yv, 16), readable.evaluate(xv, yv, 16), rtol=1e-12)


@pytest.mark.parametrize("mask_zero", [False, True])
def test_fused_fit_in_float32_is_within_float32_rounding(mask_zero):
    """float32 sums in another order differ by rounding. Measured here, the fused and readable float32 runs
    differ by 3-10% of how far the readable float32 run is from the float64 run (the rounding float32
    itself brings); the test asks for at most 100% of it, and as close to float64 as the readable run (2x)."""
    fused32, h_fused32, _, _ = train(None, "float32", mask_zero)
    readable32, h_readable32, _, _ = train(False, "float32", mask_zero)
    readable64, _, _, _ = train(False, "float64", mask_zero)
    ulp = np.finfo(np.float32).eps
    weights = (fused32.get_weights(), readable32.get_weights(), readable64.get_weights())
    for f, r, t in zip(*weights, strict=True):
        assert f.dtype == np.float32
        rounding = np.max(np.abs(r - t))  # float32's own error on this run
        assert np.max(np.abs(f - r)) <= rounding + ulp * np.max(np.abs(t))
        assert np.max(np.abs(f - t)) <= 2 * rounding + ulp * np.max(np.abs(t))
    np.testing.assert_allclose(h_fused32["loss"], h_readable32["loss"], rtol=1e-5)
    np.testing.assert_allclose(h_fused32["val_loss"], h_readable32["val_loss"], rtol=1e-5)


def test_fused_fit_is_bitwise_repeatable():
    runs = [train(None, "float32")[:2] for _ in range(2)]
    assert runs[0][1] == runs[1][1]
    pairs = zip(runs[0][0].get_weights(), runs[1][0].get_weights(), strict=True)
    assert all(np.array_equal(a, b) for a, b in pairs)


def test_fused_fit_never_runs_the_readable_pair(monkeypatch):
    """The fused path does not materialize the (batch, T, D) Embedding output: the layers' own forward and
    backward are not called (which is why fused=False exists for studying them)."""

    def refuse(*args, **kwargs):
        raise AssertionError("the readable Embedding/pooling pass ran inside a fused fit")

    for cls in (layers.Embedding, layers.GlobalAveragePooling1D):
        monkeypatch.setattr(cls, "forward", refuse)
        monkeypatch.setattr(cls, "backward", refuse)
    model, history, grads, (xv, yv) = train(None, "float32")
    model.evaluate(xv, yv)
    model.predict(xv)
    assert len(history["loss"]) == 3 and np.all(np.isfinite(history["loss"]))
    assert all(np.any(g != 0) for g in grads)
    with pytest.raises(AssertionError, match="readable"):
        train(False, "float32")


def test_fused_option_is_checked():
    with pytest.raises(ValueError, match="fused must be None"):
        npnet.Sequential([layers.Dense(1)], fused="yes")
    dense_only = npnet.Sequential([layers.Dense(4), layers.Dense(1)], fused=True)
    dense_only.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="starts with Embedding -> GlobalAveragePooling1D"):
        dense_only.fit(np.ones((4, 3)), np.array([0, 1, 0, 1]), verbose=0)
    assert not uses_fused_path(npnet.Sequential([layers.Dense(4)]))


@pytest.fixture
def thread_setting():
    yield npnet.config.set_num_threads
    npnet.config.set_num_threads(None)


@pytest.mark.parametrize("mask_zero", [False, True])
@pytest.mark.parametrize("min_tail", [0, fused_layer.MIN_TAIL_TOKENS_FOR_THREAD])
def test_two_threads_change_no_bit_of_fit_evaluate_or_predict(
    mask_zero, min_tail, thread_setting, monkeypatch
):
    """The second thread runs whole parts (a batch's tail, the next batch's cut, a run of validation
    batches) that it alone writes; nothing is summed across threads, so the count may not change a bit.
    min_tail 0 hands every training batch's tail over (these batches are below the default threshold)."""
    monkeypatch.setattr(fused_layer, "MIN_TAIL_TOKENS_FOR_THREAD", min_tail)
    tail_threads = set()
    sums = fast_pair._tail_sums

    def recording(*args):
        tail_threads.add(threading.current_thread().name)
        return sums(*args)

    monkeypatch.setattr(fast_pair, "_tail_sums", recording)
    runs = []
    for threads in (1, 2):
        thread_setting(threads)
        tail_threads.clear()
        model, history, grads, (xv, yv) = train(None, "float32", mask_zero)
        outputs = [*model.get_weights(), *grads, model.predict(xv, batch_size=7)]
        runs.append((history, model.evaluate(xv, yv, 16), outputs))
        assert (tail_threads == {threading.current_thread().name}) == (threads == 1)
    (h1, e1, o1), (h2, e2, o2) = runs
    assert h2 == h1 and e2 == e1
    assert all(np.array_equal(a, b) for a, b in zip(o1, o2, strict=True))
