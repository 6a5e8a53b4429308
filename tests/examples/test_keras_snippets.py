"""Ordinary Keras 3 code runs on npnet with its imports changed and nothing else: a Conv1D text model, LSTMs
under masks (Embedding(mask_zero=True) in a functional model, Masking on padded features), and the usual
callbacks. Each snippet is kept as Keras code; the test swaps its import lines (`IMPORTS`) and runs it on
small random data."""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# The only change a Keras script needs.
IMPORTS = {"import keras": "import npnet as keras", "from keras import layers": "from npnet import layers"}

DATA = """
import numpy as np

rng = np.random.default_rng(0)
x_train = rng.integers(1, 200, size=(64, 40))
y_train = rng.integers(0, 2, size=(64,))
"""

CONV1D_TEXT_MODEL = """
import keras
from keras import layers

model = keras.Sequential(
    [
        keras.Input(shape=(40,), dtype="int32"),
        layers.Embedding(200, 16),
        layers.Dropout(0.2),
        layers.Conv1D(32, 5, padding="valid", activation="relu", strides=1),
        layers.GlobalMaxPooling1D(),
        layers.Dense(16, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(1, activation="sigmoid"),
    ]
)
model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy", keras.metrics.AUC()])
model.summary()
history = model.fit(x_train, y_train, batch_size=16, epochs=2, validation_split=0.25)
loss, accuracy, auc = model.evaluate(x_train, y_train, verbose=0)
"""

MASKED_LSTMS = """
import keras
from keras import layers

sequences = [list(row[: 5 + i % 30]) for i, row in enumerate(x_train)]
padded = keras.utils.pad_sequences(sequences, maxlen=40, padding="post")

inputs = keras.Input(shape=(None,), dtype="int32")
x = layers.Embedding(200, 16, mask_zero=True)(inputs)
x = layers.Bidirectional(layers.LSTM(8))(x)
outputs = layers.Dense(1, activation="sigmoid")(x)
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(padded, y_train, batch_size=16, epochs=1, verbose=0)

features = np.zeros((64, 12, 3), dtype="float32")
for i in range(64):
    features[i, : 3 + i % 9] = rng.normal(size=(3 + i % 9, 3))
masked = keras.Sequential(
    [
        keras.Input(shape=(12, 3)),
        layers.Masking(mask_value=0.0),
        layers.LSTM(8),
        layers.BatchNormalization(),
        layers.Dense(1, activation="sigmoid"),
    ]
)
masked.compile(optimizer="adam", loss="binary_crossentropy", metrics=["precision", "recall"])
results = masked.fit(features, y_train, batch_size=16, epochs=2, verbose=0).history
probabilities = masked.predict(features, verbose=0)
"""

CALLBACKS = """
import keras
from keras import layers

model = keras.Sequential(
    [
        keras.Input(shape=(40,), dtype="int32"),
        layers.Embedding(200, 8),
        layers.GlobalAveragePooling1D(),
        layers.Dense(1, activation="sigmoid"),
    ]
)
optimizer = keras.optimizers.Adam(learning_rate=0.01)
model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy"])
callbacks = [
    keras.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True),
    keras.callbacks.ModelCheckpoint(
        "best.weights.h5", monitor="val_loss", save_best_only=True, save_weights_only=True
    ),
    keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, min_lr=1e-5),
    keras.callbacks.CSVLogger("training.csv"),
]
history = model.fit(
    x_train, y_train, validation_split=0.2, epochs=6, batch_size=16, callbacks=callbacks, verbose=2
)
"""


def run_on_npnet(snippet: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run `snippet` (Keras code) with its import lines swapped for npnet's, in `folder`; its globals."""
    lines = textwrap.dedent(snippet).splitlines()
    swapped = [IMPORTS.get(line, line) for line in lines]
    assert swapped != lines, "the snippet imports Keras: that is what is swapped"
    assert not any(
        "keras" in line and line.startswith(("import", "from"))
        for line in swapped
        if line not in IMPORTS.values()
    )
    monkeypatch.chdir(folder)
    namespace: dict[str, Any] = {}
    exec(compile(DATA + "\n".join(swapped), "<keras snippet>", "exec"), namespace)
    return namespace


def test_a_conv1d_text_model(tmp_path, monkeypatch, capsys):
    ran = run_on_npnet(CONV1D_TEXT_MODEL, tmp_path, monkeypatch)
    assert set(ran["history"].history) == {"loss", "accuracy", "auc", "val_loss", "val_accuracy", "val_auc"}
    assert 0 <= ran["auc"] <= 1 and 0 <= ran["accuracy"] <= 1
    assert "Trainable params" in capsys.readouterr().out
    assert ran["model"].input_shape == (None, 40)  # from keras.Input


def test_lstms_under_masks(tmp_path, monkeypatch):
    ran = run_on_npnet(MASKED_LSTMS, tmp_path, monkeypatch)
    assert ran["padded"].shape == (64, 40) and (ran["padded"][:, -1] == 0).any()  # post-padded
    assert set(ran["results"]) == {"loss", "precision", "recall"}
    assert ran["probabilities"].shape == (64, 1)
    # The masked steps change nothing: sample 0 has 3 real steps, and its 9 padded ones are skipped.
    model, features = ran["masked"], ran["features"]
    np.testing.assert_allclose(
        model.predict(features[:1, :3], verbose=0), ran["probabilities"][:1], rtol=1e-6
    )


def test_the_usual_callbacks(tmp_path, monkeypatch):
    ran = run_on_npnet(CALLBACKS, tmp_path, monkeypatch)
    history = ran["history"].history
    assert "learning_rate" in history  # ReduceLROnPlateau logs it, as Keras's
    with (tmp_path / "training.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == ran["history"].epoch
    assert (tmp_path / "best.weights.h5").is_file()
    # EarlyStopping restored the weights of the epoch of least val_loss: those the checkpoint saved last.
    early_stopping = ran["callbacks"][0]
    assert early_stopping.best_epoch == int(np.argmin(history["val_loss"]))
    restored = [w.copy() for w in ran["model"].get_weights()]
    ran["model"].load_weights(tmp_path / "best.weights.h5")
    for a, b in zip(restored, ran["model"].get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
