"""EarlyStopping and ModelCheckpoint against Keras's own, fed the same scripted epoch logs.

Both callbacks see a stand-in model whose weights are the epoch number, so "which weights were restored" and
"which epochs were saved" are plain to compare. Keras's auto mode asks the compiled metric for its direction,
which a stand-in has none of; auto is compared on the loss, and accuracy with mode="max".
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("keras", reason="the Keras parity tests need the parity extra (keras, jax)")

import keras

from npnet import callbacks

pytestmark = pytest.mark.parity

LOSSES = [1.0, 0.8, 0.81, 0.79, 0.795, 0.85, 0.7, 0.9, 0.9, 0.9, 0.9, 0.9]
ACCURACIES = [0.5, 0.6, 0.6, 0.65, 0.64, 0.651, 0.66, 0.6, 0.7, 0.7, 0.69, 0.68]


class _Model:
    """Weights = [the epoch they were taken at]; records saves."""

    def __init__(self) -> None:
        self.epoch, self.stop_training, self.saved, self.weights = 0, False, [], [np.array(0.0)]

    def get_weights(self):
        return [np.array(float(self.epoch))]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]

    def save(self, path, overwrite=True):
        self.saved.append(str(path))

    def save_weights(self, path, overwrite=True):
        self.saved.append(str(path))


def _drive(callback, monitor: str, values: list[float]) -> dict:
    """Run `callback` over the scripted epochs (stopping when it says so); what it decided."""
    model = _Model()
    callback.set_model(model)
    callback.on_train_begin()
    stops = []
    for epoch, value in enumerate(values):
        model.epoch = epoch
        callback.on_epoch_begin(epoch)
        callback.on_epoch_end(epoch, {monitor: value, "other": 0.0})
        if model.stop_training:
            stops.append(epoch)
            break
    callback.on_train_end()
    return {
        "stopped_at": stops,
        "best": callback.best,
        "restored": float(model.weights[0]),
        "saved": model.saved,
        "best_epoch": getattr(callback, "best_epoch", None),
        "wait": getattr(callback, "wait", None),
    }


EARLY_STOPPING_CASES = [
    dict(monitor="val_loss"),
    dict(monitor="val_loss", patience=2),
    dict(monitor="val_loss", patience=2, min_delta=0.015),
    dict(monitor="val_loss", patience=3, restore_best_weights=True),
    dict(monitor="val_loss", patience=10, restore_best_weights=True),  # never stops: restores anyway
    dict(monitor="val_loss", patience=1, baseline=0.75),
    dict(monitor="val_loss", patience=2, start_from_epoch=3, restore_best_weights=True),
    dict(monitor="loss", patience=2, mode="min"),
    dict(monitor="val_accuracy", patience=2, mode="max", restore_best_weights=True),
    dict(monitor="val_accuracy", patience=1, mode="max", min_delta=0.02),
]


@pytest.mark.parametrize(
    "kwargs", EARLY_STOPPING_CASES, ids=lambda k: ",".join(f"{a}={v}" for a, v in k.items())
)
def test_early_stopping_decides_as_keras_does(kwargs):
    values = ACCURACIES if "accuracy" in kwargs["monitor"] else LOSSES
    ours = _drive(callbacks.EarlyStopping(**kwargs), kwargs["monitor"], values)
    theirs = _drive(keras.callbacks.EarlyStopping(**kwargs), kwargs["monitor"], values)
    assert ours == theirs


def test_early_stopping_auto_mode_maximizes_accuracy():
    early = callbacks.EarlyStopping(monitor="val_accuracy", patience=1, restore_best_weights=True)
    explicit = callbacks.EarlyStopping(
        monitor="val_accuracy", patience=1, mode="max", restore_best_weights=True
    )
    assert _drive(early, "val_accuracy", ACCURACIES) == _drive(explicit, "val_accuracy", ACCURACIES)
    with pytest.raises(ValueError, match="mode='max' or mode='min'"):
        _drive(callbacks.EarlyStopping(monitor="val_auc"), "val_auc", LOSSES)


CHECKPOINT_CASES = [
    dict(filepath="m-{epoch:02d}.keras"),
    dict(filepath="best.keras", save_best_only=True),
    dict(filepath="best-{epoch}.keras", save_best_only=True, monitor="val_loss"),
    dict(filepath="b.keras", save_best_only=True, monitor="val_accuracy", mode="max"),
    dict(filepath="t.keras", save_best_only=True, initial_value_threshold=0.8),
    dict(filepath="w-{epoch}.weights.h5", save_weights_only=True),
]


@pytest.mark.parametrize("kwargs", CHECKPOINT_CASES, ids=lambda k: ",".join(f"{a}={v}" for a, v in k.items()))
def test_model_checkpoint_saves_what_keras_saves(kwargs, tmp_path):
    kwargs = {**kwargs, "filepath": str(tmp_path / kwargs["filepath"])}
    monitor = kwargs.get("monitor", "val_loss")
    values = ACCURACIES if "accuracy" in monitor else LOSSES
    # npnet's model file is no .keras file: npnet's callback refuses that name, so it saves to .npnet
    npnet_kwargs = {**kwargs, "filepath": kwargs["filepath"].replace(".keras", ".npnet")}
    ours = _drive(callbacks.ModelCheckpoint(**npnet_kwargs), monitor, values)
    ours["saved"] = [path.replace(".npnet", ".keras") for path in ours["saved"]]
    theirs = _drive(keras.callbacks.ModelCheckpoint(**kwargs), monitor, values)
    assert ours == theirs
    assert ours["saved"]  # every case saves something
