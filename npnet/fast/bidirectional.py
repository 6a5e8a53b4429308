"""`ThreadedBidirectional`, the twin of `Bidirectional` that fit runs: the backward-in-time direction runs
on a second thread (the process's kept pool, `shared_workers`) while this thread runs the forward one.
NumPy releases the GIL in its loops and products, so the two overlap. Each direction writes only its own
arrays, and the dropout masks are drawn before either runs, so every result is bitwise the readable
layer's."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from npnet.fast.threads import shared_workers
from npnet.layers.wrappers import Bidirectional

T = TypeVar("T")


class ThreadedBidirectional(Bidirectional):
    """Bidirectional whose two directions run at once, one on each thread of the kept pair."""

    def _both_directions(self, forward_part: Callable[[], T], backward_part: Callable[[], T]) -> tuple[T, T]:
        wait = shared_workers().start(backward_part)
        return forward_part(), wait()
