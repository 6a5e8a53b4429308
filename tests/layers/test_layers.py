import re
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npnet import layers
from npnet.fast.embedding import scatter_add_rows
from npnet.gradcheck import central_difference
from npnet.layers import activations

F64 = np.dtype("float64")


def built(layer, input_shape, seed=0, dtype=F64):
    layer.build(input_shape, np.random.default_rng(seed), dtype)
    return layer


# ---- Embedding ----


def test_embedding_forward_is_a_row_lookup():
    emb = built(layers.Embedding(4, 2), (None, 3))
    emb.params["embeddings"][...] = [[0, 0], [1, 10], [2, 20], [3, 30]]
    out = emb.forward(np.array([[1, 3, 0], [2, 2, 1]]))
    assert out.shape == (2, 3, 2)
    assert out.tolist() == [[[1, 10], [3, 30], [0, 0]], [[2, 20], [2, 20], [1, 10]]]


def test_embedding_initial_table_is_uniform_and_shaped():
    emb = built(layers.Embedding(1000, 16), (None, None), dtype=np.dtype("float32"))
    table = emb.params["embeddings"]
    assert table.shape == (1000, 16) and table.dtype == np.float32
    assert np.abs(table).max() <= 0.05
    assert emb.grads["embeddings"].shape == table.shape
    assert emb.count_params() == 16000
    assert emb.compute_output_shape((None, 7)) == (None, 7, 16)


def test_embedding_gradient_with_repeated_ids_within_and_across_rows():
    emb = built(layers.Embedding(5, 2), (None, 4))
    ids = np.array([[1, 1, 2, 1], [3, 1, 2, 0]])  # id 1 three times in row 0 and again in row 1
    emb.forward(ids)
    g = np.arange(16, dtype=float).reshape(2, 4, 2)
    assert emb.backward(g) is None  # ids are not differentiable
    # Hand sums: row r of the gradient collects g at every position holding id r.
    expected = np.zeros((5, 2))
    expected[0] = g[1, 3]
    expected[1] = g[0, 0] + g[0, 1] + g[0, 3] + g[1, 1]
    expected[2] = g[0, 2] + g[1, 2]
    expected[3] = g[1, 0]
    assert np.array_equal(emb.grads["embeddings"], expected)
    assert emb.grads["embeddings"][1].tolist() == [0 + 2 + 6 + 10, 1 + 3 + 7 + 11]

    # The bug this guards against: buffered fancy-index += keeps only one write per repeated id.
    buffered = np.zeros((5, 2))
    buffered[ids.ravel()] += g.reshape(-1, 2)
    assert not np.array_equal(buffered, expected)
    assert buffered[1].tolist() != expected[1].tolist()


def test_embedding_backward_twice_overwrites():
    emb = built(layers.Embedding(3, 2), (None, 2))
    emb.forward(np.array([[1, 1]]))
    g = np.ones((1, 2, 2))
    emb.backward(g)
    first = emb.grads["embeddings"].copy()
    emb.backward(g)
    assert np.array_equal(emb.grads["embeddings"], first)
    assert first[1].tolist() == [2.0, 2.0]


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda vocab: st.tuples(
            st.just(vocab),
            st.lists(st.lists(st.integers(0, vocab - 1), min_size=3, max_size=3), min_size=1, max_size=5),
        )
    )
)
def test_embedding_gradient_matches_a_loop_over_positions(case):
    vocab, rows = case
    ids = np.array(rows)
    emb = built(layers.Embedding(vocab, 3), (None, 3))
    emb.forward(ids)
    g = np.random.default_rng(len(rows)).standard_normal((*ids.shape, 3))
    emb.backward(g)
    reference = np.zeros((vocab, 3))
    for (b, t), token in np.ndenumerate(ids):  # the slow, obviously right version
        reference[token] += g[b, t]
    np.testing.assert_allclose(emb.grads["embeddings"], reference, rtol=1e-12, atol=1e-12)


def test_embedding_mask_zero():
    ids = np.array([[4, 2, 0, 0]])
    assert layers.Embedding(5, 2).compute_mask(ids, None) is None
    assert layers.Embedding(5, 2, mask_zero=True).compute_mask(ids, None).tolist() == [
        [True, True, False, False]
    ]


