"""The in-place Adam step (`Adam(fused=True)`, npnet.fast.adam) equals the plain Keras 2 formula
(`Adam(fused=False)`, npnet.optimizers) over many steps, with Keras 2's decay and amsgrad."""

import numpy as np
import pytest

from npnet import optimizers
from npnet.fast.adam import adam_update_

STEPS = 60


def run(fused, dtype, amsgrad, grads, p0):
    """STEPS Adam steps with decay on copies of p0; returns the parameters and the optimizer."""
    adam = optimizers.Adam(learning_rate=0.01, decay=0.05, amsgrad=amsgrad, fused=fused)
    params = [p.copy() for p in p0]
    for step in grads:
        adam.apply_gradients(zip(step, params, strict=True))
    return params, adam


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("amsgrad", [False, True])
def test_fused_adam_equals_the_plain_formula_over_many_steps(dtype, amsgrad):
    rng = np.random.default_rng(3)
    p0 = [rng.normal(size=(50, 4)).astype(dtype), rng.normal(size=(7,)).astype(dtype)]
    # Gradients that shrink and grow again make v fall then rise, so amsgrad's running maximum differs from v.
    scale = [0.5 ** (k % 20) for k in range(STEPS)]
    grads = [[(rng.normal(size=p.shape) * s).astype(dtype) for p in p0] for s in scale]
    fused_p, fused = run(True, dtype, amsgrad, grads, p0)
    plain_p, plain = run(False, dtype, amsgrad, grads, p0)

    assert fused.iterations == plain.iterations == STEPS
    # m, v, vhat: the same operations in the same order, so bitwise equal.
    for name in plain.slot_names:
        for a, b in zip(fused.get_state()[f"{name}/0"], plain.get_state()[f"{name}/0"], strict=True):
            np.testing.assert_array_equal(a, b)
    if amsgrad:
        assert np.any(plain.vhat[0] > plain.v[0])
    # p: a_k (m / d) instead of (a_k m) / d. Per step the two steps differ by a couple of roundings of the
    # step (|step| <= ~3.2 lr_k) and the subtractions round differently (u |p|); over STEPS steps that sums to
    # at most STEPS u (|p| + 8 lr).
    u = np.finfo(dtype).eps / 2
    for a, b, start in zip(fused_p, plain_p, p0, strict=True):
        assert a.dtype == dtype
        np.testing.assert_array_less(np.abs(a - b), STEPS * u * (np.abs(b) + 8 * 0.01))
        assert np.max(np.abs(b - start)) > 0.05  # the parameters really moved


def test_plain_adam_matches_the_reference_formula_step_by_step():
    """`Adam(fused=False)` is Keras 2's Adam: a_k = lr_k sqrt(1 - b2^k) / (1 - b1^k), eps on sqrt(v)."""
    lr, decay, b1, b2, eps = 0.1, 0.5, 0.8, 0.9, 1e-7
    adam = optimizers.Adam(lr, b1, b2, eps, decay, fused=False)
    p, m, v = np.array([1.0, -2.0]), np.zeros(2), np.zeros(2)
    param = p.copy()
    for k, g in enumerate([np.array([0.5, -1.0]), np.array([-0.25, 2.0]), np.array([1.0, 1.0])], start=1):
        adam.apply_gradients([(g, param)])
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        p = p - lr / (1 + decay * (k - 1)) * np.sqrt(1 - b2**k) / (1 - b1**k) * m / (np.sqrt(v) + eps)
        np.testing.assert_allclose(param, p, rtol=1e-15)


def test_eps_is_added_to_sqrt_v():
    p, g = np.array([1.0]), np.array([1e-9])
    m, v = np.zeros(1), np.zeros(1)
    adam_update_(p, g, m, v, step_size=1.0, beta_1=0.0, beta_2=0.0, epsilon=1e-7)
    # m = g, v = g², step = g / (|g| + eps) = 1e-9 / 1.01e-7.
    np.testing.assert_allclose(p, 1.0 - 1e-9 / (1e-9 + 1e-7), rtol=1e-15)


def test_mismatched_state_is_refused():
    p = np.zeros(3)
    hyper = {"step_size": 0.1, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}
    with pytest.raises(ValueError, match="v must match param"):
        adam_update_(p, np.zeros(3), np.zeros(3), np.zeros(4), **hyper)
    with pytest.raises(ValueError, match="vhat must match param"):
        adam_update_(p, np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(2), **hyper)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_a_large_table_updated_in_blocks_gets_each_elements_single_pass_result(amsgrad, monkeypatch):
    """Blocks (npnet.fast.adam._BLOCK) apply the same elementwise operations to each element as one pass
    over the whole arrays: the same computation, so the same bits (a wrong block edge would not be)."""
    from npnet.fast import adam

    rng = np.random.default_rng(5)
    p0, g = rng.normal(size=(2, 1001, 7)).astype(np.float32)
    m0, v0 = rng.normal(size=(1001, 7)).astype(np.float32), rng.random((1001, 7)).astype(np.float32)
    results = []
    for block in (10**9, 64):  # one pass; blocks of 64 elements (the last one partial)
        monkeypatch.setattr(adam, "_BLOCK", block)
        p, m, v, vhat = p0.copy(), m0.copy(), v0.copy(), v0.copy() * 1.5
        kwargs = {"step_size": 1e-2, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}
        adam_update_(p, g, m, v, vhat if amsgrad else None, **kwargs)
        results.append((p, m, v, vhat))
    for one_pass, blocked in zip(*results, strict=True):
        np.testing.assert_array_equal(blocked, one_pass)
    assert not np.array_equal(results[0][0], p0)
