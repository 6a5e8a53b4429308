"""Row-sparse gradients and the lazy Adam update they allow (TF Addons' LazyAdam, PyTorch's SparseAdam).

An embedding table's gradient is zero except on the rows the batch looked up: for fastText's 1.19M x 50
table a batch of 32 reviews touches ~10-20k rows. `SparseRows` holds only those rows (ids + values), and
`lazy_adam_rows_` moves only them:

    for each touched row r:  m[r] = b1 m[r] + (1 - b1) g[r];   v[r] = b2 v[r] + (1 - b2) g[r]^2
                             p[r] = p[r] - lr_t m[r] / (sqrt(v[r]) + eps)       (amsgrad: vhat[r])
    untouched rows: m, v, vhat and p are left exactly as they are

with lr_t the step's bias-corrected rate from the *global* step count, as LazyAdam does. Dense Adam would
also decay the untouched rows' moments and move their values by lr_t m / (sqrt(v) + eps); the difference is
derived in docs/derivations/losses-optimizers.md ("Lazy Adam"). On a row that every step touches the two are
the same recursion.
The update is ordered like `npnet.fast.adam.adam_update_` (m first, then v, then lr_t * (m / d)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class SparseRows:
    """A (V, D) gradient, zero outside rows `ids`: ids (k,) ints, distinct, in [0, V); values (k, D)."""

    ids: np.ndarray
    values: np.ndarray
    shape: tuple[int, int]

    def __post_init__(self) -> None:
        if self.ids.ndim != 1 or self.values.shape != (self.ids.size, self.shape[1]):
            raise ValueError(
                f"SparseRows needs ids (k,) and values (k, {self.shape[1]}); got ids {self.ids.shape}, "
                f"values {self.values.shape}"
            )
        if not np.issubdtype(self.ids.dtype, np.integer):
            raise ValueError(f"SparseRows ids must be integers, got {self.ids.dtype}")

    @property
    def dtype(self) -> np.dtype:
        return self.values.dtype

    @classmethod
    def gather(cls, dense: np.ndarray, ids: np.ndarray) -> SparseRows:
        """The rows `ids` (distinct) of a dense gradient (the readable path, which has it dense anyway)."""
        ids = np.asarray(ids, dtype=np.intp)
        return cls(ids, dense[ids], dense.shape)

    def to_dense(self) -> np.ndarray:
        """The (V, D) array (zeros elsewhere); for an optimizer that updates every row, and for tests."""
        out = np.zeros(self.shape, dtype=self.values.dtype)
        out[self.ids] = self.values
        return out


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
    # np.take for the gathers: on a (1.2M, 50) table it is ~20x faster than m[ids] (measured, NumPy 2.4).
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
