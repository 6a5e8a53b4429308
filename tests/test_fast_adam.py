"""The in-place Adam step equals the plain Keras 2 formula (reference §5)."""

import numpy as np
import pytest

from npnet.fast import adam_update_


def _plain_steps(p, grads, lr, decay, b1, b2, eps, amsgrad):
    """Keras 2's Adam written as in the reference, one step per gradient; returns p, m, v, vhat."""
    m, v, vhat = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for it, g in enumerate(grads):
        lr_k = lr / (1 + decay * it)
        t = it + 1
        a_t = lr_k * np.sqrt(1 - b2**t) / (1 - b1**t)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vhat = np.maximum(vhat, v)
        p = p - a_t * m / (np.sqrt(vhat if amsgrad else v) + eps)
    return p, m, v, vhat


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("amsgrad", [False, True])
def test_matches_plain_formula_over_several_steps(dtype, amsgrad):
    rng = np.random.default_rng(3)
    lr, decay, b1, b2, eps = 0.01, 0.1, 0.9, 0.999, 1e-7
    p0 = rng.normal(size=(50, 4)).astype(dtype)
    # Shrinking gradients make v fall, so amsgrad's running maximum differs from v.
    grads = [(rng.normal(size=(50, 4)) * 0.5**k).astype(dtype) for k in range(5)]
    want_p, want_m, want_v, want_vhat = _plain_steps(p0, grads, lr, decay, b1, b2, eps, amsgrad)

    p, m, v, vhat = p0.copy(), np.zeros_like(p0), np.zeros_like(p0), np.zeros_like(p0)
    scratch = np.empty_like(p0)
    for it, g in enumerate(grads):
        t = it + 1
        lr_t = lr / (1 + decay * it) * np.sqrt(1 - b2**t) / (1 - b1**t)
        adam_update_(p, g, m, v, vhat if amsgrad else None, lr_t, b1, b2, eps, amsgrad, scratch=scratch)

    assert p.dtype == dtype
    # m and v: the same operations in the same order.
    np.testing.assert_array_equal(m, want_m)
    np.testing.assert_array_equal(v, want_v)
    if amsgrad:
        np.testing.assert_array_equal(vhat, want_vhat)
        assert np.any(want_vhat > want_v)
    # p: lr_t·(m/d) instead of (lr_t·m)/d, one rounding per step of size |step| · u on each of 5 steps.
    u = np.finfo(dtype).eps / 2
    step_scale = lr * 5
    np.testing.assert_array_less(np.abs(p - want_p), 4 * u * (np.abs(want_p) + step_scale))
    assert not np.allclose(p, p0)


def test_eps_is_added_to_sqrt_v():
    p, g = np.array([1.0]), np.array([1e-9])
    m, v = np.zeros(1), np.zeros(1)
    adam_update_(p, g, m, v, None, 1.0, 0.0, 0.0, 1e-7, False)
    # m = g, v = g², step = g / (|g| + eps) = 1e-9 / 1.01e-7.
    np.testing.assert_allclose(p, 1.0 - 1e-9 / (1e-9 + 1e-7), rtol=1e-15)


def test_mismatched_state_is_refused():
    p = np.zeros(3)
    with pytest.raises(ValueError, match="v must match param"):
        adam_update_(p, np.zeros(3), np.zeros(3), np.zeros(4), None, 0.1, 0.9, 0.999, 1e-7, False)
    with pytest.raises(ValueError, match="amsgrad needs vhat"):
        adam_update_(p, np.zeros(3), np.zeros(3), np.zeros(3), None, 0.1, 0.9, 0.999, 1e-7, True)
