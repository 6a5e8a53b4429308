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


# Seeds. NumPy's SeedSequence takes any integer >= 0; a model's seed is capped at 128 bits, the entropy
# SeedSequence draws for seed=None, so that a model seeded either way is saved and loaded the same way (its
# file's schema holds it to that). A layer's own seed (Dropout, the recurrent layers, MultiHeadAttention)
# is saved in the layer's config, whose integers a model file holds within +-MAX_CONFIG_INT.
MAX_SEED = 2**128 - 1
MAX_CONFIG_INT = 2**31 - 1  # any integer of a saved layer, optimizer or initializer config


def seed(value: Any, name: str, high: int = MAX_SEED) -> int:
    """`value` as an int if it is an integer from 0 to `high` (a power of two less one, said as 2**k - 1)."""
    if not _is_int(value) or not 0 <= value <= high:
        raise ValueError(f"{name} must be an integer from 0 to {_power_of_two_less_one(high)}, got {value!r}")
    return int(value)


def optional_seed(value: Any, name: str, none: str, high: int = MAX_SEED) -> int | None:
    """`seed`, or None, which the error says means `none` ("a fresh random seed")."""
    if value is None:
        return None
    try:
        return seed(value, name, high)
    except ValueError:
        bound = _power_of_two_less_one(high)
        raise ValueError(
            f"{name} must be an integer from 0 to {bound} (or None for {none}), got {value!r}"
        ) from None


def layer_seed(value: Any, name: str) -> int | None:
    """A layer's own noise seed: None (the layer draws from its model's generator) or an integer its saved
    config can hold."""
    return optional_seed(value, name, "noise from the model's generator", MAX_CONFIG_INT)


def _power_of_two_less_one(high: int) -> str:
    return f"2**{high.bit_length()} - 1" if high > 0 and (high + 1) & high == 0 else str(high)


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
