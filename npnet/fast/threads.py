"""Threads: BLAS kept to one (`blas_threads`), our own for independent parts and halves of one product
(`Workers`, and the process's kept pools `shared_workers`).

The dense-head products are small (512 x ~1,000 x 16). Two BLAS threads halve one only on an idle
machine: as soon as another process holds a core, each product waits for a descheduled helper thread and a
training epoch runs several times slower. One thread is the robust choice. NumPy cannot set BLAS threads
itself; threadpoolctl can (a runtime dependency for this reason); without it this is a no-op.

The second core is used instead by `Workers`: Python threads that each run a whole independent part of a
step (see `Workers`), or one half of a large product (`Workers.split`: Conv1D's gemms). Waking a kept
thread is not free, so a part must be worth much more than the hand-off; making a pool costs more again
(most on a busy machine), so a layer that splits every step takes the process's kept pool,
`shared_workers()`, rather than making its own. The figures: benchmarks/HISTORY.md, "Threads: BLAS held to
one thread, and the cost of our own".
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

from npnet import validation
from npnet.config import num_threads

T = TypeVar("T")


def blas_threads(limit: int | None = 1) -> AbstractContextManager:
    """`with blas_threads(1): ...` limits BLAS to `limit` threads inside the block (None: unchanged)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return nullcontext()
    if limit is None:
        return nullcontext()
    # Inspects the loaded libraries afresh (once per fit/evaluate/predict call, not per batch, where its
    # cost is negligible), so a BLAS loaded after the first call (scipy's, imported when a report first
    # plots) is limited too.
    return threadpool_limits(limits=limit, user_api="blas")


class Workers:
    """Python threads for the independent parts of the fused kernels; `with Workers(2) as workers: ...`.

    NumPy releases the GIL inside gemm, `reduceat`, `take` and elementwise loops, so two threads can run two
    independent parts of a step at once (e.g. the dense head's gemm and the sparse tail's gather). Each part
    writes its own output and nothing is summed across threads, so the result is bitwise that of one thread.
    `threads=1` runs every part at once on the caller's thread: the plain single-threaded computation.
    Waiting for a part blocks (a lock, never a spin), so a busy core only slows the threads, not the rest:
    with another process spinning on one of 2 cores, 2 threads cost an epoch a little; on a quiet machine
    they save more (benchmarks/HISTORY.md, "Threads: BLAS held to one thread"). A part started from one of
    the pool's own threads runs at once on that thread: a part that splits again cannot wait on a queue it
    is blocking.
    """

    def __init__(self, threads: int = 1) -> None:
        threads = validation.positive_int(threads, "threads")
        self.threads = threads
        self._own: set[int] = set()  # the pool's thread idents
        # The caller's thread is one of them: it runs its own part while the pool runs the others.
        self._pool = (
            ThreadPoolExecutor(threads - 1, thread_name_prefix="npnet", initializer=self._register)
            if threads > 1
            else None
        )

    def _register(self) -> None:
        self._own.add(threading.get_ident())

    def start(self, fn: Callable[..., T], *args: Any) -> Callable[[], T]:
        """Begin fn(*args) on another thread; the returned function waits for and returns its result."""
        if self._pool is None or threading.get_ident() in self._own:
            result = fn(*args)
            return lambda: result
        return self._pool.submit(fn, *args).result

    def split(self, fn: Callable[[slice], object], n: int) -> None:
        """fn(part) for each of `threads` contiguous parts of range(n), one per thread, all at once; returns
        when every part is done. fn must write only its own part (e.g. rows of a product's output), so the
        result is that of fn(slice(0, n)) up to how BLAS rounds a smaller product."""
        bounds = [n * i // self.threads for i in range(self.threads + 1)]
        parts = [slice(a, b) for a, b in itertools.pairwise(bounds) if b > a]
        waits = [self.start(fn, part) for part in parts[1:]]
        try:
            if parts:
                fn(parts[0])
        finally:
            for wait in waits:
                wait()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# Most callers have no second thread: the kernels' default.
SERIAL = Workers(1)

_SHARED: dict[tuple[int, str, int], Workers] = {}  # (process id, pool, threads) -> the kept pool
_SHARED_LOCK = threading.Lock()


def shared_workers(pool: str = "parts") -> Workers:
    """The process's kept pool of `num_threads()` threads (at most 2), made at its first use: "parts" for
    layers that split a part of every step (Conv1D, Bidirectional); "background" for a long part that runs
    beside a whole backward (Adam's pass over a large table, `npnet.fast.background_adam.BackgroundAdam`),
    which must not
    queue ahead of the layers' short parts. SERIAL when num_threads() is 1 (a sweep worker). Keyed by
    process id too, since a forked child inherits the pool objects but not their threads."""
    threads = min(num_threads(), 2)
    if threads == 1:
        return SERIAL
    key = (os.getpid(), pool, threads)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = Workers(threads)
        return _SHARED[key]
