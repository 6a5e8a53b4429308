"""One Adam step applied in place, with every pass written into existing buffers (`out=`).

Keras 2's Adam, for one parameter:

    m = b1 m + (1 - b1) g ;  v = b2 v + (1 - b2) g²  (amsgrad: vhat = max(vhat, v), used instead of v)
    p = p - lr_t · m / (sqrt(v) + eps)              with lr_t = lr_k · sqrt(1 - b2^t) / (1 - b1^t)

Written plainly, NumPy allocates a temporary for nearly every operator; for the (10000, 16) embedding table
those are 640 KB arrays, 49 times an epoch. Here one scratch buffer carries every intermediate. m and v come
out bitwise equal to the plain formula (same operations in the same order); p differs by rounding only
(lr_t · (m / d) rather than (lr_t · m) / d, which would need a second buffer).

A large table (fastText's 1.19M x 50) is updated in cache-sized blocks (`_BLOCK` elements): the same
elementwise passes per block, so memory is read and written about once instead of once per pass.

`adam_update_rows_` is the same dense step (every row moves) from a row-sparse gradient (`SparseRows`, the
rows a batch looked up), without the (V, D) gradient array: a row outside the batch has g = 0, so its step
is m = b1 m; v = b2 v; p -= lr_t m / (sqrt(v) + eps), which needs no gradient at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from npnet.fast.threads import SERIAL, Workers
from npnet.sparse import SparseRows


def adam_update_(
    param: np.ndarray,
    grad: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    vhat: np.ndarray | None = None,
    *,
    step_size: float,
    beta_1: float,
    beta_2: float,
    epsilon: float,
    scratch: np.ndarray | None = None,
) -> None:
    """Update `param`, `m`, `v` (and `vhat`, AMSGrad's running maximum of v, when given) in place; all arrays
    share one shape and dtype.

    step_size: lr_t of this step, already decayed and bias-corrected (a_t in the reference).
    scratch: an optional buffer from `scratch_for(param)`, overwritten (saves one allocation per call).
    `optimizers.Adam(fused=True)` calls this; `Adam(fused=False)` is the plain form it is tested against.
    """
    for name, array in (("grad", grad), ("m", m), ("v", v), ("vhat", vhat)):
        if array is not None and (array.shape != param.shape or array.dtype != param.dtype):
            raise ValueError(
                f"{name} must match param ({param.dtype} {param.shape}); got {array.dtype} {array.shape}"
            )
    _update_in_blocks(param, grad, m, v, vhat, scratch, step_size, beta_1, beta_2, epsilon)


def adam_update_rows_(
    param: np.ndarray,
    grad: SparseRows,
    m: np.ndarray,
    v: np.ndarray,
    vhat: np.ndarray | None = None,
    *,
    step_size: float,
    beta_1: float,
    beta_2: float,
    epsilon: float,
    scratch: np.ndarray | None = None,
) -> None:
    """`adam_update_(param, grad.to_dense(), ...)` without the dense gradient: the same numbers.

    Every row first takes the g = 0 step (one blocked pass over p, m, v: the gradient is neither made, nor
    filled with zeros, nor read), after the rows `grad.ids` are kept aside; those kept rows then take the
    whole formula (`npnet.sparse.adam_on_rows_`, the dense kernel's operations in the same order) and are
    written back over the pass's values. The g = 0 step differs from the dense kernel's only by its missing
    `+ 0` terms, so m, v and p come out bitwise equal (up to the sign of a zero;
    tests/fast/test_dense_adam_rows.py).

    The two halves are `start_rows_step_` (which needs only the ids, so it can run on another thread while
    the gradient is computed: `npnet.fast.background_adam.BackgroundAdam`) and `finish_rows_step_`.
    """
    _check_rows_grad(param, grad)  # before the first half writes anything
    started = start_rows_step_(param, grad.ids, m, v, vhat, step_size=step_size, beta_1=beta_1,
                               beta_2=beta_2, epsilon=epsilon, scratch=scratch)  # fmt: skip
    finish_rows_step_(started, grad, step_size=step_size, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)


@dataclass
class StartedRowsStep:
    """A dense step begun by `start_rows_step_` on `arrays` (p, m, v and vhat if any): `kept`, their rows
    `ids` (sorted, distinct) as they were before it, and `wait`, which returns once the g = 0 pass over
    every row is done."""

    ids: np.ndarray
    arrays: list[np.ndarray]
    kept: list[np.ndarray]
    wait: Callable[[], None]

    def put_back(self) -> None:
        """Wait for the g = 0 pass, then restore the kept rows: rows `ids` are as before the step, the
        others have taken its g = 0 update."""
        self.wait()
        for array, rows in zip(self.arrays, self.kept, strict=True):
            array[self.ids] = rows  # ids are distinct, so this buffered scatter is exact


def start_rows_step_(
    param: np.ndarray,
    ids: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    vhat: np.ndarray | None = None,
    *,
    step_size: float,
    beta_1: float,
    beta_2: float,
    epsilon: float,
    scratch: np.ndarray | None = None,
    workers: Workers = SERIAL,
) -> StartedRowsStep:
    """The first half of `adam_update_rows_`, for a step whose gradient will be zero outside rows `ids`:
    keep those rows, then run the g = 0 step over every row on `workers` (SERIAL: at once), in blocks of
    the scratch's size (`scratch_for(param, BACKGROUND_BLOCK)` on another thread). Until `wait` returns,
    p, m, v (vhat) are being written: nothing may read them, and rows `ids` are not yet right."""
    ids = np.unique(np.asarray(ids, dtype=np.intp))
    if ids.size and (ids[0] < 0 or ids[-1] >= param.shape[0]):
        raise ValueError(f"sparse gradient row ids must lie in [0, {param.shape[0]})")
    arrays = [a for a in (param, m, v, vhat) if a is not None]
    kept = [np.take(a, ids, axis=0) for a in arrays]  # before the g = 0 pass moves them
    wait = workers.start(
        _update_in_blocks, param, None, m, v, vhat, scratch, step_size, beta_1, beta_2, epsilon
    )
    return StartedRowsStep(ids, arrays, kept, wait)


def finish_rows_step_(
    started: StartedRowsStep,
    grad: SparseRows,
    *,
    step_size: float,
    beta_1: float,
    beta_2: float,
    epsilon: float,
) -> None:
    """The second half: wait for the g = 0 pass, give the kept rows the whole formula with their gradient
    rows (zero for a kept row `grad` omits: a masked id), and write them back over the pass's values.
    `grad.ids` must be among the kept rows; if not, the step is undone as far as it can be (`put_back`)
    and refused."""
    ids, param = started.ids, started.arrays[0]
    try:
        _check_rows_grad(param, grad)
        if not np.array_equal(grad.ids, ids):  # spread the rows onto the kept ones
            at = np.searchsorted(ids, grad.ids)
            if np.any(at >= ids.size) or np.any(ids[np.minimum(at, ids.size - 1)] != grad.ids):
                raise ValueError("sparse gradient rows lie outside the rows kept when the step was started")
            values = np.zeros((ids.size, param.shape[1]), param.dtype)
            values[at] = grad.values
            grad = SparseRows(ids, values, grad.shape)
    except BaseException:
        started.put_back()  # never raise while the pass still writes
        raise
    started.wait()
    # The kept rows are the rows as they were before the step: the whole formula runs on them in place (no
    # second gather), and the scatter writes them over the g = 0 pass's values.
    p_rows, m_rows, v_rows, *vhat_rows = started.kept
    adam_on_rows_(p_rows, m_rows, v_rows, vhat_rows[0] if vhat_rows else None, grad.values,
                  step_size=step_size, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)  # fmt: skip
    for array, rows in zip(started.arrays, started.kept, strict=True):
        array[ids] = rows  # ids are distinct, so this buffered scatter is exact


def _check_rows_grad(param: np.ndarray, grad: SparseRows) -> None:
    if grad.shape != param.shape or grad.dtype != param.dtype:
        raise ValueError(
            f"the sparse gradient ({grad.dtype} {grad.shape}) must match its parameter "
            f"({param.dtype} {param.shape})"
        )


def _update_in_blocks(
    param: np.ndarray,
    grad: np.ndarray | None,
    m: np.ndarray,
    v: np.ndarray,
    vhat: np.ndarray | None,
    scratch: np.ndarray | None,
    step_size: float,
    beta_1: float,
    beta_2: float,
    epsilon: float,
) -> None:
    """`_update_block` over the whole arrays, a large contiguous table in blocks of the scratch buffer's
    size (`scratch_for`). grad None: g = 0."""
    tmp = scratch_for(param) if scratch is None else scratch
    arrays = [param, m, v] + [a for a in (grad, vhat) if a is not None]
    if param.size > tmp.size and all(a.flags.c_contiguous for a in arrays):
        # A large table in cache-sized blocks: each block's ~12 passes run in L2, so memory sees about one
        # read of p, g, m, v and one write of p, m, v instead of ~29 array passes. Elementwise operations,
        # so every element gets exactly the operations (and result) of the single pass.
        p_, m_, v_ = (a.reshape(-1) for a in (param, m, v))
        g_ = None if grad is None else grad.reshape(-1)
        h_ = None if vhat is None else vhat.reshape(-1)
        t_ = tmp.reshape(-1)
        for at in range(0, param.size, t_.size):
            block = slice(at, at + t_.size)
            _update_block(p_[block], None if g_ is None else g_[block], m_[block], v_[block],
                          None if h_ is None else h_[block], t_[: p_[block].size],
                          step_size, beta_1, beta_2, epsilon)  # fmt: skip
        return
    if tmp.shape != param.shape:  # a large table that is not contiguous: whole-array passes
        tmp = np.empty_like(param)
    _update_block(param, grad, m, v, vhat, tmp, step_size, beta_1, beta_2, epsilon)


def scratch_shape(param: np.ndarray, block: int | None = None) -> tuple[int, ...]:
    """The shape of the scratch buffer `adam_update_` needs for `param`: param's own, or one block (of
    `block` elements, default `_BLOCK`) for a larger table, which is updated in blocks of the scratch's
    size (a table-sized buffer would only add the table's size to the peak memory: 239 MB for fastText's)."""
    block = _BLOCK if block is None else block
    return param.shape if param.size <= block else (block,)


def scratch_for(param: np.ndarray, block: int | None = None) -> np.ndarray:
    """A scratch buffer for `adam_update_(param, ...)` (see `scratch_shape`)."""
    return np.empty(scratch_shape(param, block), param.dtype)


# Elements per block of a large update: 64k float32 = 256 KB per array, 5-6 arrays in the 1 MB L2 of the
# 2-core machine. Of 16k / 64k / 256k, 64k updated the fastText table fastest, all three faster than the
# unblocked update (benchmarks/HISTORY.md, "Adam's blocks").
_BLOCK = 65_536
# The g = 0 pass on a background thread (`start_rows_step_` beside a backward) takes 16x larger blocks: each
# of a block's ~10 calls takes the GIL back from the backward's many small NumPy calls, and with 64k blocks
# (~400 handoffs a step) the overlap gained nothing; 1M-element blocks gained the most on cnn-lstm
# (benchmarks/HISTORY.md, "Adam's blocks").
BACKGROUND_BLOCK = 1 << 20


def _update_block(
    param: np.ndarray,
    grad: np.ndarray | None,
    m: np.ndarray,
    v: np.ndarray,
    vhat: np.ndarray | None,
    tmp: np.ndarray,
    step_size: float,
    beta_1: float,
    beta_2: float,
    epsilon: float,
) -> None:
    """The update's passes over whole arrays (or one block of them), `tmp` carrying the intermediates.
    grad None: a zero gradient, whose terms (1 - b) g are left out rather than added as zeros."""

    np.multiply(m, beta_1, out=m)
    if grad is not None:
        np.multiply(grad, 1 - beta_1, out=tmp)
        np.add(m, tmp, out=m)

    np.multiply(v, beta_2, out=v)
    if grad is not None:
        np.multiply(grad, 1 - beta_2, out=tmp)
        np.multiply(tmp, grad, out=tmp)
        np.add(v, tmp, out=v)

    if vhat is not None:
        np.maximum(vhat, v, out=vhat)
    np.sqrt(v if vhat is None else vhat, out=tmp)
    np.add(tmp, epsilon, out=tmp)  # eps is added to sqrt(v), as Keras 2 does
    np.divide(m, tmp, out=tmp)
    np.multiply(tmp, step_size, out=tmp)
    np.subtract(param, tmp, out=param)


def lazy_adam_rows_(
    param: np.ndarray,
    grad: SparseRows,
    m: np.ndarray,
    v: np.ndarray,
    vhat: np.ndarray | None = None,
    *,
    step_size: float,
    beta_1: float,
    beta_2: float,
    epsilon: float,
) -> None:
    """Adam on the rows `grad.ids` of `param`, `m`, `v` (and `vhat`, AMSGrad's running maximum of v, when
    given) in place; other rows untouched. `step_size` is lr_t, as for `npnet.fast.adam.adam_update_`.

    Costs O(k D) for k touched rows (gathers of the k rows, the formula, scatters back), never O(V D).
    `optimizers.Adam(lazy=True)` calls this; `Adam(lazy=True, fused=False)` is the plain form it is tested
    against.
    """
    if grad.shape != param.shape or grad.dtype != param.dtype:
        raise ValueError(
            f"the sparse gradient ({grad.dtype} {grad.shape}) must match its parameter "
            f"({param.dtype} {param.shape})"
        )
    ids = grad.ids
    if ids.size and (ids.min() < 0 or ids.max() >= param.shape[0]):
        raise ValueError(f"sparse gradient row ids must lie in [0, {param.shape[0]})")
    # np.take for the gathers: on a large table it is much faster than fancy indexing m[ids]
    # (benchmarks/HISTORY.md, "Adam's blocks").
    arrays = [a for a in (param, m, v, vhat) if a is not None]
    rows = [np.take(a, ids, axis=0) for a in arrays]
    p_rows, m_rows, v_rows, *vhat_rows = rows
    adam_on_rows_(p_rows, m_rows, v_rows, vhat_rows[0] if vhat_rows else None, grad.values,
                  step_size=step_size, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)  # fmt: skip
    for array, updated in zip(arrays, rows, strict=True):
        array[ids] = updated  # ids are distinct, so this buffered scatter is exact


def adam_on_rows_(
    p_rows: np.ndarray,
    m_rows: np.ndarray,
    v_rows: np.ndarray,
    vhat_rows: np.ndarray | None,
    g: np.ndarray,
    *,
    step_size: float,
    beta_1: float,
    beta_2: float,
    epsilon: float,
) -> None:
    """The Adam formula on rows already gathered (k, D), in place: m, v (vhat), then p, each the operations
    of `npnet.fast.adam.adam_update_` in its order (m first, then v, then lr_t * (m / d))."""
    m_rows *= beta_1
    m_rows += g * (1 - beta_1)
    v_rows *= beta_2
    v_rows += g * (1 - beta_2) * g
    if vhat_rows is not None:
        np.maximum(vhat_rows, v_rows, out=vhat_rows)
    denominator = np.sqrt(v_rows if vhat_rows is None else vhat_rows)
    denominator += epsilon  # eps is added to sqrt(v), as Keras 2 does
    step = np.divide(m_rows, denominator, out=denominator)
    step *= step_size
    p_rows -= step
