"""The trainer's Keras model API beyond fit's core loop: validation_split, verbose evaluate/predict,
get_layer, per-layer weights, callable activations, and the (layer stack, batch source) seam."""

import numpy as np
import pytest

import npnet
from npnet import activations, layers, optimizers
from npnet.batches import ArrayBatches
from npnet.fast.embedding_pool import BagOfWords
from npnet.fast.fused_layer import FusedEmbeddingPool
from npnet.layers.pooling import mask_counts

VOCAB = 40


def toy_data(n=90, length=10, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, VOCAB, size=(n, length))
    y = ((x < 15).sum(axis=1) > (x >= 25).sum(axis=1)).astype(np.int64)
    return x, y


def compiled(fused=None, seed=0):
    model = npnet.Sequential(
        [
            layers.Embedding(VOCAB, 8),
            layers.GlobalAveragePooling1D(),
            layers.Dense(6, activation="relu"),
            layers.Dense(1, activation="sigmoid"),
        ],
        seed=seed,
        dtype="float64",
        fused=fused,
    )
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01), metrics=["accuracy"])
    return model


# ---- validation_split ----


@pytest.mark.parametrize("fused", [None, False])
def test_validation_split_holds_out_the_last_fraction_before_shuffling(fused):
    x, y = toy_data(90)
    split = compiled(fused).fit(x, y, epochs=2, batch_size=16, validation_split=0.2, verbose=0)
    # floor(90 * 0.8) = 72 samples train; the last 18 validate (the same computation, so bitwise).
    explicit = compiled(fused).fit(
        x[:72], y[:72], epochs=2, batch_size=16, validation_data=(x[72:], y[72:]), verbose=0
    )
    assert split.history == explicit.history
    assert set(split.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}


def test_validation_data_wins_over_validation_split():
    x, y = toy_data(90)
    xv, yv = toy_data(20, seed=1)
    both = compiled().fit(x, y, epochs=1, validation_split=0.5, validation_data=(xv, yv), verbose=0)
    only_data = compiled().fit(x, y, epochs=1, validation_data=(xv, yv), verbose=0)
    assert both.history == only_data.history


@pytest.mark.parametrize(
    ("n", "fraction", "match"),
    [
        (90, 1.0, r"in \[0, 1\)"),
        (90, -0.1, r"in \[0, 1\)"),
        (1, 0.5, "leaves no samples"),
        (90, 1e-17, "leaves no"),
    ],
)
def test_bad_validation_split_is_refused(n, fraction, match):
    x, y = toy_data(n)
    with pytest.raises(ValueError, match=match):
        compiled().fit(x, y, validation_split=fraction, verbose=0)


# ---- verbose evaluate and predict ----


def test_verbose_evaluate_and_predict_print_one_keras_like_line(capsys):
    x, y = toy_data(90)
    model = compiled()
    loss, accuracy = model.evaluate(x, y, batch_size=32, verbose=1)
    line = capsys.readouterr().out.strip()
    assert line.startswith("3/3 - ") and line.endswith(f"- loss: {loss:.4f} - accuracy: {accuracy:.4f}")
    assert "/step" in line
    model.predict(x, batch_size=32, verbose=1)
    line = capsys.readouterr().out.strip()
    assert line.startswith("3/3 - ") and line.endswith("/step")
    model.evaluate(x, y)
    model.predict(x)
    assert capsys.readouterr().out == ""  # verbose=0 by default (see the report: Keras prints by default)
    with pytest.raises(ValueError, match="verbose must be 0"):
        model.predict(x, verbose=3)


# ---- get_layer and per-layer weights ----


def test_get_layer_by_name_or_index():
    model = compiled()
    assert model.get_layer("dense_1") is model.layers[3]
    assert model.get_layer(index=0) is model.layers[0] and model.get_layer(index=-1) is model.layers[3]
    with pytest.raises(ValueError, match=r"no layer named 'nope'; the layers are \['embedding'"):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="out of range: the model has 4 layers"):
        model.get_layer(index=4)
    with pytest.raises(ValueError, match="not both or neither"):
        model.get_layer("dense", 2)
    with pytest.raises(ValueError, match="not both or neither"):
        model.get_layer()


