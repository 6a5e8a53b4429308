"""A checkpoint of a model with a frozen weight (ScaledEmbedding's scales: no optimizer slot) reads back with
each slot beside its own weight, and refuses a model whose trainable weights sit elsewhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from npnet import models, optimizers
from npnet.errors import FileFormatError
from npnet.saving import checkpoints


def trained_nbsvm(frozen: bool = True) -> models.Sequential:
    model = models.nbsvm(12, np.linspace(-1, 1, 12), seed=0)
    if not frozen:
        model.layers[0].trainable = False  # the whole table frozen: other positions are trainable
    model.compile(optimizers.Adam(learning_rate=0.1), "binary_crossentropy")
    x = np.array([[1, 3, 5, 0], [2, 4, 0, 0], [6, 7, 8, 9]])
    model.fit(x, np.array([1, 0, 1]), epochs=2, batch_size=2, verbose=0)
    return model


def test_slots_are_checked_against_the_trainable_weights(tmp_path: Path) -> None:
    model = trained_nbsvm()
    assert checkpoints.trainable_positions(model) == [0, 2, 3]  # embeddings, kernel, bias; not scales
    path = tmp_path / "c.npz"
    checkpoints.save(path, checkpoints.capture(model, 2, {"loss": [0.7, 0.6]}, {}))
    state = checkpoints.load(path)
    assert state.trainable == [0, 2, 3]
    fresh = models.nbsvm(12, seed=1)
    fresh.compile(optimizers.Adam(learning_rate=0.1), "binary_crossentropy")
    checkpoints.restore(fresh, state)
    for a, b in zip(fresh.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert fresh.optimizer.get_state().keys() == model.optimizer.get_state().keys()


def test_a_model_with_other_trainable_weights_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    checkpoints.save(path, checkpoints.capture(trained_nbsvm(), 2, {"loss": [0.7, 0.6]}, {}))
    other = trained_nbsvm(frozen=False)
    with pytest.raises(FileFormatError, match="trainable weights"):
        checkpoints.restore(other, checkpoints.load(path))
