"""model.save / npnet.models.load_model: one safe file that rebuilds the model, its weights and its optimizer
state; anything foreign, damaged or inconsistent is refused in words."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

import npnet
from npnet import layers, optimizers
from npnet.layers.base import LAYER_CLASSES, Layer, deserialize, serialize
from npnet.models import load_model
from npnet.saving.model_file import ModelFileError


def _model(**compile_options) -> npnet.Sequential:
    model = npnet.Sequential(
        [
            layers.Embedding(40, 4, mask_zero=True),
            layers.GlobalAveragePooling1D(),
            layers.Dense(5, activation="relu"),
            layers.Dropout(0.2, seed=3),
            layers.Dense(1, activation="sigmoid"),
        ],
        seed=7,
    )
    model.compile(
        optimizer=compile_options.get("optimizer", optimizers.Adam(lr=1e-2, decay=1e-3, amsgrad=True)),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


def _data(n: int = 64):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 40, size=(n, 9))
    return x, (x[:, 0] > 20).astype(np.float64)


def test_saved_model_trains_on_exactly_as_the_original(tmp_path):
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    model.save(tmp_path / "m.npnet")
    loaded = load_model(tmp_path / "m.npnet")
    assert [type(a) for a in loaded.layers] == [type(a) for a in model.layers]
    assert [a.name for a in loaded.layers] == [a.name for a in model.layers]
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations == 8
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    # the same computation repeated from the same state: bitwise equal
    for m in (model, loaded):
        m.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(loaded.predict(x), model.predict(x))


def test_an_uncompiled_model_loads_uncompiled(tmp_path):
    model = npnet.Sequential(
        [layers.Embedding(10, 2), layers.GlobalAveragePooling1D(), layers.Dense(1)], seed=1
    )
    model.save(tmp_path / "u.npnet")
    loaded = load_model(tmp_path / "u.npnet")
    assert loaded.optimizer is None
    assert all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True))


def test_every_layer_round_trips_through_its_config():
    originals = [
        layers.Embedding(12, 3, embeddings_initializer="glorot_uniform", mask_zero=True, input_length=5),
        layers.Dense(4, activation="sigmoid", use_bias=False, name="head", dtype="float64"),
        layers.Dropout(0.5, seed=1),
        layers.GlobalAveragePooling1D(),
        layers.ReLU(),
        layers.Sigmoid(),
        layers.Tanh(),
        layers.Conv1D(6, 3, strides=2, padding="same", activation="relu", use_bias=False),
        layers.Conv1D(2, (5,), padding="causal", dilation_rate=2),
        layers.MaxPooling1D(3, strides=1, padding="same"),
        layers.AveragePooling1D(pool_size=4),
        layers.GlobalMaxPooling1D(keepdims=True),
        layers.Flatten(),
        layers.Activation("tanh"),
        layers.Activation("linear"),
        layers.SimpleRNN(3, activation="sigmoid", return_sequences=True, dropout=0.1, seed=4),
        layers.LSTM(5, unit_forget_bias=False, go_backwards=True, recurrent_dropout=0.2, name="lstm_a"),
        layers.GRU(2, return_state=True, zero_output_for_mask=True),
        layers.Bidirectional(layers.LSTM(4, return_sequences=True), merge_mode="ave"),
        layers.Add(),
        layers.Average(name="avg"),
        layers.Multiply(dtype="float64"),
        layers.Concatenate(axis=1),
        layers.ScaledEmbedding(9, 2, mask_zero=True, name="nb"),
        layers.Softmax(axis=1),
        layers.MultiHeadAttention(
            3, 4, value_dim=2, dropout=0.1, use_bias=False, output_shape=(5,), use_causal_mask=True, seed=2
        ),
        layers.LayerNormalization(axis=1, epsilon=1e-6, center=False),
        layers.TokenAndPositionEmbedding(16, 50, 8, mask_zero=True),
        layers.TransformerBlock(8, 2, 6, rate=0.2, epsilon=1e-5, norm_first=True),
        layers.Masking(mask_value=-1.0),
        layers.SpatialDropout1D(0.3, seed=2),
        layers.BatchNormalization(momentum=0.9, epsilon=0.01, center=False),
    ]
    originals[0].trainable = False  # a switch beside the config, kept too
    for layer in originals:
        config = json.loads(json.dumps(serialize(layer)))  # JSON-ready
        again = deserialize(config)
        assert type(again) is type(layer) and again.get_config() == layer.get_config()
        assert again.trainable == layer.trainable
    # Every public layer is covered here: a new one must show that its config rebuilds it.
    public = {name for name in layers.__all__ if name not in ("Layer", "Input")}  # Input makes a tensor
    assert public == {type(layer).__name__ for layer in originals}
    assert public <= set(LAYER_CLASSES)


def test_a_bidirectional_lstm_model_saves_and_loads(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 20, size=(12, 6))
    x[:4, :2] = 0  # pre-padding under the mask
    y = (x[:, -1] > 10).astype(np.float64)
    model = npnet.Sequential(
        [
            layers.Embedding(20, 4, mask_zero=True),
            layers.Bidirectional(layers.LSTM(3)),
            layers.Dropout(0.5),
            layers.Dense(1, activation="sigmoid"),
        ],
        seed=5,
    )
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    model.save(tmp_path / "bilstm.npnet")
    loaded = load_model(tmp_path / "bilstm.npnet")
    assert [layer.name for layer in loaded.layers[1].sublayers()] == ["forward_lstm", "backward_lstm"]
    assert np.array_equal(loaded.predict(x), model.predict(x))  # the same weights, the same computation


def test_a_convolutional_model_saves_and_loads(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 30, size=(16, 12))
    y = (x[:, 0] > 15).astype(np.float64)
    model = npnet.Sequential(
        [
            layers.Embedding(30, 4),
            layers.Dropout(0.1),
            layers.Conv1D(5, 3, activation="relu"),
            layers.MaxPooling1D(2),
            layers.GlobalMaxPooling1D(),
            layers.Dense(1),
            layers.Activation("sigmoid"),
        ],
        seed=2,
    )
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "cnn.npnet")
    loaded = load_model(tmp_path / "cnn.npnet")
    assert [layer.get_config() for layer in loaded.layers] == [layer.get_config() for layer in model.layers]
    assert np.array_equal(loaded.predict(x), model.predict(x))  # the same weights, the same computation


def test_a_new_layer_class_is_registered_by_defining_it():
    class Twice(Layer):
        def __init__(self, factor: float = 2.0, **kwargs) -> None:
            super().__init__(**kwargs)
            self.factor = factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    assert deserialize(serialize(Twice(3.0))).factor == 3.0
    del LAYER_CLASSES["Twice"]


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _with_members(path, replacements: dict[str, bytes]):
    """A copy of the saved file, named changed.npnet, with some archive members replaced."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    out = path.with_name("changed.npnet")
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in {**members, **replacements}.items():
            archive.writestr(name, data)
    return out