@pytest.mark.parametrize("bad_id", [10, -1, 12345])
def test_embedding_out_of_range_id_names_id_and_limit(bad_id):
    emb = built(layers.Embedding(10, 2), (None, 3))
    ids = np.array([[1, 2, 3], [4, 5, bad_id]])
    message = f"token id {bad_id} at position (1, 2) is outside [0, 10)"
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        emb.forward(ids)
    assert "input_dim=10" in str(info.value) and "num_words=10" in str(info.value)


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        (np.array([[1.0, 2.0]]), "integer token ids"),
        (np.array([1, 2, 3]), "2-D array of token ids"),
        (np.zeros((2, 3, 1), dtype=int), "2-D array of token ids"),
        (np.zeros((2, 0), dtype=int), "length 0"),
    ],
)
def test_embedding_rejects_bad_ids(ids, message):
    emb = built(layers.Embedding(10, 2), (None, None))
    with pytest.raises(ValueError, match=message):
        emb.forward(ids)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_embedding_rejects_bad_dims(bad):
    with pytest.raises(ValueError, match="positive integer"):
        layers.Embedding(bad, 4)


# ---- GlobalAveragePooling1D ----


def test_gap_forward_and_backward_without_mask():
    gap = layers.GlobalAveragePooling1D()
    x = np.array([[[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]]])  # (1, 3, 2)
    assert gap.forward(x).tolist() == [[3.0, 5.0]]
    grad = gap.backward(np.array([[3.0, 6.0]]))
    assert grad.shape == (1, 3, 2)
    assert grad.tolist() == [[[1.0, 2.0]] * 3]
    assert gap.compute_output_shape((None, 3, 2)) == (None, 2)


def test_gap_mask_averages_only_unmasked_positions():
    gap = layers.GlobalAveragePooling1D()
    x = np.array([[[1.0], [3.0], [100.0]], [[2.0], [4.0], [6.0]], [[7.0], [7.0], [7.0]]])
    mask = np.array([[True, True, False], [True, True, True], [False, False, False]])
    out = gap.forward(x, mask=mask)
    assert out.tolist() == [[2.0], [4.0], [0.0]]  # all-padding row: the defined value 0
    grad = gap.backward(np.array([[2.0], [3.0], [5.0]]))
    assert grad[:, :, 0].tolist() == [[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]
    assert gap.compute_mask(x, mask) is None


def test_gap_rejects_non_3d():
    with pytest.raises(ValueError, match="3-D input"):
        layers.GlobalAveragePooling1D().forward(np.ones((2, 3)))


def test_gap_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 3))
    mask = np.array([[True, False, True, True], [True, True, False, False]])
    w = rng.standard_normal((2, 3))  # loss = sum(w * gap(x))
    for m in (None, mask):
        gap = layers.GlobalAveragePooling1D()
        gap.forward(x, mask=m)
        analytic = gap.backward(w)
        numeric = central_difference(
            lambda m=m: float(np.sum(w * layers.GlobalAveragePooling1D().forward(x, mask=m))), x
        )
        np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-9)


# ---- Dense and activations ----


def hand_dense(activation=None):
    dense = built(layers.Dense(3, activation=activation), (None, 2))
    dense.params["kernel"][...] = [[1.0, -2.0, 0.5], [3.0, 1.0, -1.0]]
    dense.params["bias"][...] = [0.5, 0.0, -4.0]
    return dense


def test_dense_forward_by_hand():
    x = np.array([[1.0, 2.0], [-1.0, 0.0]])
    # z = x @ W + b: row 0 -> [1+6+.5, -2+2+0, .5-2-4]; row 1 -> [-1+.5, 2, -.5-4]
    assert hand_dense().forward(x).tolist() == [[7.5, 0.0, -5.5], [-0.5, 2.0, -4.5]]
    assert hand_dense("relu").forward(x).tolist() == [[7.5, 0.0, 0.0], [0.0, 2.0, 0.0]]
    sig = hand_dense("sigmoid").forward(x)
    np.testing.assert_allclose(sig, 1 / (1 + np.exp(-np.array([[7.5, 0.0, -5.5], [-0.5, 2.0, -4.5]]))))


