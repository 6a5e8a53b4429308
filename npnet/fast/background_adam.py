"""`BackgroundAdam`: the fast plan's twin of a fused, non-lazy `Adam`, for the large parameters whose step
it can run on both threads. Every other parameter takes the wrapped Adam's own update.

Lookup tables of `SPARSE_TABLE_MIN` elements or more (the recurrent presets' 20000 x 128, fastText's
1.19M x 50) step from their row-sparse gradients, with the part of the step that needs no gradient begun
beside the backward pass. A table row outside the batch has g = 0, so its step is m = b1 m; v = b2 v;
p -= lr_t m / (sqrt(v) + eps): no gradient needed. `begin` (the plan calls it after the forward, once the loss
is known to be finite, when no layer will read the table again before the update) keeps the batch's rows
aside and starts that g = 0 pass over every row on the background thread (`npnet.fast.adam.start_rows_step_`);
`apply_gradients` gives the kept rows the whole formula with their gradient rows (`finish_rows_step_`). The
result is bitwise the wrapped Adam's dense step on the dense gradient (tests/fast/test_dense_adam_rows.py),
and the (V, D) gradient is never made, zero-filled or read.

Other parameters of `SPLIT_STEP_MIN` elements or more (the transformer preset's 20000 x 32 table) take the
wrapped Adam's dense step in two halves of their elements, one per thread of the kept pool: an elementwise
update, so bitwise the one-thread step.

If the step fails in between (an interrupt during the backward), `abandon` waits for the pass and puts the
kept rows back: the table's other rows have then taken that step's g = 0 update, and `iterations` has not
counted the step.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from npnet.fast.adam import (
    BACKGROUND_BLOCK,
    StartedRowsStep,
    adam_update_,
    adam_update_rows_,
    finish_rows_step_,
    scratch_for,
    start_rows_step_,
)
from npnet.fast.threads import shared_workers
from npnet.optimizers import Adam
from npnet.sparse import SparseRows

# Tables of at least this many elements take dense Adam's gradient row-sparse. Below it a batch looks up
# most rows (the notebook's 512 reviews touch most of its 10000 x 16 table, the cnn preset's 32 reviews
# most of its 5000 x 50), and keeping and scattering back the touched rows costs more than the dense
# gradient saves.
SPARSE_TABLE_MIN = 1 << 20
# Parameters of at least this many elements (four of Adam's cache blocks) take their dense step on two
# threads: below it, waking the second thread costs about what it saves.
SPLIT_STEP_MIN = 1 << 18


def takes_rows_step(optimizer: object, param: np.ndarray) -> bool:
    """Whether the fast plan runs `param`'s dense Adam step from its row-sparse gradient."""
    return _fused_dense_adam(optimizer) and param.size >= SPARSE_TABLE_MIN


def takes_split_step(optimizer: object, param: np.ndarray) -> bool:
    """Whether the fast plan runs `param`'s dense Adam step in two halves, one per thread."""
    return _fused_dense_adam(optimizer) and param.size >= SPLIT_STEP_MIN and param.flags.c_contiguous


def _fused_dense_adam(optimizer: object) -> bool:
    return isinstance(optimizer, Adam) and optimizer.fused and not optimizer.lazy


class BackgroundAdam:
    """Wraps `adam` for one fit call: parameters `tables` (indices in `apply_gradients` order) step from
    `SparseRows`, their g = 0 pass begun by `begin`; parameters `split` step in two halves on two threads."""

    def __init__(self, adam: Adam, tables: set[int], split: set[int] | None = None) -> None:
        self.adam = adam
        self.tables = tables
        self.split = split or set()
        self._started: dict[int, StartedRowsStep] = {}
        self._half_scratch: dict[tuple[int, int], np.ndarray] = {}  # (parameter, half's start) -> buffer

    def takes_sparse_rows(self, param: np.ndarray) -> bool:
        """The wrapped Adam's answer (lazy Adam's tables): the plan asks it of every table."""
        return self.adam.takes_sparse_rows(param)

    def begin(self, params: list[np.ndarray], looked_up: dict[int, np.ndarray]) -> None:
        """Start the g = 0 pass of each table in `looked_up` (index -> the ids the batch looked up)."""
        self.abandon()  # a step begun and never applied is dropped
        adam = self.adam
        adam.ensure_slots(params)
        background = shared_workers("background")
        block = BACKGROUND_BLOCK if background.threads > 1 else None
        for i, ids in looked_up.items():
            p = params[i]
            vhat = adam.vhat[i] if adam.amsgrad else None
            scratch = adam.scratch_of(i, p, block)
            self._started[i] = start_rows_step_(p, ids, adam.m[i], adam.v[i], vhat, scratch=scratch,
                                                workers=background, **adam.step_args(p))  # fmt: skip

    def abandon(self) -> None:
        """Wait for every begun pass and put its kept rows back."""
        while self._started:
            self._started.popitem()[1].put_back()

    def apply_gradients(self, grads_and_params: Iterable[tuple[np.ndarray | SparseRows, np.ndarray]]) -> None:
        """The wrapped Adam's step: the tables' from their rows (finishing a begun pass), the rest as Adam."""
        adam, pairs = self.adam, list(grads_and_params)
        try:
            adam.check_step(pairs)
            for i, (g, p) in enumerate(pairs):
                if i in self.split and not isinstance(g, SparseRows):
                    self._split_update(i, g, p)
                    continue
                if i not in self.tables or not isinstance(g, SparseRows):
                    adam.update(i, g, p)
                    continue
                if g.dtype != p.dtype:
                    g = SparseRows(g.ids, g.values.astype(p.dtype), g.shape)
                started = self._started.pop(i, None)
                if started is not None:
                    finish_rows_step_(started, g, **adam.step_args(p))
                else:
                    vhat = adam.vhat[i] if adam.amsgrad else None
                    adam_update_rows_(p, g, adam.m[i], adam.v[i], vhat, scratch=adam.scratch_of(i, p),
                                      **adam.step_args(p))  # fmt: skip
        except BaseException:
            self.abandon()
            raise
        adam.iterations += 1

    def _split_update(self, i: int, g: np.ndarray, p: np.ndarray) -> None:
        """Parameter i's dense step, each half of its (contiguous) elements on one thread of the kept pool."""
        adam = self.adam
        g = np.ascontiguousarray(g, dtype=p.dtype)
        arrays = [p, g, adam.m[i], adam.v[i], *([adam.vhat[i]] if adam.amsgrad else [])]
        # The halves are slices of flat views; an array in another memory order (set_state keeps the order it
        # is given) would flatten to a copy and lose its step, so such a step runs whole.
        if not all(a.flags.c_contiguous for a in arrays):
            adam.update(i, g, p)
            return
        flat = [a.reshape(-1) for a in arrays]
        args = adam.step_args(p)

        def half(elements: slice) -> None:
            scratch = self._half_scratch.get((i, elements.start))
            if scratch is None or scratch.dtype != p.dtype:
                scratch = self._half_scratch[i, elements.start] = scratch_for(flat[0][elements])
            p_, g_, m_, v_, *h_ = (a[elements] for a in flat)
            adam_update_(p_, g_, m_, v_, h_[0] if h_ else None, scratch=scratch, **args)

        shared_workers().split(half, p.size)
