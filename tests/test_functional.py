"""The functional API: graphs of layers (npnet.Input, layers called on tensors, npnet.Model), their
gradients by the finite-difference checker (a fork, a shared layer, two inputs, masks), the checker catching
a broken graph backward, merge layers' masks, training through the trainer, and save/load."""

import numpy as np
import pytest

import npnet
from npnet import gradcheck, graph, layers, optimizers
from npnet.functional import InputBatch
from npnet.layers import merging
from parity import graphs

RTOL = 1e-6


def build(name: str, seed: int = 0, dtype: str = "float64") -> npnet.Model:
    inputs, output = graphs.GRAPHS[name](npnet)
    model = npnet.Model(inputs, output, name=name, seed=seed, dtype=dtype)
    model.compile(optimizer=optimizers.Adam(), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def check(name: str, model: npnet.Model | None = None) -> gradcheck.Report:
    x, y = graphs.batch(name, 6, np.random.default_rng(5))
    return gradcheck.check_model(model or build(name), x, y)


# ------------------------------------------------------------------------------------------- gradient checks


@pytest.mark.parametrize("name", list(graphs.GRAPHS))
def test_graph_gradients_pass_the_checker(name):
    report = check(name)
    assert report.passed, str(report)
    assert report.max_rel_error < RTOL
    assert all(row.checked > 0 for row in report.rows), str(report)


def test_a_shared_layer_is_one_row_and_its_calls_are_counted():
    model = build("shared")
    assert [layer.name for layer in model.layers] == ["emb", "twice", "avg", "pool", "out"]
    assert model.graph.calls[model.get_layer("twice")] == 2
    assert [row.name for row in check("shared", model).rows] == [
        "emb/embeddings",
        "twice/kernel",
        "twice/bias",
        "out/kernel",
        "out/bias",
    ]


def test_shared_gradient_is_the_sum_of_the_two_calls():
    """dL/dW of the shared Dense equals the sum of the two calls' gradients, each found by running the same
    graph with that call's weights as a separate copy (an unshared twin)."""
    model = build("shared")
    x, y = graphs.batch("shared", 6, np.random.default_rng(2))
    _, grads = model.gradients(x, y)

    ids = npnet.Input((graphs.STEPS,), dtype="int32")
    e = layers.Embedding(graphs.VOCAB, graphs.DIM, name="emb")(ids)
    first, second = (
        layers.Dense(graphs.DIM, "tanh", name="first"),
        layers.Dense(graphs.DIM, "tanh", name="second"),
    )
    h1 = first(e)
    m = layers.Average(name="avg")([h1, second(h1)])
    out = layers.Dense(1, activation="sigmoid", name="out")(layers.GlobalAveragePooling1D()(m))
    twin = npnet.Model(ids, out, dtype="float64")
    twin.compile(optimizer="adam", loss="binary_crossentropy")
    w = model.get_weights()  # emb, twice kernel, twice bias, out kernel, out bias
    twin.set_weights([w[0], w[1], w[2], w[1], w[2], w[3], w[4]])
    _, twin_grads = twin.gradients(x, y)
    np.testing.assert_allclose(grads[1], twin_grads[1] + twin_grads[3], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grads[2], twin_grads[2] + twin_grads[4], rtol=1e-12, atol=1e-15)


def test_a_chain_graph_is_the_sequential_model():
    """The same layers in a line: the same seed builds the same weights, and forward and gradients are the
    same computation as Sequential's (bitwise)."""

    def stack():
        return [
            layers.Embedding(20, 4, mask_zero=True),
            layers.GlobalAveragePooling1D(),
            layers.Dense(3, activation="relu"),
            layers.Dense(1, activation="sigmoid"),
        ]

    sequential = npnet.Sequential(stack(), seed=7, dtype="float64")
    t = ids = npnet.Input((6,), dtype="int32")
    for layer in stack():
        t = layer(t)
    functional = npnet.Model(ids, t, seed=7, dtype="float64")
    x, y = graphs.batch("fork", 5, np.random.default_rng(0))
    x = x[:, :6] % 20
    for m in (sequential, functional):
        m.compile(optimizer="adam", loss="binary_crossentropy")
    for a, b in zip(sequential.get_weights(), functional.get_weights(), strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(sequential.predict(x), functional.predict(x))
    for a, b in zip(sequential.gradients(x, y)[1], functional.gradients(x, y)[1], strict=True):
        assert np.array_equal(a, b)


# --------------------------------------------------------------------------------------- the checker catches


def failing_rows(report: gradcheck.Report) -> set[str]:
    assert not report.passed, str(report)
    return {row.name for row in report.failures}


def test_a_fork_whose_gradients_overwrite_instead_of_summing_is_caught(monkeypatch):
    def overwrite(grads, tensor, grad):
        grads[tensor] = grad  # the last consumer's gradient only

    monkeypatch.setattr(graph, "_sum_into", overwrite)
    assert "emb/embeddings" in failing_rows(check("fork"))


def test_a_shared_layer_with_one_calls_gradient_is_caught(monkeypatch):
    def last_call_only(summed, layer):
        summed[layer] = {key: value.copy() for key, value in layer.grads.items()}

    monkeypatch.setattr(graph, "_add_call", last_call_only)
    assert failing_rows(check("shared")) >= {"twice/kernel", "twice/bias"}


def test_a_shared_layer_with_one_cache_for_both_calls_is_caught(monkeypatch):
    """Without a cache per call, the first call's backward reads the second call's input."""
    monkeypatch.setattr(graph.Node, "restore_cache", lambda self: None)
    assert "twice/kernel" in failing_rows(check("shared"))


class AverageWithoutOneOverN(merging.Average):
    def backward(self, grad_out):
        return [grad_out] * self._n


class MultiplyIgnoringMasks(merging.Multiply):
    """Sends gradient to masked steps too (their factor was read as 1, so x_i does not matter there)."""

    def backward(self, grad_out):
        masks, self._masks = self._masks, [None] * len(self._masks)
        try:
            return super().backward(grad_out)
        finally:
            self._masks = masks


class ConcatenateSwappingSlices(merging.Concatenate):
    def backward(self, grad_out):
        return super().backward(grad_out)[::-1]


def test_broken_merge_backwards_are_caught(monkeypatch):
    monkeypatch.setattr(npnet.layers, "Average", AverageWithoutOneOverN)
    assert "twice/kernel" in failing_rows(check("shared"))
    monkeypatch.undo()
    monkeypatch.setattr(npnet.layers, "Multiply", MultiplyIgnoringMasks)
    assert "emb/embeddings" in failing_rows(check("masked"))
    monkeypatch.undo()
    monkeypatch.setattr(npnet.layers, "Concatenate", ConcatenateSwappingSlices)
    x, y = graphs.batch("two_inputs", 6, np.random.default_rng(5))
    inputs, output = graphs.two_inputs(npnet)  # "cat" joins [(B, 4), (B, 4)]: swapped slices fit the shapes
    model = npnet.Model(inputs, output, dtype="float64")
    model.compile(optimizer="adam", loss="binary_crossentropy")
    assert "proj/kernel" in failing_rows(gradcheck.check_model(model, x, y))


# ------------------------------------------------------------------------------------------------ merges


def test_merge_masks_follow_keras():
    x = [np.ones((2, 3, 2)), np.ones((2, 3, 2))]
    m1 = np.array([[1, 1, 0], [1, 0, 0]], dtype=bool)
    m2 = np.array([[1, 0, 0], [1, 1, 0]], dtype=bool)
    for merge in (layers.Add(), layers.Average(), layers.Multiply()):
        assert np.array_equal(merge.compute_mask(x, [m1, m2]), m1 | m2)
        assert merge.compute_mask(x, [m1, None]) is None
    cat = layers.Concatenate()
    assert cat.compute_mask(x, [None, None]) is None
    assert np.array_equal(cat.compute_mask(x, [m1, m2]), m1 | m2)
    assert cat.compute_mask(x, [m1, None]).all()  # an input without a mask keeps every step
    assert np.array_equal(layers.Concatenate(axis=1).compute_mask(x, [m1, m2]), np.concatenate([m1, m2], 1))


def test_multiply_reads_masked_steps_as_one_and_zeroes_steps_masked_everywhere():
    a, b = np.full((1, 3, 1), 2.0), np.full((1, 3, 1), 5.0)
    ma = np.array([[True, False, False]])
    mb = np.array([[True, True, False]])
    assert Multiply_forward(a, b, [ma, mb]).ravel().tolist() == [10.0, 5.0, 0.0]
    assert Multiply_forward(a, b, [ma, None]).ravel().tolist() == [10.0, 5.0, 5.0]


def Multiply_forward(a, b, masks):  # noqa: N802
    return layers.Multiply().forward([a, b], mask=masks)


def test_merge_shape_errors_name_the_layer_and_shapes():
    a, b = npnet.Input((3, 4)), npnet.Input((3, 5))
    with pytest.raises(ValueError, match=r"Add 'add' needs inputs of one shape.*\(None, 3, 5\)"):
        layers.Add()([a, b])
    assert layers.Concatenate()([a, b]).shape == (None, 3, 9)
    with pytest.raises(ValueError, match="equal but along axis 1"):
        layers.Concatenate(axis=1)([a, b])
    with pytest.raises(ValueError, match="merges a list of tensors"):
        layers.Add()(a)


# --------------------------------------------------------------------------------------------------- the API


def test_symbolic_shapes_and_errors():
    ids = npnet.Input((7,), dtype="int32")
    e = layers.Embedding(10, 3)(ids)
    assert (ids.shape, e.shape, ids.dtype) == ((None, 7), (None, 7, 3), "int32")
    with pytest.raises(ValueError, match="calling a layer builds a graph"):
        layers.Dense(2)(np.ones((2, 3)))
    with pytest.raises(ValueError, match="not among the model's inputs"):
        npnet.Model(npnet.Input((3,)), layers.Dense(1)(npnet.Input((3,))))
    with pytest.raises(ValueError, match="one output for now"):
        npnet.Model(ids, [e, e])
    model = npnet.Model(ids, layers.Dense(1)(layers.GlobalAveragePooling1D()(e)))
    with pytest.raises(ValueError, match="layers come from its graph"):
        model.add(layers.Dense(1))


def test_several_inputs_in_fit_evaluate_predict_and_their_errors():
    model = build("two_inputs", dtype="float32")
    x, y = graphs.batch("two_inputs", 40, np.random.default_rng(1))
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0, validation_split=0.25)
    assert len(history.history["val_loss"]) == 2
    p = model.predict(x, batch_size=7)
    assert p.shape == (40, 1)
    # Batches take the same rows of every input: predicting one slice gives those rows' outputs.
    np.testing.assert_allclose(model.predict([x[0][10:20], x[1][10:20]]), p[10:20], rtol=1e-6)
    assert len(model.evaluate(x, y)) == 2
    with pytest.raises(ValueError, match=r"a list of 2 arrays, one per input \(ids, features\), got ndarray"):
        model.predict(x[0])
    with pytest.raises(ValueError, match="differ in length"):
        model.predict([x[0], x[1][:5]])
    with pytest.raises(ValueError, match=r"input 'features' takes arrays of shape \(None, 5\)"):
        model.predict([x[0], x[1][:, :3]])


def test_input_batch_slices_every_array():
    batch = InputBatch([np.arange(5), np.arange(10).reshape(5, 2)])
    part = batch[np.array([4, 1])]
    assert len(part) == 2
    assert part.arrays[0].tolist() == [4, 1] and part.arrays[1].tolist() == [[8, 9], [2, 3]]


def test_training_changes_a_shared_layer_by_both_calls():
    model = build("shared")
    x, y = graphs.batch("shared", 16, np.random.default_rng(3))
    before = model.get_weights()
    _, grads = model.gradients(x, y)
    model.optimizer = optimizers.SGD(learning_rate=0.1)
    model.train_on_batch(x, y)
    for b, a, g in zip(before, model.get_weights(), grads, strict=True):
        np.testing.assert_allclose(a, b - 0.1 * g, rtol=1e-12, atol=1e-15)


def test_summary_lists_inputs_and_each_layer_once():
    text = build("masked").summary(print_fn=None)
    assert "left (InputLayer)" in text and "right (InputLayer)" in text
    assert text.count("emb (Embedding)") == 1
    assert "(None, 7, 4), (None, 7, 4)" in text  # the shared embedding's two calls


# ------------------------------------------------------------------------------------------------ save/load


@pytest.mark.parametrize("name", list(graphs.GRAPHS))
def test_save_and_load_a_functional_model(tmp_path, name):
    model = build(name)
    x, y = graphs.batch(name, 8, np.random.default_rng(4))
    model.train_on_batch(x, y)
    model.save(tmp_path / "m.npz")
    loaded = npnet.models.load_model(tmp_path / "m.npz")
    assert isinstance(loaded, npnet.Model)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert loaded.graph.calls == {loaded.get_layer(k.name): v for k, v in model.graph.calls.items()}
    # The same weights, the same computation: bitwise.
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.train_on_batch(x, y) == model.train_on_batch(x, y)  # the optimizer state came along
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_damaged_graph_is_refused(tmp_path):
    from npnet.saving import archive
    from npnet.saving.model_file import ModelFileError

    build("fork").save(tmp_path / "m.npz")
    arrays, header = archive.load_arrays(tmp_path / "m.npz", kind="model")
    header["graph"]["nodes"][1]["inbound"] = [["node", 5]]  # a call on a tensor made after it
    archive.save_arrays(tmp_path / "bad.npz", arrays, kind="model", meta=header)
    with pytest.raises(ModelFileError, match="is not a valid npnet model file"):
        npnet.models.load_model(tmp_path / "bad.npz")
