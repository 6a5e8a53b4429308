"""Adam(lazy=True): the sparse embedding gradient (fused and readable paths), the row update against the
plain formula, lazy against dense Adam, and resume of a lazy run."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import npnet
from npnet import layers, optimizers
from npnet.fast.embedding_pool import BagOfWords, backward, backward_rows
from npnet.saving import checkpoints
from npnet.sparse import SparseRows


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    mask_zero=st.booleans(),
    split=st.sampled_from([0.0, 0.3, 2.0]),
)
def test_sparse_backward_equals_the_dense_one_on_its_rows_and_names_exactly_the_looked_up_rows(
    seed, mask_zero, split
):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 30, size=(rng.integers(1, 6), rng.integers(1, 9)))
    grad = rng.normal(size=(len(ids), 4))
    bag = BagOfWords.from_ids(ids, 40, mask_zero=mask_zero, dense_min_df=split)
    batch = bag.take(np.arange(len(ids)), dtype=np.float64)
    rows = backward_rows(batch, grad)
    dense = backward(batch, grad)
    looked_up = np.unique(ids[ids != 0] if mask_zero else ids)
    assert sorted(rows.ids.tolist()) == looked_up.tolist()  # distinct, exactly the lookups
    np.testing.assert_allclose(rows.values, dense[rows.ids], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(rows.to_dense(), dense, rtol=1e-12, atol=1e-15)


def plain_lazy_adam(p, m, v, steps, lr=1e-3, b1=0.9, b2=0.999, eps=1e-7):
    """The lazy rule row by row in float64, for (ids, values) gradients."""
    p, m, v = p.copy(), m.copy(), v.copy()
    for t, (ids, g) in enumerate(steps, start=1):
        a = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        for r, gr in zip(ids, g, strict=True):
            m[r] = b1 * m[r] + (1 - b1) * gr
            v[r] = b2 * v[r] + (1 - b2) * gr**2
            p[r] = p[r] - a * m[r] / (np.sqrt(v[r]) + eps)
    return p, m, v


def random_steps(rng, rows, width, steps, always=()):
    out = []
    for _ in range(steps):
        ids = np.union1d(rng.choice(rows, size=rng.integers(1, rows), replace=False), always).astype(int)
        ids = rng.permutation(ids)  # any order: the update must not rely on sorted ids
        out.append((ids, rng.normal(size=(ids.size, width))))
    return out


def test_lazy_rows_equal_the_plain_formula():
    rng = np.random.default_rng(0)
    p0 = rng.normal(size=(12, 3))
    steps = random_steps(rng, 12, 3, 6)
    opt = optimizers.Adam(learning_rate=1e-2, lazy=True)
    p = p0.copy()
    for ids, g in steps:
        opt.apply_gradients([(SparseRows(ids, g, p.shape), p)])
    p_ref, m_ref, v_ref = plain_lazy_adam(p0, np.zeros_like(p0), np.zeros_like(p0), steps, lr=1e-2)
    np.testing.assert_allclose(p, p_ref, rtol=1e-12)
    np.testing.assert_allclose(opt.m[0], m_ref, rtol=1e-12)
    np.testing.assert_allclose(opt.v[0], v_ref, rtol=1e-12)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_lazy_equals_dense_on_rows_every_step_touches_and_leaves_untouched_rows_unchanged(amsgrad):
    rng = np.random.default_rng(1)
    p0 = rng.normal(size=(20, 4))
    always = np.array([0, 5, 7])
    steps = random_steps(rng, 15, 4, 8, always=always)  # rows 15..19 never touched
    lazy = optimizers.Adam(learning_rate=1e-2, amsgrad=amsgrad, lazy=True)
    dense = optimizers.Adam(learning_rate=1e-2, amsgrad=amsgrad)
    p_lazy, p_dense = p0.copy(), p0.copy()
    for step, (ids, g) in enumerate(steps):
        before = p_lazy.copy()
        lazy.apply_gradients([(SparseRows(ids, g, p0.shape), p_lazy)])
        dense.apply_gradients([(SparseRows(ids, g, p0.shape).to_dense(), p_dense)])
        untouched = np.setdiff1d(np.arange(20), ids)
        np.testing.assert_array_equal(p_lazy[untouched], before[untouched])  # exactly unchanged
        np.testing.assert_allclose(p_lazy[always], p_dense[always], rtol=1e-12)
        np.testing.assert_allclose(lazy.m[0][always], dense.m[0][always], rtol=1e-12)
        if step > 0:  # rows touched before but not now: dense keeps moving them, lazy does not
            sometimes = np.setdiff1d(untouched, np.arange(15, 20))
            if sometimes.size and np.any(dense.m[0][sometimes]):
                assert not np.allclose(p_lazy[sometimes], p_dense[sometimes])
    np.testing.assert_array_equal(p_lazy[15:], p0[15:])


def test_a_dense_optimizer_applies_a_sparse_gradient_as_the_dense_array():
    p_a, p_b = np.ones((5, 2)), np.ones((5, 2))
    g = SparseRows(np.array([1, 3]), np.array([[1.0, 2.0], [3.0, 4.0]]), (5, 2))
    optimizers.Adam().apply_gradients([(g, p_a)])
    optimizers.Adam().apply_gradients([(g.to_dense(), p_b)])
    np.testing.assert_array_equal(p_a, p_b)  # the same computation (to_dense, then the dense rule)


def test_a_mismatched_sparse_gradient_is_refused():
    p = np.zeros((5, 2))
    with pytest.raises(ValueError, match="row ids"):
        optimizers.Adam(lazy=True).apply_gradients([(SparseRows(np.array([7]), np.ones((1, 2)), (5, 2)), p)])
    with pytest.raises(ValueError, match="values"):
        SparseRows(np.array([1, 2]), np.ones((1, 2)), (5, 2))


# ---- in a model --------------------------------------------------------------------------------------

VOCAB = 30


def model(lazy, fused=None, seed=0):
    m = npnet.Sequential(
        [layers.Embedding(VOCAB, 6), layers.GlobalAveragePooling1D(), layers.Dense(1, activation="sigmoid")],
        seed=seed,
        dtype="float64",
        fused=fused,
    )
    m.compile(optimizers.Adam(learning_rate=1e-2, lazy=lazy), "binary_crossentropy", ["accuracy"])
    return m


def every_batch_touches_the_same_rows(n=64, length=12, seed=0):
    """Reviews of ids 1..9 only, each holding all of them: every batch looks up exactly rows 1..9."""
    rng = np.random.default_rng(seed)
    base = np.tile(np.arange(1, 10), (n, 1))
    x = np.concatenate([rng.permuted(base, axis=1), rng.integers(1, 10, size=(n, length - 9))], axis=1)
    return x.astype(np.int32), (x[:, -1] > 5).astype(np.int64)


def test_lazy_fit_equals_dense_fit_when_every_batch_touches_every_used_row():
    x, y = every_batch_touches_the_same_rows()
    lazy, dense = model(lazy=True), model(lazy=False)
    initial = lazy.get_weights()[0]
    lazy.fit(x, y, epochs=3, batch_size=16, verbose=0)
    dense.fit(x, y, epochs=3, batch_size=16, verbose=0)
    for a, b in zip(lazy.get_weights(), dense.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(lazy.get_weights()[0][10:], initial[10:])  # never looked up
    np.testing.assert_array_equal(lazy.get_weights()[0][0], initial[0])
    sparse = lazy.step_gradient(lazy.layers[0], "embeddings")
    assert isinstance(sparse, SparseRows) and sorted(sparse.ids) == list(range(1, 10))
    # the dense (V, D) gradient array was never written on the lazy fused path
    assert not lazy.layers[0].grads["embeddings"].any()


def test_lazy_fused_fit_equals_the_lazy_readable_fit():
    rng = np.random.default_rng(3)
    x = rng.integers(0, VOCAB, size=(50, 10)).astype(np.int32)
    y = rng.integers(0, 2, size=50)
    fused, readable = model(lazy=True), model(lazy=True, fused=False)
    fused.fit(x, y, epochs=2, batch_size=8, verbose=0)
    readable.fit(x, y, epochs=2, batch_size=8, verbose=0)
    for a, b in zip(fused.get_weights(), readable.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


def test_a_row_left_out_of_a_step_stays_put_under_lazy_and_moves_under_dense():
    x1, x2, y = np.array([[3, 4, 5]]), np.array([[4, 5, 6]]), np.array([1])
    lazy, dense = model(lazy=True), model(lazy=False)
    for m in (lazy, dense):
        m.train_on_batch(x1, y)
    row3_lazy, row3_dense = lazy.get_weights()[0][3].copy(), dense.get_weights()[0][3].copy()
    for m in (lazy, dense):
        m.train_on_batch(x2, y)
    np.testing.assert_array_equal(lazy.get_weights()[0][3], row3_lazy)
    assert not np.allclose(dense.get_weights()[0][3], row3_dense)


def test_a_lazy_run_resumes_bitwise_from_its_checkpoint(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.integers(0, VOCAB, size=(40, 10)).astype(np.int32)
    y = rng.integers(0, 2, size=40)
    straight = model(lazy=True)
    straight.fit(x, y, epochs=2, batch_size=8, verbose=0)
    first = model(lazy=True)
    first.fit(x, y, epochs=1, batch_size=8, verbose=0)
    checkpoints.save(tmp_path / "c.npz", checkpoints.capture(first, 1, {}, {}))
    resumed = model(lazy=True)
    checkpoints.restore(resumed, checkpoints.load(tmp_path / "c.npz"))
    assert resumed.optimizer.get_config()["lazy"] is True
    resumed.fit(x, y, epochs=2, batch_size=8, verbose=0, initial_epoch=1)
    for a, b in zip(straight.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # the same computation replayed
    for key, value in straight.optimizer.get_state().items():
        np.testing.assert_array_equal(value, resumed.optimizer.get_state()[key])


@pytest.mark.parametrize("amsgrad", [False, True])
def test_the_lazy_kernel_equals_the_plain_lazy_formula(amsgrad):
    """Adam(lazy=True) (npnet.fast.adam.lazy_adam_rows_) against Adam(lazy=True, fused=False), the plain
    expressions on the rows: m and v the same operations, p up to rounding (lr_t (m / d) vs (lr_t m) / d)."""
    rng = np.random.default_rng(6)
    p0 = rng.normal(size=(14, 3))
    steps = random_steps(rng, 14, 3, 7)
    fused = optimizers.Adam(learning_rate=1e-2, amsgrad=amsgrad, lazy=True)
    plain = optimizers.Adam(learning_rate=1e-2, amsgrad=amsgrad, lazy=True, fused=False)
    p_fused, p_plain = p0.copy(), p0.copy()
    for ids, g in steps:
        fused.apply_gradients([(SparseRows(ids, g, p0.shape), p_fused)])
        plain.apply_gradients([(SparseRows(ids, g, p0.shape), p_plain)])
    np.testing.assert_allclose(p_fused, p_plain, rtol=1e-13)
    np.testing.assert_allclose(fused.m[0], plain.m[0], rtol=1e-13)
    np.testing.assert_allclose(fused.v[0], plain.v[0], rtol=1e-13)
    assert not np.array_equal(p_fused, p0)


def test_after_a_lazy_fit_gradients_and_backward_fill_the_dense_array():
    """Row-sparse gradients belong to fit's plan: a later `gradients` call gets the filled (V, D) array,
    equal to a dense model's."""
    x, y = every_batch_touches_the_same_rows()
    lazy = model(lazy=True)
    lazy.fit(x, y, epochs=1, batch_size=16, verbose=0)
    dense = model(lazy=False)
    dense.set_weights(lazy.get_weights())
    _, lazy_grads = lazy.gradients(x[:8], y[:8])
    _, dense_grads = dense.gradients(x[:8], y[:8])
    assert lazy_grads[0][1:10].any()
    np.testing.assert_array_equal(lazy_grads[0], dense_grads[0])  # the same readable computation


