"""The Keras names of issue 28 against Keras 3 itself (JAX, CPU): Precision, Recall and AUC on the same
predictions; the weighted loss and its training step; BatchNormalization's forward (batch and moving
statistics, under a mask) and its training steps; Masking before an LSTM; ReduceLROnPlateau,
LearningRateScheduler and CSVLogger fed the same scripted epochs; and `to_keras`'s twin predicting what
npnet predicts."""

from __future__ import annotations

import numpy as np
import pytest

import npnet
from npnet import callbacks, layers, losses, metrics, models, optimizers
from npnet.keras_export import to_keras

# parity.keras_side imports Keras on JAX with 64-bit types enabled first (a plain `import keras` would not).
keras_side = pytest.importorskip("parity.keras_side", reason="the Keras parity tests need the parity extra")
keras = keras_side.keras


pytestmark = pytest.mark.parity

F32 = {"rtol": 2e-6, "atol": 1e-7}


# ---- metrics -----------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_precision_recall_and_auc_count_as_keras_over_batches(seed):
    rng = np.random.default_rng(seed)
    batches = [
        (rng.integers(0, 2, size=(n, 1)).astype("float32"), rng.random((n, 1)).astype("float32"))
        for n in (7, 32, 5)
    ]
    batches.append(
        (np.array([[1.0], [0.0]], "float32"), np.array([[0.5], [1.0]], "float32"))
    )  # on thresholds
    pairs = [
        (metrics.Precision(), keras.metrics.Precision()),
        (metrics.Recall(), keras.metrics.Recall()),
        (metrics.AUC(), keras.metrics.AUC()),
        (metrics.AUC(num_thresholds=13), keras.metrics.AUC(num_thresholds=13)),
    ]
    for ours, theirs in pairs:
        for y, p in batches:
            ours.update_state(y, p)
            theirs.update_state(y, p)
            assert ours.result() == pytest.approx(float(theirs.result()), rel=1e-6, abs=1e-7), ours.name


# ---- sample weights ----------------------------------------------------------------------------------------


def test_the_weighted_loss_is_keras_sum_over_batch_size():
    rng = np.random.default_rng(2)
    y, p = rng.integers(0, 2, size=(9, 1)).astype("float64"), rng.random((9, 1))
    w = rng.random(9) * 3
    with keras_side.computing_like_npnet("float64"):
        theirs = float(keras.losses.BinaryCrossentropy()(y, p, sample_weight=w))
    assert losses.BinaryCrossentropy()(y, p, w.reshape(-1, 1)) == pytest.approx(theirs, rel=1e-12)


def _dense_pair(features: int = 5):
    ours = npnet.Sequential(
        [layers.Dense(3, activation="tanh"), layers.Dense(1, activation="sigmoid")], seed=3
    )
    ours.build((None, features))
    theirs = keras.Sequential(
        [
            keras.Input((features,)),
            keras.layers.Dense(3, activation="tanh"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    theirs.set_weights(ours.get_weights())
    ours.compile(optimizer=optimizers.SGD(0.3), loss="binary_crossentropy")
    theirs.compile(optimizer=keras.optimizers.SGD(0.3), loss="binary_crossentropy")
    return ours, theirs


@pytest.mark.slow
@pytest.mark.parametrize("weighting", ["sample_weight", "class_weight"])
def test_a_weighted_epoch_trains_as_keras(weighting):
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(24, 5)).astype("float32"), rng.integers(0, 2, size=24)
    weight = (
        {"sample_weight": rng.random(24) * 2}
        if weighting == "sample_weight"
        else {"class_weight": {0: 0.3, 1: 2.5}}
    )
    ours, theirs = _dense_pair()
    history = ours.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0, **weight)
    keras_history = theirs.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0, **weight)
    np.testing.assert_allclose(history.history["loss"], keras_history.history["loss"], **F32)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ---- layers ------------------------------------------------------------------------------------------------


