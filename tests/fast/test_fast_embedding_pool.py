"""The fused Embedding + GlobalAveragePooling1D kernels equal the readable layers they replace."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npnet.fast import embedding_pool
from npnet.fast.embedding_pool import BagOfWords, backward, forward
from npnet.fast.threads import Workers
from npnet.layers import Embedding, GlobalAveragePooling1D

# dense_min_df values that exercise every split: all ids dense, a mix, only the tail (pure CSR).
SPLITS = [0.0, 0.3, 2.0]


def _readable_pair(E, mask_zero):
    """The readable layers, Embedding (holding table E) -> GlobalAveragePooling1D: the reference."""
    embedding = Embedding(*E.shape, mask_zero=mask_zero, dtype=E.dtype)
    embedding.build((None, None))
    embedding.set_weights([E])
    return embedding, GlobalAveragePooling1D()


def forward_reference(ids, E, mask_zero=False):
    """pooled (B, D) from the readable layers' own forward passes."""
    embedding, pooling = _readable_pair(E, mask_zero)
    return pooling.forward(embedding.forward(ids), mask=embedding.compute_mask(ids, None))


def backward_reference(ids, grad_pooled, vocab_size, mask_zero=False):
    """dE (V, D) from the readable layers' own backward passes."""
    embedding, pooling = _readable_pair(
        np.zeros((vocab_size, grad_pooled.shape[1]), grad_pooled.dtype), mask_zero
    )
    pooling.forward(embedding.forward(ids), mask=embedding.compute_mask(ids, None))
    embedding.backward(pooling.backward(grad_pooled))
    return embedding.grads["embeddings"]


def _fast(ids, E, grad, mask_zero, dense_min_df, indices=None):
    bag = BagOfWords.from_ids(ids, E.shape[0], mask_zero=mask_zero, dense_min_df=dense_min_df)
    batch = bag.take(np.arange(len(ids)) if indices is None else indices, dtype=E.dtype)
    return forward(batch, E), backward(batch, grad)


def _abs_sums(ids, E, grad, mask_zero):
    """Sum of |terms| behind each output element: the scale of its rounding error."""
    return (
        forward_reference(ids, np.abs(E), mask_zero),
        backward_reference(ids, np.abs(grad), E.shape[0], mask_zero),
    )


def _assert_close_f64(ids, E, grad, mask_zero, dense_min_df, indices=None):
    pooled, dE = _fast(ids, E, grad, mask_zero, dense_min_df, indices)
    batch_ids = ids if indices is None else ids[indices]
    fwd_scale, bwd_scale = _abs_sums(batch_ids, E, grad, mask_zero)
    # Different summation orders of the same terms: a few ulps of the sum of magnitudes.
    np.testing.assert_array_less(
        np.abs(pooled - forward_reference(batch_ids, E, mask_zero)), 1e-12 * fwd_scale + 1e-300
    )
    ref_dE = backward_reference(batch_ids, grad, E.shape[0], mask_zero)
    np.testing.assert_array_less(np.abs(dE - ref_dE), 1e-12 * bwd_scale + 1e-300)
    return pooled, dE


def test_hand_computed_forward_and_backward():
    E = np.array([[0.0, 1.0], [2.0, 4.0], [8.0, 16.0]])
    ids = np.array([[1, 1, 2, 0], [2, 0, 0, 0]])
    grad = np.array([[1.0, 2.0], [4.0, 8.0]])
    for split in SPLITS:
        pooled, dE = _fast(ids, E, grad, mask_zero=False, dense_min_df=split)
        # Padding row 0 is averaged in and the mean divides by T = 4.
        np.testing.assert_array_equal(pooled, [[12 / 4, 25 / 4], [8 / 4, 19 / 4]])
        # Row 1 twice in review 0; row 0 once in review 0 and three times in review 1; row 2 in both.
        np.testing.assert_array_equal(dE, [[(1 + 12) / 4, (2 + 24) / 4], [2 / 4, 4 / 4], [5 / 4, 10 / 4]])
        pooled, dE = _fast(ids, E, grad, mask_zero=True, dense_min_df=split)
        np.testing.assert_array_equal(pooled, [[12 / 3, 24 / 3], [8.0, 16.0]])
        np.testing.assert_array_equal(dE, [[0.0, 0.0], [2 / 3, 4 / 3], [1 / 3 + 4, 2 / 3 + 8]])


@pytest.mark.parametrize("split", SPLITS)
def test_repeated_id_gets_one_gradient_per_occurrence(split):
    ids = np.array([[5, 5, 5, 2], [5, 3, 3, 3]])
    grad = np.array([[1.0, -1.0, 2.0], [0.5, 0.5, 0.5]])
    _, dE = _fast(ids, np.zeros((6, 3)), grad, mask_zero=False, dense_min_df=split)
    np.testing.assert_array_equal(dE[5], 3 / 4 * grad[0] + 1 / 4 * grad[1])
    np.testing.assert_array_equal(dE[3], 3 / 4 * grad[1])


