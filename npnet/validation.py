"""Argument checks, each written once: every npnet object validates its arguments through these.

Each returns the value (an int or float) and raises ValueError naming the argument, the rule and what was
passed, in one wording everywhere: "batch_size must be a positive integer, got 0". Callers that speak for a
file or a run (the CLI, run folders) re-raise as their own `npnet.errors` type.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def integer(value: Any, name: str) -> int:
    """`value` as an int if it is an integer (bools are refused)."""
    if not _is_int(value):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(value)


def positive_int(value: Any, name: str) -> int:
    """`value` as an int if it is an integer >= 1 (bools are refused)."""
    if not _is_int(value) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def non_negative_int(value: Any, name: str) -> int:
    """`value` as an int if it is an integer >= 0 (bools are refused)."""
    return int_in(value, name, 0)


def int_in(value: Any, name: str, low: int, high: int | None = None) -> int:
    """`value` as an int if it is an integer from `low` to `high` inclusive (no upper bound when `high` is
    None; bools are refused)."""
    if not _is_int(value) or value < low or (high is not None and value > high):
        rule = f">= {low}" if high is None else f"from {low} to {high}"
        raise ValueError(f"{name} must be an integer {rule}, got {value!r}")
    return int(value)


def positive_float(value: Any, name: str) -> float:
    """`value` as a float if it is a number > 0 (NaN is refused)."""
    if not _is_number(value) or not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return float(value)


def non_negative_float(value: Any, name: str) -> float:
    """`value` as a float if it is a number >= 0 (NaN is refused)."""
    if not _is_number(value) or not value >= 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return float(value)


def fraction(value: Any, name: str, *, one: bool = False) -> float:
    """`value` as a float in [0, 1), or in [0, 1] with `one=True`."""
    if not _is_number(value) or not (0 <= value <= 1 if one else 0 <= value < 1):
        raise ValueError(f"{name} must be in [0, {'1]' if one else '1)'}, got {value!r}")
    return float(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
