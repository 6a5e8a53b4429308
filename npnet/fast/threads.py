"""Run the fused kernels' small matrix products on one BLAS thread.

The dense-head products are small (512 x ~1,000 x 16). Measured on 2 shared cores (OpenBLAS 0.3.31): one
thread takes 0.27 ms each; two threads take 0.14 ms on an idle machine but 3-16 ms as soon as another
process holds a core, because each product waits for a descheduled helper thread — a training epoch then
runs 5-10x slower. One thread is the robust choice. NumPy cannot set BLAS threads itself;
threadpoolctl can (a runtime dependency for this reason); without it this is a no-op.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext


def blas_threads(limit: int | None = 1) -> AbstractContextManager:
    """`with blas_threads(1): ...` limits BLAS to `limit` threads inside the block (None: unchanged)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return nullcontext()
    if limit is None:
        return nullcontext()
    # Inspects the loaded libraries afresh (~1 ms, once per fit/evaluate/predict call, not per batch), so
    # a BLAS loaded after the first call (scipy's, imported when a report first plots) is limited too.
    return threadpool_limits(limits=limit, user_api="blas")