@pytest.mark.parametrize("split", SPLITS)
def test_all_padding_row_with_mask_gives_zeros_and_no_gradient(split):
    ids = np.array([[0, 0, 0], [4, 0, 0]])
    E = np.arange(10.0).reshape(5, 2) + 1
    grad = np.ones((2, 2))
    pooled, dE = _fast(ids, E, grad, mask_zero=True, dense_min_df=split)
    np.testing.assert_array_equal(pooled, [[0.0, 0.0], E[4]])
    np.testing.assert_array_equal(dE, np.zeros((5, 2)) + np.eye(5)[4][:, None])


@pytest.mark.parametrize("mask_zero", [False, True])
@pytest.mark.parametrize("split", [*SPLITS, 0.05])
@pytest.mark.parametrize("dim", [1, 7, 16])
def test_skewed_batch_float64(mask_zero, split, dim):
    rng = np.random.default_rng(dim)
    lengths = rng.integers(0, 40, size=64)
    ids = np.where(np.arange(40) < lengths[:, None], rng.zipf(1.3, size=(64, 40)) % 300, 0)
    E = rng.normal(size=(300, dim))
    grad = rng.normal(size=(48, dim))
    indices = rng.integers(0, 64, size=48)  # shuffled, with repeated reviews
    _assert_close_f64(ids, E, grad, mask_zero, split, indices)


@pytest.mark.parametrize("mask_zero", [False, True])
@pytest.mark.parametrize("split", SPLITS)
def test_float32_within_rounding_bound_of_exact(mask_zero, split):
    """float32 results sit within the worst-case rounding bound of the float64 truth.

    A float32 sum of n terms is off by at most gamma_n = n·u/(1 - n·u) times the sum of their magnitudes
    (Higham, Accuracy and Stability, §4.2); n counts the additions plus the final scaling.
    """
    rng = np.random.default_rng(0)
    n, length, vocab, dim = 128, 200, 2000, 16
    ids = np.where(
        np.arange(length) < rng.integers(1, length, n)[:, None], rng.zipf(1.2, (n, length)) % vocab, 0
    )
    E64 = rng.uniform(-0.05, 0.05, (vocab, dim))
    grad64 = rng.normal(size=(n, dim))
    bag = BagOfWords.from_ids(ids, vocab, mask_zero=mask_zero, dense_min_df=split)
    batch = bag.take(np.arange(n), dtype=np.float32)
    pooled = forward(batch, E64.astype(np.float32))
    dE = backward(batch, grad64.astype(np.float32))
    # The float32 inputs are themselves rounded: take the exact answer for those rounded inputs.
    E_in, grad_in = E64.astype(np.float32).astype(np.float64), grad64.astype(np.float32).astype(np.float64)
    fwd_scale, bwd_scale = _abs_sums(ids, E_in, grad_in, mask_zero)
    u = np.finfo(np.float32).eps / 2
    for got, exact, scale, terms in (
        (pooled, forward_reference(ids, E_in, mask_zero), fwd_scale, length + 2),
        (dE, backward_reference(ids, grad_in, vocab, mask_zero), bwd_scale, n * length + 3),
    ):
        gamma = terms * u / (1 - terms * u)
        assert got.dtype == np.float32
        np.testing.assert_array_less(np.abs(got - exact), gamma * scale + 1e-30)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 12),
    length=st.integers(1, 12),
    vocab=st.integers(1, 30),
    dim=st.integers(1, 6),
    mask_zero=st.booleans(),
    split=st.sampled_from([*SPLITS, 0.1, 0.5]),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_shapes_match_reference(n, length, vocab, dim, mask_zero, split, seed):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocab, size=(n, length))
    ids[rng.random((n, length)) < 0.3] = 0
    E = rng.normal(size=(vocab, dim))
    batch_size = int(rng.integers(1, 2 * n + 1))
    indices = rng.integers(0, n, size=batch_size)
    grad = rng.normal(size=(batch_size, dim))
    _assert_close_f64(ids, E, grad, mask_zero, split, indices)


def test_backward_into_out_overwrites_and_does_not_accumulate():
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 20, size=(8, 10))
    bag = BagOfWords.from_ids(ids, 20, dense_min_df=0.5)
    batch = bag.take(np.arange(8), dtype=np.float64)
    grad = rng.normal(size=(8, 4))
    out = np.full((20, 4), 123.0)
    first = backward(batch, grad, out=out).copy()
    second = backward(batch, grad, out=out)
    assert second is out
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(second, backward_reference(ids, grad, 20), rtol=1e-12, atol=1e-15)


