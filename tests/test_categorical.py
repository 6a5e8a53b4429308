"""Softmax outputs end to end: the softmax activation, the categorical losses (values, Keras's clip and row
normalisation, label checks), the accuracies (argmax ties as Keras), and fit/evaluate/predict/save on a
softmax model with integer and one-hot labels."""

import math

import numpy as np
import pytest

import npnet
from npnet import activations, layers, losses, metrics
from npnet.models import load_model

SCCE, CCE = losses.SparseCategoricalCrossentropy, losses.CategoricalCrossentropy


def test_softmax_is_stable_and_normalised():
    z = np.array([[1000.0, 999.0, -1000.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise"):
        p = activations.softmax(z)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(p[0, :2], [1 / (1 + math.exp(-1)), 1 / (1 + math.exp(1))], rtol=1e-6)
    assert p[0, 2] == 0 and np.allclose(p[1], 1 / 3)
    dense = layers.Dense(2, activation="softmax")
    assert isinstance(dense.activation, layers.Softmax)
    assert isinstance(layers.Dense(2, activation=activations.softmax).activation, layers.Softmax)


def test_sparse_categorical_crossentropy_by_hand():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    assert SCCE()(np.array([0, 1]), p) == pytest.approx(-(math.log(0.7) + math.log(0.1)) / 2, rel=1e-14)
    assert SCCE()(np.array([0, 1]), p) == CCE()(np.eye(3)[[0, 1]], p)


def test_probabilities_are_normalised_then_clipped_as_keras():
    # a row summing to 2 is halved first; a zero probability costs -log(1e-7), not infinity
    p = np.array([[0.4, 1.6], [1.0, 0.0]])
    assert SCCE()(np.array([0, 1]), p) == pytest.approx(-(math.log(0.2) + math.log(1e-7)) / 2, rel=1e-12)
    grad = SCCE().gradient(np.array([0, 1]), p)
    assert grad[1].tolist() == [0.0, 0.0]  # the clipped label's term is flat
    # -(1/q_y - 1) / S / n at the label, +1 / S / n elsewhere (S = 2, n = 2, q_y = 0.2)
    np.testing.assert_allclose(grad[0], [-(1 / 0.2 - 1) / 2 / 2, 1 / 2 / 2], rtol=1e-12)


def test_from_logits_is_finite_for_extreme_logits_and_matches_probabilities():
    z = np.array([[1e4, -1e4, 0.0], [0.5, -0.2, 0.1]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = SCCE(from_logits=True)(np.array([1, 2]), z)
        grad = SCCE(from_logits=True).gradient(np.array([1, 2]), z)
    assert loss == pytest.approx((2e4 + -math.log(activations.softmax(z[1])[2])) / 2, rel=1e-12)
    np.testing.assert_allclose(grad[0], [0.5, -0.5, 0.0], atol=1e-15)
    p = activations.softmax(z[1:])
    assert SCCE(from_logits=True)(np.array([2]), z[1:]) == pytest.approx(SCCE()(np.array([2]), p), rel=1e-12)


def test_label_checks_name_the_problem_and_the_fix():
    with pytest.raises(ValueError, match=r"integer class ids 0, 1, \.\.\., found 1\.5 at index"):
        SCCE().prepare_labels(np.array([0, 1.5]), 2, np.dtype("float32"))
    with pytest.raises(ValueError, match="found -1"):
        SCCE().prepare_labels(np.array([0, -1]), 2, np.dtype("float32"))
    with pytest.raises(ValueError, match="x and y differ in length: 3 samples but 2 labels"):
        SCCE().prepare_labels(np.array([0, 1]), 3, np.dtype("float32"))
    assert SCCE().prepare_labels(np.array([[2], [0]]), 2, np.dtype("float32")).tolist() == [2, 0]
    with pytest.raises(ValueError, match=r"class id 3 is outside \[0, 2\).*give the last Dense 4 units"):
        SCCE()(np.array([0, 3]), np.full((2, 2), 0.5))
    with pytest.raises(
        ValueError, match=r"one-hot rows .* for integer class ids use loss=.sparse_categorical"
    ):
        CCE().prepare_labels(np.array([0, 1]), 2, np.dtype("float32"))
    with pytest.raises(ValueError, match="same shape"):
        CCE()(np.eye(3)[:2], np.full((2, 2), 0.5))


def test_accuracies_break_ties_to_the_first_class_as_keras():
    p = np.array([[0.4, 0.4, 0.2], [0.2, 0.4, 0.4], [0.1, 0.2, 0.7]])
    assert metrics.SparseCategoricalAccuracy()(np.array([0, 1, 2]), p) == 1.0
    assert metrics.SparseCategoricalAccuracy()(np.array([1, 2, 2]), p) == pytest.approx(1 / 3)
    assert metrics.CategoricalAccuracy()(np.eye(3)[[0, 2, 2]], p) == pytest.approx(2 / 3)


def test_accuracy_follows_the_loss():
    sparse = metrics.get("accuracy", loss="sparse_categorical_crossentropy")
    assert isinstance(sparse, metrics.SparseCategoricalAccuracy) and sparse.name == "accuracy"
    assert isinstance(metrics.get("acc", loss="categorical_crossentropy"), metrics.CategoricalAccuracy)
    assert isinstance(metrics.get("accuracy"), metrics.BinaryAccuracy)
    for metric in (sparse, metrics.BinaryAccuracy(threshold=0.3, from_logits=True)):
        again = metrics.from_config(metric.get_config())
        assert type(again) is type(metric) and again.get_config() == metric.get_config()


def softmax_model(classes: int = 3) -> npnet.Sequential:
    return npnet.Sequential(
        [
            layers.Embedding(40, 8),
            layers.GlobalAveragePooling1D(),
            layers.Dense(6, activation="relu"),
            layers.Dense(classes, activation="softmax"),
        ],
        seed=0,
    )


@pytest.mark.parametrize("one_hot", [False, True])
def test_fit_evaluate_predict_and_save_with_a_softmax_output(tmp_path, one_hot):
    rng = np.random.default_rng(0)
    x = rng.integers(1, 40, size=(60, 10))
    ids = x[:, 0] % 3  # learnable: the class is in the first token
    y = np.eye(3)[ids] if one_hot else ids
    model = softmax_model()
    loss = "categorical_crossentropy" if one_hot else "sparse_categorical_crossentropy"
    model.compile(optimizer=npnet.optimizers.Adam(learning_rate=0.05), loss=loss, metrics=["accuracy"])
    history = model.fit(x, y, epochs=15, batch_size=16, verbose=0, validation_split=0.2)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    p = model.predict(x)
    assert p.shape == (60, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
    loss_value, accuracy = model.evaluate(x, y, batch_size=7)
    expected = -np.mean(np.log(np.clip(p[np.arange(60), ids], 1e-7, 1 - 1e-7)))
    assert loss_value == pytest.approx(expected, rel=1e-5)
    assert accuracy == pytest.approx(np.mean(p.argmax(axis=1) == ids))
    model.save(tmp_path / "m.npnet")
    loaded = load_model(tmp_path / "m.npnet")
    assert type(loaded.loss) is type(model.loss) and loaded.metrics_names == ["loss", "accuracy"]
    assert loaded.evaluate(x, y, batch_size=7) == pytest.approx([loss_value, accuracy], rel=1e-6)


def test_a_binary_model_still_refuses_class_ids_beyond_one():
    model = npnet.Sequential([layers.Embedding(10, 2), layers.GlobalAveragePooling1D(), layers.Dense(1)])
    model.compile(loss="binary_crossentropy")
    with pytest.raises(ValueError, match="must hold binary labels 0 or 1, found 2"):
        model.train_on_batch(np.ones((2, 3), dtype=int), np.array([0, 2]))


def test_the_transformer_model_saves_and_loads_with_its_training_state(tmp_path):
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 30, size=(16, 8)), rng.integers(0, 2, size=16)
    model = npnet.models.transformer(30, 8, 4, 2, 6, 5, dropout=0.1, mask_zero=True, seed=3)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "t.npnet")
    loaded = load_model(tmp_path / "t.npnet")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    # the same next step: weights, Adam's state and the dropout generator all came back
    assert loaded.train_on_batch(x, y) == model.train_on_batch(x, y)
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