def _rewrite_header(path, change):
    """A copy of the saved file with its JSON header changed by `change(header)`."""
    header = json.loads(str(np.load(path)["__npnet__"]))
    change(header)
    return _with_members(path, {"__npnet__.npy": _npy(np.array(json.dumps(header)))})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda h: h["layers"][0].update(class_name="Lambda"), "'Lambda' is not an npnet layer class"),
        (lambda h: h["layers"][2]["config"].update(units=6), "configs make weights"),
        (lambda h: h["layers"][0]["config"].update(evil="__import__('os')"), "takes no argument 'evil'"),
        (lambda h: h.pop("compile"), "must hold exactly"),
        (lambda h: h["weights"][0].update(dtype="float64"), "configs make weights"),
    ],
    ids=["unknown class", "shape mismatch", "unknown argument", "no compile entry", "dtype mismatch"],
)
def test_an_inconsistent_file_is_refused_in_words(tmp_path, change, message):
    _model().save(tmp_path / "m.npnet")
    with pytest.raises(ModelFileError, match=message) as error:
        load_model(_rewrite_header(tmp_path / "m.npnet", change))
    assert "changed.npnet" in str(error.value)


def test_foreign_damaged_and_missing_files_are_refused_in_words(tmp_path):
    model = _model()
    model.save_weights(tmp_path / "weights.npz")
    with pytest.raises(ModelFileError, match="'weights' data, not a model file"):
        load_model(tmp_path / "weights.npz")
    model.save(tmp_path / "m.npnet")
    data = (tmp_path / "m.npnet").read_bytes()
    (tmp_path / "cut.npnet").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="not a readable npnet model file"):
        load_model(tmp_path / "cut.npnet")
    np.savez(tmp_path / "plain.npz", x=np.zeros(3))
    with pytest.raises(ModelFileError, match="not a readable npnet model file"):
        load_model(tmp_path / "plain.npz")
    with pytest.raises(ModelFileError, match="no model file at"):
        load_model(tmp_path / "absent.npnet")
    assert issubclass(ModelFileError, npnet.errors.NpnetError)


def test_a_pickled_array_in_the_file_is_never_unpickled(tmp_path):
    _model().save(tmp_path / "m.npnet")
    hostile = _with_members(tmp_path / "m.npnet", {"weights/0.npy": _npy(np.array([{"a": 1}], dtype=object))})
    with pytest.raises(ModelFileError, match="Python objects"):
        load_model(hostile)