def _norm_pair(**options):
    ours = layers.BatchNormalization(**options)
    ours.build((None, 6, 4), dtype="float64")
    theirs = keras.layers.BatchNormalization(**options)
    theirs.build((None, 6, 4))
    rng = np.random.default_rng(5)
    weights = [rng.normal(size=4) for _ in ours.params]
    weights[-1] = rng.random(4) + 0.5  # a variance
    ours.set_weights(weights)
    theirs.set_weights(weights)
    return ours, theirs


@pytest.mark.parametrize(
    "options", [{}, {"momentum": 0.8, "epsilon": 0.01}, {"center": False}, {"scale": False}]
)
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_batch_normalization_forward_and_moving_statistics_as_keras(options, training, masked):
    rng = np.random.default_rng(6)
    x = rng.normal(2.0, 3.0, size=(3, 6, 4))
    mask = rng.random((3, 6)) > 0.3 if masked else None
    with keras_side.computing_like_npnet("float64"):
        ours, theirs = _norm_pair(**options)
        expected = np.asarray(theirs(x, training=training, mask=mask))
    np.testing.assert_allclose(
        ours.forward(x, mask=mask, training=training), expected, rtol=1e-11, atol=1e-12
    )
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)


@pytest.mark.slow
def test_batch_normalization_trains_as_keras():
    rng = np.random.default_rng(7)
    x, y = rng.normal(1.0, 2.0, size=(32, 6, 4)).astype("float32"), rng.integers(0, 2, size=32)
    ours = npnet.Sequential(
        [
            layers.BatchNormalization(momentum=0.9),
            layers.GlobalAveragePooling1D(),
            layers.Dense(1, activation="sigmoid"),
        ],
        seed=1,
    )
    ours.build((None, 6, 4))
    theirs = keras.Sequential(
        [
            keras.Input((6, 4)),
            keras.layers.BatchNormalization(momentum=0.9),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    theirs.set_weights(ours.get_weights())
    ours.compile(optimizer=optimizers.Adam(0.01), loss="binary_crossentropy")
    theirs.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
    assert theirs.count_params() == ours.count_params()
    assert (
        sum(int(np.prod(w.shape)) for w in theirs.non_trainable_weights)
        == ours.count_params() - ours.count_trainable_params()
    )
    history = ours.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    keras_history = theirs.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], keras_history.history["loss"], rtol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):  # moving statistics included
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_a_frozen_layer_trains_as_keras():
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(16, 5)).astype("float32"), rng.integers(0, 2, size=16)
    ours, theirs = _dense_pair()
    ours.layers[0].trainable = False
    theirs.layers[0].trainable = False
    theirs.compile(optimizer=keras.optimizers.SGD(0.3), loss="binary_crossentropy")  # Keras wants it again
    ours.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    theirs.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_masking_before_an_lstm_predicts_as_keras():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(5, 7, 3)).astype("float32")
    x[0, 4:] = 0.0
    x[2, :3] = 0.0
    x[3, 5] = [0.0, 0.0, 1.0]  # one feature set: not masked
    ours = npnet.Sequential([layers.Masking(), layers.LSTM(4), layers.Dense(1, activation="sigmoid")], seed=2)
    ours.build((None, 7, 3))
    theirs = to_keras(ours)
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), **F32)
    keras_masking = keras.layers.Masking()
    np.testing.assert_array_equal(ours.layers[0].forward(x), np.asarray(keras_masking(x)))
    np.testing.assert_array_equal(
        ours.layers[0].compute_mask(x, None), np.asarray(keras_masking.compute_mask(x))
    )


@pytest.mark.slow
@pytest.mark.parametrize("architecture", sorted(models.ARCHITECTURES))
def test_to_keras_predicts_what_npnet_predicts(architecture):
    ours = models.build(
        architecture, num_words=50, embedding_dim=6, filters=5, hidden_units=7, units=4, seed=1
    )
    ours.build((None, 24))
    from parity.keras_transformer import EXAMPLE_LAYERS  # imports Keras: after the skip above

    theirs = to_keras(ours, custom=EXAMPLE_LAYERS)
    x = np.random.default_rng(0).integers(0, 50, size=(9, 24)).astype(np.int32)
    np.testing.assert_allclose(theirs.predict(x, verbose=0), ours.predict(x), rtol=2e-5, atol=1e-6)


