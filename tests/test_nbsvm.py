"""NBSVM: the binarized bags and the log-count ratio (npnet.preprocessing.nbsvm), the ScaledEmbedding layer
and its gradient, `trainable` (Keras's knob: a frozen parameter is neither updated nor counted as
trainable), and the `nbsvm` model learning a synthetic task."""

import numpy as np
import pytest

import npnet
from npnet import gradcheck, layers, models, optimizers
from npnet.datasets.ragged import Ragged
from npnet.preprocessing.nbsvm import binary_bags, log_count_ratio, nbsvm_inputs, pad_bags
from npnet.preprocessing.ngrams import NgramTable

RTOL = 1e-6


def ragged(*reviews: list[int]) -> Ragged:
    return Ragged.from_lists([list(r) for r in reviews])


# ---- binarized bags ------------------------------------------------------------------------------------


def test_a_bag_holds_each_word_once_ascending():
    bags = binary_bags(ragged([5, 3, 5, 5, 4], [7, 7], [3]))
    assert bags.to_lists() == [[3, 4, 5], [7], [3]]


def test_a_bag_holds_the_reviews_known_bigrams_once():
    train = ragged([3, 4, 3, 4, 5])  # bigrams (3,4) twice, (4,3), (4,5)
    table = NgramTable.build(train, 2, base=6)
    (bag,) = binary_bags(train, table, 2).to_lists()
    bigram_ids = table.lookup(np.array([3 * 6 + 4, 4 * 6 + 3, 4 * 6 + 5]), 2)
    assert bag == [3, 4, 5, *sorted(bigram_ids.tolist())]
    # a bigram the table lacks (5, 3) is no feature; a known one (3, 4) is
    (other,) = binary_bags(ragged([5, 3, 4]), table, 2).to_lists()
    assert other == [3, 4, 5, int(bigram_ids[0])]


def test_bags_refuse_the_padding_id_and_a_missing_table():
    with pytest.raises(ValueError, match="must be > 0"):
        binary_bags(ragged([0, 3]))
    with pytest.raises(ValueError, match="needs the n-gram table"):
        binary_bags(ragged([3, 4]), None, 2)


def test_pad_bags_fills_with_zero_after_each_bag():
    x = pad_bags(ragged([3, 4, 5], [6]))
    assert x.tolist() == [[3, 4, 5], [6, 0, 0]]
    assert pad_bags(ragged([3, 4, 5]), maxlen=2).tolist() == [[3, 4]]  # the smallest ids stay


# ---- the log-count ratio -------------------------------------------------------------------------------


def test_ratio_by_hand():
    bags = ragged([1, 2], [2], [2, 3])  # review 0 positive, 1 and 2 negative; ids 0 (padding) and 4 unseen
    labels = np.array([1, 0, 0])
    r = log_count_ratio(bags, labels, input_dim=5, alpha=1.0)
    p = np.array([1, 2, 2, 1, 1.0])  # alpha + positive counts, over every id of the table
    q = np.array([1, 1, 3, 2, 1.0])
    expected = np.log(p / p.sum()) - np.log(q / q.sum())
    expected[[0, 4]] = 0.0  # ids no training bag holds are no features
    np.testing.assert_allclose(r, expected, rtol=1e-15)


def test_ratio_counts_a_review_once_per_id_it_holds():
    binarized = log_count_ratio(binary_bags(ragged([3, 3, 3], [4])), np.array([1, 0]), 5)
    once = log_count_ratio(ragged([3], [4]), np.array([1, 0]), 5)
    np.testing.assert_array_equal(binarized, once)


def test_ratio_checks_its_arguments():
    with pytest.raises(ValueError, match="labels must be 2 values"):
        log_count_ratio(ragged([3], [4]), np.array([1, 2]), 5)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        log_count_ratio(ragged([3], [4]), np.array([1, 0]), 5, alpha=0.0)
    with pytest.raises(ValueError, match="input_dim=4"):
        log_count_ratio(ragged([3], [4]), np.array([1, 0]), 4)


