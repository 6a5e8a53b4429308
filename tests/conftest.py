from collections.abc import Callable

import numpy as np
import pytest

from npnet import config


@pytest.fixture(autouse=True)
def _restore_floatx():
    """Tests may switch the global floatx; always put it back."""
    saved = config.floatx()
    yield
    config.set_floatx(saved)


def _central_difference(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f / d x by central differences, perturbing `x` in place (float64 arrays only)."""
    assert x.dtype == np.float64
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


@pytest.fixture
def numgrad() -> Callable[..., np.ndarray]:
    return _central_difference
