"""`SplitConv1D`, the twin of `Conv1D` that fit runs: the same three products, faster.

- dL/dxp by col2im (`input_grad_col2im`): dcols = g @ kernelᵀ, then K strided adds, which skips the zeros
  that the readable full correlation multiplies (the zero-stuffing and the padding);
- each large product split in two halves of its output on the process's kept pair of threads
  (`shared_workers`): z by rows of the window matrix, dkernel by filters, dxp by samples. Each half is an
  ordinary gemm of its own rows, so no sum crosses threads and the result equals the one-thread product
  up to how BLAS rounds a smaller product (tests/layers/test_conv.py).

BLAS itself runs on one thread inside fit (`npnet.fast.threads.blas_threads`), so these halves are how the
layer uses the second core.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from npnet.fast.threads import shared_workers
from npnet.layers.convolutional import Conv1D

# Below this many multiply-adds (about a tenth of a millisecond of one core) a product is not split: waking
# a thread costs more than it saves.
SPLIT_MIN_MACS = 4_000_000


def split_product(rows: int, macs: int, part_product: Callable[[slice], object]) -> None:
    """part_product(part) for every part of range(rows): on the kept pool's threads when the whole product
    is worth it (`macs` multiply-adds), else at once as one part."""
    if macs < SPLIT_MIN_MACS:
        part_product(slice(0, rows))
    else:
        shared_workers().split(part_product, rows)


def input_grad_col2im(
    g: np.ndarray, kernel: np.ndarray, padded_length: int, stride: int, dilation: int
) -> np.ndarray:
    """The same dL/dxp as `input_grad_full_correlation`: dcols = g @ kernel^T gives each window's gradient
    (B, T_out, K, C); tap j of every window lands on xp[t*s + j*d], so K strided adds scatter them (the
    windows overlap, so the adds must accumulate)."""
    batch, count, filters = g.shape
    size, channels = kernel.shape[:2]
    dcols = (g.reshape(-1, filters) @ kernel.reshape(size * channels, filters).T).reshape(
        batch, count, size, channels
    )
    dxp = np.zeros((batch, padded_length, channels), dtype=g.dtype)
    for j in range(size):  # K taps, each one vectorized over every sample and step
        start = j * dilation
        dxp[:, start : start + (count - 1) * stride + 1 : stride] += dcols[:, :, j]
    return dxp


class SplitConv1D(Conv1D):
    """Conv1D whose products run as halves on two threads, and whose dL/dxp is computed by col2im."""

    def _windows_times_kernel(self, cols: np.ndarray, weights: np.ndarray) -> np.ndarray:
        z_rows = np.empty((cols.shape[0], weights.shape[1]), np.result_type(cols, weights))

        def product(part: slice) -> None:  # rows `part` of the window matrix
            np.matmul(cols[part], weights, out=z_rows[part])

        split_product(cols.shape[0], cols.size * weights.shape[1], product)
        return z_rows

    def _kernel_grad(self, cols: np.ndarray, g2: np.ndarray) -> np.ndarray:
        # dkernel = colsᵀ g2, computed as (g2ᵀ cols)ᵀ: the same product, in the orientation whose long inner
        # axis (B*T_out) OpenBLAS splits better (benchmarks/HISTORY.md, "cnn").
        kernel_t = np.empty((g2.shape[1], cols.shape[1]), g2.dtype)  # (F, K*C)

        def kernel_grad(part: slice) -> None:  # filters `part`
            np.matmul(g2[:, part].T, cols, out=kernel_t[part])

        split_product(g2.shape[1], cols.size * g2.shape[1], kernel_grad)
        return kernel_t.T

    def _input_grad(self, g: np.ndarray, kernel: np.ndarray, padded_length: int) -> np.ndarray:
        dxp = np.empty((g.shape[0], padded_length, kernel.shape[1]), g.dtype)

        def input_grad(part: slice) -> None:  # samples `part`
            dxp[part] = input_grad_col2im(g[part], kernel, padded_length, self.strides, self.dilation_rate)

        split_product(g.shape[0], g.size * kernel.shape[0] * kernel.shape[1], input_grad)
        return dxp
