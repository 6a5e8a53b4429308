"""How a check runs: the step, the tolerances and the coverage limits, with their documented defaults."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from npnet import validation

# Noise floor multiplier: atol_i = NOISE_FACTOR * eps * max(1, |f|) / h_i (npnet.gradcheck docstring).
NOISE_FACTOR = 10.0
# Relative tolerance per check dtype. float64: a central difference with h = eps^(1/3) is good to ~1e-10 on
# unit-scale smooth functions; 1e-6 leaves four orders for curvature and scale, yet a wrong factor, term or
# transpose misses it by orders of magnitude. float32: the same central difference is only good to ~eps^(2/3)
# = 2.4e-5, so 1e-3 (checks in float32 are for curiosity; use float64 to verify).
RTOL = {"float64": 1e-6, "float32": 1e-3}


@dataclass(frozen=True)
class Settings:
    """How a check runs: `default_settings(dtype)` holds the documented defaults, each one overridable."""

    dtype: np.dtype
    step: float  # h_i = step * scale_i
    rtol: float
    atol: float | None  # None: per element, NOISE_FACTOR * eps * max(1, |f|) / h_i
    full_limit: int = 4096  # tensors up to this many elements are checked element by element
    samples: int = 256  # elements sampled from larger tensors (embedding tables: whole rows by kind instead)
    directions: int = 2  # random-direction screens of larger tensors
    kink_retries: int = 2  # times the step is divided by 10 when a perturbation crosses a kink
    seed: int = 0


def default_settings(dtype: str | np.dtype = "float64", **overrides: float | int | None) -> Settings:
    """The defaults for a check in `dtype` ("float64" or "float32"), with `overrides` (None: default)."""
    dt = np.dtype(dtype)
    if dt.name not in RTOL:
        raise ValueError(f"gradient checks run in float64 or float32, not {dt.name!r}: pass dtype='float64'")
    base = Settings(dtype=dt, step=float(np.finfo(dt).eps ** (1 / 3)), rtol=RTOL[dt.name], atol=None)
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(given) - set(base.__dict__) - {"dtype"}
    if unknown:
        names = ", ".join(k for k in base.__dict__ if k != "dtype")
        raise TypeError(f"unknown gradcheck option(s) {', '.join(sorted(unknown))}: use {names}")
    for key in ("step", "rtol"):
        if key in given:
            validation.positive_float(given[key], key)
    if "atol" in given:
        validation.non_negative_float(given["atol"], "atol")
    return Settings(**{**base.__dict__, **given})