def test_layer_get_and_set_weights():
    model = compiled()
    model.build()
    dense = model.get_layer("dense")
    kernel, bias = dense.get_weights()
    assert kernel.shape == (8, 6) and bias.shape == (6,)
    kernel[...] = 7.0  # a copy: the layer is untouched
    assert not np.any(dense.params["kernel"] == 7.0)
    dense.set_weights([np.ones((8, 6)), np.full(6, 2.0)])
    np.testing.assert_array_equal(model.get_weights()[1], np.ones((8, 6)))
    np.testing.assert_array_equal(model.get_weights()[2], np.full(6, 2.0))
    with pytest.raises(ValueError, match=r"dense.bias must have shape \(6,\)"):
        dense.set_weights([np.zeros((8, 6)), np.zeros(5)])
    np.testing.assert_array_equal(dense.params["kernel"], np.ones((8, 6)))  # nothing changed
    with pytest.raises(ValueError, match=r"needs 2 arrays \(dense.kernel, dense.bias\), got 1"):
        dense.set_weights([np.zeros((8, 6))])
    assert layers.ReLU().get_weights() == []


# ---- callable activations ----


def test_activation_functions_map_to_their_layers():
    x = np.linspace(-3, 3, 7)
    for function, layer_class in [
        (activations.relu, layers.ReLU),
        (activations.sigmoid, layers.Sigmoid),
        (activations.tanh, layers.Tanh),
    ]:
        dense = layers.Dense(3, activation=function)
        assert isinstance(dense.activation, layer_class)
        np.testing.assert_allclose(dense.activation.forward(x), function(x), rtol=1e-15)
    assert layers.Dense(3, activation=activations.linear).activation is None
    np.testing.assert_array_equal(activations.linear(x), x)
    np.testing.assert_array_equal(activations.relu(x), np.maximum(x, 0))
    with pytest.raises(ValueError, match="has no backward pass here: write it as a Layer"):
        layers.Dense(3, activation=np.exp)


def test_a_model_built_with_activation_functions_trains_like_one_built_with_names():
    x, y = toy_data(60)

    def build(relu, sigmoid):
        model = npnet.Sequential(
            [
                layers.Embedding(VOCAB, 8),
                layers.GlobalAveragePooling1D(),
                layers.Dense(6, activation=relu),
                layers.Dense(1, activation=sigmoid),
            ],
            dtype="float64",
        )
        model.compile(optimizer="adam")
        return model.fit(x, y, epochs=2, verbose=0).history

    assert build(activations.relu, activations.sigmoid) == build("relu", "sigmoid")


# ---- the (layer stack, batch source) seam ----


def test_the_fused_layer_shares_the_embeddings_arrays():
    model = compiled()
    model.build()
    embedding = model.layers[0]
    with FusedEmbeddingPool(embedding) as fused:
        assert fused.params["embeddings"] is embedding.params["embeddings"]
        assert fused.grads["embeddings"] is embedding.grads["embeddings"]
        x, _ = toy_data(20)
        source = fused.batches(x)
        selectors = [np.array([3, 1, 4]), np.array([5, 9])]
        batches = list(source.epoch(selectors))
        assert [rows.tolist() for rows, _ in batches] == [[3, 1, 4], [5, 9]]
        pooled = fused.forward(batches[0][1], training=True)
        readable = model.layers[1].forward(embedding.forward(x[[3, 1, 4]]))
        np.testing.assert_allclose(pooled, readable, rtol=1e-12)
        before = embedding.params["embeddings"].copy()
        fused.backward(np.ones_like(pooled))
        assert np.any(embedding.grads["embeddings"] != 0)
        np.testing.assert_array_equal(embedding.params["embeddings"], before)


def test_array_batches_cut_rows():
    x = np.arange(10).reshape(5, 2)
    source = ArrayBatches(x)
    assert [b.tolist() for _, b in source.in_order(2)] == [[[0, 1], [2, 3]], [[4, 5], [6, 7]], [[8, 9]]]
    assert [b.tolist() for _, b in source.epoch([np.array([4, 0])])] == [[[8, 9], [0, 1]]]


def test_one_mask_count_for_the_readable_and_the_fused_mean():
    ids = np.array([[3, 0, 2, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(mask_counts(ids != 0), [2, 1])  # all padding: 1, so the mean is 0
    bag = BagOfWords.from_ids(ids, 4, mask_zero=True)
    np.testing.assert_array_equal(bag.scale, 1.0 / mask_counts(ids != 0))
