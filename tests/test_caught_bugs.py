"""Fast tests for bugs the suite once let through: each was applied by hand to the code
and these tests failed; each names the bug it guards against."""

from __future__ import annotations

import errno
import os
import stat

import numpy as np
import pytest

from npnet import atomic, callbacks, gradcheck, layers, models, optimizers, runs
from npnet.datasets import imdb
from npnet.datasets.build import write_npz
from npnet.datasets.ragged import object_array
from npnet.errors import FileFormatError
from npnet.saving import archive


def small_model(seed: int = 0) -> models.Sequential:
    model = models.build("notebook", num_words=30, embedding_dim=4, hidden_units=4, seed=seed)
    model.compile(
        optimizer=optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy", metrics=["accuracy"]
    )
    return model


def test_validation_split_holds_out_the_last_part():
    """Keras's validation_split: the *last* fraction (not the first) is held out."""
    x, y = np.arange(20).reshape(10, 2), np.arange(10)
    (x_train, y_train), (x_val, y_val) = runs.split_validation(x, y, 0.3)
    np.testing.assert_array_equal(x_train, x[:7])
    assert y_train.tolist() == list(range(7)) and y_val.tolist() == [7, 8, 9]
    np.testing.assert_array_equal(x_val, x[7:])


def test_fit_resets_stop_training():
    """A callback stopped the first fit; the second fit (no callback) must train all its epochs."""

    class StopAtOnce(callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            self.model.stop_training = True

    rng = np.random.default_rng(0)
    x, y = rng.integers(1, 30, size=(16, 6)), rng.integers(0, 2, size=16)
    model = small_model()
    model.fit(x, y, epochs=3, batch_size=4, callbacks=[StopAtOnce()], verbose=0)
    assert model.optimizer.iterations == 1
    history = model.fit(x, y, epochs=3, batch_size=4, verbose=0)
    assert history.epoch == [0, 1, 2] and model.optimizer.iterations == 1 + 3 * 4


def test_adam_moves_elements_whose_gradient_is_zero_now():
    """Not "lazy" Adam: an element with a zero gradient this step still moves by its first moment."""
    p = np.array([1.0, 1.0])
    adam = optimizers.Adam(learning_rate=0.1)
    adam.apply_gradients([(np.array([1.0, 1.0]), p)])
    before = p.copy()
    adam.apply_gradients([(np.array([0.0, 1.0]), p)])
    assert p[0] < before[0]  # m = 0.9 * m_prev > 0 keeps pushing it down
    # the same through a whole model (the fused training path): embedding row 7 is used, then not
    model = small_model()
    x1, x2 = np.full((4, 6), 7), np.full((4, 6), 8)
    model.train_on_batch(x1, np.ones(4))
    row = model.layers[0].params["embeddings"][7].copy()
    model.train_on_batch(x2, np.ones(4))
    assert not np.array_equal(model.layers[0].params["embeddings"][7], row)


def test_set_state_copies_the_callers_arrays():
    source = optimizers.Adam(learning_rate=0.1)
    source.apply_gradients([(np.ones(3), np.zeros(3))])
    state = source.get_state()
    target = optimizers.Adam(learning_rate=0.1)
    target.set_state(state)
    for value in state.values():
        value[...] = 123  # the caller reuses its arrays
    assert all(not np.any(v == 123) for v in target.get_state().values())


def test_load_weights_matches_classes_and_names_not_only_shapes(tmp_path):
    """A file whose shapes fit but whose manifest names another layer class or parameter is refused."""
    path = tmp_path / "w.npz"
    small_model().save_weights(path)
    arrays, header = archive.load_arrays(path, kind="weights")
    for field, value in (("class", "Conv1D"), ("param", "recurrent_kernel")):
        manifest = [dict(entry) for entry in header["manifest"]]
        manifest[2][field] = value  # the hidden Dense's kernel, same shape
        archive.save_arrays(path, arrays, kind="weights", meta={"manifest": manifest})
        with pytest.raises(FileFormatError, match="different architecture"):
            small_model(seed=1).load_weights(path)


def test_the_flat_cache_refuses_ids_below_1(tmp_path):
    """A cache (keyed by the right digest) holding id 0 is not used: read_flat rebuilds it from the npz."""
    npz = tmp_path / "imdb.npz"
    with open(npz, "wb") as f:
        x = object_array([[1, 2], [3]])
        write_npz(f, {"x_train": x, "y_train": np.array([0, 1]), "x_test": x, "y_test": np.array([1, 0])})
    good = imdb.read_flat(npz)
    bad = imdb.ImdbArrays(
        imdb.Ragged(np.array([0, 2, 3]), np.array([2, 1])), good.y_train, good.x_test, good.y_test
    )
    imdb.write_flat_cache(npz, bad)
    assert imdb.read_flat(npz).x_train.values.tolist() == [1, 2, 3]


def test_atomic_write_fsyncs_and_makes_an_ordinary_readable_file(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    old_umask = os.umask(0o022)
    try:
        atomic.atomic_write(tmp_path / "f", lambda f: f.write(b"data"))
    finally:
        os.umask(old_umask)
    assert len(synced) == 1  # the data is on disk before the rename makes it visible
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o644  # not mkstemp's private 0600


def test_gradcheck_default_noise_floor_is_10_eps_f_over_h():
    """A bias gradient off by 3x the documented floor (10 eps max(1, |f|) / h) fails the default check; a
    floor 10x looser would pass it."""
    eps = np.finfo(np.float64).eps
    floor = 10 * eps * 1.0 / eps ** (1 / 3)  # |f| terms < 1 here, bias 0: h = step = eps^(1/3)

    class BiasGradOffByThreeFloors(layers.Dense):
        def backward(self, grad_out):
            grad_in = super().backward(grad_out)
            self.grads["bias"][0] += 3 * floor
            return grad_in

    x = np.array([[0.1, -0.2, 0.05], [0.02, 0.1, -0.1]])
    grad_out = np.array([[0.1, 0.2], [-0.1, -0.2]])  # columns sum to 0: the true bias gradient is exactly 0
    for layer, passes in ((layers.Dense(2), True), (BiasGradOffByThreeFloors(2), False)):
        layer.build((None, 3))
        report = gradcheck.check_layer(layer, x, grad_out=grad_out, seed=0)
        assert report.passed is passes, report


@pytest.mark.parametrize("built", [False, True])
@pytest.mark.parametrize("entry", ["fit", "evaluate", "predict", "train_on_batch", "validation_data"])
def test_one_axis_x_is_refused_in_words_by_every_entry_point(entry, built):
    """fit/evaluate/predict with 1-D x raised IndexError (tuple index out of range) while building the stack
    from x's shape; now a ValueError naming x, its shape, the shapes a model takes and how to reshape."""
    one_axis, y = np.arange(1, 9), np.ones(8)
    model = small_model()
    if built:  # the same refusal, not the Embedding's own
        model.build((None, 8))
    what = "validation x" if entry == "validation_data" else "x"
    with pytest.raises(ValueError) as error:
        if entry == "validation_data":
            model.fit(np.ones((8, 8), dtype=int), y, validation_data=(one_axis, y), verbose=0)
        elif entry in ("fit", "evaluate"):
            getattr(model, entry)(one_axis, y, verbose=0)
        elif entry == "predict":
            model.predict(one_axis)
        else:
            model.train_on_batch(one_axis, y)
    message = str(error.value)
    assert message.startswith(f"{what} has shape (8,), a single axis"), message
    assert "2-D array of token ids (samples, timesteps)" in message and "x[None]" in message
    assert "pad_sequences" in message


def test_sequential_seed_minus_one_says_what_a_seed_may_be():
    """Sequential(seed=-1) said only NumPy's "expected non-negative integer"."""
    with pytest.raises(ValueError) as error:
        models.Sequential(seed=-1)
    assert str(error.value) == (
        "Sequential(seed=-1): seed must be an integer from 0 to 2**128 - 1 "
        "(or None for a fresh random seed), got -1"
    )
    for bad in (2**128, 1.5, "7", True):
        with pytest.raises(ValueError, match=r"seed must be an integer from 0 to 2\*\*128 - 1"):
            models.Sequential(seed=bad)


def test_a_seed_a_model_file_cannot_hold_is_refused_when_given():
    """A layer seed NumPy takes but a model file cannot hold (above 2**31 - 1, its configs' integers) saved
    a model that load_model then refused; fit(seed=-1) failed in NumPy after the data checks."""
    with pytest.raises(ValueError, match=r"^Dropout seed must be an integer from 0 to 2\*\*31 - 1 \(or None"):
        layers.Dropout(0.5, seed=2**31)
    with pytest.raises(ValueError, match=r"^LSTM seed must be an integer from 0 to 2\*\*31 - 1"):
        layers.LSTM(2, seed=2**40)
    with pytest.raises(
        ValueError, match=r"^MultiHeadAttention seed must be an integer from 0 to 2\*\*31 - 1"
    ):
        layers.MultiHeadAttention(2, 2, seed=-1)
    with pytest.raises(ValueError, match=r"^fit seed must be an integer from 0 to 2\*\*128 - 1"):
        small_model().fit(np.ones((4, 3), dtype=int), np.ones(4), seed=-1, verbose=0)


def test_the_largest_seeds_accepted_are_saved_and_loaded_back(tmp_path):
    model = models.Sequential(
        [layers.Embedding(10, 2), layers.Dropout(0.5, seed=2**31 - 1), layers.GlobalAveragePooling1D()],
        seed=2**128 - 1,
    )
    model.build((None, 3))
    model.save(tmp_path / "m.npnet")
    loaded = models.load_model(tmp_path / "m.npnet")
    assert loaded.seed == 2**128 - 1 and loaded.layers[1].seed == 2**31 - 1


@pytest.mark.parametrize("code", [errno.EACCES, errno.ENOSPC])
def test_a_failed_checkpoint_or_data_write_gives_only_the_fix_its_error_calls_for(
    tmp_path, monkeypatch, code
):
    """Both said "free some space or make the folder writable" (or "choose another folder") whatever failed:
    a permission error was told to free space."""
    from npnet.datasets.files import dataset_update
    from npnet.errors import DataError, RunError
    from npnet.saving import checkpoints

    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(archive, "save_arrays", refuse)
    state = checkpoints.Checkpoint(0, [np.zeros(2)], {}, {})
    with pytest.raises(RunError) as saved:
        checkpoints.save(tmp_path / "run" / "checkpoint.npz", state)
    with pytest.raises(DataError) as written, dataset_update(tmp_path):
        refuse()
    for message in (str(saved.value), str(written.value)):
        assert ("free some space" in message) == (code == errno.ENOSPC), message
        assert ("writable" in message) == (code == errno.EACCES), message
    assert "then train again" in str(saved.value) and "--data-dir" in str(written.value)