def sentiment_reviews(n: int, rng: np.random.Generator) -> tuple[Ragged, np.ndarray]:
    """n reviews of 20-40 ids in [3, 60): a positive one draws a third of its words from 3..9, a negative
    one from 10..16; the rest are noise."""
    labels = rng.integers(0, 2, n)
    lengths = rng.integers(20, 41, n)
    values = rng.integers(17, 60, int(lengths.sum()))
    signal = rng.random(values.size) < 1 / 3
    label_of_value = np.repeat(labels, lengths)
    values[signal] = np.where(label_of_value[signal] == 1, 3, 10) + rng.integers(0, 7, int(signal.sum()))
    return Ragged(values, lengths.astype(np.int64)), labels


def test_the_ratio_and_the_table_come_from_the_training_split_only():
    rng = np.random.default_rng(0)
    train, labels = sentiment_reviews(50, rng)
    test, _ = sentiment_reviews(30, rng)
    data = nbsvm_inputs(train, labels, test, ngram_range=2)
    other_test = ragged(*([3, 10, 17, 59] for _ in range(30)))  # other reviews, other bigrams
    again = nbsvm_inputs(train, labels, other_test, ngram_range=2)
    np.testing.assert_array_equal(again.ratio, data.ratio)
    # the table holds the training reviews' n-grams, none of the test reviews' own
    assert data.table is not None and again.table is not None
    own = NgramTable.build(train, 2, base=data.table.base)
    for table in (data.table, again.table):
        for a, b in zip(table.codes, own.codes, strict=True):
            np.testing.assert_array_equal(a, b)
    # and the ratio is the one of the training bags alone
    np.testing.assert_array_equal(
        data.ratio, log_count_ratio(binary_bags(train, data.table, 2), labels, data.input_dim)
    )


# ---- ScaledEmbedding -------------------------------------------------------------------------------------


def scaled_embedding(vocab: int, width: int, rng: np.random.Generator) -> layers.ScaledEmbedding:
    layer = layers.ScaledEmbedding(vocab, width, dtype="float64")
    layer.build((None, None), np.random.default_rng(0))
    layer.set_scales(rng.normal(size=vocab))
    return layer


def test_scaled_embedding_is_the_rows_times_their_factors():
    rng = np.random.default_rng(0)
    layer = scaled_embedding(6, 3, rng)
    ids = np.array([[1, 5, 5], [0, 2, 1]])
    expected = layer.params["embeddings"][ids] * layer.params["scales"][ids][..., None]
    np.testing.assert_array_equal(layer.forward(ids), expected)


@pytest.mark.parametrize("width", [1, 3])
def test_scaled_embedding_gradients_pass_the_checker(width):
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 7, size=(4, 9))  # repeated ids in every row
    report = gradcheck.check_layer(scaled_embedding(7, width, rng), ids)
    assert [row.name for row in report.rows] == ["scaled_embedding/embeddings", "scaled_embedding/scales"]
    assert report.passed, str(report)
    assert report.max_rel_error < RTOL


class BufferedScaledEmbedding(layers.ScaledEmbedding):
    """A broken backward: the factors' gradient scattered with a buffered `+=`, which keeps one of an id's
    repeated positions and drops the rest."""

    def backward(self, grad_out: np.ndarray) -> None:
        super().backward(grad_out)
        per_position = np.einsum("btd,btd->bt", grad_out, self._rows)
        self.grads["scales"].fill(0)
        self.grads["scales"][self._ids.ravel()] += per_position.ravel()


class UnscaledGradEmbedding(layers.ScaledEmbedding):
    """A broken backward: the table's gradient without the factor s[i]."""

    def backward(self, grad_out: np.ndarray) -> None:
        super().backward(grad_out)
        layers.Embedding.backward(self, grad_out)


@pytest.mark.parametrize(
    ("broken", "wrong"),
    [(BufferedScaledEmbedding, "scales"), (UnscaledGradEmbedding, "embeddings")],
)
def test_the_checker_catches_a_broken_scaled_embedding_backward(broken, wrong):
    rng = np.random.default_rng(2)
    layer = broken(7, 2, name="scaled_embedding", dtype="float64")
    layer.build((None, None), np.random.default_rng(0))
    layer.set_scales(rng.normal(size=7))
    report = gradcheck.check_layer(layer, rng.integers(0, 7, size=(4, 9)))
    assert not report.passed
    assert [row.name for row in report.failures] == [f"scaled_embedding/{wrong}"]


def test_set_scales_checks_the_shape():
    layer = scaled_embedding(6, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="must be 6 finite numbers"):
        layer.set_scales(np.ones(5))


