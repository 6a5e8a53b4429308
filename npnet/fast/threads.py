"""Threads on the fused path: BLAS kept to one (`blas_threads`), our own for independent parts (`Workers`).

The dense-head products are small (512 x ~1,000 x 16). Measured on 2 shared cores (OpenBLAS 0.3.31): one
thread takes 0.27 ms each; two threads take 0.14 ms on an idle machine but 3-16 ms as soon as another
process holds a core, because each product waits for a descheduled helper thread — a training epoch then
runs 5-10x slower. One thread is the robust choice. NumPy cannot set BLAS threads itself;
threadpoolctl can (a runtime dependency for this reason); without it this is a no-op.

The second core is used instead by `Workers`: Python threads that each run a whole independent part of a
step (see `Workers`). Waking a thread costs ~45 us here, so a part must be worth ~0.1 ms or more.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

T = TypeVar("T")


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


class Workers:
    """Python threads for the independent parts of the fused kernels; `with Workers(2) as workers: ...`.

    NumPy releases the GIL inside gemm, `reduceat`, `take` and elementwise loops, so two threads can run two
    independent parts of a step at once (e.g. the dense head's gemm and the sparse tail's gather). Each part
    writes its own output and nothing is summed across threads, so the result is bitwise that of one thread.
    `threads=1` runs every part at once on the caller's thread: the plain single-threaded computation.
    Waiting for a part blocks (a lock, never a spin), so a busy core only slows the threads, not the rest
    (measured: with another process spinning on one of 2 cores, an epoch takes ~10% longer with 2 threads
    than with 1; on a quiet machine ~20% less).
    """

    def __init__(self, threads: int = 1) -> None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive integer, got {threads!r}")
        self.threads = threads
        # The caller's thread is one of them: it runs its own part while the pool runs the others.
        self._pool = ThreadPoolExecutor(threads - 1, thread_name_prefix="npnet") if threads > 1 else None

    def start(self, fn: Callable[..., T], *args: Any) -> Callable[[], T]:
        """Begin fn(*args) on another thread; the returned function waits for and returns its result."""
        if self._pool is None:
            result = fn(*args)
            return lambda: result
        return self._pool.submit(fn, *args).result

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# Most callers have no second thread: the kernels' default.
SERIAL = Workers(1)
