"""Global numeric configuration: the default float dtype (Keras's `floatx`) and the thread count.

float32 is the default, as in Keras; float64 is there for gradient checks and exact parity work.
`num_threads()` is how many threads fit/evaluate/predict use on the fused path (`npnet.fast.threads.Workers`),
and the size (at most 2) of the kept pools that `Bidirectional`'s two directions, `Conv1D`'s halves of its
large products and dense Adam's g = 0 pass beside the backward use (`npnet.fast.threads.shared_workers`).
"""

from __future__ import annotations

import os

import numpy as np

from npnet import validation

_FLOATX: str = "float32"
_ALLOWED = ("float32", "float64")


def floatx() -> str:
    """The default float dtype name used for new parameters and activations."""
    return _FLOATX


def set_floatx(value: str) -> None:
    """Set the default float dtype: "float32" (default) or "float64"."""
    global _FLOATX
    if value not in _ALLOWED:
        raise ValueError(f"unknown floatx {value!r}: use one of {', '.join(_ALLOWED)}")
    _FLOATX = value


def resolve_dtype(dtype: str | np.dtype | type | None) -> np.dtype:
    """The float dtype to use: `dtype` when given (float32/float64 only), else the global floatx."""
    resolved = np.dtype(floatx() if dtype is None else dtype)
    if resolved.name not in _ALLOWED:
        raise ValueError(f"unsupported dtype {resolved.name!r}: use float32 or float64")
    return resolved


# None: decided at the first `num_threads()` call, from $NPNET_NUM_THREADS or the machine.
_NUM_THREADS: int | None = None


def num_threads() -> int:
    """Threads for the fused kernels: `set_num_threads(n)`, else $NPNET_NUM_THREADS, else
    min(2, CPUs). Two, because a step splits into two independent parts (the dense head and the sparse
    tail). Results are bitwise the same for every count, except a Conv1D's large products, split into two
    gemms that BLAS may round differently; 1 runs everything on the caller's thread."""
    if _NUM_THREADS is not None:
        return _NUM_THREADS
    env = os.environ.get("NPNET_NUM_THREADS")
    if env is None:
        return min(2, os.cpu_count() or 1)
    try:
        return _check_threads(int(env))
    except ValueError:
        raise ValueError(
            f"NPNET_NUM_THREADS={env!r} is not a positive integer: set it to e.g. 1 or 2, or unset it"
        ) from None


def set_num_threads(value: int | None) -> None:
    """Set the thread count of the fused kernels (None: back to $NPNET_NUM_THREADS / the machine)."""
    global _NUM_THREADS
    _NUM_THREADS = None if value is None else _check_threads(value)


def _check_threads(value: int) -> int:
    return validation.positive_int(value, "the thread count (1 = no extra thread)")