def test_counts_above_255_widen_the_count_type():
    ids = np.full((2, 512), 7)  # a power of two: the mean is exact
    bag = BagOfWords.from_ids(ids, 8, dense_min_df=0.0)
    assert bag.head_counts.dtype == np.uint16
    E = np.arange(16.0).reshape(8, 2)
    np.testing.assert_array_equal(forward(bag.take(np.array([1]), dtype=np.float64), E), [E[7]])


def test_frequent_ids_go_dense_and_rare_ones_to_the_tail():
    ids = np.array([[1, 2, 3], [1, 2, 4], [1, 5, 6], [1, 7, 8]])
    bag = BagOfWords.from_ids(ids, 10, dense_min_df=0.5)
    np.testing.assert_array_equal(bag.head_ids, [1, 2])
    np.testing.assert_array_equal(bag.tail_ids, [3, 4, 5, 6, 7, 8])
    np.testing.assert_array_equal(bag.tail_ptr, [0, 1, 2, 4, 6])


@pytest.mark.parametrize(
    ("ids", "vocab", "message"),
    [
        (np.array([[1, 10]]), 10, r"token id 10 is outside \[0, 10\)"),
        (np.array([[-1, 2]]), 10, r"token id -1 is outside \[0, 10\)"),
        (np.array([1, 2, 3]), 10, "2-D array"),
        (np.zeros((0, 5), dtype=int), 10, "empty"),
        (np.array([[0.5, 1.0]]), 10, "integers"),
        (np.array([[1, 2]]), 0, "vocab_size must be a positive integer"),
    ],
)
def test_bad_ids_are_refused_with_the_fix(ids, vocab, message):
    with pytest.raises(ValueError, match=message):
        BagOfWords.from_ids(ids, vocab)


def test_bad_batch_inputs_are_refused():
    bag = BagOfWords.from_ids(np.array([[1, 2], [3, 0]]), 4)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        bag.take(np.array([0, 2]))
    with pytest.raises(ValueError, match="1-D integer"):
        bag.take(np.array([[0]]))
    batch = bag.take(np.array([0, 1]), dtype=np.float64)
    with pytest.raises(ValueError, match=r"shape \(4, D\)"):
        forward(batch, np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"dtype=E\.dtype"):
        forward(batch, np.zeros((4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"shape \(2, D\)"):
        backward(batch, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="C-contiguous float64"):
        backward(batch, np.zeros((2, 3)), out=np.zeros((4, 2)))
    with pytest.raises(ValueError, match="dense_min_df must be >= 0"):
        BagOfWords.from_ids(np.array([[1]]), 4, dense_min_df=-0.1)


@pytest.mark.parametrize("mask_zero", [False, True])
@pytest.mark.parametrize("split", [*SPLITS, 0.05])
def test_rows_counted_in_blocks_match_the_reference(monkeypatch, mask_zero, split):
    # from_ids consumes the reviews in blocks of rows (to bound its memory); blocks of 3 rows put ids,
    # padding-only rows and empty tails on both sides of many block boundaries.
    monkeypatch.setattr(embedding_pool, "_BLOCK_ROWS", 3)
    rng = np.random.default_rng(5)
    ids = np.minimum(rng.zipf(1.5, size=(20, 9)) - 1, 29)
    ids[4] = 0
    ids[11, :5] = 0
    E = rng.normal(size=(30, 4))
    grad = rng.normal(size=(20, 4))
    _assert_close_f64(ids, E, grad, mask_zero, split, rng.permutation(20))


@pytest.mark.parametrize("dense_min_df", SPLITS)
@pytest.mark.parametrize("mask_zero", [False, True])
def test_a_second_thread_changes_no_bit(dense_min_df, mask_zero):
    """With two workers the tail (forward sums, backward scatter) runs on the other thread; each part
    writes its own arrays or its own rows (head and tail ids are disjoint), so nothing may change."""
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 30, size=(40, 12)) ** 2 % 30
    ids[::7, 4:] = 0
    E = rng.standard_normal((30, 6)).astype(np.float32)
    grad = rng.standard_normal((25, 6)).astype(np.float32)
    bag = BagOfWords.from_ids(ids, 30, mask_zero=mask_zero, dense_min_df=dense_min_df)
    batch = bag.take(rng.integers(0, 40, size=25), np.float32)
    results = []
    for threads in (1, 2):
        with Workers(threads) as workers:
            results.append((forward(batch, E, workers), backward(batch, grad, workers=workers)))
    (pooled1, dE1), (pooled2, dE2) = results
    np.testing.assert_array_equal(pooled2, pooled1)
    np.testing.assert_array_equal(dE2, dE1)
