"""Keras's names where users reach for them, with Keras's semantics (numbers against Keras itself:
tests/parity/test_parity_keras_names.py): the stateful metrics over an epoch, sample and class weights,
evaluate(return_dict=True), the learning-rate, CSV and lambda callbacks, the refused Keras file names,
errors naming what the user called, and npnet.utils / npnet.layers.Input."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

import npnet
from npnet import callbacks, layers, losses, metrics, optimizers

VOCAB = 30


def data(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(1, VOCAB, size=(n, 8)), rng.integers(0, 2, size=n)


def small_model(seed: int = 0, **compile_args) -> npnet.Sequential:
    model = npnet.Sequential(
        [layers.Embedding(VOCAB, 4), layers.GlobalAveragePooling1D(), layers.Dense(1, activation="sigmoid")],
        seed=seed,
        dtype="float64",
    )
    model.compile(**{"optimizer": optimizers.SGD(0.5), "loss": "binary_crossentropy", **compile_args})
    return model


# ---- metrics ---------------------------------------------------------------------------------------------


def col(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64).reshape(-1, 1)


def test_precision_and_recall_count_over_every_batch_since_the_reset():
    precision, recall = metrics.Precision(), metrics.Recall()
    for m in (precision, recall):
        m.update_state(col(1, 0, 1), col(0.9, 0.8, 0.2))  # tp, fp, fn
        m.update_state(col(1, 0), col(0.7, 0.5))  # tp; 0.5 is not > 0.5: tn
    assert precision.result() == 2 / 3 and recall.result() == 2 / 3
    precision.reset_state()
    assert precision.result() == 0.0  # nothing predicted positive: 0, not a division by zero


def test_auc_of_a_perfect_a_reversed_and_a_tied_ranking():
    auc = metrics.AUC()
    auc.update_state(col(0, 0, 1, 1), col(0.1, 0.3, 0.6, 0.9))
    assert auc.result() == pytest.approx(1.0)
    auc.reset_state()
    auc.update_state(col(1, 1, 0, 0), col(0.1, 0.3, 0.6, 0.9))
    assert auc.result() == pytest.approx(0.0)
    auc.reset_state()
    auc.update_state(col(0, 1, 0, 1), col(0.5, 0.5, 0.5, 0.5))
    assert auc.result() == pytest.approx(0.5)


def test_auc_matches_the_rank_statistic_on_well_separated_thresholds():
    """On predictions in distinct threshold buckets the trapezoid ROC area is Mann-Whitney's U / (n+ n-)."""
    rng = np.random.default_rng(0)
    p = (rng.permutation(150) + 0.5) / 199  # 150 distinct buckets
    y = (rng.random(150) < p).astype(float)
    auc = metrics.AUC()
    auc.update_state(y.reshape(-1, 1), p.reshape(-1, 1))
    positives, negatives = p[y == 1], p[y == 0]
    u = (positives[:, None] > negatives[None, :]).mean()
    assert auc.result() == pytest.approx(u, abs=1e-12)


def test_compile_takes_the_names_and_fit_logs_the_whole_epochs_value():
    x, y = data()
    model = small_model(metrics=["accuracy", "precision", "recall", "auc"])
    assert model.metrics_names == ["loss", "accuracy", "precision", "recall", "auc"]
    seen = []
    spy = callbacks.LambdaCallback(on_batch_end=lambda batch, logs: seen.append(dict(logs)))
    history = model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0, callbacks=[spy])
    # The epoch's value is the last batch's running value: the counts of every batch of the epoch, not a
    # mean of per-batch values.
    for name in ("precision", "recall", "auc"):
        assert history.history[name][0] == seen[-1][name]
    # And evaluate counts over all of x from a fresh state.
    first = model.evaluate(x, y, batch_size=8, return_dict=True)
    again = model.evaluate(x, y, batch_size=40, return_dict=True)
    for name in ("precision", "recall", "auc"):
        assert first[name] == pytest.approx(again[name], abs=1e-12)
    assert list(first) == model.metrics_names


