"""Global numeric configuration: the default float dtype (Keras's `floatx`).

float32 is the default, as in Keras; float64 is there for gradient checks and exact parity work.
"""

from __future__ import annotations

import numpy as np

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
