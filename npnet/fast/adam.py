"""One Adam step applied in place, with every pass written into existing buffers (`out=`).

Keras 2's Adam (reference §5), for one parameter:

    m = b1 m + (1 - b1) g ;  v = b2 v + (1 - b2) g²  (amsgrad: vhat = max(vhat, v), used instead of v)
    p = p - lr_t · m / (sqrt(v) + eps)              with lr_t = lr_k · sqrt(1 - b2^t) / (1 - b1^t)

Written plainly, NumPy allocates a temporary for nearly every operator; for the (10000, 16) embedding table
those are 640 KB arrays, 49 times an epoch. Here one scratch buffer carries every intermediate. m and v come
out bitwise equal to the plain formula (same operations in the same order); p differs by rounding only
(lr_t · (m / d) rather than (lr_t · m) / d, which would need a second buffer).

A large table (fastText's 1.19M x 50) is updated in cache-sized blocks (`_BLOCK` elements): the same
elementwise passes per block, so memory is read and written about once instead of once per pass.
"""

from __future__ import annotations

import numpy as np


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
    tmp = scratch_for(param) if scratch is None else scratch
    arrays = [param, grad, m, v] + ([vhat] if vhat is not None else [])
    if param.size > _BLOCK and all(a.flags.c_contiguous for a in arrays):
        # A large table in cache-sized blocks: each block's ~12 passes run in L2, so memory sees about one
        # read of p, g, m, v and one write of p, m, v instead of ~29 array passes. Elementwise operations,
        # so every element gets exactly the operations (and result) of the single pass.
        p_, g_, m_, v_, *h_ = (a.reshape(-1) for a in arrays)
        t_ = tmp.reshape(-1)
        for at in range(0, param.size, _BLOCK):
            block = slice(at, at + _BLOCK)
            vhat_block = h_[0][block] if h_ else None
            _update_block(p_[block], g_[block], m_[block], v_[block], vhat_block, t_[: p_[block].size],
                          step_size, beta_1, beta_2, epsilon)  # fmt: skip
        return
    if tmp.shape != param.shape:  # a large table that is not contiguous: whole-array passes
        tmp = np.empty_like(param)
    _update_block(param, grad, m, v, vhat, tmp, step_size, beta_1, beta_2, epsilon)


def scratch_shape(param: np.ndarray) -> tuple[int, ...]:
    """The shape of the scratch buffer `adam_update_` needs for `param`: param's own, or one block for a
    table of more than `_BLOCK` elements, which is updated block by block (a table-sized buffer would only
    add the table's size to the peak memory: 239 MB for the fastText table)."""
    return param.shape if param.size <= _BLOCK else (_BLOCK,)


def scratch_for(param: np.ndarray) -> np.ndarray:
    """A scratch buffer for `adam_update_(param, ...)` (see `scratch_shape`)."""
    return np.empty(scratch_shape(param), param.dtype)


# Elements per block of a large update: 64k float32 = 256 KB per array, 5-6 arrays in the 1 MB L2 of the
# 2-core machine. Measured on the fastText table (1,193,401 x 50 float32, busy machine, load ~20): 3.24 s
# unblocked, 2.61 / 1.96 / 2.48 s with blocks of 16k / 64k / 256k elements (min of 3; fasttext branch).
_BLOCK = 65_536


def _update_block(
    param: np.ndarray,
    grad: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    vhat: np.ndarray | None,
    tmp: np.ndarray,
    step_size: float,
    beta_1: float,
    beta_2: float,
    epsilon: float,
) -> None:
    """The update's passes over whole arrays (or one block of them), `tmp` carrying the intermediates."""

    np.multiply(m, beta_1, out=m)
    np.multiply(grad, 1 - beta_1, out=tmp)
    np.add(m, tmp, out=m)

    np.multiply(v, beta_2, out=v)
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