# ---- trainable ---------------------------------------------------------------------------------------


def tiny_data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return rng.integers(1, 10, size=(16, 5)), rng.integers(0, 2, size=16)


def test_fit_moves_the_table_but_never_the_scales():
    rng = np.random.default_rng(3)
    model = models.nbsvm(10, rng.normal(size=10))
    model.compile(optimizers.Adam(1e-2), "binary_crossentropy")
    before = model.get_weights()
    model.fit(*tiny_data(rng), epochs=2, batch_size=4, verbose=0)
    after = model.get_weights()
    names = [f"{layer.name}.{key}" for layer in model.layers for key in layer.params]
    moved = {name: not np.array_equal(a, b) for name, a, b in zip(names, before, after, strict=True)}
    assert moved == {
        "scaled_embedding.embeddings": True,
        "scaled_embedding.scales": False,
        "dense.kernel": True,
        "dense.bias": True,
    }
    assert len(model.optimizer.m) == 3  # slots for the trainable weights only


def test_a_frozen_embedding_first_layer_fits_unchanged_on_both_paths():
    rng = np.random.default_rng(4)
    x, y = tiny_data(rng)
    for fused in (True, False):
        model = npnet.Sequential(
            [layers.Embedding(10, 3), layers.GlobalAveragePooling1D(), layers.Dense(1, activation="sigmoid")],
            fused=fused,
        )
        model.build()
        model.layers[0].trainable = False
        model.compile(optimizers.Adam(1e-2), "binary_crossentropy")
        table = model.layers[0].params["embeddings"].copy()
        kernel = model.layers[2].params["kernel"].copy()
        model.fit(x, y, epochs=2, batch_size=4, verbose=0)
        np.testing.assert_array_equal(model.layers[0].params["embeddings"], table)
        assert not np.array_equal(model.layers[2].params["kernel"], kernel)


def test_summary_counts_the_constant_scales_as_non_trainable():
    model = models.nbsvm(10, np.ones(10))
    text = model.summary(print_fn=None)
    assert "Total params: 22" in text  # 10 weights + 10 scales + kernel + bias
    assert "Trainable params: 12" in text
    assert "Non-trainable params: 10" in text
    assert [w.size for w in model.trainable_weights] == [10, 1, 1]


def test_save_and_load_keep_the_scales(tmp_path):
    rng = np.random.default_rng(5)
    model = models.nbsvm(10, rng.normal(size=10))
    model.compile(optimizers.Adam(1e-2), "binary_crossentropy")
    x, y = tiny_data(rng)
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    model.save(tmp_path / "nbsvm.npnet")
    loaded = models.load_model(tmp_path / "nbsvm.npnet")
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


# ---- the model -----------------------------------------------------------------------------------------


def test_nbsvm_model_gradients_pass_the_checker():
    rng = np.random.default_rng(6)
    train, labels = sentiment_reviews(12, rng)
    data = nbsvm_inputs(train, labels, train, ngram_range=2)
    model = models.nbsvm(data.input_dim, data.ratio, dtype="float64")
    model.compile(optimizers.Adam(), "binary_crossentropy")
    # from its zero start the table's gradient is a pure function of the ratio: move it off zero first
    model.layers[0].params["embeddings"][:] = rng.normal(size=(data.input_dim, 1))
    report = gradcheck.check_model(model, data.x_train, labels)
    assert report.passed, str(report)
    assert report.max_rel_error < RTOL


@pytest.mark.parametrize("ngram_range", [1, 2, 3])
def test_nbsvm_learns_a_synthetic_sentiment_task(ngram_range):
    rng = np.random.default_rng(7)
    train, train_labels = sentiment_reviews(400, rng)
    test, test_labels = sentiment_reviews(200, rng)
    data = nbsvm_inputs(train, train_labels, test, ngram_range=ngram_range)
    model = models.nbsvm(data.input_dim, data.ratio, seed=0)
    model.compile(optimizers.Adam(1e-2), "binary_crossentropy", ["accuracy"])
    _, untrained = model.evaluate(data.x_test, test_labels)
    model.fit(data.x_train, train_labels, epochs=3, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(data.x_test, test_labels)
    assert untrained < 0.65  # a zero table predicts one class
    assert accuracy > 0.95