def test_to_keras_keeps_frozen_layers_and_takes_float_inputs():
    ours = npnet.Sequential(
        [
            layers.SpatialDropout1D(0.3),
            layers.BatchNormalization(),
            layers.GlobalMaxPooling1D(),
            layers.Dense(1),
        ],
        seed=0,
    )
    ours.build((None, 5, 3))
    ours.layers[1].trainable = False
    theirs = to_keras(ours)
    assert not theirs.layers[1].trainable
    x = np.random.default_rng(1).normal(size=(4, 5, 3)).astype("float32")
    np.testing.assert_allclose(theirs.predict(x, verbose=0), ours.predict(x), **F32)
    with pytest.raises(ValueError, match=r"a functional npnet\.Model is not supported"):
        ids = npnet.Input((4,), dtype="int32")
        to_keras(
            npnet.Model(ids, layers.Dense(1)(layers.GlobalAveragePooling1D()(layers.Embedding(9, 2)(ids))))
        )


# ---- callbacks ---------------------------------------------------------------------------------------------


class _Optimizer:
    def __init__(self) -> None:
        self.learning_rate = 1.0


class _Model:
    """What the learning-rate callbacks touch: an optimizer with a learning rate."""

    def __init__(self) -> None:
        self.optimizer, self.stop_training = _Optimizer(), False


LOSSES = [1.0, 0.8, 0.81, 0.79, 0.795, 0.85, 0.7, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]


def _drive(callback, values: list[float], monitor: str = "val_loss") -> list[tuple[float, dict]]:
    model = _Model()
    callback.set_model(model)
    callback.on_train_begin()
    seen = []
    for epoch, value in enumerate(values):
        callback.on_epoch_begin(epoch)
        logs = {monitor: value}
        callback.on_epoch_end(epoch, logs)
        seen.append((model.optimizer.learning_rate, logs))
    return seen


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"patience": 1},
        {"patience": 2, "factor": 0.5, "min_delta": 0.015},
        {"patience": 1, "cooldown": 2},
        {"patience": 0, "factor": 0.5, "min_lr": 0.1},
        {"patience": 1, "monitor": "val_accuracy", "mode": "max"},
    ],
    ids=str,
)
def test_reduce_lr_on_plateau_decides_as_keras(kwargs):
    monitor = kwargs.get("monitor", "val_loss")
    ours = _drive(callbacks.ReduceLROnPlateau(**kwargs), LOSSES, monitor)
    theirs = _drive(keras.callbacks.ReduceLROnPlateau(**kwargs), LOSSES, monitor)
    assert [rate for rate, _ in ours] == pytest.approx([float(rate) for rate, _ in theirs])
    assert [logs["learning_rate"] for _, logs in ours] == pytest.approx(
        [logs["learning_rate"] for _, logs in theirs]
    )


def test_learning_rate_scheduler_sets_as_keras():
    def schedule(epoch, lr):
        return lr * 0.5 if epoch % 2 else lr + 0.25

    ours = _drive(callbacks.LearningRateScheduler(schedule), LOSSES[:5])
    theirs = _drive(keras.callbacks.LearningRateScheduler(schedule), LOSSES[:5])
    assert [rate for rate, _ in ours] == pytest.approx([float(rate) for rate, _ in theirs])


@pytest.mark.parametrize("separator", [",", ";"])
def test_csv_logger_writes_what_keras_writes(tmp_path, separator):
    epochs = [{"loss": 0.5, "accuracy": 0.75}, {"loss": 0.25, "accuracy": 0.875, "val_loss": 0.3}]
    for name, cls in (("ours", callbacks.CSVLogger), ("theirs", keras.callbacks.CSVLogger)):
        for append, start in ((False, 0), (True, 2)):  # a run, then its resumption
            logger = cls(str(tmp_path / f"{name}.csv"), separator=separator, append=append)
            logger.set_model(_Model())
            logger.on_train_begin()
            for epoch, logs in enumerate(epochs, start=start):
                logger.on_epoch_end(epoch, dict(logs))
            logger.on_train_end()
    assert (tmp_path / "ours.csv").read_text() == (tmp_path / "theirs.csv").read_text()
