"""The central difference, plainly: the whole idea of a gradient check in twelve lines.

For a scalar function f of an array x, the derivative in element i is approximated by

    df/dx_i  ~  (f(x + h e_i) - f(x - h e_i)) / 2h

whose error is h^2 |f'''| / 6 (truncation) plus about eps |f| / h (rounding in f): no step makes it exact,
which is why `npnet.gradcheck.checker` chooses h per element and judges against a noise floor. Read this
function first; the checker is the same quotient with a careful step, sampling and kinks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def central_difference(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """df/dx by central differences, perturbing the float64 array `x` in place (and restoring it); f reads x.

    Returns an array shaped like x. eps: the step h (1e-6 suits unit-scale float64 values).
    """
    if x.dtype != np.float64:
        raise ValueError(f"central_difference perturbs float64 arrays only, got {x.dtype}: pass a float64 x")
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        saved = x[i]
        x[i] = saved + eps
        up = f()
        x[i] = saved - eps
        down = f()
        x[i] = saved
        grad[i] = (up - down) / (2 * eps)
    return grad