@pytest.mark.parametrize("fused", [None, False])
def test_the_backprop_monitor_reports_a_lazy_steps_table_gradient_as_the_dense_one(fused):
    """BackpropMonitor under Adam(lazy=True): the table's statistics come from the SparseRows and equal
    those of the dense gradient it stands for (absent rows zero)."""
    from npnet.callbacks.backprop_monitor import BackpropMonitor, parameter_stats

    x, y = every_batch_touches_the_same_rows(n=16)
    monitor = BackpropMonitor(every=1)
    lazy = model(lazy=True, fused=fused)
    lazy.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False, callbacks=[monitor])
    stats = {r.statistic: r.value for r in monitor.rows if r.parameter == "embeddings"}
    assert stats["zero_grad_rows"] == pytest.approx((VOCAB - 9) / VOCAB)  # rows 1..9 looked up
    grad = lazy.step_gradient(lazy.layers[0], "embeddings")
    assert isinstance(grad, SparseRows)
    table = lazy.get_weights()[0]
    expected = parameter_stats(table, table, grad.to_dense(), table=True)
    got = parameter_stats(table, table, grad, table=True)
    for key in ("grad_norm", "grad_max", "zero_grad_rows"):
        assert got[key] == pytest.approx(expected[key], rel=1e-12)
    assert stats["grad_norm"] == pytest.approx(expected["grad_norm"], rel=1e-12)


def test_a_saved_lazy_model_loads_with_a_lazy_optimizer(tmp_path):
    m = model(lazy=True)
    x, y = every_batch_touches_the_same_rows(n=16)
    m.fit(x, y, epochs=1, batch_size=8, verbose=0)
    m.save(tmp_path / "m.npz")
    loaded = npnet.models.load_model(tmp_path / "m.npz")
    assert loaded.optimizer.lazy is True and loaded.optimizer.takes_sparse_rows(np.zeros((3, 2))) is True
    for key, value in m.optimizer.get_state().items():
        np.testing.assert_array_equal(value, loaded.optimizer.get_state()[key])


def test_tensorboard_histograms_a_lazy_tables_looked_up_rows(tmp_path):
    pytest.importorskip("tensorboardX")
    from npnet.callbacks.tensorboard import TensorBoardLogger

    x, y = every_batch_touches_the_same_rows(n=16)
    lazy = model(lazy=True)
    lazy.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[TensorBoardLogger(tmp_path / "tb")])
    assert any(path.name.startswith("events.") for path in (tmp_path / "tb").rglob("*"))