def test_a_model_with_stateful_metrics_saves_and_loads(tmp_path):
    model = small_model(metrics=[metrics.AUC(num_thresholds=50, name="roc"), "precision"])
    model.fit(*data(), epochs=1, verbose=0)
    model.save(tmp_path / "m.npnet")
    loaded = npnet.models.load_model(tmp_path / "m.npnet")
    assert [m.get_config() for m in loaded.metrics] == [m.get_config() for m in model.metrics]


# ---- sample and class weights ------------------------------------------------------------------------------


def test_sample_weights_weigh_the_loss_over_the_batch_size():
    y, p = col(1, 0, 1, 0), col(0.8, 0.4, 0.3, 0.1)
    w = col(2.0, 0.0, 1.0, 0.5)
    loss = losses.BinaryCrossentropy()
    per_sample = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert loss(y, p, w) == pytest.approx(float((w * per_sample).sum() / 4), rel=1e-12)  # / 4, not / sum(w)
    np.testing.assert_allclose(loss.gradient(y, p, w), loss.gradient(y, p) * w, rtol=1e-12)


def test_a_zero_weight_sample_does_not_move_the_weights():
    x, y = data(8)
    weights = np.zeros(8)
    weights[:4] = 1.0
    model, reference = small_model(), small_model()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, sample_weight=weights)
    # The same step on the first four samples alone, the loss scaled by 4/8 (the batch size is 8).
    reference.compile(optimizer=optimizers.SGD(0.25), loss="binary_crossentropy")
    reference.fit(x[:4], y[:4], epochs=1, batch_size=4, verbose=0)
    for a, b in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_class_weight_is_the_sample_weight_of_each_class():
    x, y = data()
    by_class, by_sample = small_model(), small_model()
    h1 = by_class.fit(x, y, epochs=2, batch_size=8, verbose=0, class_weight={0: 0.5, 1: 2.0})
    h2 = by_sample.fit(x, y, epochs=2, batch_size=8, verbose=0, sample_weight=np.where(y == 1, 2.0, 0.5))
    assert h1.history["loss"] == h2.history["loss"]  # the same computation
    with pytest.raises(ValueError, match="class_weight or sample_weight, not both"):
        by_class.fit(x, y, verbose=0, class_weight={0: 1.0, 1: 1.0}, sample_weight=np.ones(len(y)))
    with pytest.raises(ValueError, match="no weight for class \\[1\\]"):
        by_class.fit(x, y, verbose=0, class_weight={0: 1.0})
    with pytest.raises(ValueError, match="sample_weight must have shape \\(40,\\)"):
        by_class.fit(x, y, verbose=0, sample_weight=np.ones(3))


def test_evaluate_weighs_the_loss_and_returns_a_dict():
    x, y = data()
    model = small_model(metrics=["accuracy"])
    plain = model.evaluate(x, y, return_dict=True)
    doubled = model.evaluate(x, y, sample_weight=np.full(len(y), 2.0), return_dict=True)
    assert doubled["loss"] == pytest.approx(2 * plain["loss"], rel=1e-12)
    assert doubled["accuracy"] == plain["accuracy"]  # metrics are not weighted, as in Keras
    assert model.evaluate(x, y) == list(plain.values())


# ---- callbacks ---------------------------------------------------------------------------------------------


def test_reduce_lr_on_plateau_lowers_the_rate_the_next_step_uses():
    x, y = data()
    model = small_model()
    rates = []
    reduce = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=10.0, min_lr=0.1)
    spy = callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: rates.append(model.optimizer.learning_rate)
    )
    history = model.fit(x, y, epochs=4, verbose=0, callbacks=[spy, reduce])
    # min_delta=10: no epoch after the first improves, so the rate halves each epoch from the second, to 0.1.
    assert rates == [0.5, 0.5, 0.25, 0.125]
    # Keras logs the rate the epoch trained with, before it reduces it.
    assert history.history["learning_rate"] == [0.5, 0.5, 0.25, 0.125]
    assert model.optimizer.learning_rate == 0.1
    with pytest.raises(ValueError, match=r"factor >= 1\.0"):
        callbacks.ReduceLROnPlateau(factor=1.0)


