"""Dense Adam in two halves, one per thread (`BackgroundAdam`'s split step, what fit's plan runs for
`Adam(fused=True)` on a parameter of `background_adam.SPLIT_STEP_MIN` elements or more that does not step from
its rows): each element takes the wrapped Adam's own operations, so the numbers are the one-thread step's."""

from __future__ import annotations

import numpy as np
import pytest

from npnet import models, optimizers
from npnet.config import set_num_threads
from npnet.fast import adam as adam_kernels
from npnet.fast import background_adam
from npnet.fast.background_adam import BackgroundAdam
from npnet.fast.plan import fast_plan


@pytest.fixture(params=[1, 2], ids=["one thread", "two threads"])
def threads(request: pytest.FixtureRequest) -> int:
    set_num_threads(request.param)
    yield request.param
    set_num_threads(None)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("amsgrad", [False, True])
def test_the_split_step_is_the_one_thread_step(threads: int, dtype: type, amsgrad: bool, monkeypatch) -> None:
    # blocks of 96 elements: each half runs several blocks, and the halves' edge falls mid-block and mid-row
    monkeypatch.setattr(adam_kernels, "_BLOCK", 96)
    rng = np.random.default_rng(3)
    shapes = [(101, 7), (5,), (33, 3)]
    params = [[rng.normal(size=s).astype(dtype) for s in shapes] for _ in range(2)]
    params[1] = [p.copy() for p in params[0]]
    whole = optimizers.Adam(1e-2, amsgrad=amsgrad)
    split = BackgroundAdam(optimizers.Adam(1e-2, amsgrad=amsgrad), tables=set(), split={0, 2})
    for step in range(12):
        grads = [(rng.normal(size=s) * 0.5 ** (step % 5)).astype(dtype) for s in shapes]
        whole.apply_gradients(zip(grads, params[0], strict=True))
        split.apply_gradients(zip(grads, params[1], strict=True))
    for mine, theirs in zip(params[0], params[1], strict=True):
        np.testing.assert_array_equal(theirs, mine)
    for name, slot in whole._slots.items():
        for mine, theirs in zip(slot, split.adam._slots[name], strict=True):
            np.testing.assert_array_equal(theirs, mine, err_msg=name)
    assert split.adam.iterations == whole.iterations == 12


def test_the_fast_plan_splits_the_large_parameters_only(monkeypatch) -> None:
    monkeypatch.setattr(background_adam, "SPLIT_STEP_MIN", 400)  # the 50 x 8 token table, nothing else
    model = models.transformer(50, 10, 8, 2, 6, 4, seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.build((None, 10))
    plan = fast_plan(model, model.optimizer)
    try:
        assert isinstance(plan.optimizer, BackgroundAdam)
        assert plan.optimizer.split == {0} and not plan.optimizer.tables
    finally:
        plan.close()
    lazy = models.transformer(50, 10, 8, 2, 6, 4, seed=0)
    lazy.compile(optimizer=optimizers.Adam(lazy=True), loss="sparse_categorical_crossentropy")
    lazy.build((None, 10))
    plan = fast_plan(lazy, lazy.optimizer)
    try:
        assert plan.optimizer is lazy.optimizer  # lazy Adam steps rows, never the dense halves
    finally:
        plan.close()


def test_state_in_another_memory_order_is_stepped_whole() -> None:
    """The halves are views of the flattened arrays: Fortran-ordered moments (set_state keeps an array's
    order) flattened to copies, so their step was lost."""
    set_num_threads(2)
    try:
        rng = np.random.default_rng(5)
        p0 = rng.normal(size=(40, 30))
        params, optimizers_ = [p0.copy(), p0.copy()], []
        for _ in range(2):
            adam = optimizers.Adam(1e-2)
            adam.ensure_slots([p0])
            state = adam.get_state()
            state["m/0"], state["v/0"] = np.asfortranarray(state["m/0"]), np.asfortranarray(state["v/0"])
            adam.set_state(state)
            optimizers_.append(adam)
        split = BackgroundAdam(optimizers_[1], tables=set(), split={0})
        for _ in range(3):
            g = rng.normal(size=p0.shape)
            optimizers_[0].apply_gradients([(g, params[0])])
            split.apply_gradients([(g, params[1])])
        np.testing.assert_array_equal(params[1], params[0])
        np.testing.assert_array_equal(optimizers_[1].m[0], optimizers_[0].m[0])
        assert np.any(optimizers_[1].m[0] != 0)
    finally:
        set_num_threads(None)
