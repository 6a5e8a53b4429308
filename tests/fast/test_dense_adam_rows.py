"""Dense Adam from a row-sparse gradient (`npnet.fast.adam.adam_update_rows_`, what fit's plan runs for
`Adam(fused=True)` on a table of `background_adam.SPARSE_TABLE_MIN` elements or more, through
`BackgroundAdam`): the numbers of the dense kernel on the dense gradient, without that gradient; and in
`fit`, the same training as the dense path."""

from __future__ import annotations

import numpy as np
import pytest

import npnet
from npnet import layers, optimizers
from npnet.fast import adam, background_adam
from npnet.fast.adam import adam_update_, adam_update_rows_
from npnet.sparse import SparseRows

KWARGS = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("block", [None, 96])  # whole-array passes; blocks of 96 elements (edges mid-row)
def test_the_rows_kernel_equals_the_dense_kernel_on_the_dense_gradient(dtype, amsgrad, block, monkeypatch):
    """Untouched rows take the g = 0 step (the dense kernel's operations minus its `+ 0` terms), touched
    rows the whole formula in the dense kernel's order: the same operations, so the same bits, step after
    step, with rows that some steps skip and one row no step touches."""
    if block is not None:
        monkeypatch.setattr(adam, "_BLOCK", block)
    rng = np.random.default_rng(11)  # row 39 is never looked up: its m stays 0, so it never moves
    rows, width = 40, 7
    p0 = rng.normal(size=(rows, width)).astype(dtype)
    dense_state = [p0.copy(), np.zeros_like(p0), np.zeros_like(p0), np.zeros_like(p0)]
    rows_state = [a.copy() for a in dense_state]
    for step in range(1, 31):
        ids = rng.permutation(rng.choice(rows - 1, size=rng.integers(1, rows // 2), replace=False))
        values = (rng.normal(size=(ids.size, width)) * 0.5 ** (step % 9)).astype(dtype)
        grad = SparseRows(ids, values, (rows, width))
        step_size = 1e-2 / step**0.5
        before = rows_state[0].copy()
        for state, kernel, g in (
            (dense_state, adam_update_, grad.to_dense()),
            (rows_state, adam_update_rows_, grad),
        ):
            p, m, v, vhat = state
            kernel(p, g, m, v, vhat if amsgrad else None, step_size=step_size, **KWARGS)
    for dense, sparse in zip(dense_state, rows_state, strict=True):
        np.testing.assert_array_equal(sparse, dense)
    skipped = np.setdiff1d(np.arange(rows - 1), ids)  # looked up before, not in the last step
    assert np.all(np.any(rows_state[0][skipped] != before[skipped], axis=1))  # they moved, as dense Adam's do
    np.testing.assert_array_equal(rows_state[0][-1], p0[-1])
    if amsgrad:
        assert np.any(rows_state[3] > rows_state[2])


def test_the_rows_kernel_refuses_a_mismatched_gradient():
    p = np.zeros((5, 2))
    with pytest.raises(ValueError, match="row ids"):
        adam_update_rows_(p, SparseRows(np.array([5]), np.ones((1, 2)), (5, 2)), p.copy(), p.copy(),
                          step_size=1e-3, **KWARGS)  # fmt: skip
    with pytest.raises(ValueError, match="must match"):
        adam_update_rows_(p, SparseRows(np.array([1]), np.ones((1, 3)), (5, 3)), p.copy(), p.copy(),
                          step_size=1e-3, **KWARGS)  # fmt: skip


def test_fused_dense_adam_takes_only_a_large_tables_step_from_its_rows():
    large, small = np.zeros((background_adam.SPARSE_TABLE_MIN // 8, 8)), np.zeros((100, 8))
    takes = background_adam.takes_rows_step
    assert takes(optimizers.Adam(), large) and not takes(optimizers.Adam(), small)
    assert not takes(optimizers.Adam(fused=False), large)  # the plain formula stays dense
    assert not takes(optimizers.Adam(lazy=True), large)  # lazy Adam's rows are its own semantics
    assert not takes(optimizers.SGD(), large)
    # what the optimizer itself asks for is semantics only: lazy Adam's rows
    assert optimizers.Adam(lazy=True).takes_sparse_rows(small) and not optimizers.Adam().takes_sparse_rows(
        large
    )


def imdb_like(vocab=50, n=48, length=10, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, vocab, size=(n, length)).astype(np.int32)
    return x, (x[:, 0] > vocab // 2).astype(np.int64)


# the embedding twin (FastEmbedding) and the fused Embedding + pool twin
@pytest.mark.parametrize("pool", [layers.GlobalMaxPooling1D, layers.GlobalAveragePooling1D])
def test_fit_through_the_rows_kernel_equals_fit_through_the_dense_gradient(pool, monkeypatch):
    x, y = imdb_like()
    trained = {}
    for table_min in (10**12, 1):  # no table is large enough; every table is
        monkeypatch.setattr(background_adam, "SPARSE_TABLE_MIN", table_min)
        model = npnet.Sequential(
            [layers.Embedding(50, 6), pool(), layers.Dense(1, activation="sigmoid")], seed=0, dtype="float64"
        )
        model.compile(optimizers.Adam(learning_rate=1e-2), "binary_crossentropy", ["accuracy"])
        history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
        trained[table_min] = (
            model.get_weights(),
            history.history["loss"],
            model.layers[0].grads["embeddings"],
        )
    (dense_w, dense_loss, dense_grad), (rows_w, rows_loss, rows_grad) = trained[10**12], trained[1]
    assert np.any(dense_grad != 0) and np.all(rows_grad == 0)  # the rows path never made the dense gradient
    np.testing.assert_allclose(rows_loss, dense_loss, rtol=1e-12)
    for a, b in zip(rows_w, dense_w, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def embedding_model(dtype="float64", layer=None):
    # Not Embedding -> average pooling (whose fused twin takes bags, not ids): the embedding twin sees the
    # batch ids, so the plan can begin the step early
    stack = [layers.Embedding(50, 6), layers.GlobalMaxPooling1D(), layers.Dense(1, activation="sigmoid")]
    model = npnet.Sequential(stack if layer is None else [*stack[:2], layer, stack[2]], seed=0, dtype=dtype)
    model.compile(optimizers.Adam(learning_rate=1e-2), "binary_crossentropy", ["accuracy"])
    return model


def test_the_g0_pass_begun_beside_the_backward_gives_the_serial_steps_numbers(monkeypatch):
    """With two threads `fit` starts each step's g = 0 pass over the table after the forward
    (`BackgroundAdam.begin`), on the background pool, and finishes it in `apply_gradients`; with one it
    runs at once. Same numbers."""
    from npnet import config

    monkeypatch.setattr(background_adam, "SPARSE_TABLE_MIN", 1)
    x, y = imdb_like()
    trained, pools = {}, {}
    for threads in (1, 2):
        monkeypatch.setattr(config, "_NUM_THREADS", threads)
        seen, finished = [], []
        start, finish = adam.start_rows_step_, adam.finish_rows_step_  # the kernels themselves

        def spy(*args, seen=seen, start=start, **kwargs):
            seen.append(kwargs["workers"].threads)
            return start(*args, **kwargs)

        def finish_spy(*args, finished=finished, finish=finish, **kwargs):
            finished.append(True)
            return finish(*args, **kwargs)

        monkeypatch.setattr(background_adam, "start_rows_step_", spy)
        monkeypatch.setattr(background_adam, "finish_rows_step_", finish_spy)
        model = embedding_model()
        history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
        trained[threads], pools[threads] = (model.get_weights(), history.history["loss"]), seen
        assert len(finished) == len(seen)  # every begun step was finished
    assert pools == {1: [1] * 6, 2: [2] * 6}  # 3 steps an epoch, each begun; on the pair of threads with 2
    np.testing.assert_allclose(trained[2][1], trained[1][1], rtol=1e-13)
    for a, b in zip(trained[2][0], trained[1][0], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-16)


class FailingBackward(layers.Activation):
    """An identity layer whose backward raises on its `fail_at`-th call: an interrupted step."""

    def __init__(self, fail_at: int) -> None:
        super().__init__("linear")
        self.fail_at, self.calls = fail_at, 0

    def backward(self, grad_out):
        self.calls += 1
        if self.calls == self.fail_at:
            raise KeyboardInterrupt
        return super().backward(grad_out)


def test_a_step_interrupted_in_its_backward_leaves_the_looked_up_rows_as_they_were(monkeypatch):
    """The plan's close after a failed step (`BackgroundAdam.abandon`) waits for the g = 0 pass (no thread
    writes after fit returns) and puts the batch's rows back; the other rows keep that pass (the
    documented cost of beginning it early)."""
    from npnet import config

    monkeypatch.setattr(background_adam, "SPARSE_TABLE_MIN", 1)
    monkeypatch.setattr(config, "_NUM_THREADS", 2)
    x, y = imdb_like(n=32)
    model = embedding_model(layer=FailingBackward(fail_at=2))
    model.fit(x[:16], y[:16], epochs=1, batch_size=16, verbose=0, shuffle=False)  # m, v not zero now
    before = [a.copy() for a in (model.get_weights()[0], model.optimizer.m[0], model.optimizer.v[0])]
    with pytest.raises(KeyboardInterrupt):
        model.fit(x[16:], y[16:], epochs=1, batch_size=16, verbose=0, shuffle=False)
    assert model.optimizer.iterations == 1
    after = [model.get_weights()[0], model.optimizer.m[0], model.optimizer.v[0]]
    looked_up = np.unique(x[16:])
    others = np.setdiff1d(np.arange(50), looked_up)
    for b, a in zip(before, after, strict=True):
        np.testing.assert_array_equal(a[looked_up], b[looked_up])
    np.testing.assert_array_equal(after[1][others], before[1][others] * 0.9)  # m: one g = 0 step