def test_dense_backward_by_hand():
    dense = hand_dense("relu")
    x = np.array([[1.0, 2.0], [-1.0, 0.0]])
    dense.forward(x)
    g = np.array([[1.0, 1.0, 1.0], [2.0, 3.0, 4.0]])
    dx = dense.backward(g)
    # relu passes g where z > 0 (z = 0 counts as inactive): [[1, 0, 0], [0, 3, 0]]
    gz = np.array([[1.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    assert dense.grads["kernel"].tolist() == (x.T @ gz).tolist() == [[1.0, -3.0, 0.0], [2.0, 0.0, 0.0]]
    assert dense.grads["bias"].tolist() == [1.0, 3.0, 0.0]
    assert dx.tolist() == (gz @ dense.params["kernel"].T).tolist() == [[1.0, 3.0], [-6.0, 3.0]]
    dense.backward(g)  # twice: overwritten, not accumulated
    assert dense.grads["bias"].tolist() == [1.0, 3.0, 0.0]


@pytest.mark.parametrize("activation", [None, "relu", "sigmoid"])
def test_dense_gradients_match_finite_differences(activation):
    rng = np.random.default_rng(1)
    dense = built(layers.Dense(4, activation=activation), (None, 3), seed=2)
    x = rng.standard_normal((5, 3))
    w = rng.standard_normal((5, 4))

    def loss() -> float:
        return float(np.sum(w * dense.forward(x)))

    dense.forward(x)
    dx = dense.backward(w)
    analytic = {k: v.copy() for k, v in dense.grads.items()}
    for key, param in dense.params.items():
        np.testing.assert_allclose(analytic[key], central_difference(loss, param), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dx, central_difference(loss, x), rtol=1e-6, atol=1e-8)


def test_dense_on_a_sequence_acts_on_the_last_axis():
    dense = built(layers.Dense(2), (None, 4, 3))
    x = np.random.default_rng(0).standard_normal((2, 4, 3))
    out = dense.forward(x)
    assert out.shape == (2, 4, 2)
    np.testing.assert_allclose(out[1, 2], x[1, 2] @ dense.params["kernel"] + dense.params["bias"])
    dense.backward(np.ones_like(out))
    numeric = central_difference(lambda: float(dense.forward(x).sum()), dense.params["kernel"])
    np.testing.assert_allclose(dense.grads["kernel"], numeric, rtol=1e-6)


def test_dense_glorot_and_zero_bias():
    dense = built(layers.Dense(16), (None, 16))
    assert dense.params["kernel"].shape == (16, 16)
    assert np.abs(dense.params["kernel"]).max() <= np.sqrt(6 / 32)
    assert not dense.params["bias"].any()
    assert dense.count_params() == 272


def test_dense_input_checks():
    dense = built(layers.Dense(2), (None, 3))
    with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, \.\.\., 3\), got shape \(4, 5\)"):
        dense.forward(np.ones((4, 5)))
    with pytest.raises(ValueError, match="expects inputs"):
        dense.forward(np.ones(3))
    with pytest.raises(ValueError, match="known input feature size"):
        layers.Dense(2).build((None, None))
    with pytest.raises(ValueError, match="positive integer"):
        layers.Dense(0)


def test_activation_lookup():
    assert isinstance(activations.get("relu"), layers.ReLU)
    assert isinstance(activations.get("sigmoid"), layers.Sigmoid)
    assert activations.get("linear") is None and activations.get(None) is None
    custom = layers.ReLU()
    assert activations.get(custom) is custom
    with pytest.raises(ValueError, match=r"unknown activation 'tanhh'.*relu"):
        layers.Dense(2, activation="tanhh")


def test_relu_forward_backward():
    relu = layers.ReLU()
    assert relu.forward(np.array([-2.0, 0.0, 3.0])).tolist() == [0.0, 0.0, 3.0]
    assert relu.backward(np.array([5.0, 5.0, 5.0])).tolist() == [0.0, 0.0, 5.0]


def test_sigmoid_values_and_no_overflow():
    sig = layers.Sigmoid()
    # Underflow to 0 is the right answer far out; overflow or inf/inf would not be.
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        for dtype in (np.float32, np.float64):
            y = sig.forward(np.array([-1e4, -30.0, 0.0, 30.0, 1e4], dtype=dtype))
            assert y.dtype == dtype
            assert y[0] == 0.0 and y[2] == 0.5 and y[4] == 1.0
            assert 0 < y[1] < 1e-12 and y[3] == pytest.approx(1.0)
    y = sig.forward(np.array([-1.0, 2.0]))
    np.testing.assert_allclose(y, [1 / (1 + np.e), 1 / (1 + np.exp(-2.0))], rtol=1e-15)
    np.testing.assert_allclose(sig.backward(np.ones(2)), y * (1 - y), rtol=1e-15)


def test_default_names_follow_keras():
    assert layers.GlobalAveragePooling1D().name == "global_average_pooling1d"
    assert layers.Dense(1).name == "dense"
    assert layers.Embedding(2, 2).name == "embedding"
    assert layers.Dense(1, name="out").name == "out"


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 12),
    width=st.integers(1, 7),
    ids=st.lists(st.integers(0, 11), min_size=0, max_size=60),
    transposed=st.booleans(),
)
def test_scatter_add_rows_equals_the_readable_add_at(rows, width, ids, transposed):
    """The flat-index scatter of Embedding.backward against `np.add.at(table, ids, rows)`, repeated ids
    included, on a C-contiguous table and on a transposed (non-contiguous) view of one."""
    ids = np.array([i % rows for i in ids], dtype=np.int64)
    rng = np.random.default_rng(len(ids))
    values = rng.standard_normal((ids.size, width))
    start = rng.standard_normal((rows, width))
    want = start.copy()
    np.add.at(want, ids, values)
    got = np.ascontiguousarray(start.T).T if transposed else start.copy()
    scatter_add_rows(got, ids, values)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