def test_learning_rate_scheduler_sets_the_rate_at_each_epoch_begin():
    x, y = data(16)
    model = small_model()
    calls = []

    def schedule(epoch: int, lr: float) -> float:
        calls.append((epoch, lr))
        return lr / 2 if epoch else 0.2

    history = model.fit(
        x, y, epochs=3, batch_size=16, verbose=0, callbacks=[callbacks.LearningRateScheduler(schedule)]
    )
    assert calls == [(0, 0.5), (1, 0.2), (2, 0.1)]
    assert history.history["learning_rate"] == [0.2, 0.1, 0.05]
    # The rate took effect: one step at 0.05 from the weights before it is what the last epoch did.
    replay = small_model()
    replay.optimizer.learning_rate = 0.2
    replay.fit(x, y, epochs=1, batch_size=16, verbose=0)
    replay.optimizer.learning_rate = 0.1
    replay.fit(x, y, epochs=1, batch_size=16, verbose=0)
    replay.optimizer.learning_rate = 0.05
    replay.fit(x, y, epochs=1, batch_size=16, verbose=0)
    for a, b in zip(model.get_weights(), replay.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="must return a float"):
        model.fit(x, y, verbose=0, callbacks=[callbacks.LearningRateScheduler(lambda epoch, lr: "fast")])


def test_csv_logger_streams_one_row_per_epoch_and_appends(tmp_path):
    x, y = data()
    path = tmp_path / "log.csv"
    model = small_model(metrics=["accuracy"])
    rows_after_first_epoch = []
    peek = callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: rows_after_first_epoch.append(path.read_text())
    )
    model.fit(x, y, epochs=2, verbose=0, callbacks=[callbacks.CSVLogger(path), peek])
    assert rows_after_first_epoch[0].count("\n") == 2  # header + epoch 0, on disk before the next epoch
    model.fit(x, y, epochs=3, initial_epoch=2, verbose=0, callbacks=[callbacks.CSVLogger(path, append=True)])
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert rows[0]["val_loss"] == "NA"
    assert math.isclose(float(rows[2]["loss"]), model.history.history["loss"][0])


def test_lambda_callback_calls_what_it_was_given():
    x, y = data(16)
    events = []
    hooks = callbacks.LambdaCallback(
        on_train_begin=lambda logs: events.append("train"),
        on_epoch_end=lambda epoch, logs: events.append(f"epoch {epoch} {sorted(logs)}"),
        on_train_batch_end=lambda batch, logs: events.append(f"batch {batch}"),
    )
    small_model().fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[hooks])
    assert events == [
        "train",
        "batch 0",
        "batch 1",
        "epoch 0 ['loss']",
        "batch 0",
        "batch 1",
        "epoch 1 ['loss']",
    ]


# ---- files, errors, names ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["m.keras", "m.h5", "weights.HDF5"])
def test_save_refuses_a_keras_file_name_and_says_what_to_do(tmp_path, name):
    with pytest.raises(ValueError, match=r"npnet writes its own model file.*\.npnet.*to_keras"):
        small_model().save(tmp_path / name)
    assert not (tmp_path / name).exists()
    with pytest.raises(ValueError, match="npnet writes its own model file"):
        callbacks.ModelCheckpoint(str(tmp_path / name))


def test_errors_name_what_the_user_called():
    model = small_model()
    with pytest.raises(
        TypeError, match=r"^Model\.fit\(\) got an unexpected keyword argument 'unknown_kwarg'"
    ):
        model.fit(*data(), unknown_kwarg=1)
    with pytest.raises(TypeError, match=r"^Model\.evaluate\(\)"):
        model.evaluate(*data(), steps=3)


def test_keras_import_paths():
    from npnet.layers import Input
    from npnet.utils import pad_sequences

    assert Input is npnet.Input
    np.testing.assert_array_equal(pad_sequences([[1, 2], [3]], maxlen=3), [[0, 1, 2], [0, 0, 3]])
